"""Inputs and behaviour shared by every list action: filter, sort, fields, paging, fetch all."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import Field

from . import catalog, filters
from .context import Context
from .errors import input_error
from .inputs import Inputs, label_of
from .pagination import iterate_pages, next_cursor

FILTER_LABEL = "Filter"


class ListInputs(Inputs):
    filter: str | None = Field(
        None,
        title=FILTER_LABEL,
        description="A Klaviyo filter such as equals(email,'sarah@example.com'); checked against the "
        "endpoint's filterable fields before sending. Datetimes are written unquoted.",
    )
    sort: str | None = Field(None, title="Sort", description="A sort field; prefix with - for descending.")
    pageSize: int | None = Field(
        None, title="Page Size", ge=1, description="Records per page; clamped to the endpoint's maximum."
    )
    pageCursor: str | None = Field(
        None, title="Page Cursor", description="The next_cursor of a previous call, to fetch the next page."
    )
    fetchAll: bool = Field(False, title="Fetch All", description="Follow every page up to Max Records.")
    maxRecords: int = Field(1000, title="Max Records", ge=1, le=100_000, description="Cap for Fetch All.")


def build_filter(
    operation: str, text: str | None, extra: Iterable[filters.Node] = (), label: str = FILTER_LABEL
) -> str | None:
    """The checked, normalised filter for ``operation``, with ``extra`` conditions ANDed."""
    allowed = catalog.operation(operation).filters
    try:
        nodes = filters.check([*filters.parse(text or ""), *extra], allowed)
    except filters.FilterError as exc:
        raise input_error(label, str(exc), source="filter") from None
    return filters.render(nodes) or None


def check_choice(operation: str, param: str, values: Iterable[str], label: str) -> str:
    """Comma-join ``values`` after checking each against the parameter's enum in the catalog."""
    spec = catalog.operation(operation).param(param)
    values = [v for v in values if v]
    if spec is None:
        if values:  # e.g. a sort on GET /api/metrics, which Klaviyo can't sort
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
) -> dict[str, Any]:
    """One page, or every page up to Max Records, as one JSON:API document.

    The document's ``meta.next_cursor`` is the cursor for the next page (None at the end).
    """
    query: dict[str, Any] = dict(params or {})
    # A list action may relabel its filter input ("Filter Campaigns"); errors name it as shown.
    flt = build_filter(operation, inputs.filter, extra_filters, label_of(type(inputs), "filter"))
    if flt:
        query["filter"] = flt
    if inputs.sort:
        query["sort"] = check_choice(operation, "sort", [inputs.sort], "Sort")
    if inputs.pageCursor:
        query[catalog.operation(operation).cursor_param or "page[cursor]"] = inputs.pageCursor
    if inputs.pageSize is not None and catalog.operation(operation).page_size_max is None:
        raise input_error(
            "Page Size", "is not supported by this endpoint; Klaviyo decides how many records a page holds"
        )
    pages = iterate_pages(
        ctx.client,
        path,
        operation=operation,
        params=query,
        page_size=inputs.pageSize,
        max_records=inputs.maxRecords if inputs.fetchAll else None,
        max_pages=None if inputs.fetchAll else 1,
        on_page=lambda n, rows: ctx.progress("pages", {"pages": n, "records": rows}),
    )
    data: list[Any] = []
    included: dict[tuple[str, str], Any] = {}
    last: dict[str, Any] = {}
    count = 0
    for doc in pages:
        count += 1
        last = doc
        data.extend(doc.get("data") or [])
        for item in doc.get("included") or []:
            included.setdefault((item.get("type"), item.get("id")), item)
    if inputs.fetchAll and len(data) > inputs.maxRecords:
        data = data[: inputs.maxRecords]
    out: dict[str, Any] = {"data": data, "links": last.get("links") or {}}
    if included:
        out["included"] = list(included.values())
    meta = dict(last.get("meta") or {})
    meta.update({"pages": count, "records": len(data), "next_cursor": next_cursor(last)})
    out["meta"] = meta
    return out
