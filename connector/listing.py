"""Inputs and behaviour shared by every list action: filter, sort, fields, paging, fetch all.

A list action's inputs subclass ``list_inputs("<operationId>")``, which offers Sort and Page Size
only where the endpoint has ``sort`` and ``page[size]`` parameters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import Field, create_model

from . import catalog, filters
from .context import Context
from .errors import input_error
from .inputs import Inputs, label_of
from .pagination import iterate_pages
from .streaming import RecordPages

FILTER_LABEL = "Filter"


class FilterInput(Inputs):
    filter: str | None = Field(
        None,
        title=FILTER_LABEL,
        description="A Klaviyo filter such as equals(email,'sarah@example.com'); checked against the "
        "endpoint's filterable fields before sending. Datetimes are written unquoted.",
    )


PAGE_CURSOR_EXAMPLE = "bmV4dDo6aWQ6OjQzMjE="


class ListInputs(FilterInput):
    """What every list action offers; build an action's inputs with :func:`list_inputs`."""

    pageCursor: str | None = Field(
        None,
        title="Page Cursor",
        description="The next_cursor of a previous call, to fetch the next page.",
        examples=[PAGE_CURSOR_EXAMPLE],
    )
    fetchAll: bool = Field(False, title="Fetch All", description="Follow every page up to Max Records.")
    maxRecords: int = Field(1000, title="Max Records", ge=1, le=100_000, description="Cap for Fetch All.")


def filter_example(operation: str) -> str | None:
    """A filter the endpoint accepts, for the form: a date-time after a day, else an equality."""
    fields = catalog.operation(operation).filters.values()
    for f in fields:
        if f.type == "date-time" and "greater-than" in f.operators:
            return f"greater-than({f.name},2026-01-01T00:00:00Z)"
    for f in fields:
        if f.type == "string" and "equals" in f.operators and not f.name.startswith("_"):
            return f"equals({f.name},'{f.enum[0] if f.enum else 'example'}')"  # a value the field takes
    return None


def list_inputs(operation: str, example: str | None = None) -> type[ListInputs]:
    """:class:`ListInputs` plus Sort (the sort keys as its enum) and Page Size (up to the endpoint's
    maximum), each only when ``operation`` has that parameter. ``example`` is the Filter's example
    (default: one built from the endpoint's filterable fields)."""
    op = catalog.operation(operation)
    options: dict[str, Any] = {}
    example = example or filter_example(operation)
    own: dict[str, Any] = {}
    if example:  # the same Filter input, with an example this endpoint accepts
        own["filter"] = (
            str | None,
            Field(
                None,
                title=FILTER_LABEL,
                description=FilterInput.model_fields["filter"].description,
                examples=[example],
            ),
        )
    if op.sort:
        options["sort"] = (
            Literal[op.sort] | None,  # type: ignore[valid-type]
            Field(None, title="Sort", description="The field to sort by; a leading - sorts descending."),
        )
    if op.page_size_max is not None:
        options["pageSize"] = (
            int | None,
            Field(
                None,
                title="Page Size",
                ge=1,
                description=f"Records per page, at most {op.page_size_max} (a larger value is clamped).",
                examples=[min(20, op.page_size_max)],
                json_schema_extra={"maximum": op.page_size_max},
            ),
        )
    mixin = create_model(f"{op.id}_options", __base__=Inputs, **options)
    # Pydantic orders fields by reversed MRO: Filter, then Sort and Page Size, then the paging inputs.
    return create_model(f"{op.id}_inputs", __base__=(ListInputs, mixin, FilterInput), **own)


def build_filter(
    operation: str, text: str | None, extra: Iterable[filters.Node] = (), label: str = FILTER_LABEL
) -> str | None:
    """The checked, normalised filter for ``operation``, with ``extra`` conditions ANDed."""
    allowed = catalog.operation(operation).filters
    try:
        nodes = filters.validate([*filters.parse(text or "", naive_times=False), *extra], allowed)
    except filters.FilterError as exc:
        raise input_error(label, str(exc), source="filter") from None
    return filters.render(nodes) or None


def check_choice(operation: str, param: str, values: Iterable[str], label: str) -> str:
    """Comma-join ``values`` after checking each against the parameter's enum in the catalog."""
    spec = catalog.operation(operation).param(param)
    values = [v for v in values if v]
    if spec is None:
        if values:  # an input for a parameter the endpoint doesn't have
            raise input_error(label, "is not supported by this endpoint", source=param)
        return ""
    allowed = spec.get("enum") or (spec.get("items") or {}).get("enum")
    if allowed:
        bad = [v for v in values if v not in allowed]
        if bad:
            raise input_error(
                label, f"{', '.join(bad)} not allowed; choose from: {', '.join(allowed)}", source=param
            )
    return ",".join(values)


def sparse(
    operation: str, params: dict[str, Any], param: str, values: Iterable[str] | None, label: str
) -> None:
    """Add an enum-checked list parameter (fields[...], include, additional-fields[...])."""
    if values:
        params[param] = check_choice(operation, param, values, label)


def list_collection(
    ctx: Context,
    path: str,
    operation: str,
    inputs: ListInputs,
    params: Mapping[str, Any] | None = None,
    extra_filters: Iterable[filters.Node] = (),
) -> dict[str, Any] | RecordPages:
    """One page, or every page up to Max Records, as one JSON:API document.

    The document's ``meta.next_cursor`` is the cursor for the next page (None at the end). When
    ``ctx.stream`` is set, the unsent pages instead (:class:`~.streaming.RecordPages`), after the
    inputs are checked.
    """
    query: dict[str, Any] = dict(params or {})
    # A list action may relabel its filter input ("Filter Campaigns"); errors name it as shown.
    flt = build_filter(operation, inputs.filter, extra_filters, label_of(type(inputs), "filter"))
    if flt:
        query["filter"] = flt
    # Sort and Page Size exist only where the endpoint takes them (see list_inputs).
    sort: str | None = getattr(inputs, "sort", None)
    if sort:
        query["sort"] = sort
    if inputs.pageCursor:
        query[catalog.operation(operation).cursor_param or "page[cursor]"] = inputs.pageCursor
    pages = iterate_pages(
        ctx.client,
        path,
        operation=operation,
        params=query,
        page_size=getattr(inputs, "pageSize", None),
        max_records=inputs.maxRecords if inputs.fetchAll else None,
        max_pages=None if inputs.fetchAll else 1,
        on_page=lambda n, rows: ctx.progress("pages", {"pages": n, "records": rows}),
    )
    stream = RecordPages(pages, inputs.maxRecords if inputs.fetchAll else None)
    if ctx.stream:  # the caller iterates the pages (Runner.stream_action): nothing is sent yet
        return stream
    data: list[Any] = []
    for rows in stream:
        data.extend(rows)
    return {"data": data, **stream.document()}
