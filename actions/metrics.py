"""Metrics: list them and query their aggregates (counts, sums, uniques over time)."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from klaviyo_connector import filters
from klaviyo_connector import prose_rules as rules
from klaviyo_connector.actions.lists import flow_fields
from klaviyo_connector.context import Context
from klaviyo_connector.errors import KlaviyoError, input_error
from klaviyo_connector.inputs import (
    DAY_OR_TIME_HELP,
    BodyEnum,
    DayOrTime,
    EnumHint,
    FormHint,
    IdField,
    Inputs,
    ResourceId,
)
from klaviyo_connector.jsonapi import resource
from klaviyo_connector.listing import PAGE_CURSOR_EXAMPLE, list_collection, list_inputs
from klaviyo_connector.model import Action
from klaviyo_connector.reads import query_input, read_params
from pydantic import AfterValidator, Field

# Datetime conditions come from Start Date / End Date; Filters may not repeat them.
AGGREGATES = "query_metric_aggregates"
_DATETIME_FIELDS = ("datetime", "timestamp")
# Body members of the aggregate query and the labels of the inputs that fill them.
_BODY_LABELS = {
    "metric_id": "Metric ID",
    "measurements": "Measurements",
    "interval": "Interval",
    "filter": "Filters",
    "by": "Group By",
    "timezone": "Timezone",
    "page_size": "Page Size",
    "page_cursor": "Page Cursor",
}


def now() -> datetime:
    """The current time; tests replace this function to pin "now"."""
    return datetime.now(timezone.utc)


# The shape of an IANA zone name (Area/Location, or a capitalised legacy name such as UTC); the
# list itself is the machine's tz database, checked when the action runs, not copied into forms.
TIMEZONE_PATTERN = r"^[A-Z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*$"


def _timezone(value: str) -> str:
    try:
        rules.check_aggregate_timezone(value)
    except rules.RuleBroken as broken:
        raise ValueError(broken.message) from None
    return value


class ListMetricsInputs(list_inputs("get_metrics", "equals(integration.name,'Shopify')")):
    metricFields: list[str] | None = Field(
        None,
        title="Metric Fields",
        description="Metric fields to return (name, created, updated, integration).",
        examples=[["name", "integration"]],
        json_schema_extra=EnumHint("get_metrics", query="fields[metric]"),
    )
    include: list[str] | None = query_input(
        "get_metrics",
        "include",
        "Include",
        "Related resources to include: flow-triggers (the flows each metric triggers).",
        ["flow-triggers"],
    )
    flowFields: list[str] | None = flow_fields("get_metrics")
    integrationName: str | None = Field(
        None,
        title="Integration Name",
        description="Only metrics of this integration, e.g. API or Shopify.",
        examples=["Shopify"],
    )
    integrationCategory: str | None = Field(
        None,
        title="Integration Category",
        description="Only metrics of integrations in this category, e.g. API or eCommerce.",
        examples=["eCommerce"],
    )


class QueryMetricAggregatesInputs(Inputs):
    metricId: ResourceId = IdField("Metric ID", "The metric to aggregate.", "UMTLbD", "selectMetric")
    measurements: list[Annotated[str, BodyEnum(AGGREGATES, "data.attributes.measurements[]")]] = Field(
        title="Measurements",
        min_length=1,
        description="count (number of events), sum_value (sum of event values), unique (number of profiles).",
        examples=[["count", "sum_value"]],
    )
    interval: Annotated[str, BodyEnum(AGGREGATES, "data.attributes.interval")] = Field(
        "day", title="Interval", description="The length of each time bucket."
    )
    startDate: DayOrTime = Field(
        title="Start Date",
        description="Start of the range (inclusive); a day starts at midnight in the Timezone. "
        + DAY_OR_TIME_HELP,
        examples=["2024-07-01"],
    )
    endDate: DayOrTime | None = Field(
        None,
        title="End Date",
        description="End of the range (exclusive); a day starts at midnight in the Timezone. Default, and at "
        "most: now. " + DAY_OR_TIME_HELP,
        examples=["2024-08-01"],
    )
    groupBy: list[str] | None = Field(
        None,
        title="Group By",
        description="Dimensions to group by, e.g. $flow, $message, Campaign Name, $value_currency.",
        examples=[["$flow"]],
        json_schema_extra=EnumHint(AGGREGATES, body="data.attributes.by[]"),
    )
    timezone: Annotated[str, AfterValidator(_timezone), FormHint(pattern=TIMEZONE_PATTERN)] = Field(
        "UTC",
        title="Timezone",
        description="IANA time zone (case-sensitive) for the buckets and the days of Start Date and End Date. "
        "Klaviyo does not accept Factory, Europe/Kyiv (use Europe/Kiev) or Pacific/Kanton (use "
        "Pacific/Enderbury).",
        examples=["UTC"],
    )
    filters: list[str] | None = Field(
        None,
        title="Filters",
        description="Extra conditions on dimensions, e.g. equals($flow,'R8a2Hp'); the date range comes from "
        "Start Date and End Date.",
        examples=[["equals($flow,'R8a2Hp')"]],
    )
    pageSize: int | None = Field(
        None, title="Page Size", ge=1, description="Rows per page (Klaviyo's default: 500).", examples=[500]
    )
    pageCursor: str | None = Field(
        None,
        title="Page Cursor",
        description="Cursor of the next page of rows.",
        examples=[PAGE_CURSOR_EXAMPLE],
    )


def list_metrics(ctx: Context, inputs: ListMetricsInputs) -> Any:
    params = read_params(
        "get_metrics",
        inputs,
        {"fields[metric]": "metricFields", "include": "include", "fields[flow]": "flowFields"},
    )
    extra = [
        filters.condition("equals", field, value)
        for field, value in (
            ("integration.name", inputs.integrationName),
            ("integration.category", inputs.integrationCategory),
        )
        if value
    ]
    return list_collection(ctx, "/api/metrics", "get_metrics", inputs, params, extra_filters=extra)


def _local(value: date, zone: ZoneInfo) -> datetime:
    """``value`` as naive wall-clock time in ``zone``: a day is its midnight there, a date-time
    (always with an offset) is converted."""
    if isinstance(value, datetime):
        return value.astimezone(zone).replace(tzinfo=None)
    return datetime.combine(value, time())


def date_range(inputs: QueryMetricAggregatesInputs) -> tuple[datetime, datetime]:
    """Start and end as naive times in the query's timezone; the end is never in the future."""
    zone = ZoneInfo(inputs.timezone)
    start = _local(inputs.startDate, zone)
    current = _local(now(), zone).replace(microsecond=0)
    end = current if inputs.endDate is None else min(_local(inputs.endDate, zone), current)
    if start >= current:
        raise input_error("Start Date", f"must be in the past (it is {start.isoformat()} {inputs.timezone})")
    if start >= end:
        raise input_error(
            "End Date", f"must be after Start Date ({end.isoformat()} is not after {start.isoformat()})"
        )
    return start, end


def _extra_filters(texts: list[str] | None) -> list[str]:
    out: list[str] = []
    for text in texts or []:
        try:
            nodes = filters.parse(text, naive_times=False)
        except filters.FilterError as exc:
            raise input_error("Filters", f"{text!r}: {exc}") from None
        if any(c.field in _DATETIME_FIELDS for c in filters.comparisons(nodes)):
            raise input_error("Filters", "set the date range with Start Date and End Date, not a filter")
        out.extend(filters.render([node]) for node in nodes)
    return out


def _name_body_member(err: KlaviyoError) -> None:
    """Klaviyo points at body members (/data/attributes/by/0); name the input in the error too."""
    pointer = (err.source or {}).get("pointer") or ""
    member = pointer.removeprefix("/data/attributes/").split("/")[0]
    label = _BODY_LABELS.get(member) if pointer.startswith("/data/attributes/") else None
    if label:
        err.field = label
        err.message = f"{label}: {err.message}"
        err.args = (err.message,)


def query_metric_aggregates(ctx: Context, inputs: QueryMetricAggregatesInputs) -> Any:
    start, end = date_range(inputs)
    conditions = [
        f"greater-or-equal(datetime,{start.isoformat()})",
        f"less-than(datetime,{end.isoformat()})",
        *_extra_filters(inputs.filters),
    ]
    attrs: dict[str, Any] = {
        "metric_id": inputs.metricId,
        "measurements": list(dict.fromkeys(inputs.measurements)),
        "interval": inputs.interval,
        "filter": conditions,
        "timezone": inputs.timezone,
    }
    if inputs.groupBy:
        attrs["by"] = list(dict.fromkeys(inputs.groupBy))
    if inputs.pageSize is not None:
        attrs["page_size"] = inputs.pageSize
    if inputs.pageCursor:
        attrs["page_cursor"] = inputs.pageCursor
    try:
        # A read-only query sent as POST: repeating it changes nothing.
        response = ctx.client.request(
            "POST",
            "/api/metric-aggregates",
            json_body=resource("metric-aggregate", attrs),
            operation=AGGREGATES,
            idempotent=True,
        )
    except KlaviyoError as err:
        _name_body_member(err)
        raise
    return response.json()


ACTIONS = (
    Action(
        key="listMetrics",
        label="List Metrics",
        description="Get the metrics (event types) in the account, optionally only those of one integration; "
        "Klaviyo returns up to 200 per page.",
        inputs=ListMetricsInputs,
        perform=list_metrics,
        operations=("get_metrics",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="queryMetricAggregates",
        label="Query Metric Aggregates",
        description="Count, sum values or count unique profiles of a metric's events per hour, day, week or "
        "month between two dates, optionally grouped by dimensions such as $flow.",
        inputs=QueryMetricAggregatesInputs,
        perform=query_metric_aggregates,
        operations=(AGGREGATES,),
        read_only=True,
        idempotent=True,
    ),
)
