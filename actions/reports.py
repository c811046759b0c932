"""Reporting: campaign performance values (the numbers Klaviyo's UI shows), e.g. a daily roll-up."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from klaviyo_connector import filters
from klaviyo_connector import prose_rules as rules
from klaviyo_connector.context import Context
from klaviyo_connector.errors import input_error
from klaviyo_connector.inputs import (
    DAY_OR_TIME_HELP,
    BodyEnum,
    DayOrTime,
    EnumHint,
    Inputs,
    Stated,
    data_source,
)
from klaviyo_connector.jsonapi import resource
from klaviyo_connector.listing import PAGE_CURSOR_EXAMPLE
from klaviyo_connector.model import Action
from pydantic import Discriminator, Field, GetJsonSchemaHandler, Tag, field_validator, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema


def _allowed(values: list[str], member: str) -> list[str]:
    """``values`` without repeats, each checked against the spec's enum for ``member``."""
    allowed = rules.report_enum(member)
    bad = [v for v in values if v not in allowed]
    if bad:
        raise ValueError(f"{', '.join(bad)} not allowed; choose from: {', '.join(allowed)}")
    return list(dict.fromkeys(values))


def _known_preset(key: str) -> str:
    presets = rules.report_enum("timeframe.key")
    if key not in presets:
        raise ValueError(
            f"{key!r} is not a preset; use one of {', '.join(presets)} or a custom "
            '{"start": ..., "end": ...}'
        )
    return key


class PresetTimeframe(Inputs):
    """A timeframe Klaviyo names, such as last_30_days."""

    key: Annotated[str, BodyEnum(rules.REPORT_OPERATION, "data.attributes.timeframe.key")] = Field(
        examples=["last_30_days"]
    )


class CustomTimeframe(Inputs):
    """A range of at most one year, from Start to End."""

    FORM_RULES = (
        Stated(
            "End is after Start, at most one year later; give both as days (YYYY-MM-DD) or both as date-times."
        ),
    )
    # Klaviyo ignores a custom timeframe's offset and reads its clock time in the account's time
    # zone, so the action converts these into that zone before sending.
    start: DayOrTime = Field(
        description="Start (a day: its midnight in the account's time zone). " + DAY_OR_TIME_HELP,
        examples=["2026-07-01"],
    )
    end: DayOrTime = Field(
        description="End (a day: its midnight in the account's time zone). " + DAY_OR_TIME_HELP,
        examples=["2026-07-02"],
    )

    @model_validator(mode="after")
    def _ordered(self) -> CustomTimeframe:
        if isinstance(self.start, datetime) != isinstance(self.end, datetime):
            raise ValueError("give start and end both as days (YYYY-MM-DD) or both as date-times")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > rules.REPORT_MAX_TIMEFRAME:
            raise ValueError("a custom timeframe can span at most one year")
        return self


def _timeframe_kind(value: Any) -> str:
    if isinstance(value, PresetTimeframe) or (isinstance(value, dict) and "key" in value):
        return "preset"
    return "custom"


class _PresetText:
    """The form of a timeframe: a preset's name as text, or a preset or custom range object."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        presets = {"type": "string", "enum": list(rules.report_enum("timeframe.key"))}
        return {"anyOf": [presets, handler(schema)]}


Timeframe = Annotated[
    Annotated[PresetTimeframe, Tag("preset")] | Annotated[CustomTimeframe, Tag("custom")],
    Discriminator(_timeframe_kind),
    _PresetText(),
]


class QueryCampaignValuesInputs(Inputs):
    statistics: list[str] = Field(
        title="Statistics",
        min_length=1,
        description="The statistics to compute, e.g. recipients,delivered,opens_unique,open_rate,clicks_unique,"
        "click_rate,conversions,conversion_value. Rates are fractions between 0 and 1.",
        examples=[["recipients", "open_rate", "click_rate"]],
        json_schema_extra=EnumHint(rules.REPORT_OPERATION, body="data.attributes.statistics[]"),
    )
    timeframe: Timeframe = Field(
        title="Timeframe",
        description="A preset such as today, last_7_days, last_30_days or last_year, or a custom range (at most "
        'one year) as JSON: days {"start": "2026-07-01", "end": "2026-07-02"}, each starting at midnight in '
        'the account\'s time zone, or date-times {"start": "2026-07-01T00:00:00-04:00", "end": ...}, which '
        "are converted into the account's time zone (Klaviyo reads custom times there). " + DAY_OR_TIME_HELP,
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
        examples=["equals(send_channel,'email')"],
    )
    groupBy: list[str] | None = Field(
        None,
        title="Group By",
        description="Attributes to group by; must include campaign_id and campaign_message_id. Default: "
        "campaign_id, campaign_message_id, send_channel.",
        examples=[["campaign_id", "campaign_message_id", "send_channel"]],
        json_schema_extra=EnumHint(
            rules.REPORT_OPERATION,
            body="data.attributes.group_by[]",
            contains=rules.REPORT_REQUIRED_GROUP_BY,
        ),
    )
    pageCursor: str | None = Field(
        None,
        title="Page Cursor",
        description="The cursor of a previous result's next page.",
        examples=[PAGE_CURSOR_EXAMPLE],
    )

    @field_validator("statistics")
    @classmethod
    def _known_statistics(cls, values: list[str]) -> list[str]:
        return _allowed(values, "statistics[]")

    @field_validator("timeframe", mode="before")
    @classmethod
    def _preset_text(cls, value: Any) -> Any:
        return {"key": _known_preset(value)} if isinstance(value, str) else value

    @field_validator("groupBy")
    @classmethod
    def _known_group_by(cls, values: list[str] | None) -> list[str] | None:
        if values is None:
            return None
        values = _allowed(values, "group_by[]")
        missing = [v for v in rules.REPORT_REQUIRED_GROUP_BY if v not in values]
        if missing:
            raise ValueError(
                f"must include {' and '.join(rules.REPORT_REQUIRED_GROUP_BY)} (missing: {', '.join(missing)})"
            )
        return values


def report_filter(text: str | None, label: str = "Filter") -> str | None:
    """The report filter, checked against what the reporting API accepts and normalised."""
    if not text:
        return None
    try:
        nodes = filters.validate(
            filters.parse(text, naive_times=False), rules.REPORT_FILTERS, logical=("and",)
        )
    except filters.FilterError as exc:
        raise input_error(label, str(exc)) from None
    flat = filters.comparisons(nodes)  # only and() combines them, so they may be sent ANDed by commas
    seen: set[str] = set()
    for node in flat:
        if node.field in seen:
            raise input_error(
                label, f"only one condition per attribute is allowed ({node.field} is repeated)"
            )
        seen.add(node.field)
        values = node.value if node.is_list else [node.value]
        if len(values) > rules.REPORT_MAX_FILTER_ITEMS:
            raise input_error(label, f"{node.field}: at most {rules.REPORT_MAX_FILTER_ITEMS} values per list")
        if node.field == "send_channel":
            bad = [str(v) for v in values if str(v) not in rules.REPORT_SEND_CHANNELS]
            if bad:
                raise input_error(
                    label, f"send_channel takes {', '.join(rules.REPORT_SEND_CHANNELS)}, not {', '.join(bad)}"
                )
    return filters.render(flat)


def _account_zone(ctx: Context) -> ZoneInfo:
    """The account's time zone, in which Klaviyo reads a custom timeframe."""
    doc = ctx.client.request(
        "GET", "/api/accounts", params={"fields[account]": "timezone"}, operation="get_accounts"
    ).json()
    accounts = doc.get("data") or [{}]
    name = (accounts[0].get("attributes") or {}).get("timezone")
    try:
        return ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise input_error(
            "Timeframe",
            f"the account's time zone {name!r} is not an IANA time zone, so a custom timeframe cannot be placed "
            "in it; use a preset",
        ) from None


def _in_zone(value: date, zone: ZoneInfo) -> str:
    """Clock time in ``zone`` with that zone's offset: right whether the offset is read or not."""
    moment = value.astimezone(zone) if isinstance(value, datetime) else datetime.combine(value, time(), zone)
    return moment.isoformat()


def _timeframe(ctx: Context, timeframe: PresetTimeframe | CustomTimeframe) -> dict[str, Any]:
    if isinstance(timeframe, PresetTimeframe):
        return {"key": timeframe.key}
    zone = _account_zone(ctx)
    return {"start": _in_zone(timeframe.start, zone), "end": _in_zone(timeframe.end, zone)}


def query_campaign_values(ctx: Context, inputs: QueryCampaignValuesInputs) -> Any:
    flt = report_filter(inputs.filter)  # checked before the account is read: nothing is sent for bad input
    attrs: dict[str, Any] = {
        "statistics": inputs.statistics,
        "timeframe": _timeframe(ctx, inputs.timeframe),
        "conversion_metric_id": inputs.conversionMetricId,
    }
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
        "requests a minute and 225 a day. A custom timeframe also reads the account's time zone.",
        inputs=QueryCampaignValuesInputs,
        perform=query_campaign_values,
        operations=("query_campaign_values", "get_accounts"),
        read_only=True,
        idempotent=True,
    ),
)
