"""OAuth 2.0: ``/oauth/authorize``, ``/oauth/token``, ``/oauth/revoke`` and Bearer tokens on ``/api``.

Sandbox rules (documented in the README):

* Clients: any ``client_id`` starting with ``sandbox-``. There is no login page:
  ``/oauth/authorize`` approves at once and redirects (302) to ``redirect_uri``, which must
  be a loopback URL (``http://127.0.0.1:PORT/...``, ``localhost``, ``[::1]``). Each client
  id authorizes its own sandbox account.
* The first ``/oauth/token`` call of a client registers its client secret (stored hashed);
  later calls must send the same one, with HTTP Basic (``invalid_client`` otherwise).
* As at Klaviyo: PKCE S256 is required (a verifier must match ``[A-Za-z0-9-._~]{43,128}``,
  "Code challenge failed." on a mismatch), bodies must be form-encoded, codes are single
  use and live 10 minutes, access tokens live 1 hour, refresh tokens rotate on every
  refresh (the old one stops working) and expire after 90 days without use, and revoking
  a refresh token revokes its whole grant. A Bearer token only reaches the operations its
  scopes cover (403 naming the missing scope, in Klaviyo's error shape).
* :func:`expire_access_tokens` (``klaviyo-connector sandbox --expire-tokens``) expires every
  access token at once, so the next call gets a 401 and must refresh.

Errors on ``/oauth/*`` use the OAuth shape ``{"error", "error_description"}``. Tokens,
codes and secrets are stored only as SHA-256 digests, under a reserved pseudo-account.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from ..auth import Principal
from ..context import Reply, RequestContext, Route
from ..server import is_loopback
from .accounts import new_account

if TYPE_CHECKING:
    from ..store import Resource, Store

OWNER = "~oauth"  # not a valid account id, so OAuth rows never mix with an account's resources
CLIENT_PREFIX = "sandbox-"
CODE_SECONDS = 600
ACCESS_SECONDS = 3600
REFRESH_IDLE_SECONDS = 90 * 24 * 3600
FORM = "application/x-www-form-urlencoded"
# Accepted by the pipeline so a wrong body type gets an OAuth error from the handler, not a 415.
BODY_TYPES = (FORM, "application/json", "application/vnd.api+json", "multipart/form-data", "text/plain")
VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
CHALLENGE_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
JSON_HEADERS = {"Content-Type": "application/json", "Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthFailure(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(f"{status} {error}: {description}")
        self.status = status
        self.error = error
        self.description = description

    def reply(self) -> Reply:
        headers = dict(JSON_HEADERS)
        if self.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="oauth"'
        return Reply(self.status, {"error": self.error, "error_description": self.description}, headers)


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@lru_cache(maxsize=1)
def known_scopes() -> frozenset[str]:
    from ... import catalog

    return frozenset(scope for op in catalog.operations() for scope in op.scopes)


def _epoch(now_iso: str) -> float:
    return datetime.fromisoformat(now_iso).timestamp()


def _loopback_redirect(uri: str) -> bool:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or parts.fragment or parts.username:
        return False
    return is_loopback(parts.hostname or "")


# -- /oauth/authorize ----------------------------------------------------------------------


def authorize(ctx: RequestContext) -> Reply:
    args = ctx.request.args
    client_id = args.get("client_id", "")
    redirect_uri = args.get("redirect_uri", "")
    # Errors before the client and redirect URI are known are shown, never redirected (RFC 6749 4.1.2.1).
    if not client_id.startswith(CLIENT_PREFIX) or len(client_id) > 200:
        return OAuthFailure(
            400, "invalid_client", "Unknown client_id; sandbox client IDs start with 'sandbox-'."
        ).reply()
    if not _loopback_redirect(redirect_uri):
        return OAuthFailure(
            400,
            "invalid_request",
            "redirect_uri must be a loopback URL (http://127.0.0.1:PORT/...) in the sandbox.",
        ).reply()
    state = args.get("state")

    def back(params: dict[str, str]) -> Reply:
        if state is not None:
            params["state"] = state
        joiner = "&" if urlsplit(redirect_uri).query else "?"
        return Reply(
            302, None, {"Location": redirect_uri + joiner + urlencode(params), "Cache-Control": "no-store"}
        )

    def refuse(error: str, description: str) -> Reply:
        return back({"error": error, "error_description": description})

    if args.get("response_type") != "code":
        return refuse("unsupported_response_type", "response_type must be 'code'.")
    if not state:
        return refuse("invalid_request", "state is required.")
    scopes = args.get("scope", "").split()
    if not scopes:
        return refuse("invalid_scope", "scope is required: space-separated scopes like 'lists:read'.")
    unknown = sorted(set(scopes) - known_scopes())
    if unknown:
        return refuse("invalid_scope", f"Unknown scope(s): {' '.join(unknown)}.")
    if args.get("code_challenge_method") != "S256":
        return refuse("invalid_request", "code_challenge_method must be S256 (PKCE is required).")
    challenge = args.get("code_challenge", "")
    if not CHALLENGE_RE.match(challenge):
        return refuse("invalid_request", "code_challenge must be the base64url SHA-256 of the code_verifier.")
    now = ctx.now()
    account_id = ctx.store.account_for_key(f"oauth-client:{client_id}", new_account, now)
    code = secrets.token_urlsafe(32)
    attributes = {
        "client_id": client_id,
        "account_id": account_id,
        "redirect_uri": redirect_uri,
        "code_challenge": challenge,
        "scopes": sorted(set(scopes)),
        "expires_at": int(ctx.clock()) + CODE_SECONDS,
        "used": False,
    }
    ctx.store.create(OWNER, "oauth_code", digest(code), attributes, now=now)
    return back({"code": code})


# -- client authentication -----------------------------------------------------------------


def _authenticate_client(ctx: RequestContext) -> str:
    """The client id from ``Authorization: Basic``; registers the secret on first use."""
    scheme, _, encoded = ctx.request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        raise OAuthFailure(
            401,
            "invalid_client",
            "Client authentication must use HTTP Basic: Authorization: Basic base64(client_id:client_secret).",
        )
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise OAuthFailure(401, "invalid_client", "The Basic credentials are not valid base64.") from None
    client_id, sep, client_secret = decoded.partition(":")
    if not sep or not client_id.startswith(CLIENT_PREFIX) or not client_secret:
        raise OAuthFailure(401, "invalid_client", "Client authentication failed.")
    store = ctx.store
    with store.transaction():
        record = store.get(OWNER, "oauth_client", client_id)
        if record is None:
            store.create(
                OWNER, "oauth_client", client_id, {"secret_hash": digest(client_secret)}, now=ctx.now()
            )
        elif not hmac.compare_digest(record.attributes["secret_hash"], digest(client_secret)):
            raise OAuthFailure(401, "invalid_client", "Client authentication failed.")
    return client_id


def _form(ctx: RequestContext) -> Any:
    if ctx.request.mimetype != FORM:
        raise OAuthFailure(
            400, "invalid_request", f"The body must be {FORM}, got {ctx.request.mimetype or 'none'}."
        )
    return ctx.request.form


# -- /oauth/token --------------------------------------------------------------------------


def _issue(ctx: RequestContext, grant: dict[str, Any]) -> Reply:
    """New access and refresh tokens for a grant (``grant_id``, client, account, scopes)."""
    now = ctx.now()
    moment = int(ctx.clock())
    access = secrets.token_urlsafe(32)
    refresh = secrets.token_urlsafe(48)
    ctx.store.create(
        OWNER,
        "oauth_access",
        digest(access),
        {**grant, "expires_at": moment + ACCESS_SECONDS, "revoked": False},
        now=now,
    )
    ctx.store.create(
        OWNER,
        "oauth_refresh",
        digest(refresh),
        {**grant, "last_used": moment, "rotated": False, "revoked": False},
        now=now,
    )
    body = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_SECONDS,
        "refresh_token": refresh,
        "scope": " ".join(grant["scopes"]),
    }
    return Reply(200, body, dict(JSON_HEADERS))


def _grant_of(record: Resource) -> dict[str, Any]:
    keys = ("grant_id", "client_id", "account_id", "scopes")
    return {k: record.attributes[k] for k in keys}


def _code_grant(ctx: RequestContext, client_id: str, form: Any) -> Reply:
    code = form.get("code")
    if not code:
        raise OAuthFailure(400, "invalid_request", "code is required.")
    store = ctx.store
    with store.transaction():
        record = store.get(OWNER, "oauth_code", digest(code))
        if record is None or record.attributes["client_id"] != client_id:
            raise OAuthFailure(400, "invalid_grant", "The authorization code is invalid.")
        if record.attributes["used"]:
            raise OAuthFailure(400, "invalid_grant", "The authorization code was already used.")
        store.update(
            OWNER, "oauth_code", record.id, attributes={**record.attributes, "used": True}, now=ctx.now()
        )
    attrs = record.attributes
    if ctx.clock() >= attrs["expires_at"]:
        raise OAuthFailure(400, "invalid_grant", "The authorization code expired.")
    if form.get("redirect_uri") != attrs["redirect_uri"]:
        raise OAuthFailure(400, "invalid_grant", "redirect_uri does not match the authorization request.")
    verifier = form.get("code_verifier") or ""
    if not VERIFIER_RE.match(verifier):
        raise OAuthFailure(400, "invalid_request", "Invalid code_verifier.")
    expected = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode()
    )
    if not hmac.compare_digest(expected, attrs["code_challenge"]):
        raise OAuthFailure(400, "invalid_grant", "Code challenge failed.")
    grant = {
        "grant_id": secrets.token_hex(12),
        "client_id": client_id,
        "account_id": attrs["account_id"],
        "scopes": attrs["scopes"],
    }
    return _issue(ctx, grant)


def _refresh_grant(ctx: RequestContext, client_id: str, form: Any) -> Reply:
    token = form.get("refresh_token")
    if not token:
        raise OAuthFailure(400, "invalid_request", "refresh_token is required.")
    store = ctx.store
    with store.transaction():  # one rotation per refresh token, even under concurrent requests
        record = store.get(OWNER, "oauth_refresh", digest(token))
        attrs = record.attributes if record is not None else {}
        if record is None or attrs["client_id"] != client_id or attrs["revoked"] or attrs["rotated"]:
            raise OAuthFailure(400, "invalid_grant", "The refresh token is invalid, expired or revoked.")
        if ctx.clock() - attrs["last_used"] > REFRESH_IDLE_SECONDS:
            raise OAuthFailure(400, "invalid_grant", "The refresh token expired after 90 days without use.")
        requested = form.get("scope")
        if requested is not None and not set(requested.split()) <= set(attrs["scopes"]):
            raise OAuthFailure(400, "invalid_scope", "A refresh can't add scopes the grant doesn't have.")
        store.update(OWNER, "oauth_refresh", record.id, attributes={**attrs, "rotated": True}, now=ctx.now())
        return _issue(ctx, _grant_of(record))


def token(ctx: RequestContext) -> Reply:
    try:
        form = _form(ctx)
        client_id = _authenticate_client(ctx)
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return _code_grant(ctx, client_id, form)
        if grant_type == "refresh_token":
            return _refresh_grant(ctx, client_id, form)
        raise OAuthFailure(
            400, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token."
        )
    except OAuthFailure as failure:
        return failure.reply()


# -- /oauth/revoke ---------------------------------------------------------------------------


def _revoke_grant(store: Store, grant_id: str, now: str) -> None:
    for rtype in ("oauth_refresh", "oauth_access"):
        for record in store.find(OWNER, rtype, "grant_id", grant_id):
            if not record.attributes["revoked"]:
                store.update(
                    OWNER, rtype, record.id, attributes={**record.attributes, "revoked": True}, now=now
                )


def revoke(ctx: RequestContext) -> Reply:
    """RFC 7009: 200 whether or not the token was known; a refresh token takes its grant along."""
    try:
        form = _form(ctx)
        client_id = _authenticate_client(ctx)
        value = form.get("token")
        if not value:
            raise OAuthFailure(400, "invalid_request", "token is required.")
        kinds = ["oauth_refresh", "oauth_access"]
        if form.get("token_type_hint") == "access_token":
            kinds.reverse()
        store = ctx.store
        with store.transaction():
            for rtype in kinds:
                record = store.get(OWNER, rtype, digest(value))
                if record is None or record.attributes["client_id"] != client_id:
                    continue
                if rtype == "oauth_refresh":
                    _revoke_grant(store, record.attributes["grant_id"], ctx.now())
                else:
                    store.update(
                        OWNER,
                        rtype,
                        record.id,
                        attributes={**record.attributes, "revoked": True},
                        now=ctx.now(),
                    )
                break
    except OAuthFailure as failure:
        return failure.reply()
    return Reply(200, None, {"Cache-Control": "no-store"})


# -- Bearer tokens on /api -------------------------------------------------------------------


def principal_for_token(store: Store, access_token: str, now: str) -> Principal | None:
    """The account and scopes of a live access token; None if unknown, expired or revoked."""
    record = store.get(OWNER, "oauth_access", digest(access_token))
    if record is None:
        return None
    attrs = record.attributes
    if attrs["revoked"] or _epoch(now) >= attrs["expires_at"]:
        return None
    return Principal(attrs["account_id"], frozenset(attrs["scopes"]))


def expire_access_tokens(store: Store, now: float) -> int:
    """Expire every live access token (refresh tokens keep working); returns how many."""
    count = 0
    with store.transaction():
        for record in store.list_resources(OWNER, "oauth_access"):
            attrs = record.attributes
            if not attrs["revoked"] and attrs["expires_at"] > now:
                store.update(
                    OWNER,
                    "oauth_access",
                    record.id,
                    attributes={**attrs, "expires_at": int(now) - 1},
                    now=record.updated,
                )
                count += 1
    return count


def init_store(store: Store) -> None:
    store.ensure_index("oauth_access", "grant_id")
    store.ensure_index("oauth_refresh", "grant_id")


ROUTES = [
    Route("GET", "/oauth/authorize", authorize, "oauth_authorize", auth=False),
    Route("POST", "/oauth/token", token, "oauth_token", auth=False, content_types=BODY_TYPES),
    Route("POST", "/oauth/revoke", revoke, "oauth_revoke", auth=False, content_types=BODY_TYPES),
]
