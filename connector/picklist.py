"""Shared behaviour of picklist data sources: page through everything, label, sort, cap."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import Field

from .context import Context
from .inputs import Inputs
from .pagination import iterate_pages

Labeler = Callable[[Mapping[str, Any], Mapping[tuple[str, str], Mapping[str, Any]]], str]


class PicklistInputs(Inputs):
    search: str | None = Field(
        None, title="Search", description="Only options whose label contains this text."
    )
    maxResults: int = Field(
        1000, title="Max Results", ge=1, le=100_000, description="Cap on the options returned."
    )


def options(
    ctx: Context,
    path: str,
    operation: str,
    inputs: PicklistInputs,
    label: Labeler,
    params: Mapping[str, Any] | None = None,
) -> list[dict[str, str]]:
    """``[{"key", "label"}]`` for every record up to the cap, sorted by label."""
    found: list[dict[str, str]] = []
    needle = (inputs.search or "").casefold()
    for doc in iterate_pages(ctx.client, path, operation=operation, params=params, max_records=None):
        included = {(i.get("type"), i.get("id")): i for i in doc.get("included") or []}
        for item in doc.get("data") or []:
            text = label(item, included)
            if needle and needle not in text.casefold():
                continue
            found.append({"key": item["id"], "label": text})
            if len(found) >= inputs.maxResults:
                break
        if len(found) >= inputs.maxResults:
            break
    found.sort(key=lambda o: (o["label"].casefold(), o["key"]))
    return found
