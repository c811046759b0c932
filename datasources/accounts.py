"""selectAccount: the account the connection belongs to (Klaviyo returns exactly one)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from klaviyo_connector.context import Context
from klaviyo_connector.model import DataSource
from klaviyo_connector.picklist import Included, PicklistInputs, Query, attributes, options


def _label(item: Mapping[str, Any], _: Included) -> str:
    contact = attributes(item).get("contact_information") or {}
    return str(contact.get("organization_name") or "").strip() or str(item["id"])


ACCOUNTS = Query(
    "/api/accounts",
    "get_accounts",
    _label,
    params={"fields[account]": "contact_information.organization_name"},
)


def select_account(ctx: Context, inputs: PicklistInputs) -> list[dict[str, str]]:
    return options(ctx, inputs, ACCOUNTS)


DATA_SOURCES = (
    DataSource(
        key="selectAccount",
        label="Select Account",
        description="Select an account to use: the account the connection's key belongs to, by organization name.",
        inputs=PicklistInputs,
        perform=select_account,
        operations=("get_accounts",),
    ),
)
