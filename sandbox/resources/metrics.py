"""Metrics: list and get them, and aggregate their events (``POST /api/metric-aggregates``).

Metrics are created by events (see ``events.py``). ``GET /api/metrics`` takes no
``page[size]``: pages hold up to 200 metrics. The aggregate query really aggregates the stored
events: ``count`` (events), ``sum_value`` (sum of ``$value``) and ``unique`` (distinct
profiles) per ``hour`` / ``day`` / ``week`` (from Monday) / ``month`` bucket of the query's
``timezone``, between the ``greater-or-equal`` / ``less-than`` datetime filters (naive
datetimes are in that timezone), optionally grouped ``by`` event properties such as
``$value_currency`` and narrowed by more filters on them. Rows (one per group) are paged with
``page_size`` / ``page_cursor`` in the body.

A query whose range holds more than :data:`MAX_BUCKETS` intervals (eleven years of hours) is a
400 rather than millions of empty buckets; a range bound that has no date in the query's
timezone (``9999-12-31T23:00:00Z`` seen from UTC+14) is a 400 too. Sums that would overflow a
double stay at its largest value, so the answer is always standard JSON.
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ... import catalog, filters
from ... import prose_rules as rules
from ..context import Reply, RequestContext, Route, cursor_offset, encode_cursor
from ..errors import invalid
from ..filters import compile_predicate, parse_strict
from ..store import Resource
from . import events

PAGE_SIZE = 200
DEFAULT_AGGREGATE_PAGE = 500
MAX_BUCKETS = 100_000
_RANGE = re.compile(
    r"^\s*(greater-or-equal|greater-than|less-than|less-or-equal)\(\s*datetime\s*,\s*([^)]*?)\s*\)\s*$"
)
_ATTRS = "/data/attributes"
_MEMBER = "data.attributes"  # the same place as a catalog body path
_QUERY_MEMBERS = (
    "metric_id",
    "measurements",
    "interval",
    "filter",
    "by",
    "timezone",
    "page_size",
    "page_cursor",
    "sort",
    "return_fields",
)


def _render(ctx: RequestContext, metric: Resource, include: list[str]) -> dict[str, Any]:
    obj = events.render_metric(ctx, metric)
    if "flow-triggers" in include:  # sandbox flows are never triggered by a metric
        obj["relationships"]["flow-triggers"]["data"] = []
    return obj


# -- metrics -----------------------------------------------------------------------------


def get_metrics(ctx: RequestContext) -> Reply:
    if ctx.arg("page[size]") is not None:
        raise invalid("'page[size]' is not a valid parameter for this endpoint.", parameter="page[size]")
    include = ctx.includes()
    page, links = ctx.page_stored(events.METRIC_TYPE, fixed_size=PAGE_SIZE)
    return Reply.document([_render(ctx, row, include) for row in page], links, [] if include else None)


def get_metric(ctx: RequestContext) -> Reply:
    include = ctx.includes()
    metric = ctx.get_or_404(events.METRIC_TYPE, ctx.params["id"])
    links = ctx.self_link(f"/api/metrics/{metric.id}")
    return Reply.document(_render(ctx, metric, include), links, [] if include else None)


# -- aggregates --------------------------------------------------------------------------


def _bucket(moment: datetime, interval: str) -> datetime:
    """The start of the bucket holding ``moment`` (naive wall-clock time)."""
    if interval == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _next(start: datetime, interval: str) -> datetime:
    """The next bucket's start; OverflowError past the end of the calendar."""
    if interval == "hour":
        return start + timedelta(hours=1)
    if interval == "day":
        return start + timedelta(days=1)
    if interval == "week":
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def _parse_range_value(text: str, zone: ZoneInfo, pointer: str) -> datetime:
    """A filter datetime as naive wall-clock time in ``zone`` (naive text already is)."""
    moment = filters.parse_datetime(text)
    if moment is None:
        raise invalid(f"'{text}' is not a valid ISO 8601 datetime.", pointer=pointer)
    has_offset = text.endswith(("Z", "z")) or bool(re.search(r"[+-]\d{2}:?\d{2}$", text[10:]))
    if not has_offset:
        return moment.replace(tzinfo=None)
    try:
        return moment.astimezone(zone).replace(tzinfo=None)
    except OverflowError:
        raise invalid(
            f"'{text}' is outside the calendar in the timezone {zone.key}.", pointer=pointer
        ) from None


def _string_list(attributes: dict[str, Any], name: str, required: bool) -> list[str]:
    value = attributes.get(name)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (required and not value):
        raise invalid(f"'{name}' must be a non-empty array of strings.", pointer=f"{_ATTRS}/{name}")
    return value


def _conditions(
    texts: list[str], zone: ZoneInfo
) -> tuple[datetime, datetime, list[Callable[[dict[str, Any]], bool]]]:
    """The date range (start inclusive, end exclusive) and the other conditions on properties."""
    start: datetime | None = None
    end: datetime | None = None
    checks: list[Callable[[dict[str, Any]], bool]] = []
    for i, text in enumerate(texts):
        pointer = f"{_ATTRS}/filter/{i}"
        match = _RANGE.match(text)
        if match:
            operator, value = match.groups()
            moment = _parse_range_value(value, zone, pointer)
            if operator == "greater-than":
                moment += timedelta(microseconds=1)
            if operator == "less-or-equal":
                moment += timedelta(microseconds=1)
            if operator.startswith("greater"):
                start = moment if start is None else max(start, moment)
            else:
                end = moment if end is None else min(end, moment)
            continue
        try:
            nodes = parse_strict(text)
        except filters.FilterError as exc:
            raise invalid(str(exc), pointer=pointer) from None
        checks.append(compile_predicate(nodes, lambda props, field: [filters_value(props, field)]))
    if start is None or end is None:
        raise invalid(
            "The filter must include a time range: greater-or-equal(datetime,...) and less-than(datetime,...).",
            pointer=f"{_ATTRS}/filter",
        )
    if start >= end:
        raise invalid("The start of the time range must be before its end.", pointer=f"{_ATTRS}/filter")
    return start, end, checks


def filters_value(properties: dict[str, Any], field: str) -> Any:
    """A dimension's value in an event's properties (strings compare with quoted literals)."""
    value = properties.get(field)
    return value if value is None or isinstance(value, (bool, int, float)) else str(value)


def _query(ctx: RequestContext) -> dict[str, Any]:
    data = ctx.resource_body("metric-aggregate")
    attributes = dict(data.get("attributes") or {})
    for name in attributes:
        if name not in _QUERY_MEMBERS:
            raise invalid(
                f"'{name}' is not a valid field for the resource 'metric-aggregate'.",
                pointer=f"{_ATTRS}/{name}",
            )
    metric_id = attributes.get("metric_id")
    if not isinstance(metric_id, str) or not metric_id:
        raise invalid("'metric_id' is a required field.", pointer=f"{_ATTRS}/metric_id")
    measurements = _string_list(attributes, "measurements", required=True)
    allowed = catalog.body_enum("query_metric_aggregates", f"{_MEMBER}.measurements[]")
    for i, name in enumerate(measurements):
        if name not in allowed:
            raise invalid(
                f"'{name}' is not a valid measurement; use {', '.join(allowed)}.",
                pointer=f"{_ATTRS}/measurements/{i}",
            )
    interval = attributes.get("interval") or "day"
    intervals = catalog.body_enum("query_metric_aggregates", f"{_MEMBER}.interval")
    if interval not in intervals:
        raise invalid(
            f"'{interval}' is not a valid interval; use {', '.join(intervals)}.", pointer=f"{_ATTRS}/interval"
        )
    zone_name = attributes.get("timezone") or "UTC"
    if isinstance(zone_name, str):
        try:
            rules.check_aggregate_timezone(zone_name)
        except rules.RuleBroken as broken:
            raise invalid(f"Invalid timezone: {broken.message}.", pointer=f"{_ATTRS}/timezone") from None
    try:
        zone = ZoneInfo(zone_name) if isinstance(zone_name, str) else None
    except (ZoneInfoNotFoundError, ValueError):
        zone = None
    if zone is None:
        raise invalid(f"'{zone_name}' is not a valid timezone.", pointer=f"{_ATTRS}/timezone")
    page_size = attributes.get("page_size") or DEFAULT_AGGREGATE_PAGE
    if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
        raise invalid("'page_size' must be a positive integer.", pointer=f"{_ATTRS}/page_size")
    cursor = attributes.get("page_cursor")
    offset = cursor_offset(None if cursor is None else str(cursor), pointer=f"{_ATTRS}/page_cursor")
    by = _string_list(attributes, "by", required=False)
    sort = attributes.get("sort")
    if sort is not None and (not isinstance(sort, str) or sort.lstrip("-") not in (*by, *measurements)):
        raise invalid(
            "'sort' must name a measurement or a 'by' dimension of the query.", pointer=f"{_ATTRS}/sort"
        )
    start, end, checks = _conditions(_string_list(attributes, "filter", required=True), zone)
    return {
        "metric_id": metric_id,
        "measurements": measurements,
        "interval": interval,
        "zone": zone,
        "by": by,
        "sort": sort,
        "page_size": page_size,
        "offset": offset,
        "start": start,
        "end": end,
        "checks": checks,
    }


def aggregate(rows: list[Resource], query: dict[str, Any]) -> tuple[list[datetime], list[dict[str, Any]]]:
    """Bucket starts and one ``{dimensions, measurements}`` row per group, from stored events."""
    interval, zone, by = query["interval"], query["zone"], query["by"]
    starts: list[datetime] = []
    moment = _bucket(query["start"], interval)
    while moment < query["end"]:
        starts.append(moment)
        if len(starts) > MAX_BUCKETS:
            raise invalid(
                f"The time range holds more than {MAX_BUCKETS} {interval} intervals; narrow it or use a "
                "longer interval.",
                pointer=f"{_ATTRS}/filter",
            )
        try:
            moment = _next(moment, interval)
        except OverflowError:  # the range ends with the calendar
            break
    index = {start: i for i, start in enumerate(starts)}

    def empty() -> dict[str, Any]:
        return {
            "count": [0] * len(starts),
            "sum_value": [0.0] * len(starts),
            "unique": [set() for _ in starts],
        }

    groups: dict[tuple[str, ...], dict[str, Any]] = {} if by else {(): empty()}
    for row in rows:
        stored = row.attributes
        when = filters.parse_datetime(stored.get("datetime") or "")
        if when is None:
            continue
        local = when.astimezone(zone).replace(tzinfo=None)
        properties = stored.get("event_properties") or {}
        if not (query["start"] <= local < query["end"]) or not all(
            check(properties) for check in query["checks"]
        ):
            continue
        values = [properties.get(name) for name in by]
        key = () if all(v is None for v in values) else tuple("" if v is None else str(v) for v in values)
        group = groups.setdefault(key, empty())
        slot = index[_bucket(local, interval)]  # in range, so its bucket is one of the starts
        group["count"][slot] += 1
        total = group["sum_value"][slot] + float(stored.get("value") or 0.0)
        # Saturate rather than overflow to inf, which JSON can't carry.
        group["sum_value"][slot] = max(-sys.float_info.max, min(sys.float_info.max, total))
        group["unique"][slot].add(stored.get("profile_id"))
    out = []
    for key in sorted(groups):
        totals = groups[key]
        measured = {
            name: [len(s) for s in totals["unique"]] if name == "unique" else list(totals[name])
            for name in query["measurements"]
        }
        out.append({"dimensions": list(key), "measurements": measured})
    sort = query["sort"]
    if sort:
        name = sort.lstrip("-")
        if name in query["measurements"]:
            out.sort(key=lambda r: sum(r["measurements"][name]), reverse=sort.startswith("-"))
        else:
            position = by.index(name)
            out.sort(
                key=lambda r: r["dimensions"][position] if r["dimensions"] else "",
                reverse=sort.startswith("-"),
            )
    return [start.replace(tzinfo=zone) for start in starts], out


def query_metric_aggregates(ctx: RequestContext) -> Reply:
    query = _query(ctx)
    metric = ctx.store.get(ctx.account_id, events.METRIC_TYPE, query["metric_id"])
    if metric is None:
        # Klaviyo refuses the query itself (a 400), as it does an unknown metric in an events filter.
        raise invalid(f"Metric ID {query['metric_id']} does not exist.", pointer=f"{_ATTRS}/metric_id")
    rows = [
        row
        for row in ctx.store.list_resources(ctx.account_id, events.TYPE)
        if row.attributes.get("metric_id") == metric.id
    ]
    dates, groups = aggregate(rows, query)
    offset, size = query["offset"], query["page_size"]
    page = groups[offset : offset + size]
    raw = ctx.request.get_data(cache=True)
    self_url = ctx.url("/api/metric-aggregates/")
    links: dict[str, str] = {"self": self_url}
    if offset + size < len(groups):
        links["next"] = f"{self_url}?page_cursor={encode_cursor(offset + size)}"
    body = {
        "data": {
            "type": "metric-aggregate",
            "id": hashlib.sha256(raw + ctx.account_id.encode()).hexdigest()[:32],
            "attributes": {"dates": [d.isoformat() for d in dates], "data": page},
            "links": {"self": self_url},
        },
        "links": links,
    }
    return Reply(200, body)


ROUTES = [
    Route("GET", "/api/metrics", get_metrics, "get_metrics"),
    Route("GET", "/api/metrics/{id}", get_metric, "get_metric"),
    Route("POST", "/api/metric-aggregates", query_metric_aggregates, "query_metric_aggregates"),
]
