"""selectProfile: profiles labelled by email, else phone, else name."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from klaviyo_connector.context import Context
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import PicklistInputs, options


def _label(item: Mapping[str, Any], _: Mapping[Any, Any]) -> str:
    attrs = item.get("attributes") or {}
    name = " ".join(p for p in (attrs.get("first_name"), attrs.get("last_name")) if p)
    return attrs.get("email") or attrs.get("phone_number") or name or item["id"]


def select_profile(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
    params = {"fields[profile]": "email,phone_number,first_name,last_name"}
    return options(ctx, "/api/profiles", "get_profiles", inputs, _label, params)


DATA_SOURCES = (
    DataSource(
        key="selectProfile",
        label="Select Profile",
        description="Select a profile to use.",
        inputs=PicklistInputs,
        perform=select_profile,
        operations=("get_profiles",),
    ),
)
