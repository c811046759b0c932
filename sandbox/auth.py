"""Who is calling: ``Authorization: Klaviyo-API-Key pk_...`` (and a hook for Bearer tokens).

Every well-formed private key is its own account, created on first use. Keys are hashed
(SHA-256) before they touch the store and never appear in a message or log line.

OAuth plugs in through ``bearer``: a callable ``token -> Principal | None`` (None = unknown,
expired or revoked token -> 401); by default the tokens of ``resources/oauth.py``. A
Principal's ``scopes`` None means "everything allowed" (private keys); a frozenset limits the
operations to those whose catalog scopes it covers (403 otherwise, checked by the pipeline).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

from .errors import ApiError
from .resources.accounts import new_account
from .store import Store

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

API_KEY_RE = re.compile(r"^pk_[A-Za-z0-9_]{10,}$")


class Principal(NamedTuple):
    """``(account_id, scopes)``; unpacks as the 2-tuple the design asks ``authenticate`` for."""

    account_id: str
    scopes: frozenset[str] | None


BearerAuthenticator = Callable[[str], "Principal | None"]


def not_authenticated() -> ApiError:
    return ApiError(
        401,
        "not_authenticated",
        "Authentication credentials were not provided.",
        "Missing or invalid authorization scheme. Please use Klaviyo-API-Key.",
        pointer="/data/",
    )


def authentication_failed() -> ApiError:
    return ApiError(
        401,
        "authentication_failed",
        "Incorrect authentication credentials.",
        "Incorrect authentication credentials.",
        pointer="/data/",
    )


def authenticate(
    request: Request, store: Store, now: str, bearer: BearerAuthenticator | None = None
) -> Principal:
    """The caller's account and scopes; :class:`ApiError` 401 when they can't be established."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        raise not_authenticated()
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() == "klaviyo-api-key":
        if not API_KEY_RE.match(credential):
            raise authentication_failed()
        account_id = store.account_for_key(credential, new_account, now)
        if account_id is None:  # pragma: no cover - create is always given
            raise authentication_failed()
        return Principal(account_id, None)
    if scheme.lower() == "bearer":
        if not credential:
            raise authentication_failed()
        if bearer is None:  # the OAuth resource family's tokens
            from .resources.oauth import principal_for_token

            principal = principal_for_token(store, credential, now)
        else:
            principal = bearer(credential)
        if principal is None:
            raise authentication_failed()
        return principal
    raise not_authenticated()
