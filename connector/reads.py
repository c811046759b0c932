"""Reading resources: a GET's sparse-fieldset, include and additional-fields parameters, built from
an action's inputs and checked against the catalog (errors name each input by its label)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field

from .context import Context
from .inputs import EnumHint, label_of
from .listing import sparse


def read_params(operation: str, inputs: BaseModel, names: Mapping[str, str]) -> dict[str, Any]:
    """``names`` maps each query parameter (``fields[list]``, ``include``, ...) to the input key
    holding its values; inputs left empty send nothing."""
    params: dict[str, Any] = {}
    for param, key in names.items():
        values = getattr(inputs, key)
        if values:
            sparse(operation, params, param, values, label_of(type(inputs), key))
    return params


def get_one(
    ctx: Context,
    path: str,
    operation: str,
    inputs: BaseModel,
    names: Mapping[str, str],
    extra: Mapping[str, Any] | None = None,
) -> Any:
    """A GET with its read parameters (plus ``extra`` as given): one resource, or a collection
    Klaviyo answers in one page; Klaviyo's document as it is."""
    params = {**read_params(operation, inputs, names), **(extra or {})}
    return ctx.client.request("GET", path, params=params, operation=operation).json()


def query_input(operation: str, param: str, label: str, description: str, example: list[str]) -> Any:
    """An input for a list-valued query parameter of ``operation`` (``fields[tag]``, ``include``,
    ``additional-fields[list]``...): the form offers the catalog's enum; :func:`read_params` checks
    it before sending."""
    return Field(
        None,
        title=label,
        description=description,
        examples=[example],
        json_schema_extra=EnumHint(operation, query=param),
    )
