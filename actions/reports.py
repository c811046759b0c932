"""Reporting: campaign performance values (the numbers Klaviyo's UI shows), e.g. a daily roll-up."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from klaviyo_connector import filters
from klaviyo_connector.catalog import FilterField
from klaviyo_connector.context import Context
from klaviyo_connector.errors import input_error
from klaviyo_connector.inputs import Inputs, data_source
from klaviyo_connector.jsonapi import resource
from klaviyo_connector.model import Action
from pydantic import AfterValidator, Discriminator, Field, Tag, field_validator, model_validator

# The spec's enums for CampaignValuesRequestDTO (revision 2026-07-15).
STATISTICS = (
    "average_order_value",
    "bounce_rate",
    "bounced",
    "bounced_or_failed",
    "bounced_or_failed_rate",
    "click_rate",
    "click_to_open_rate",
    "clicks",
    "clicks_unique",
    "conversion_rate",
    "conversion_uniques",
    "conversion_value",
    "conversions",
    "delivered",
    "delivery_rate",
    "failed",
    "failed_rate",
    "message_segment_count_sum",
    "open_rate",
    "opens",
    "opens_unique",
    "recipients",
    "revenue_per_recipient",
    "spam_complaint_rate",
    "spam_complaints",
    "text_message_credit_usage_amount",
    "text_message_roi",
    "text_message_spend",
    "unsubscribe_rate",
    "unsubscribe_uniques",
    "unsubscribes",
)
TIMEFRAME_KEYS = (
    "today",
    "yesterday",
    "this_week",
    "last_7_days",
    "last_week",
    "this_month",
    "last_30_days",
    "last_month",
    "last_90_days",
    "last_3_months",
    "last_365_days",
    "last_12_months",
    "this_year",
    "last_year",
)
GROUP_BY = (
    "campaign_id",
    "campaign_message_id",
    "campaign_message_name",
    "group",
    "group_name",
    "send_channel",
    "tag_id",
    "tag_name",
    "text_message_format",
    "variation",
    "variation_name",
)
REQUIRED_GROUP_BY = ("campaign_id", "campaign_message_id")
MAX_TIMEFRAME = dt.timedelta(days=366)  # "Max length: 1 year"; a leap year has 366 days

# What the report's filter accepts (from the operation's documentation): scalar attributes take
# equals / contains-any, list attributes contains-any / contains-all; only AND combines them.
_SCALAR = ("send_channel", "campaign_id", "campaign_message_id", "campaign_message_name", "variation")
_SCALAR += ("variation_name", "text_message_format")
REPORT_FILTERS = {
    **{
        name: FilterField(name, ("equals", "contains-any"), ("contains-any",), ("equals",), "string")
        for name in _SCALAR
    },
    **{
        name: FilterField(
            name, ("contains-any", "contains-all"), ("contains-any", "contains-all"), (), "string"
        )
        for name in ("tag_id", "tag_name")
    },
}
SEND_CHANNELS = ("email", "sms", "push-notification", "whatsapp")
MAX_FILTER_ITEMS = 100


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.timezone.utc)


class PresetTimeframe(Inputs):
    key: Literal[TIMEFRAME_KEYS]  # type: ignore[valid-type]


class CustomTimeframe(Inputs):
    start: Annotated[dt.datetime, AfterValidator(_utc)]
    end: Annotated[dt.datetime, AfterValidator(_utc)]

    @model_validator(mode="after")
    def _ordered(self) -> CustomTimeframe:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > MAX_TIMEFRAME:
            raise ValueError("a custom timeframe can span at most one year")
        return self


def _timeframe_kind(value: Any) -> str:
    if isinstance(value, PresetTimeframe) or (isinstance(value, dict) and "key" in value):
        return "preset"
    return "custom"


Timeframe = Annotated[
    Annotated[PresetTimeframe, Tag("preset")] | Annotated[CustomTimeframe, Tag("custom")],
    Discriminator(_timeframe_kind),
]


class QueryCampaignValuesInputs(Inputs):
    statistics: list[str] = Field(
        title="Statistics",
        min_length=1,
        description="The statistics to compute, e.g. recipients,delivered,opens_unique,open_rate,clicks_unique,"
        "click_rate,conversions,conversion_value. Rates are fractions between 0 and 1.",
        examples=[["recipients", "open_rate", "click_rate"]],
    )
    timeframe: Timeframe = Field(
        title="Timeframe",
        description=f"A preset ({', '.join(TIMEFRAME_KEYS)}) or a custom range as JSON "
        '{"start": "2026-07-01T00:00:00Z", "end": "2026-07-02T00:00:00Z"} (at most one year; Klaviyo uses '
        "the account's timezone).",
        examples=["last_30_days"],
    )
    conversionMetricId: str = Field(
        title="Conversion Metric ID",
        min_length=1,
        description="The metric counted as a conversion, usually Placed Order's metric ID.",
        examples=["RESQ6t"],
        json_schema_extra=data_source("selectMetric"),
    )
    filter: str | None = Field(
        None,
        title="Filter",
        description="Narrow the report, e.g. equals(send_channel,'email') or "
        "contains-any(campaign_id,['01J2DNH88028WCAA2RK0BYBZVG']). Only AND combines conditions.",
    )
    groupBy: list[str] | None = Field(
        None,
        title="Group By",
        description="Attributes to group by; must include campaign_id and campaign_message_id. Default: "
        "campaign_id, campaign_message_id, send_channel.",
    )
    pageCursor: str | None = Field(
        None, title="Page Cursor", description="The cursor of a previous result's next page."
    )

    @field_validator("statistics")
    @classmethod
    def _known_statistics(cls, values: list[str]) -> list[str]:
        bad = [v for v in values if v not in STATISTICS]
        if bad:
            raise ValueError(f"{', '.join(bad)} not allowed; choose from: {', '.join(STATISTICS)}")
        return list(dict.fromkeys(values))

    @field_validator("timeframe", mode="before")
    @classmethod
    def _preset_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            if value not in TIMEFRAME_KEYS:
                raise ValueError(
                    f"{value!r} is not a preset; use one of {', '.join(TIMEFRAME_KEYS)} or a custom "
                    '{"start": ..., "end": ...}'
                )
            return {"key": value}
        return value

    @field_validator("groupBy")
    @classmethod
    def _known_group_by(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        bad = [v for v in values if v not in GROUP_BY]
        if bad:
            raise ValueError(f"{', '.join(bad)} not allowed; choose from: {', '.join(GROUP_BY)}")
        missing = [v for v in REQUIRED_GROUP_BY if v not in values]
        if missing:
            raise ValueError(
                f"must include {' and '.join(REQUIRED_GROUP_BY)} (missing: {', '.join(missing)})"
            )
        return list(dict.fromkeys(values))


def report_filter(text: str | None, label: str = "Filter") -> str | None:
    """The report filter, checked against what the reporting API accepts and normalised."""
    if not text:
        return None
    try:
        nodes = filters.check(filters.parse(text), REPORT_FILTERS)
    except filters.FilterError as exc:
        raise input_error(label, str(exc)) from None
    flat: list[filters.Node] = []
    pending = list(nodes)
    while pending:
        node = pending.pop(0)
        if isinstance(node, filters.Group):
            if node.operator != "and":
                raise input_error(label, f"only and() can combine conditions here, not {node.operator}()")
            pending[:0] = node.items
            continue
        flat.append(node)
    seen: set[str] = set()
    for node in flat:
        assert isinstance(node, filters.Condition)
        if node.field in seen:
            raise input_error(
                label, f"only one condition per attribute is allowed ({node.field} is repeated)"
            )
        seen.add(node.field)
        values = node.value if isinstance(node.value, list) else [node.value]
        if len(values) > MAX_FILTER_ITEMS:
            raise input_error(label, f"{node.field}: at most {MAX_FILTER_ITEMS} values per list")
        if node.field == "send_channel":
            bad = [v for v in values if v not in SEND_CHANNELS]
            if bad:
                raise input_error(
                    label, f"send_channel takes {', '.join(SEND_CHANNELS)}, not {', '.join(bad)}"
                )
    return filters.render(flat)


def query_campaign_values(ctx: Context, inputs: QueryCampaignValuesInputs) -> Any:
    attrs: dict[str, Any] = {
        "statistics": inputs.statistics,
        "timeframe": inputs.timeframe.model_dump(mode="json"),
        "conversion_metric_id": inputs.conversionMetricId,
    }
    flt = report_filter(inputs.filter)
    if flt:
        attrs["filter"] = flt
    if inputs.groupBy:
        attrs["group_by"] = inputs.groupBy
    params = {"page_cursor": inputs.pageCursor} if inputs.pageCursor else None
    # A report query changes nothing, so retrying it after a 429 or 5xx is safe; the tight limit
    # (1/s, 2/m, 225/d) is why this action never pages on its own.
    return ctx.client.request(
        "POST",
        "/api/campaign-values-reports",
        params=params,
        json_body=resource("campaign-values-report", attrs),
        operation="query_campaign_values",
        idempotent=True,
    ).json()


ACTIONS = (
    Action(
        key="queryCampaignValues",
        label="Query Campaign Values",
        description="Get campaign performance statistics (recipients, opens, clicks, conversions, revenue, ...) "
        "per campaign message for a timeframe, e.g. a daily campaign roll-up. Klaviyo allows 2 of these "
        "requests a minute and 225 a day.",
        inputs=QueryCampaignValuesInputs,
        perform=query_campaign_values,
        operations=("query_campaign_values",),
        read_only=True,
        idempotent=True,
    ),
)
