"""Accounts: ``GET /api/accounts`` and ``GET /api/accounts/{id}`` (the caller's own account only).

The account is created on the first request with a new API key (see ``auth.py``) and stored
as a resource of type ``account`` whose id is its 6-character public key.
"""

from __future__ import annotations

from typing import Any

from .. import ids
from ..context import Reply, RequestContext, Route, sparse
from ..errors import not_found
from ..store import Resource

TYPE = "account"


def new_account_attributes(public_api_key: str) -> dict[str, Any]:
    """A fresh sandbox account's attributes (every member AccountResponseObjectResource has)."""
    return {
        "test_account": True,
        "contact_information": {
            "default_sender_name": "Sandbox Account",
            "default_sender_email": "sandbox@example.com",
            "website_url": "https://example.com",
            "organization_name": "Sandbox Account",
            "street_address": {
                "address1": "1 Sandbox Way",
                "address2": None,
                "city": "Boston",
                "region": "MA",
                "country": "US",
                "zip": "02110",
            },
        },
        "industry": None,
        "timezone": "UTC",
        "preferred_currency": "USD",
        "public_api_key": public_api_key,
        "locale": "en-US",
    }


def new_account() -> tuple[str, dict[str, Any]]:
    """``(account_id, attributes)`` for a new key's account; the id is the public key."""
    account_id = ids.short_id()
    return account_id, new_account_attributes(account_id)


def render(ctx: RequestContext, account: Resource) -> dict[str, Any]:
    return {
        "type": TYPE,
        "id": account.id,
        "attributes": sparse(account.attributes, ctx.fields(TYPE)),
        "links": ctx.self_link(f"/api/accounts/{account.id}"),
    }


def _own_account(ctx: RequestContext) -> Resource:
    account = ctx.store.get(ctx.account_id, TYPE, ctx.account_id)
    if account is None:  # pragma: no cover - created with the key
        raise not_found(f"Account {ctx.account_id} not found.")
    return account


def get_accounts(ctx: RequestContext) -> Reply:
    account = _own_account(ctx)
    return Reply(200, {"data": [render(ctx, account)], "links": ctx.collection_links()})


def get_account(ctx: RequestContext) -> Reply:
    if ctx.params["id"] != ctx.account_id:
        raise not_found(f"Account {ctx.params['id']} not found.")
    account = _own_account(ctx)
    return Reply(200, {"data": render(ctx, account), "links": ctx.self_link(f"/api/accounts/{account.id}")})


ROUTES = [
    Route("GET", "/api/accounts", get_accounts, "get_accounts"),
    Route("GET", "/api/accounts/{id}", get_account, "get_account"),
]
