"""The private API key connection: ``Authorization: Klaviyo-API-Key pk_...``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from klaviyo_connector.errors import REAUTH_REQUIRED, USER_FIXABLE, KlaviyoError

_PRIVATE_KEY = re.compile(r"^pk_[A-Za-z0-9_]{10,}$")
_PUBLIC_KEY = re.compile(r"^[A-Za-z0-9]{6}$")


def check_key(value: Any) -> str:
    """The key, trimmed, if it has a private key's shape; otherwise a clear error."""
    if value is not None and not isinstance(value, str):
        raise KlaviyoError(
            f"API Key: must be text (a private API key such as pk_...), not {type(value).__name__}.",
            error_class=USER_FIXABLE,
            code="malformed_api_key",
            field="API Key",
        )
    if value is None or not value.strip():
        raise KlaviyoError(
            "API Key: is required. Create a private API key in Klaviyo under Settings > API keys.",
            error_class=REAUTH_REQUIRED,
            code="missing_api_key",
            field="API Key",
        )
    key = value.strip()
    if _PUBLIC_KEY.match(key):
        raise KlaviyoError(
            "API Key: this looks like a 6-character public key (site ID), which only works for "
            "client-side calls. Use a private API key that starts with pk_.",
            error_class=USER_FIXABLE,
            code="public_key_given",
            field="API Key",
        )
    if not _PRIVATE_KEY.match(key):
        raise KlaviyoError(
            "API Key: a Klaviyo private API key starts with pk_ followed by at least 10 letters, digits or "
            "underscores; check that the whole key was copied.",
            error_class=USER_FIXABLE,
            code="malformed_api_key",
            field="API Key",
        )
    return key


class ApiKeyAuth:
    """Adds the private key; has nothing to refresh."""

    __slots__ = ("_header", "_key")

    def __init__(self, key: str) -> None:
        self._key = check_key(key)
        self._header = f"Klaviyo-API-Key {self._key}"

    def authorization(self) -> str:
        return self._header

    def secrets(self) -> tuple[str, ...]:
        return (self._key,)

    def refresh_after_unauthorized(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ApiKeyAuth(key=[REDACTED])"


def build_auth(fields: Mapping[str, Any], **_: Any) -> ApiKeyAuth:
    return ApiKeyAuth(fields.get("apiKey"))  # type: ignore[arg-type]


def check_account(client: Any, explain: Callable[[KlaviyoError], None]) -> dict[str, Any]:
    """Call GET /api/accounts: the account's id and organization name. On failure ``explain``
    restates the error (in place) for the credential in use, then it is raised."""
    try:
        doc = client.request("GET", "/api/accounts", operation="get_accounts").json()
    except KlaviyoError as exc:
        explain(exc)
        exc.args = (exc.message,)
        raise
    accounts = doc.get("data") or []
    first = accounts[0] if accounts else {}
    org = ((first.get("attributes") or {}).get("contact_information") or {}).get("organization_name")
    return {"ok": True, "account_id": first.get("id"), "organization": org}


def _explain(exc: KlaviyoError) -> None:
    if exc.status == 401:
        exc.message = "The API key was rejected: it is wrong, revoked, or from another account. " + (
            exc.detail or ""
        )
    elif exc.status == 403:
        exc.message = (
            "The API key works but lacks the accounts:read scope needed to test it; edit the key's "
            "scopes in Klaviyo (Settings > API keys). " + (exc.detail or "")
        )


def test(client: Any) -> dict[str, Any]:
    """Call GET /api/accounts and say plainly what is wrong, if anything."""
    return check_account(client, _explain)
