"""selectEvent: recent events labelled "metric name · datetime · profile email"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from klaviyo_connector.context import Context
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import (
    Included,
    PicklistInputs,
    Query,
    attributes,
    options,
    readable_datetime,
    related,
)

# An account's events have no end in practice; a search reads at most this many, newest first.
SEARCH_SCAN_LIMIT = 10_000


def _label(item: Mapping[str, Any], included: Included) -> str:
    metric = related(item, "metric", included)
    profile = related(item, "profile", included)
    metric_name = str(attributes(metric).get("name") or "") if metric else ""
    person = ""
    if profile:
        person = str(attributes(profile).get("email") or attributes(profile).get("phone_number") or "")
    when = readable_datetime(attributes(item).get("datetime"))
    return " · ".join(p for p in (metric_name or "Event", when, person) if p)


EVENTS = Query(
    "/api/events",
    "get_events",
    _label,
    # Metric and profile come with the page (include), not one request per event.
    params={
        "fields[event]": "datetime",
        "include": "metric,profile",
        "fields[metric]": "name",
        "fields[profile]": "email,phone_number",
        "sort": "-datetime",
    },
    scan_limit=SEARCH_SCAN_LIMIT,
)


def select_event(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
    return options(ctx, inputs, EVENTS)


DATA_SOURCES = (
    DataSource(
        key="selectEvent",
        label="Select Event",
        description='Select an event to use: the newest events, shown as "metric · datetime · profile email". '
        f"A search matches those labels within the newest {SEARCH_SCAN_LIMIT:,} events.",
        inputs=PicklistInputs,
        perform=select_event,
        operations=("get_events",),
    ),
)
