"""selectCampaign: campaigns of every channel, labelled "name (channel, status)"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from klaviyo_connector import catalog, filters
from klaviyo_connector.context import Context
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import (
    Included,
    Labeler,
    PicklistInputs,
    Query,
    attributes,
    by_name,
    name_search,
    options,
)

OPERATION = "get_campaigns"
CHANNEL_FILTER = "messages.channel"
CHANNEL_NAMES = {"email": "email", "sms": "SMS", "mobile_push": "mobile push"}


def channels() -> tuple[str, ...]:
    """Every campaign channel; Klaviyo requires a filter pinning one channel per request."""
    return catalog.operation(OPERATION).filters[CHANNEL_FILTER].enum or ()


def _labeler(channel: str) -> Labeler:
    shown = CHANNEL_NAMES.get(channel, channel)

    def label(item: Mapping[str, Any], included: Included) -> str:
        details = ", ".join(p for p in (shown, str(attributes(item).get("status") or "")) if p)
        return f"{by_name(item, included)} ({details})"

    return label


def queries() -> list[Query]:
    return [
        Query(
            "/api/campaigns",
            OPERATION,
            _labeler(channel),
            params={"fields[campaign]": "name,status", "sort": "name"},
            conditions=(filters.condition("equals", CHANNEL_FILTER, channel),),
            search=name_search(OPERATION),
        )
        for channel in channels()
    ]


def select_campaign(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
    return options(ctx, inputs, *queries())


DATA_SOURCES = (
    DataSource(
        key="selectCampaign",
        label="Select Campaign",
        description="Select a campaign to use: campaigns of every channel (email, SMS, mobile push), shown as "
        '"name (channel, status)".',
        inputs=PicklistInputs,
        perform=select_campaign,
        operations=(OPERATION,),
    ),
)
