"""The OAuth 2.0 connection: authorization code with PKCE S256, refresh, rotation and revoke.

Token-endpoint traffic goes through authlib's requests client with HTTP Basic client
authentication and form-encoded bodies (what Klaviyo requires). :class:`OAuth2Auth` is what
the HTTP core uses: it adds ``Bearer`` tokens, refreshes ahead of expiry and once after a
401, runs one refresh at a time per connection, hands every new token to the host's
``on_token_update`` callback *before* using it (refresh tokens rotate), and turns a dead
grant into a ``reauth_required`` error instead of looping.

Several processes may share one grant (workers of one host, CLI runs on one token file). The
host's ``refresh_lock`` is then held around each refresh, and ``load_token`` is asked for the
host's latest saved token before refreshing and after an ``invalid_grant``: a token another
process rotated meanwhile is used (and refreshed once more if it is stale too) instead of
failing with "reconnect".

A runtime connection value is ``{"key": "oauth2", "fields": {...}, "token": {"access_token",
"refresh_token", "expires_at", ...}}``.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from klaviyo_connector.connections.api_key import check_account
from klaviyo_connector.deadline import WatchedAdapter, bounded
from klaviyo_connector.errors import (
    INTERNAL,
    REAUTH_REQUIRED,
    RETRYABLE,
    USER_FIXABLE,
    KlaviyoError,
    input_error,
)
from klaviyo_connector.redact import redact
from klaviyo_connector.sandbox.server import is_loopback
from klaviyo_connector.version import USER_AGENT

if TYPE_CHECKING:
    from authlib.integrations.requests_client import OAuth2Session

log = logging.getLogger("klaviyo_connector.oauth2")

AUTHORIZE_URL = "https://www.klaviyo.com/oauth/authorize"
TOKEN_URL = "https://a.klaviyo.com/oauth/token"
# Refresh this long before expires_at (or at half the lifetime of shorter-lived tokens).
REFRESH_MARGIN = 300.0
TOKEN_TIMEOUT = (10.0, 30.0)
# The most seconds one token-endpoint exchange may take, from connecting to the last byte.
TOKEN_DEADLINE = 60.0
# Klaviyo's rule for a PKCE code_verifier.
VERIFIER_RE = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
VERIFIER_LENGTH = 64
_SCOPE_RE = re.compile(r"^[a-z][a-z0-9-]*:[a-z]+$")
RECONNECT = "Reconnect the Klaviyo connection (authorize the app again)."

TokenCallback = Callable[[dict[str, Any]], None]
# The host's latest saved token for this connection (None: nothing saved).
TokenLoader = Callable[[], "Mapping[str, Any] | None"]
# Held around a refresh so that processes sharing one grant refresh one at a time.
RefreshLock = Callable[[], AbstractContextManager[Any]]


def now() -> float:
    """Epoch seconds; tests replace it to move time."""
    return time.time()


# -- configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class OAuthConfig:
    """The connection's fields, checked: where tokens come from and which client asks."""

    client_id: str
    client_secret: str = field(repr=False)
    authorize_url: str
    token_url: str
    revoke_url: str
    scopes: tuple[str, ...]  # empty: every scope the component's actions need
    base_url: str | None


def required_scopes() -> tuple[str, ...]:
    """Every scope the component's actions, data sources and triggers need, from the catalog."""
    from klaviyo_connector.catalog import scopes_for
    from klaviyo_connector.component import component

    operations = [op for a in component.actions.values() for op in a.operations]
    operations += [op for d in component.data_sources.values() for op in d.operations]
    operations += [op for t in component.triggers.values() for op in t.operations]
    return scopes_for(operations)


def _is_loopback_url(url: str | None) -> bool:
    if not url:
        return False
    return is_loopback(urlsplit(url).hostname or "")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


def _check_endpoint(label: str, url: str, base_url: str | None, *, token_traffic: bool) -> str:
    """``url`` if credentials may go there: https on a Klaviyo host, or the sandbox's own origin."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.username or parts.password or parts.fragment:
        raise input_error(label, "must be a plain URL without credentials or a fragment.")
    if parts.scheme == "https" and (host == "klaviyo.com" or host.endswith(".klaviyo.com")):
        if token_traffic and host == "www.klaviyo.com":
            raise input_error(
                label,
                "Klaviyo blocks token and revoke requests sent to www.klaviyo.com (since 2025-03-31); "
                f"use {TOKEN_URL}.",
            )
        return url
    if _is_loopback_url(base_url) and base_url and _origin(url) == _origin(base_url):
        return url  # the local sandbox named by Base URL
    raise input_error(
        label,
        f"must be an https URL on a Klaviyo host (like {TOKEN_URL if token_traffic else AUTHORIZE_URL}) "
        "or on the local sandbox's Base URL; refusing to send client credentials elsewhere.",
    )


def _revoke_url(token_url: str) -> str:
    parts = urlsplit(token_url)
    path = parts.path.rstrip("/")
    path = path[: -len("token")] + "revoke" if path.endswith("/token") else "/oauth/revoke"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def parse_scopes(text: Any) -> tuple[str, ...]:
    """Scopes from the space-separated field (commas tolerated), de-duplicated, in order."""
    if text is None:
        return ()
    if not isinstance(text, str):
        raise input_error(
            "Scopes", "must be text: scopes separated by spaces, like 'lists:read lists:write'."
        )
    out: list[str] = []
    for scope in text.replace(",", " ").split():
        if not _SCOPE_RE.match(scope):
            raise input_error("Scopes", f"{scope!r} is not a Klaviyo scope; scopes look like lists:read.")
        if scope not in out:
            out.append(scope)
    return tuple(out)


def _text(fields: Mapping[str, Any], key: str) -> str | None:
    value = fields.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise KlaviyoError(f"Connection field {key!r} must be text.", code="invalid_connection")
    return value.strip() or None


def config_from_fields(fields: Mapping[str, Any]) -> OAuthConfig:
    """The checked configuration; an error naming the field's label when one is wrong."""
    client_id = _text(fields, "clientId")
    if not client_id:
        raise input_error("Client ID", "is required: copy it from your Klaviyo app (Manage apps).")
    client_secret = _text(fields, "clientSecret")
    if not client_secret:
        raise input_error("Client secret", "is required: copy it from your Klaviyo app (Manage apps).")
    base_url = _text(fields, "baseUrl")
    sandbox = base_url.rstrip("/") if base_url and _is_loopback_url(base_url) else None
    authorize_url = _text(fields, "authorizeUrl") or (
        f"{sandbox}/oauth/authorize" if sandbox else AUTHORIZE_URL
    )
    token_url = _text(fields, "tokenUrl") or (f"{sandbox}/oauth/token" if sandbox else TOKEN_URL)
    authorize_url = _check_endpoint("Authorize URL", authorize_url, base_url, token_traffic=False)
    token_url = _check_endpoint("Token URL", token_url, base_url, token_traffic=True)
    return OAuthConfig(
        client_id=client_id,
        client_secret=client_secret,
        authorize_url=authorize_url,
        token_url=token_url,
        revoke_url=_revoke_url(token_url),
        scopes=parse_scopes(fields.get("scopes")),
        base_url=base_url,
    )


# -- PKCE and the authorization step -------------------------------------------------------


def new_code_verifier(length: int = VERIFIER_LENGTH) -> str:
    """A fresh PKCE verifier; always matches Klaviyo's ``[A-Za-z0-9-._~]{43,128}``."""
    from authlib.common.security import generate_token

    if not 43 <= length <= 128:
        raise ValueError("a PKCE code_verifier has 43 to 128 characters")
    verifier = str(generate_token(length))  # letters and digits from the system CSPRNG
    if not VERIFIER_RE.match(verifier):  # pragma: no cover - generate_token's alphabet is a subset
        raise RuntimeError("generated a code_verifier outside Klaviyo's alphabet")
    return verifier


def code_challenge(verifier: str) -> str:
    """The S256 challenge for a verifier (base64url of SHA-256, no padding)."""
    from authlib.oauth2.rfc7636 import create_s256_code_challenge

    return str(create_s256_code_challenge(verifier))


@dataclass(frozen=True)
class AuthorizationRequest:
    """One login attempt: the URL to open and what the code exchange needs later."""

    url: str
    state: str = field(repr=False)
    redirect_uri: str
    scopes: tuple[str, ...]
    code_verifier: str = field(repr=False)


@contextmanager
def _token_exchange() -> Iterator[None]:
    """One token-endpoint exchange, bounded as a whole by TOKEN_DEADLINE. Whatever broke when
    the bound cut it short (a half-read body, a reset) is reported as the timeout it is."""
    import requests

    with bounded(TOKEN_DEADLINE) as watch:
        try:
            yield
        except Exception as exc:
            if watch.fired:
                raise requests.Timeout(f"no complete answer within {TOKEN_DEADLINE:g} s") from exc
            raise


def _session(config: OAuthConfig, redirect_uri: str | None = None) -> OAuth2Session:
    from authlib.integrations.requests_client import OAuth2Session

    session = OAuth2Session(
        client_id=config.client_id,
        client_secret=config.client_secret,
        token_endpoint_auth_method="client_secret_basic",
        revocation_endpoint_auth_method="client_secret_basic",
        code_challenge_method="S256",
        redirect_uri=redirect_uri,
        default_timeout=TOKEN_TIMEOUT,
    )
    session.headers["User-Agent"] = USER_AGENT
    # Token calls are bounded as a whole like every API call (see token_call), not per read only.
    adapter = WatchedAdapter(max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def start_authorization(fields: Mapping[str, Any], redirect_uri: str) -> AuthorizationRequest:
    """The authorization URL (state + S256 challenge) for the browser, and the verifier to keep."""
    from authlib.common.security import generate_token

    config = config_from_fields(fields)
    scopes = config.scopes or required_scopes()
    verifier = new_code_verifier()
    session = _session(config, redirect_uri)
    try:
        url, state = session.create_authorization_url(
            config.authorize_url, state=generate_token(32), code_verifier=verifier, scope=" ".join(scopes)
        )
    finally:
        session.close()
    return AuthorizationRequest(str(url), str(state), redirect_uri, scopes, verifier)


def exchange_code(
    fields: Mapping[str, Any],
    request: AuthorizationRequest,
    *,
    code: str,
    state: str,
    clock: Callable[[], float] | None = None,
) -> dict[str, Any]:
    """Trade the code from the redirect for tokens (PKCE verifier, Basic client auth)."""
    config = config_from_fields(fields)
    if not hmac.compare_digest(state.encode(), request.state.encode()):
        raise KlaviyoError(
            "The authorization response's state does not match this login; start the login again.",
            error_class=USER_FIXABLE,
            code="state_mismatch",
        )
    session = _session(config, request.redirect_uri)
    try:
        with _token_exchange():
            raw = session.fetch_token(
                config.token_url,
                grant_type="authorization_code",
                code=code,
                code_verifier=request.code_verifier,
                redirect_uri=request.redirect_uri,
                allow_redirects=False,
            )
    except Exception as exc:
        raise token_endpoint_error(
            exc, "exchange", (config.client_secret, code, request.code_verifier)
        ) from None
    finally:
        session.close()
    return _issued(raw, clock)


def revoke(fields: Mapping[str, Any], token: Mapping[str, Any]) -> None:
    """Revoke the grant at Klaviyo: the refresh token, then the access token."""
    config = config_from_fields(fields)
    secrets = (config.client_secret, *_token_values(token))
    session = _session(config)
    try:
        for hint in ("refresh_token", "access_token"):
            value = token.get(hint)
            if not isinstance(value, str) or not value:
                continue
            try:
                with _token_exchange():
                    resp = session.revoke_token(
                        config.revoke_url, token=value, token_type_hint=hint, allow_redirects=False
                    )
            except Exception as exc:
                raise token_endpoint_error(exc, "revoke", secrets) from None
            if resp.status_code != 200:
                raise token_endpoint_error(_response_error(resp), "revoke", secrets)
    finally:
        session.close()


# -- tokens and errors -----------------------------------------------------------------------


def normalize_token(token: Mapping[str, Any], clock: Callable[[], float] | None = None) -> dict[str, Any]:
    """A plain JSON dict with ``expires_at`` (epoch seconds) whenever the lifetime is known."""
    clock = clock or now
    out = {str(k): v for k, v in dict(token).items() if v is not None}
    expires_at = out.get("expires_at")
    if expires_at is None and isinstance(out.get("expires_in"), (int, float, str)):
        try:
            out["expires_at"] = int(clock() + float(out["expires_in"]))
        except (ValueError, OverflowError):  # "inf", "nan": no usable lifetime
            pass
    elif expires_at is not None:
        try:
            out["expires_at"] = int(float(expires_at))
        except (TypeError, ValueError, OverflowError):
            out.pop("expires_at")
    return out


def _issued(raw: Mapping[str, Any], clock: Callable[[], float] | None) -> dict[str, Any]:
    """A token-endpoint answer; ``expires_at`` counted from ``expires_in`` on our clock."""
    token = dict(raw)
    if token.get("expires_in") is not None:
        token.pop("expires_at", None)  # authlib's, from its own clock
    return normalize_token(token, clock)


def _token_values(token: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(v for k in ("access_token", "refresh_token") if isinstance(v := token.get(k), str) and v)


class _EndpointError(Exception):
    """A token-endpoint answer that authlib didn't raise for (revoke responses)."""

    def __init__(self, status: int, error: str | None, description: str | None) -> None:
        super().__init__(error or f"HTTP {status}")
        self.status = status
        self.error = error
        self.description = description


def _response_error(resp: Any) -> _EndpointError:
    try:
        doc = resp.json()
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        if "error" in doc:
            return _EndpointError(resp.status_code, str(doc.get("error")), doc.get("error_description"))
        errors = doc.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return _EndpointError(resp.status_code, first.get("code"), first.get("detail"))
    return _EndpointError(resp.status_code, None, None)


_STAGE = {
    "exchange": "exchanging the authorization code",
    "refresh": "refreshing the token",
    "revoke": "revoking",
}


def token_endpoint_error(exc: BaseException, stage: str, secrets: tuple[str, ...] = ()) -> KlaviyoError:
    """What to fix (or that a reconnect is needed) for a failed token-endpoint call (F15)."""
    import requests
    from authlib.integrations.base_client import OAuthError

    doing = _STAGE[stage]
    status: int | None = None
    if isinstance(exc, OAuthError):
        error, description = exc.error, exc.description
    elif isinstance(exc, _EndpointError):
        error, description, status = exc.error, exc.description, exc.status
    elif isinstance(exc, requests.Timeout) or isinstance(exc, requests.ConnectionError):
        kind = "timed out" if isinstance(exc, requests.Timeout) else "could not connect"
        return KlaviyoError(
            f"The Klaviyo token endpoint {kind} while {doing} ({type(exc).__name__}); try again.",
            error_class=RETRYABLE,
            code="timeout" if isinstance(exc, requests.Timeout) else "connection_error",
        )
    elif isinstance(exc, requests.HTTPError):
        status = exc.response.status_code if exc.response is not None else None
        error, description = None, None
    else:  # not an OAuth answer at all (a redirect, an HTML page): the URL is wrong
        return KlaviyoError(
            f"The Token URL did not answer like an OAuth token endpoint while {doing}; check the Token URL.",
            error_class=USER_FIXABLE,
            code="invalid_token_response",
        )
    said = redact(str(description or error or f"HTTP {status}"), secrets)
    if error == "invalid_grant":
        if stage == "exchange":
            message = (
                f"Klaviyo refused the authorization code ({said}): it expired, was already used, or the PKCE "
                "code verifier did not match. Start the login again."
            )
        else:
            message = (
                f"Klaviyo no longer accepts this connection's refresh token ({said}): the app was "
                "uninstalled, the token was revoked, or it went unused for 90 days. " + RECONNECT
            )
        return KlaviyoError(
            message, error_class=REAUTH_REQUIRED, status=status or 400, code=error, detail=said
        )
    if error == "invalid_client":
        return KlaviyoError(
            f"Klaviyo rejected the client credentials while {doing} ({said}): check Client ID and "
            "Client secret (they are sent with HTTP Basic authentication).",
            error_class=USER_FIXABLE,
            status=status or 401,
            code=error,
            field="Client secret",
            detail=said,
        )
    if error == "invalid_scope":
        return KlaviyoError(
            f"Scopes: Klaviyo refused the requested scopes ({said}); request only scopes enabled on the app.",
            error_class=USER_FIXABLE,
            status=status or 400,
            code=error,
            field="Scopes",
            detail=said,
        )
    if status is not None and (status >= 500 or status == 429):
        return KlaviyoError(
            f"The Klaviyo token endpoint had a temporary problem while {doing} (HTTP {status}); try again.",
            error_class=RETRYABLE,
            status=status,
            code=error or "token_endpoint_unavailable",
        )
    return KlaviyoError(
        f"The Klaviyo token endpoint refused the request while {doing}: {error or 'error'} ({said}).",
        error_class=USER_FIXABLE,
        status=status or 400,
        code=error or "token_endpoint_error",
        detail=said,
    )


def reauth_error(reason: str) -> KlaviyoError:
    return KlaviyoError(f"{reason} {RECONNECT}", error_class=REAUTH_REQUIRED, code="reauth_required")


# -- the auth object the HTTP core uses ------------------------------------------------------


class OAuth2Auth:
    """Bearer tokens for one connection; thread-safe, one token request at a time.

    ``load_token()`` returns the host's latest saved token (or None); ``refresh_lock()`` returns a
    context manager held around each refresh, across processes. Both are optional; with them,
    processes that share one grant never spend each other's refresh token.
    """

    def __init__(
        self,
        config: OAuthConfig,
        token: Mapping[str, Any],
        *,
        on_token_update: TokenCallback | None = None,
        load_token: TokenLoader | None = None,
        refresh_lock: RefreshLock | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock or now
        self._token = normalize_token(token, clock)
        if not _token_values(self._token):
            raise reauth_error("This OAuth connection has no token yet.")
        self._on_token_update = on_token_update
        self._load_token = load_token
        self._refresh_lock = refresh_lock
        self._lock = threading.Lock()
        self._local = threading.local()  # the access token each thread last sent
        # Every token value this connection has held; replaced, never mutated, so secrets() needs no lock.
        self._seen: tuple[str, ...] = _token_values(self._token)
        self._dead: str | None = None  # why the grant is unusable (invalid_grant), once known

    @property
    def token(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._token)

    def authorization(self) -> str:
        with self._lock:
            self._check_alive()
            if self._stale():
                self._renew(None)
            access = self._token.get("access_token")
            if not access:  # the token endpoint answered without one
                raise reauth_error("Klaviyo issued no access token.")
        self._local.sent = access
        return f"Bearer {access}"

    def refresh_after_unauthorized(self) -> bool:
        sent = getattr(self._local, "sent", None)
        with self._lock:
            self._check_alive()
            if sent is not None and sent != self._token.get("access_token"):
                return True  # another thread already refreshed after the same 401
            if not self._token.get("refresh_token") and self._load_token is None:
                return False
            log.info("access token rejected (401); refreshing once")
            return self._renew(sent)

    def refresh(self) -> dict[str, Any]:
        """Refresh now (``auth refresh``); returns the new token."""
        with self._lock:
            self._check_alive()
            self._renew(None, force=True)
            return dict(self._token)

    def secrets(self) -> tuple[str, ...]:
        # client_id:client_secret is what HTTP Basic client auth base64-encodes; its encoded
        # forms are masked with every other secret's (see redact.secret_forms).
        basic = f"{self.config.client_id}:{self.config.client_secret}"
        return (self.config.client_secret, basic, *self._seen)

    def __repr__(self) -> str:
        return f"OAuth2Auth(client_id={self.config.client_id!r}, token=[REDACTED])"

    # -- internals (hold self._lock) -----------------------------------------------------

    def _check_alive(self) -> None:
        """Refuse a dead grant without any token request, unless the host has saved a newer token
        since (a reconnect, or a rotation this process raced without a refresh lock)."""
        if self._dead is None:
            return
        try:
            latest = self._latest()
        except KlaviyoError:
            latest = None  # the grant is known dead; that is the answer to give
        if latest is None:
            raise reauth_error(self._dead)
        log.info("using the OAuth token the host saved after this connection's grant was refused")
        self._adopt(latest)
        self._dead = None

    def _stale(self) -> bool:
        if not self._token.get("access_token"):
            if not self._token.get("refresh_token"):
                raise reauth_error("This OAuth connection has no token.")
            return True
        expires_at = self._token.get("expires_at")
        if expires_at is None or not self._token.get("refresh_token"):
            return False  # unknown lifetime or nothing to refresh with: the 401 path decides
        margin = REFRESH_MARGIN
        lifetime = self._token.get("expires_in")
        if isinstance(lifetime, (int, float)) and lifetime > 0:
            margin = min(margin, lifetime / 2)
        return bool(self._clock() >= float(expires_at) - margin)

    def _renew(self, sent: str | None, *, force: bool = False) -> bool:
        """A usable token other than ``sent``: the one another process saved, else a refresh.

        Runs under the host's refresh lock. True when there is a new token to try.
        """
        with ExitStack() as held:
            if self._refresh_lock is not None:
                try:
                    held.enter_context(self._refresh_lock())
                except Exception as exc:  # the host's lock store is down or the hook is broken
                    raise KlaviyoError(
                        f"Could not take the host's token refresh lock ({type(exc).__name__}); nothing was "
                        "refreshed. Try again; if it persists, check the store behind refresh_lock.",
                        error_class=RETRYABLE,
                        code="refresh_lock_failed",
                    ) from None
            try:
                latest = self._latest()
            except KlaviyoError as exc:  # the refresh below may still work: say so, don't fail yet
                log.warning("could not load the saved OAuth token (%s); refreshing the one held", exc.code)
                latest = None
            if latest is not None:
                self._adopt(latest)
                access = self._token.get("access_token")
                if not force and access and access != sent and not self._stale():
                    return True
            if not force and not self._token.get("refresh_token"):
                return False
            self._refresh_or_recover()
            return True

    def _refresh_or_recover(self) -> None:
        """Refresh; after ``invalid_grant``, once more with a token rotated elsewhere meanwhile."""
        try:
            self._refresh()
            return
        except KlaviyoError as exc:
            if exc.error_class != REAUTH_REQUIRED:
                raise
            refused = exc
        latest = self._latest()  # a failing loader leaves the grant's fate open: not marked dead
        if latest is None:
            self._dead = refused.message.removesuffix(" " + RECONNECT)
            raise refused
        log.info("the refresh token was rotated by another process; using the token it saved")
        self._adopt(latest)
        if not self._stale():
            return
        try:
            self._refresh()
        except KlaviyoError as exc:
            if exc.error_class == REAUTH_REQUIRED:  # refused twice: a reconnect is needed, no loop
                self._dead = exc.message.removesuffix(" " + RECONNECT)
            raise

    def _latest(self) -> dict[str, Any] | None:
        """The host's saved token when it has a value this connection never held (a rotation
        made elsewhere); None when there is no loader or nothing newer."""
        if self._load_token is None:
            return None
        try:
            loaded = self._load_token()
        except KlaviyoError as exc:
            raise exc.scrubbed(self.secrets()) from None
        except Exception as exc:
            # Only the type: the host's message may hold values this connection can't scrub (a token
            # it never held, the store's own credentials).
            raise KlaviyoError(
                f"Loading the saved OAuth token from the host's store failed ({type(exc).__name__}).",
                error_class=INTERNAL,
                code="token_load_failed",
            ).scrubbed(self.secrets()) from exc
        if not isinstance(loaded, Mapping):
            return None
        token = normalize_token(loaded, self._clock)
        values = _token_values(token)
        if not values or all(v in self._seen for v in values):
            return None  # the token we hold, or one we held before: not newer
        return token

    def _adopt(self, token: dict[str, Any]) -> None:
        self._seen = (*self._seen, *(v for v in _token_values(token) if v not in self._seen))
        self._token = token

    def _refresh(self) -> None:
        refresh_token = self._token.get("refresh_token")
        if not refresh_token:
            raise reauth_error("This OAuth connection has no refresh token.")
        session = _session(self.config)  # refreshes are rare: no connection kept open between them
        try:
            with _token_exchange():
                raw = session.refresh_token(
                    self.config.token_url, refresh_token=refresh_token, allow_redirects=False
                )
        except Exception as exc:
            raise token_endpoint_error(exc, "refresh", self.secrets()) from None
        finally:
            session.close()
        token = _issued(raw, self._clock)
        token.setdefault("refresh_token", refresh_token)
        rotated = token["refresh_token"] != refresh_token
        self._seen = (*self._seen, *(v for v in _token_values(token) if v not in self._seen))
        log.info("refreshed the OAuth access token%s", " (refresh token rotated)" if rotated else "")
        # The host saves the new token before anything uses it: a rotated refresh token is the
        # only one that works from now on.
        try:
            if self._on_token_update is not None:
                self._on_token_update(dict(token))
        except Exception as exc:
            self._token = token  # the old refresh token may be dead already; keep what works
            raise KlaviyoError(
                f"Klaviyo issued a new token but saving it failed ({type(exc).__name__}: {exc}). The "
                "connection works in this process; if the token can't be saved, it must be reconnected "
                "after a restart.",
                error_class=INTERNAL,
                code="token_update_failed",
            ).scrubbed(self.secrets()) from exc
        self._token = token


# -- the connection module's interface -------------------------------------------------------


def build_auth(
    fields: Mapping[str, Any],
    *,
    connection: Mapping[str, Any] | None = None,
    on_token_update: TokenCallback | None = None,
    load_token: TokenLoader | None = None,
    refresh_lock: RefreshLock | None = None,
    **_: Any,
) -> OAuth2Auth:
    """The auth for a connection value; never calls the token endpoint itself."""
    config = config_from_fields(fields)
    token = (connection or {}).get("token")
    if not isinstance(token, Mapping) or not _token_values(token):
        raise reauth_error("This OAuth connection has not been authorized yet (it has no token).")
    return OAuth2Auth(
        config, token, on_token_update=on_token_update, load_token=load_token, refresh_lock=refresh_lock
    )


def _explain(exc: KlaviyoError) -> None:
    if exc.status == 401:
        exc.message = "Klaviyo rejected the OAuth token even after a refresh. " + RECONNECT
        exc.error_class = REAUTH_REQUIRED
    elif exc.status == 403:
        exc.message = (
            "The token works but lacks the accounts:read scope needed to test it; add it to Scopes "
            "and reconnect. " + (exc.detail or "")
        )


def test(client: Any) -> dict[str, Any]:
    """Call GET /api/accounts with the token and say plainly what is wrong, if anything."""
    return check_account(client, _explain)
