"""New Event: each event of one metric (``GET /api/events`` by ``datetime``), e.g. Placed Order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from klaviyo_connector import filters
from klaviyo_connector.inputs import IdField
from klaviyo_connector.model import Trigger
from klaviyo_connector.polling import Candidate, Feed, parse_time, record
from klaviyo_connector.triggers.common import PollInputs, poller

OPERATION = "get_events"


class NewEventInputs(PollInputs):
    metricId: str = IdField(
        "Metric ID", "The metric whose events to watch, e.g. Placed Order's ID.", "Y6xJBt", "selectMetric"
    )


def related(event: Mapping[str, Any], doc: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The event's profile and metric from the page's ``included``, as ``include=profile,metric`` gives."""
    wanted = set()
    for name in ("profile", "metric"):
        ref = ((event.get("relationships") or {}).get(name) or {}).get("data") or {}
        wanted.add((ref.get("type"), ref.get("id")))
    return [item for item in doc.get("included") or [] if (item.get("type"), item.get("id")) in wanted]


def expand(event: Mapping[str, Any], doc: Mapping[str, Any]) -> Iterable[Candidate]:
    moment = parse_time((event.get("attributes") or {}).get("datetime"))
    if moment is None:
        return ()
    return (record(str(event.get("id")), moment, event, related(event, doc)),)


def feed(inputs: Any) -> Feed:
    return Feed(
        OPERATION,
        "/api/events",
        "datetime",
        expand,
        filters=(filters.condition("equals", "metric_id", inputs.metricId),),
        params={"include": "metric,profile"},
    )


TRIGGERS = (
    Trigger(
        key="newEvent",
        label="New Event",
        description="Fires for each event of a metric (Placed Order, Viewed Product, a custom metric) by its "
        "time. Each record's data is the event as Get Event returns it, with its profile and metric in "
        "included; its key is the event ID. An event recorded with a time before the last poll's "
        "newest event is not returned.",
        inputs=NewEventInputs,
        kind="polling",
        operations=(OPERATION,),
        poll=poller("newEvent", feed),
    ),
)
