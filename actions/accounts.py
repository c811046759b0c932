"""Accounts: the account a key or token belongs to."""

from __future__ import annotations

from typing import Any

from klaviyo_connector.context import Context
from klaviyo_connector.inputs import EnumHint, IdField, Inputs, ResourceId
from klaviyo_connector.model import Action
from klaviyo_connector.paths import api_path
from klaviyo_connector.reads import get_one
from pydantic import Field

FIELDS_HELP = "Account fields to return (sparse fieldset), e.g. contact_information.organization_name."


FIELDS_EXAMPLE = ["contact_information.organization_name", "timezone"]


class ListAccountsInputs(Inputs):
    fields: list[str] | None = Field(
        None,
        title="Fields",
        description=FIELDS_HELP,
        examples=[FIELDS_EXAMPLE],
        json_schema_extra=EnumHint("get_accounts", query="fields[account]"),
    )


class GetAccountInputs(Inputs):
    accountId: ResourceId = IdField(
        "Account ID", "The ID of the account to retrieve.", "AbC123", "selectAccount"
    )
    fields: list[str] | None = Field(
        None,
        title="Fields",
        description=FIELDS_HELP,
        examples=[FIELDS_EXAMPLE],
        json_schema_extra=EnumHint("get_account", query="fields[account]"),
    )


READS = {"fields[account]": "fields"}


def list_accounts(ctx: Context, inputs: ListAccountsInputs) -> Any:
    # Not a list action: a key or token sees exactly one account, in one page.
    return get_one(ctx, "/api/accounts", "get_accounts", inputs, READS)


def get_account(ctx: Context, inputs: GetAccountInputs) -> Any:
    return get_one(ctx, api_path("/api/accounts/{id}", id=inputs.accountId), "get_account", inputs, READS)


ACTIONS = (
    Action(
        key="listAccounts",
        label="List Accounts",
        description="Retrieve the account(s) associated with the connection's private API key or token.",
        inputs=ListAccountsInputs,
        perform=list_accounts,
        operations=("get_accounts",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="getAccount",
        label="Get Account",
        description="Retrieve a single account object by its account ID.",
        inputs=GetAccountInputs,
        perform=get_account,
        operations=("get_account",),
        read_only=True,
        idempotent=True,
    ),
)
