"""Shared behaviour of picklist data sources: page through everything, search, label, sort, cap.

A data source describes one or more :class:`Query` objects (campaigns need one per channel)
and calls :func:`options`. Each query asks for the endpoint's largest page (or the cap, when
smaller), only the fields its label shows and, where the endpoint sorts by name, the records
in name order, so that with a cap the options kept are the first ones by label.
Type-to-search is sent to Klaviyo when the endpoint can filter on the text
(``contains(name,...)``); otherwise every page is read and matched here, because an
``equals`` filter would silently drop the partial matches a person expects from a search box.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from pydantic import Field

from . import catalog, filters
from .context import Context
from .inputs import Inputs
from .listing import build_filter
from .pagination import iterate_pages

SEARCH_LABEL = "Search"
Included = Mapping[tuple[str, str], Mapping[str, Any]]
Labeler = Callable[[Mapping[str, Any], Included], str]
# A record -> the options it offers as (key, label) pairs, for records that hold the options.
Entries = Callable[[Mapping[str, Any], Included], Sequence[tuple[str, str]]]
# Search text -> filter conditions Klaviyo applies, or None when the text is matched locally.
ServerSearch = Callable[[str], Sequence[filters.Node] | None]


class PicklistInputs(Inputs):
    FORM_LABEL = "Picklist Options"

    search: str | None = Field(
        None,
        title=SEARCH_LABEL,
        description="Only options whose name contains this text (searched by Klaviyo where the endpoint "
        "can filter on it, otherwise matched against the option labels).",
        examples=["Newsletter"],
    )
    maxResults: int = Field(
        1000, title="Max Results", ge=1, le=100_000, description="Cap on the options returned."
    )


@dataclass(frozen=True)
class Query:
    """One collection a picklist reads.

    ``conditions`` are always sent (e.g. the campaign channel). ``search`` turns the search
    text into server-side conditions, or None to match it locally against labels.
    ``scan_limit`` bounds how many records a local search reads, for collections with no end
    in practice (events, profiles); every other local search reads everything. ``entries``
    turns each record into several options (a campaign into its messages); by default a record
    is one option keyed by its id and labelled by ``label``.
    """

    path: str
    operation: str
    label: Labeler
    params: Mapping[str, Any] = field(default_factory=dict)
    conditions: tuple[filters.Node, ...] = ()
    search: ServerSearch | None = None
    scan_limit: int | None = None
    entries: Entries | None = None


def contains(attribute: str) -> ServerSearch:
    """Search with ``contains(attribute,'text')``."""
    return lambda text: [filters.condition("contains", attribute, text)]


def name_search(operation: str) -> ServerSearch | None:
    """``contains(name,...)`` when the operation allows it; None (search locally) otherwise."""
    spec = catalog.operation(operation).filters.get("name")
    return contains("name") if spec is not None and "contains" in spec.operators else None


def named(path: str, operation: str, rtype: str) -> Query:
    """A collection labelled by name: only ``name`` is fetched, sorted by name where allowed."""
    params: dict[str, Any] = {f"fields[{rtype}]": "name"}
    if "name" in (catalog.operation(operation).sort or ()):
        params["sort"] = "name"
    return Query(path, operation, by_name, params=params, search=name_search(operation))


def attributes(item: Mapping[str, Any]) -> Mapping[str, Any]:
    return item.get("attributes") or {}


def by_name(item: Mapping[str, Any], _: Included) -> str:
    """The record's ``name``, or its id when it has none."""
    return str(attributes(item).get("name") or "").strip() or str(item["id"])


def related(item: Mapping[str, Any], name: str, included: Included) -> Mapping[str, Any] | None:
    """The included resource a to-one relationship points at."""
    ref = ((item.get("relationships") or {}).get(name) or {}).get("data")
    if not isinstance(ref, Mapping):
        return None
    return included.get((str(ref.get("type")), str(ref.get("id"))))


def readable_datetime(value: Any) -> str:
    """``2024-06-27T18:13:27+00:00`` -> ``2024-06-27 18:13:27 UTC`` (unparsable text as is)."""
    if not isinstance(value, str) or not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _collect(ctx: Context, query: Query, needle: str, cap: int) -> list[dict[str, str]]:
    params = dict(query.params)
    server = query.search(needle) if (needle and query.search is not None) else None
    local = bool(needle) and server is None
    flt = build_filter(query.operation, None, [*query.conditions, *(server or [])], label=SEARCH_LABEL)
    if flt:
        params["filter"] = flt
    folded = needle.casefold()
    found: list[dict[str, str]] = []
    scanned = 0
    pages = iterate_pages(
        ctx.client,
        query.path,
        operation=query.operation,
        params=params,
        # A local search may discard most of a page: ask for full pages then.
        page_size=None if local else cap,
        max_records=None,
    )
    for doc in pages:
        included = {(str(i.get("type")), str(i.get("id"))): i for i in doc.get("included") or []}
        for item in doc.get("data") or []:
            scanned += 1
            pairs = (
                query.entries(item, included)
                if query.entries
                else [(str(item["id"]), query.label(item, included))]
            )
            for key, text in pairs:
                if local and folded not in text.casefold():
                    continue
                found.append({"key": key, "label": text})
        if len(found) >= cap or (local and query.scan_limit is not None and scanned >= query.scan_limit):
            break
    return found[:cap]


def options(ctx: Context, inputs: PicklistInputs, *queries: Query) -> list[dict[str, str]]:
    """``[{"key", "label"}]`` for every record of the queries up to the cap, sorted by label.

    Labels shared by several records get the record's id appended, so each option can be told
    apart. Errors are the client's :class:`~klaviyo_connector.errors.KlaviyoError`, never an
    empty list.
    """
    needle = (inputs.search or "").strip()
    cap = inputs.maxResults
    merged: dict[str, dict[str, str]] = {}
    for query in queries:
        for option in _collect(ctx, query, needle, cap):
            merged.setdefault(option["key"], option)
    counts = Counter(o["label"] for o in merged.values())
    result = [
        {"key": o["key"], "label": f"{o['label']} ({o['key']})" if counts[o["label"]] > 1 else o["label"]}
        for o in merged.values()
    ]
    result.sort(key=lambda o: (o["label"].casefold(), o["label"], o["key"]))
    return result[:cap]
