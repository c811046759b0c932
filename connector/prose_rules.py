"""Rules the spec states only in prose (operation and field descriptions), not as schema.

The catalog carries the spec's machine-readable facts (request-body enums through
``catalog.body_enum``); what follows is written only in descriptions, so the actions and the
sandbox check against this one copy. Checks are plain functions: they raise :class:`RuleBroken`
(a ValueError, so an input model's validator can raise it as is) whose ``path`` locates the
member below the value checked, for the sandbox's error pointer.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from . import catalog
from .catalog import FilterField


class RuleBroken(ValueError):
    """A value that breaks one of these rules."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def pointer(self, base: str) -> str:
        """The JSON pointer of the offending member under ``base``."""
        return "/".join([base, *map(str, self.path)])


# "5MB" in the spec: the sandbox refuses above the binary reading; senders stay under the
# decimal one as well, so a request never crosses either.
FIVE_MB = 5 * 1024 * 1024
FIVE_MB_SAFE = 5_000_000
HUNDRED_KB = 100 * 1024

# -- profiles (create_profile, update_profile, create_or_update_profile) -----------------------

PROFILE_IDENTIFIERS = ("email", "phone_number", "external_id")
PROFILE_MAX_PAYLOAD = HUNDRED_KB  # "The maximum allowed payload size is 100KB."


def check_profile_identified(
    attributes: Mapping[str, Any], profile_id: str | None = None, *, id_allowed: bool = False
) -> None:
    """A new profile needs an email, a phone number or an external ID (an upsert may name an id).

    Not written on create_profile itself, but Klaviyo answers 400 without one, and the event
    endpoints state the same for the profile of an event.
    """
    if profile_id or any(attributes.get(name) for name in PROFILE_IDENTIFIERS):
        return
    also = " (or the profile's id)" if id_allowed else ""
    raise RuleBroken(f"a profile needs at least one of email, phone_number or external_id{also}")


# -- consent jobs (bulk_subscribe_profiles, bulk_unsubscribe_profiles, bulk_(un)suppress_profiles)

SUBSCRIBE_MAX_PROFILES = 1000  # "Maximum number of profiles can be submitted for subscription: 1000"
UNSUBSCRIBE_MAX_PROFILES = 100  # "Maximum number of profiles per call: 100"
SUPPRESS_MAX_EMAILS = 100  # "Email address per request limit: 100"


def check_consent_time(consented_at: dt.datetime | None, historical_import: bool, now: dt.datetime) -> None:
    """consented_at goes with historical_import, and only with it: with the flag it is required
    and in the past; without the flag "providing any value for this field will raise an error"."""
    if consented_at is None:
        if historical_import:
            raise RuleBroken("with historical_import, consented_at is required")
        return
    if not historical_import:
        raise RuleBroken(
            "consented_at is accepted only with historical_import (Klaviyo refuses it otherwise)"
        )
    if consented_at > now:
        shown = consented_at.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")
        raise RuleBroken(f"with historical_import, consented_at must be in the past (got {shown})")


# -- events (create_event, bulk_create_events) ------------------------------------------------

EVENT_MAX_METRIC_NAME = 127  # "Must be less than 128 characters."
EVENT_MAX_PROPERTIES = 400  # "must not exceed 400 properties"
EVENT_MAX_STRING_BYTES = HUNDRED_KB  # "each string cannot be larger than 100 KB"
EVENT_BULK_MAX_EVENTS = 1000  # "Accepts up to 1,000 events per request."
EVENT_EARLIEST = dt.datetime(1990, 1, 1, tzinfo=dt.timezone.utc)  # "must be after the year 1990"
EVENT_LATEST_AHEAD = dt.timedelta(days=365)  # "can only be up to 1 year in the future"

# -- bulk profile import (bulk_import_profiles) ----------------------------------------------

IMPORT_MAX_PROFILES = 10_000  # "Accepts up to 10,000 profiles per request."
IMPORT_MAX_PROFILE_BYTES = HUNDRED_KB  # "The maximum allowed payload size per-profile is 100KB."

# -- lists (add_profiles_to_list, remove_profiles_from_list) --------------------------------

LIST_MEMBERS_PER_CALL = 1000  # "This endpoint accepts a maximum of 1000 profiles per call."

# -- images (upload_image_from_url, upload_image_from_file) ---------------------------------

IMAGE_MAX_BYTES = FIVE_MB  # "Maximum image size: 5MB." (jpeg, png, gif)

# -- templates (create_template) --------------------------------------------------------------

TEMPLATE_API_LIMIT = 1000  # "a limit of 1,000 templates that can be created via the API"

# -- campaigns (create_campaign, update_campaign) --------------------------------------------


def check_local_send_time(moment: dt.datetime) -> None:
    """A static send with ``is_local`` "requires UTC time": Klaviyo sends at the datetime's clock
    time in each recipient's time zone, so 09:00 local is written 09:00Z. Any other offset
    would move every recipient's send by that offset."""
    if moment.utcoffset() != dt.timedelta(0):
        raise RuleBroken(
            "with is_local true, give the datetime in UTC (Z or +00:00): Klaviyo sends at its clock time in "
            "each recipient's time zone, e.g. 2026-08-01T09:00:00Z sends at 09:00 local time"
        )


PUSH_MAX_ACTION_BUTTONS = 3  # "max 3, positions 0-indexed with no gaps"
PUSH_BUTTON_LABEL_MAX = 40  # "The button label (max 40 characters)"
PUSH_BUTTON_ACTIONS = ("open_app", "deep_link", "open_url", "dismiss")
PUSH_BUTTON_URL_ACTIONS = ("deep_link", "open_url")  # "URL for deep_link or open_url action types"
PUSH_BUTTON_URL_MAX = 2048  # "(max 2048 characters)"


def check_action_buttons(buttons: Any) -> None:
    """A push notification's action buttons, as the spec's descriptions limit them."""
    if not isinstance(buttons, Sequence) or isinstance(buttons, (str, bytes)):
        raise RuleBroken("action_buttons must be a list of buttons")
    if len(buttons) > PUSH_MAX_ACTION_BUTTONS:
        raise RuleBroken(f"at most {PUSH_MAX_ACTION_BUTTONS} action buttons (got {len(buttons)})")
    positions = []
    for index, button in enumerate(buttons):
        if not isinstance(button, Mapping):
            raise RuleBroken("each action button must be an object", (index,))
        label = button.get("label")
        if not isinstance(label, str) or not label:
            raise RuleBroken("label is required", (index, "label"))
        if len(label) > PUSH_BUTTON_LABEL_MAX:
            raise RuleBroken(
                f"label may have at most {PUSH_BUTTON_LABEL_MAX} characters (got {len(label)})",
                (index, "label"),
            )
        action = button.get("action_type")
        if action not in PUSH_BUTTON_ACTIONS:
            raise RuleBroken(
                f"action_type must be one of {', '.join(PUSH_BUTTON_ACTIONS)} (got {action!r})",
                (index, "action_type"),
            )
        url = button.get("url")
        if url is not None and (not isinstance(url, str) or len(url) > PUSH_BUTTON_URL_MAX):
            raise RuleBroken(f"url must be text of at most {PUSH_BUTTON_URL_MAX} characters", (index, "url"))
        if action in PUSH_BUTTON_URL_ACTIONS and not url:
            raise RuleBroken(f"a {action} button needs a url", (index, "url"))
        position = button.get("position")
        if position is None:
            position = index  # "If omitted, inferred from the button's order in the list."
        elif isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise RuleBroken("position must be a whole number from 0", (index, "position"))
        positions.append(position)
    if sorted(positions) != list(range(len(positions))):
        raise RuleBroken(
            f"button positions must be 0 to {len(positions) - 1}, each once (no gaps); got "
            f"{', '.join(map(str, positions))}"
        )


# -- metric aggregates (query_metric_aggregates) ---------------------------------------------

# "validated against a list of common timezones from the IANA Time Zone Database ... a few
# notable exceptions are Factory, Europe/Kyiv and Pacific/Kanton. This field is case-sensitive."
AGGREGATE_TIMEZONE_EXCEPTIONS = {
    "Factory": None,
    "Europe/Kyiv": "Europe/Kiev",
    "Pacific/Kanton": "Pacific/Enderbury",
}


@functools.cache
def _iana_zones() -> frozenset[str]:
    import zoneinfo

    return frozenset(zoneinfo.available_timezones())


def check_aggregate_timezone(name: str) -> None:
    if name in AGGREGATE_TIMEZONE_EXCEPTIONS:
        same = AGGREGATE_TIMEZONE_EXCEPTIONS[name]
        instead = f"; use {same}, the same zone under its older name" if same else ""
        raise RuleBroken(f"{name} is one of the IANA time zones Klaviyo does not accept here{instead}")
    if name not in _iana_zones():
        raise RuleBroken(
            f"{name!r} is not an IANA time zone name such as America/New_York or UTC (names are case-sensitive)"
        )


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
