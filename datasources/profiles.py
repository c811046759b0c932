"""selectProfile: profiles labelled by email, else phone number, else name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from klaviyo_connector import filters
from klaviyo_connector.context import Context
from klaviyo_connector.inputs import Email, PhoneNumber
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import Included, PicklistInputs, Query, attributes, options
from pydantic import TypeAdapter, ValidationError

# Profiles can number in the millions and the API filters them only by exact identifiers, so a
# search for other text (part of a name or email) reads at most this many profiles.
SEARCH_SCAN_LIMIT = 10_000
_EMAIL: TypeAdapter[str] = TypeAdapter(Email)
_PHONE: TypeAdapter[str] = TypeAdapter(PhoneNumber)


def _label(item: Mapping[str, Any], _: Included) -> str:
    attrs = attributes(item)
    name = " ".join(str(p).strip() for p in (attrs.get("first_name"), attrs.get("last_name")) if p)
    return str(attrs.get("email") or attrs.get("phone_number") or name or item["id"])


def _search(text: str) -> Sequence[filters.Node] | None:
    """A whole email or phone number is looked up by Klaviyo; anything else is matched locally."""
    for attribute, adapter in (("email", _EMAIL), ("phone_number", _PHONE)):
        try:
            return [filters.condition("equals", attribute, adapter.validate_python(text))]
        except ValidationError:
            continue
    return None


PROFILES = Query(
    "/api/profiles",
    "get_profiles",
    _label,
    params={"fields[profile]": "email,phone_number,first_name,last_name"},
    search=_search,
    scan_limit=SEARCH_SCAN_LIMIT,
)


def select_profile(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
    return options(ctx, inputs, PROFILES)


DATA_SOURCES = (
    DataSource(
        key="selectProfile",
        label="Select Profile",
        description="Select a profile to use, shown by email, else phone number, else name. Searching for a "
        f"whole email or phone number looks it up directly; other text is matched within the first "
        f"{SEARCH_SCAN_LIMIT:,} profiles.",
        inputs=PicklistInputs,
        perform=select_profile,
        operations=("get_profiles",),
    ),
)
