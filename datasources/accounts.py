"""selectAccount: the account the connection belongs to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from klaviyo_connector.context import Context
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import PicklistInputs, options


def _label(item: Mapping[str, Any], _: Mapping[Any, Any]) -> str:
    contact = (item.get("attributes") or {}).get("contact_information") or {}
    return contact.get("organization_name") or item["id"]


def select_account(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
    params = {"fields[account]": "contact_information.organization_name"}
    return options(ctx, "/api/accounts", "get_accounts", inputs, _label, params)


DATA_SOURCES = (
    DataSource(
        key="selectAccount",
        label="Select Account",
        description="Select an account to use.",
        inputs=PicklistInputs,
        perform=select_account,
        operations=("get_accounts",),
    ),
)
