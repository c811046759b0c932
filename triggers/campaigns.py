"""Campaign Sent: each campaign of a channel whose status becomes Sent, by its send_time."""

from __future__ import annotations

from typing import Any, Literal

from klaviyo_connector import filters
from klaviyo_connector.model import Trigger
from klaviyo_connector.polling import Feed, by_id
from klaviyo_connector.triggers.common import PollInputs, poller
from pydantic import Field

OPERATION = "get_campaigns"


class CampaignSentInputs(PollInputs):
    channel: Literal["email", "sms", "mobile_push"] = Field(
        "email",
        title="Channel",
        description="Klaviyo lists campaigns one channel at a time (its filter must name one).",
    )


def feed(inputs: Any) -> Feed:
    # Campaigns can't be narrowed by send time (not a filter field): every poll reads the sent
    # campaigns of the channel, which are few, and the cursor keeps those after the boundary.
    return Feed(
        OPERATION,
        "/api/campaigns",
        None,
        by_id("send_time"),
        filters=(
            filters.condition("equals", "messages.channel", inputs.channel),
            filters.condition("equals", "status", "Sent"),
        ),
        same_time=False,
    )


TRIGGERS = (
    Trigger(
        key="campaignSent",
        label="Campaign Sent",
        description="Fires for each campaign of a channel once it has been sent (status Sent), by its "
        "send_time. Each record's data is the campaign as Get Campaign returns it; its key is the "
        "campaign ID.",
        inputs=CampaignSentInputs,
        kind="polling",
        operations=(OPERATION,),
        poll=poller("campaignSent", feed),
    ),
)
