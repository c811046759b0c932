"""Rules the spec states only in prose (operation and field descriptions), not as schema.

The catalog carries the spec's machine-readable facts (request-body enums through
``catalog.body_enum``); what follows is written only in descriptions, so the actions and the
sandbox check against this one copy.
"""

from __future__ import annotations

import datetime as dt

from . import catalog
from .catalog import FilterField

# -- campaign values report (query_campaign_values) -------------------------------------------

REPORT_OPERATION = "query_campaign_values"
REPORT_REQUIRED_GROUP_BY = ("campaign_id", "campaign_message_id")
REPORT_DEFAULT_GROUP_BY = ("campaign_id", "campaign_message_id", "send_channel")
REPORT_MAX_TIMEFRAME = dt.timedelta(days=366)  # "Max length: 1 year"; a leap year has 366 days

# Scalar attributes take equals / contains-any, list attributes (tags) contains-any /
# contains-all; only AND combines conditions, one per attribute.
_SCALAR = (
    "send_channel",
    "campaign_id",
    "campaign_message_id",
    "campaign_message_name",
    "variation",
    "variation_name",
    "text_message_format",
)
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
REPORT_SEND_CHANNELS = ("email", "sms", "push-notification", "whatsapp")
REPORT_MAX_FILTER_ITEMS = 100


def report_enum(member: str) -> tuple[str, ...]:
    """The spec's enum (from the catalog) for a report attribute, e.g. ``report_enum("statistics[]")``."""
    return catalog.body_enum(REPORT_OPERATION, f"data.attributes.{member}")


# -- flows (update_flow) ----------------------------------------------------------------------

FLOW_STATUSES = ("draft", "manual", "live")
