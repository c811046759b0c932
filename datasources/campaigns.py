"""selectCampaign: campaigns of every channel, labelled "name (channel, status)"; selectCampaignMessage:
their messages, labelled "campaign name: message label (channel, status)"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from klaviyo_connector import catalog, filters
from klaviyo_connector.context import Context
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import (
    Entries,
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


def _details(item: Mapping[str, Any], channel: str) -> str:
    """ "(channel, status)" of a campaign."""
    shown = CHANNEL_NAMES.get(channel, channel)
    return "(" + ", ".join(p for p in (shown, str(attributes(item).get("status") or "")) if p) + ")"


def _labeler(channel: str) -> Labeler:
    def label(item: Mapping[str, Any], included: Included) -> str:
        return f"{by_name(item, included)} {_details(item, channel)}"

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


def _messages(channel: str) -> Entries:
    """A campaign's options: one per message, "campaign name: message label (channel, status)"."""

    def entries(item: Mapping[str, Any], included: Included) -> list[tuple[str, str]]:
        out = []
        for ref in ((item.get("relationships") or {}).get("campaign-messages") or {}).get("data") or []:
            message = included.get(("campaign-message", str(ref.get("id")))) or {}
            label = str((attributes(message).get("definition") or {}).get("label") or "").strip()
            out.append(
                (str(ref["id"]), f"{by_name(item, included)}: {label or ref['id']} {_details(item, channel)}")
            )
        return out

    return entries


def message_queries() -> list[Query]:
    """The campaigns of every channel with their messages included (a message has no list of its own)."""
    return [
        Query(
            "/api/campaigns",
            OPERATION,
            _labeler(channel),
            params={
                "fields[campaign]": "name,status",
                "fields[campaign-message]": "definition.label",
                "include": "campaign-messages",
                "sort": "name",
            },
            conditions=(filters.condition("equals", CHANNEL_FILTER, channel),),
            search=name_search(OPERATION),
            entries=_messages(channel),
        )
        for channel in channels()
    ]


def select_campaign_message(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
    return options(ctx, inputs, *message_queries())


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
    DataSource(
        key="selectCampaignMessage",
        label="Select Campaign Message",
        description="Select a campaign message to use: the messages of campaigns of every channel, shown as "
        '"campaign name: message label (channel, status)". Search matches campaign names.',
        inputs=PicklistInputs,
        perform=select_campaign_message,
        operations=(OPERATION,),
    ),
)
