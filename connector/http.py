"""The HTTP core: one client per connection over a keep-alive connection pool (requests' adapter).

Every request, curated or raw, goes through :meth:`KlaviyoClient.request`: it adds the pinned
revision, JSON:API content negotiation, the User-Agent and the connection's authorization,
applies timeouts and the retry policy, refuses to send credentials to any other host, and
turns every failure into a :class:`~klaviyo_connector.errors.KlaviyoError`.
"""

from __future__ import annotations

import contextvars
import http.client
import json
import logging
import math
import random as _random
import re
import ssl
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

import requests
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError, ReadTimeoutError
from urllib3.util import parse_url

from . import catalog
from .deadline import ExchangeWatch, WatchedAdapter, remaining
from .errors import (
    INTERNAL,
    OUTCOME_UNKNOWN,
    QUOTA_EXHAUSTED,
    RETRYABLE,
    USER_FIXABLE,
    KlaviyoError,
    from_response,
    network_error,
)
from .pacing import Pacing, WaitTooLong, account_key
from .paths import has_dot_segment
from .pool import OriginPool
from .redact import guard_logs, redact, secret_forms
from .retry import SAFE_METHODS, RetryPolicy
from .revision import REVISION
from .scoped import Scoped
from .version import USER_AGENT

DEFAULT_BASE_URL = "https://a.klaviyo.com"
JSON_API = "application/vnd.api+json"
DEFAULT_TIMEOUT = (10.0, 60.0)  # connect, and each socket read (seconds)
# One exchange (connect, send, headers and the whole body, redirects included), in seconds.
DEFAULT_REQUEST_DEADLINE = 120.0
# One action run, every request, retry and wait included, in seconds (see Runner).
DEFAULT_ACTION_DEADLINE = 300.0
# The largest response body read (decoded), in bytes; Klaviyo's pages are far smaller.
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
MAX_REDIRECTS = 5

log = logging.getLogger("klaviyo_connector.http")

# Set by the Runner around one run; a response that echoes a credential marks it (see request).
_echoes: contextvars.ContextVar[list[bool] | None] = contextvars.ContextVar(
    "klaviyo_secret_echoes", default=None
)


def watch_secret_echoes() -> Scoped[list[bool] | None]:
    """``with watch_secret_echoes() as holder``: within the block, ``holder[0]`` turns True once
    any response body carried a secret of its connection (in any encoding), so the caller knows
    to scrub what it returns."""
    return Scoped(_echoes, [False])


# Characters that let a URL mean or look like something other than it reads: ASCII controls and
# space (some parsers strip them), the backslash (some parsers read it as '/'), and Unicode
# controls, format characters (zero-width, bidi overrides), separators and lone surrogates.
_UNSAFE_ASCII = re.compile(r"[\x00-\x20\x7f\\]")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Zs"})


def _unsafe_chars(text: str) -> bool:
    if _UNSAFE_ASCII.search(text):
        return True
    return not text.isascii() and any(unicodedata.category(c) in _UNSAFE_CATEGORIES for c in text)


class Auth(Protocol):
    """What a connection contributes to each request."""

    def authorization(self) -> str:
        """The Authorization header value."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Every secret value that must never appear in output."""
        ...

    def refresh_after_unauthorized(self) -> bool:
        """Called once after a 401; True if a retry with new credentials makes sense."""
        ...


@dataclass(frozen=True)
class Response:
    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str
    attempts: int
    # Names (never values: one is the credential) of the headers sent on the last attempt.
    request_headers: tuple[str, ...] = ()

    def json(self) -> Any:
        """The body parsed as JSON (None when empty), parsed once."""
        cache = self.__dict__  # a frozen dataclass: cache without __setattr__
        if "_json" not in cache:
            content = self.content
            cache["_json"] = (
                _DECODER.decode(content.decode(json.detect_encoding(content), "surrogatepass"))
                if content
                else None
            )
        return cache["_json"]

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


def _no_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: a body holding them is not a document Klaviyo sends, and
    # passing them on would make a host's output invalid JSON too.
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every body (json.loads with options builds a new one per call).
_DECODER = json.JSONDecoder(parse_constant=_no_constant)

# Longest a single timeout or deadline may be: a day (socket timeouts overflow on absurd values).
MAX_SECONDS = 86_400.0


def shown_seconds(value: float) -> str:
    """A duration for a message: three significant figures, no trailing zeros (2.87, 120)."""
    return f"{value:.3g}" if value < 1000 else f"{value:.0f}"


def positive_seconds(value: Any, what: str) -> float:
    """``value`` as seconds in (0, MAX_SECONDS]; a KlaviyoError otherwise (True is not a time)."""
    try:
        seconds = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError, OverflowError):
        seconds = math.nan
    if not 0 < seconds <= MAX_SECONDS:
        raise KlaviyoError(
            f"The {what} must be a number of seconds above 0 and at most {MAX_SECONDS:g} (a day).",
            code="invalid_connection",
        )
    return seconds


def _scale(value: Any) -> float:
    """A pacing scale: a finite number, 0 (no pacing) or more; a KlaviyoError otherwise."""
    try:
        scale = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError, OverflowError):
        scale = math.nan
    if not 0 <= scale < math.inf:
        raise KlaviyoError(
            "The rate-limit pacing scale must be a number: 1 for Klaviyo's limits, 0 for no pacing.",
            code="invalid_connection",
        )
    return scale


def positive_bytes(value: Any) -> int:
    """``value`` as a whole number of bytes above 0; a KlaviyoError otherwise."""
    try:
        size = int(str(value).strip())
    except ValueError:
        size = 0
    if size <= 0:
        raise KlaviyoError(
            "The Max Response Size must be a whole number of bytes above 0.", code="invalid_connection"
        )
    return size


def check_base_url(base_url: Any, secrets: Iterable[str] = ()) -> str:
    """The connection's Base URL, normalised (no trailing slash), or a KlaviyoError saying what is
    wrong. The value is echoed with secrets masked (a key pasted into the wrong field)."""
    shown = redact(str(base_url), secrets)[:200]
    problem = ""
    if not isinstance(base_url, str):
        problem = f"must be text such as {DEFAULT_BASE_URL}, not {type(base_url).__name__}"
    elif _unsafe_chars(base_url):
        problem = "contains spaces, control or invisible characters, or backslashes"
    else:
        try:
            parts = urlsplit(base_url)
            parts.port  # noqa: B018  raises ValueError for a port out of range or not a number
        except ValueError as exc:
            problem = f"is not a valid URL ({exc})"
        else:
            host = parts.hostname or ""
            if parts.scheme not in ("http", "https") or not host:
                problem = "must be an http(s) URL with a host"
            elif not host.isascii():
                problem = "must name its host in ASCII (write an international name in its xn-- form)"
            elif len(host) > 253 or any(not 0 < len(label) <= 63 for label in host.strip("[]").split(".")):
                problem = "has a host name that is not valid (labels of 1-63 characters, 253 in all)"
            elif parts.username is not None or parts.password is not None:
                problem = "cannot carry a user name or password"
            elif parts.query or parts.fragment:
                problem = "cannot have a query (?...) or fragment (#...)"
    if problem:
        raise KlaviyoError(
            f"Base URL {problem}; got {shown!r}.", code="invalid_base_url", field="Base URL", detail=problem
        )
    return base_url.rstrip("/")


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme.lower(), f"{(parts.hostname or '').lower()}:{port}"


def json_default(value: Any) -> Any:
    """Encode the values workflow steps hand us that json can't (F25)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


# One encoder for every body: json.dumps with options builds a new one per call, which bulk rows
# (several encodings each) felt.
_ENCODER = json.JSONEncoder(default=json_default, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def encode_json(body: Any) -> bytes:
    """``body`` as the JSON bytes Klaviyo reads. A value JSON cannot carry (NaN, Infinity, an
    integer too long to print) or nesting past the encoder's recursion is a KlaviyoError
    (user_fixable, ``invalid_input``) raised before anything is sent."""
    try:
        text = _ENCODER.encode(body)
    except (ValueError, RecursionError) as exc:
        problem = str(exc) if isinstance(exc, ValueError) else "it nests too deep"
        raise KlaviyoError(
            f"The request body cannot be sent as JSON: {problem}. Numbers must be finite and of a "
            "sensible size (no NaN or Infinity).",
            code="invalid_input",
            detail=problem,
        ) from None
    return text.encode()


class _Adapter(WatchedAdapter):
    """requests' adapter over one origin: its connections come from an :class:`~.pool.OriginPool`
    (http.client, kept alive) unless a proxy applies, when urllib3's proxy pool (with pools
    that attach each connection to its exchange's deadline watch, see deadline.py) serves. Two
    per-call costs a client bound to one origin never needs are left out."""

    _pool: Any = None

    def __init__(self, pool_maxsize: int) -> None:
        super().__init__(pool_connections=2, pool_maxsize=pool_maxsize, max_retries=0)
        self._maxsize = pool_maxsize

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: bool | str,
        proxies: Mapping[str, str] | None = None,
        cert: Any = None,
    ) -> Any:
        # One origin, proxies resolved once, fixed TLS settings: the pool never changes.
        pool = self._pool
        if pool is None:
            if requests.utils.select_proxy(request.url, proxies):
                pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
            else:
                parts = urlsplit(request.url)
                scheme = parts.scheme.lower()
                port = parts.port or (443 if scheme == "https" else 80)
                pool = OriginPool(scheme, parts.hostname or "", port, self._maxsize)
            self._pool = pool
        return pool

    def request_url(self, request: requests.PreparedRequest, proxies: Mapping[str, str] | None) -> str:
        if isinstance(self._pool, OriginPool):  # no proxy: the path and query, as requests sends
            path = request.path_url
            return f"/{path.lstrip('/')}" if path.startswith("//") else path
        return super().request_url(request, proxies)

    def cert_verify(self, conn: Any, url: str, verify: bool | str, cert: Any) -> None:
        # An OriginPool's TLS settings are fixed: certifi's bundle, host names checked.
        if not isinstance(conn, OriginPool):
            super().cert_verify(conn, url, verify, cert)

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        # As requests builds it, without parsing Set-Cookie into a jar: no cookies are kept.
        response = requests.Response()
        response.status_code = getattr(resp, "status", None)  # type: ignore[assignment]
        headers = getattr(resp, "headers", {})
        response.headers = (
            headers if isinstance(headers, CaseInsensitiveDict) else CaseInsensitiveDict(headers)
        )
        # No response.encoding: the client reads bytes (Response.text decodes them as UTF-8).
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url.decode("utf-8") if isinstance(req.url, bytes) else req.url
        response.request = req
        response.connection = self
        return response

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if isinstance(pool, OriginPool):
            pool.close()
        super().close()


@dataclass(frozen=True)
class RetryWait:
    """What ``KlaviyoClient(on_wait=...)`` hears before the client waits to retry a request, or
    (``error`` None) waits for its rate limit before sending it (pacing)."""

    seconds: float
    reason: str  # in words: "Klaviyo's rate limit (1/s, 2/m) — retry 2 of 3"
    error: KlaviyoError | None  # the failure being retried; None for a pacing wait
    sent: bool  # whether that attempt may have reached the server (False: it never connected)


def _wait_reason(err: KlaviyoError, operation: str | None, host: str, retry: int, retries: int) -> str:
    if err.status == 429:
        tier = catalog.operation(operation).rate_limit if operation else None
        why = "Klaviyo's rate limit" + (f" ({tier.describe()})" if tier else "")
    elif err.status is not None and not 200 <= err.status < 300:
        why = f"Klaviyo's HTTP {err.status} answer"
    elif err.status is not None:
        why = "a garbled answer from Klaviyo"
    else:
        why = f"a failed connection to {host} ({err.code})"
    return f"{why} — retry {retry} of {retries}"


class KlaviyoClient:
    """A connection's HTTP client. Thread-safe: one instance serves many concurrent calls."""

    def __init__(
        self,
        auth: Auth | None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        revision: str = REVISION,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        request_deadline: float = DEFAULT_REQUEST_DEADLINE,
        action_deadline: float | None = DEFAULT_ACTION_DEADLINE,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        pool_size: int = 16,
        on_wait: Callable[[RetryWait], bool | None] | None = None,
        pacing: Pacing | None = None,
        pacing_scale: float = 1.0,
        pacing_account: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``timeout`` bounds connecting and each socket read; ``request_deadline`` one whole
        exchange (seconds); ``action_deadline`` is what the Runner gives one action run on this
        connection (None: unbounded); ``max_response_bytes`` caps a decoded response body.
        ``on_wait`` (None for hosts) hears of each retry wait before ``sleep`` runs it, e.g. for a
        CLI to show a countdown; returning False gives up instead, raising the retried error.

        Pacing: before each attempt of an ``operation`` the client waits (``sleep``) for a slot
        in the account's budget for it (the catalog's burst and steady limits times
        ``pacing_scale``; 0 turns pacing off), in ``pacing`` (the buckets, shared by a Runner's
        clients; local to this client when None). ``pacing_account`` names the account's bucket
        (default: a SHA-256 fingerprint of the Base URL and the first secret of ``auth``);
        ``clock`` gives epoch seconds. A pacing wait reaches ``on_wait`` with ``error`` None
        (its answer is ignored); one that would pass the run's deadline fails at once."""
        self.auth = auth
        self.base_url = check_base_url(base_url, auth.secrets() if auth else ())
        self.origin = origin(self.base_url)
        self._path_prefix = urlsplit(self.base_url).path.rstrip("/")
        scheme, _, rest = self.base_url.partition("://")
        host = rest.split("/", 1)[0]
        plain = scheme == scheme.lower() and host == host.lower() and "%" not in self.base_url
        self._plain_base = self.base_url + "/" if plain else None
        self.revision = revision
        self.timeout = timeout
        self.request_deadline = positive_seconds(request_deadline, "request deadline")
        self.action_deadline = (
            None if action_deadline is None else positive_seconds(action_deadline, "action deadline")
        )
        self.max_response_bytes = positive_bytes(max_response_bytes)
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self.random = random
        self.on_wait = on_wait
        self.pacing_scale = _scale(pacing_scale)
        self._own_pacing = pacing is None
        self.pacing = pacing if pacing is not None else Pacing()
        if pacing_account is None:
            secrets = auth.secrets() if auth else ()
            pacing_account = account_key(self.base_url, secrets[0] if secrets else "")
        self.pacing_account = pacing_account
        self.clock = clock
        self._slept = threading.local()  # until when (by ``clock``) this thread's last sleep ran
        # Requests go straight to one keep-alive adapter (thread-safe connection pool), not through
        # requests.Session: per call, a Session re-reads proxy settings from the environment,
        # merges settings, cookies and hooks, which costs more than the HTTP exchange itself.
        # Proxies are resolved once per connection; no cookies are kept (the API authenticates
        # by header).
        self._proxies = requests.utils.get_environ_proxies(self.base_url)
        self._adapter = _Adapter(pool_size)
        self._headers = {"User-Agent": USER_AGENT, "Accept": JSON_API, "Accept-Encoding": "gzip, deflate"}
        for default in self._headers.items():
            requests.utils.check_header_validity(default)
        self._secret_bytes: tuple[tuple[str, ...], tuple[bytes, ...]] = ((), ())
        guard_logs(self)

    # -- time ---------------------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` with the injected sleep."""
        start = self.now()
        self._sleep(seconds)
        self._slept.until = start + seconds

    def now(self) -> float:
        """Epoch seconds by ``clock``, and never before the end of this thread's last sleep: an
        injected sleep that does not move the clock (a test's) still counts as time passed."""
        return max(self.clock(), getattr(self._slept, "until", 0.0))

    # -- URLs ---------------------------------------------------------------------------------

    def url_for(self, path_or_url: str) -> str:
        """An absolute URL on this connection's host; anything else is refused."""
        if not isinstance(path_or_url, str) or not path_or_url:
            raise KlaviyoError("A request path is required.", code="invalid_url")
        if _unsafe_chars(path_or_url):
            raise KlaviyoError(
                "The URL contains characters that are not allowed (spaces, control or invisible "
                "characters, or backslashes).",
                code="invalid_url",
            )
        if path_or_url.startswith("/") and not path_or_url.startswith("//"):
            # The authority is the configured one: nothing after its "/" can change the host.
            url = self.base_url + path_or_url
        elif self.on_host(path_or_url):
            url = path_or_url
        else:
            url = ""
        if url:
            if has_dot_segment(urlsplit(url).path):
                raise KlaviyoError(
                    "The URL has a '.' or '..' path segment, which would change the path it names; "
                    "write the path without it.",
                    code="invalid_url",
                )
            return url
        raise KlaviyoError(
            "Only paths (like /api/profiles) or URLs on the connection's Klaviyo host "
            f"({self.origin[0]}://{self.origin[1].rsplit(':', 1)[0]}) are allowed; refusing to send "
            "credentials elsewhere.",
            code="invalid_url",
        )

    def on_host(self, url: str) -> bool:
        """True if the absolute ``url`` has this connection's scheme, host and port.

        The standard library's parser and urllib3's (which requests connects with) must both
        agree, so no parser differential can route credentials elsewhere. The authority must
        be plain ASCII without userinfo; a malformed one (bad port, broken IPv6 literal,
        characters that NFKC-normalise into delimiters) is simply not on the host.
        """
        if _unsafe_chars(url):
            return False
        try:
            parts = urlsplit(url)
            if (
                parts.scheme.lower() not in ("http", "https")
                or not parts.netloc.isascii()
                or "@" in parts.netloc
                or "%" in parts.netloc
                or origin(url) != self.origin
            ):
                return False
            seen = parse_url(url)
            scheme = (seen.scheme or "").lower()
            port = seen.port or (443 if scheme == "https" else 80)
            host = (seen.host or "").lower().strip("[]")
            return seen.auth is None and (scheme, f"{host}:{port}") == self.origin
        except ValueError:
            return False

    def secrets(self) -> tuple[str, ...]:
        return self.auth.secrets() if self.auth else ()

    def _api_path(self, path: str) -> str:
        """The API path of a URL's ``path``: less the Base URL's own path (a proxy's prefix)."""
        prefix = self._path_prefix
        return path[len(prefix) :] if prefix and path.startswith(prefix + "/") else path

    def echoes_secret(self, content: bytes) -> bool:
        """Whether ``content`` holds one of this connection's secrets, in any encoding."""
        secrets = self.secrets()
        if not content or not secrets:
            return False
        cached = self._secret_bytes
        if cached[0] != secrets:  # tokens rotate: recompute when the secrets change
            cached = self._secret_bytes = (secrets, tuple(f.encode() for f in secret_forms(secrets)))
        for form in cached[1]:
            if form in content:
                return True
        return False

    # -- requests -----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        json_body: Any = None,
        data: Any = None,
        files: Any = None,
        headers: Mapping[str, str] | None = None,
        operation: str | None = None,
        idempotent: bool = False,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] | float | None = None,
        authorize: bool = True,
        revision: str | None = None,
        raise_for_status: bool = True,
        expect_json: bool = True,
    ) -> Response:
        """Send one logical request (with retries); return the 2xx response or raise.

        ``timeout``: a pair bounds connecting and each read; one number bounds each attempt as
        a whole (its exchange deadline), as well. Every attempt ends by the client's
        ``request_deadline`` and the current run's deadline (:func:`~.deadline.run_deadline`),
        waits included. With ``expect_json`` a 2xx body must be a JSON object (a JSON:API
        document); one that is not counts as a failed attempt.

        With ``raise_for_status=False`` a final non-2xx response (after the same retries) is
        returned instead of raised; failures without a response still raise. Every raised
        error carries ``attempts``. A failure after a write that cannot safely be repeated was
        sent has class ``outcome_unknown``.
        """
        method = method.upper()
        try:  # what is refused before sending may quote the input, a secret typed into it too
            url = self.url_for(path)
            display_path = urlsplit(url).path
            if operation is not None and not catalog.operation(operation).serves(
                method, self._api_path(display_path)
            ):
                # A defect guard: the path built from input must be the operation's own template.
                raise KlaviyoError(
                    f"Refusing to send {method} {display_path}: it is not the path of {operation}.",
                    error_class=INTERNAL,
                    code="path_mismatch",
                )
            body = encode_json(json_body) if json_body is not None else None
            per_op, budget = self._limits(timeout)
        except KlaviyoError as refused:
            raise refused.scrubbed(self.secrets()) from None
        policy = retry or self.retry
        send_headers: dict[str, str] = {"revision": revision or self.revision}
        if body is not None:
            send_headers["Content-Type"] = JSON_API
        if headers:
            for name, value in headers.items():
                if name.lower() != "authorization":  # the connection owns authorization
                    send_headers[name] = value
        repeatable = idempotent or method in SAFE_METHODS
        refreshed = False
        retries = 0
        waited = 0.0
        attempts = 0
        sent = False  # whether any attempt may have reached Klaviyo
        last: Response | None = None  # the last non-2xx response, if the last attempt got one
        while True:
            left = remaining()
            if left is not None and left <= 0:
                return self._give_up(
                    self._out_of_time(method, display_path, attempts),
                    last,
                    attempts,
                    raise_for_status,
                    sent,
                    repeatable,
                )
            # Only the first attempt is paced: a retry waits as the retry policy says (a 429's
            # Retry-After, backoff after a failure), which outlasts a burst window.
            if attempts == 0 and operation is not None and self.pacing_scale > 0:
                late = self._pace(method, display_path, operation)
                if late is not None:
                    return self._give_up(late, last, attempts, raise_for_status, sent, repeatable)
            if authorize and self.auth is not None:
                send_headers["Authorization"] = self.auth.authorization()  # may refresh a token
            if left is not None:  # pacing and a token refresh took some of it
                left = remaining()
                if left is not None and left <= 0:
                    return self._give_up(
                        self._out_of_time(method, display_path, attempts),
                        last,
                        attempts,
                        raise_for_status,
                        sent,
                        repeatable,
                    )
            attempts += 1
            started = time.perf_counter()
            exchange = budget if left is None else min(budget, left)
            limit = "what was left of the action's time limit" if exchange < budget else "the request timeout"
            status: int | None = None
            last = None
            try:
                resp = self._send(
                    method, url, params, body, data, files, send_headers, per_op, exchange, limit
                )
            except _Failed as failure:
                err, attempt_sent = failure.error(method, display_path, self.origin[1]), failure.sent
            except KlaviyoError as refused:  # an answer over the size cap, a redirect elsewhere
                refused.attempts = attempts
                if refused.status is not None and 200 <= refused.status < 300 and not repeatable:
                    refused.error_class = OUTCOME_UNKNOWN  # the write was applied; its answer is lost
                    refused.message += " The write was accepted, but its answer could not be read: check before repeating it."
                    refused.args = (refused.message,)
                raise refused.scrubbed(self.secrets()) from None
            else:
                attempt_sent = True
                status = resp.status_code
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "%s %s -> %s in %.0f ms (attempt %d)",
                        method,
                        display_path,
                        status,
                        (time.perf_counter() - started) * 1000,
                        attempts,
                    )
                got = Response(
                    status, resp.headers, resp.content, resp.url, attempts, tuple(resp.request.headers)
                )
                holder = _echoes.get()
                if holder is not None and not holder[0] and self.echoes_secret(got.content):
                    holder[0] = True
                if 200 <= status < 300:
                    shape = catalog.operation(operation).response_data if operation else None
                    problem = document_problem(got, shape) if expect_json else None
                    if problem is None:
                        return got
                    status = None  # retried like a broken exchange, where repeating is safe
                    err = KlaviyoError(
                        f"Klaviyo answered {method} {display_path} (HTTP {got.status}) with {problem}.",
                        error_class=RETRYABLE,
                        code="invalid_response",
                        status=got.status,
                        method=method,
                        path=display_path,
                    )
                else:
                    last = got
                    if status == 401 and authorize and self.auth is not None and not refreshed:
                        refreshed = True
                        if self.auth.refresh_after_unauthorized():
                            continue
                    op = catalog.operation(operation) if operation else None
                    err = from_response(
                        status,
                        resp.headers,
                        resp.content,
                        method=method,
                        path=display_path,
                        scopes=op.scopes if op else (),
                        limits=op.rate_limit.describe() if op and op.rate_limit else "",
                    )
            sent = sent or attempt_sent
            if (
                retries >= policy.max_retries
                or err.error_class == QUOTA_EXHAUSTED
                or (err.status is None and err.error_class == USER_FIXABLE)  # e.g. a certificate refused
                or not (policy.should_retry(method, status, idempotent=idempotent) or not attempt_sent)
            ):
                return self._give_up(err, last, attempts, raise_for_status, sent, repeatable)
            wait = policy.delay(retries, err.retry_after, self.random)
            if waited + wait > policy.max_total_wait:  # Retry-After is a floor: never wait less
                return self._give_up(err, last, attempts, raise_for_status, sent, repeatable)
            left = remaining()
            if left is not None and wait >= left:
                err.message += f" No retry: the wait ({wait:.1f} s) would pass the action's time limit."
                return self._give_up(err, last, attempts, raise_for_status, sent, repeatable)
            if self.on_wait is not None:
                why = _wait_reason(err, operation, self.origin[1], retries + 1, policy.max_retries)
                if self.on_wait(RetryWait(wait, why, err, attempt_sent)) is False:  # fail now instead
                    return self._give_up(err, last, attempts, raise_for_status, sent, repeatable)
            log.info("retrying %s %s after %s in %.2f s", method, display_path, status or err.code, wait)
            self.sleep(wait)
            waited += wait
            retries += 1

    def _pace(self, method: str, path: str, operation: str) -> KlaviyoError | None:
        """Wait for a slot in the operation's rate limit (see pacing.py); None, or the error to
        fail with when that wait would pass the run's deadline (then nothing was sent)."""
        tier = catalog.operation(operation).rate_limit
        if tier is None:
            return None

        def heard(seconds: float) -> None:
            log.debug("pacing %s %s: waiting %.3f s for %s", method, path, seconds, operation)
            if self.on_wait is not None:
                reason = f"Klaviyo's rate limit ({tier.describe()}) — paced before sending"
                self.on_wait(RetryWait(seconds, reason, None, False))

        try:
            self.pacing.acquire(
                self.pacing_account,
                operation,
                tier,
                scale=self.pacing_scale,
                clock=self.now,
                sleep=self.sleep,
                budget=remaining(),
                on_wait=heard,
            )
        except WaitTooLong as late:
            return KlaviyoError(
                f"The action ran out of time before {method} {path} could be sent: the wait "
                f"({late.seconds:.1f} s) for Klaviyo's rate limit ({tier.describe()}) would pass the "
                "action's time limit.",
                error_class=RETRYABLE,
                code="deadline_exceeded",
                method=method,
                path=path,
            )
        return None

    def _limits(self, timeout: tuple[float, float] | float | None) -> tuple[tuple[float, float], float]:
        """(connect and per-read timeouts, whole-exchange deadline) for one request, in seconds."""
        if timeout is None:
            return self.timeout, self.request_deadline
        if isinstance(timeout, tuple):
            return timeout, self.request_deadline
        seconds = positive_seconds(timeout, "timeout")
        return (seconds, seconds), min(seconds, self.request_deadline)

    def _out_of_time(self, method: str, path: str, attempts: int) -> KlaviyoError:
        return KlaviyoError(
            f"The action ran out of time before {method} {path} could be "
            f"{'sent again' if attempts else 'sent'} (its time limit was reached).",
            error_class=RETRYABLE,
            code="deadline_exceeded",
            method=method,
            path=path,
        )

    def _give_up(
        self,
        err: KlaviyoError,
        last: Response | None,
        attempts: int,
        raise_for_status: bool,
        sent: bool,
        repeatable: bool,
    ) -> Response:
        if last is not None and not raise_for_status:
            return last
        err.attempts = attempts
        if sent and not repeatable:
            settle_outcome(err)
        raise err.scrubbed(self.secrets())

    def _send(
        self,
        method: str,
        url: str,
        params: Any,
        body: bytes | None,
        data: Any,
        files: Any,
        headers: dict[str, str],
        per_op: tuple[float, float],
        budget: float,
        limit: str = "the request timeout",
    ) -> requests.Response:
        """One attempt: the exchange and any redirects, all within ``budget`` seconds (``limit``
        names where that bound came from, for the error). Redirects
        are followed by hand so credentials never leave the configured host."""
        watch = ExchangeWatch(time.monotonic() + budget)
        with watch:
            try:
                left = budget
                for _ in range(MAX_REDIRECTS + 1):
                    # No socket wait outlasts the exchange (the watchdog backs this up mid-read).
                    timeout = (min(per_op[0], left), min(per_op[1], left))
                    resp = self._exchange(
                        method, url, params, body if body is not None else data, files, headers, timeout
                    )
                    if watch.fired:  # its socket was shut down: a body that "ended" may be cut off
                        raise requests.ConnectionError("the exchange's deadline passed")
                    if resp.status_code not in (301, 302, 303, 307, 308) or "location" not in resp.headers:
                        return resp
                    try:
                        target = urljoin(resp.url, resp.headers["location"])
                    except ValueError:  # e.g. a netloc that NFKC-normalises into delimiters
                        target = ""
                    if not self.on_host(target):
                        raise KlaviyoError(
                            f"Klaviyo redirected {method} {urlsplit(url).path} to another host; not "
                            "following it with credentials.",
                            code="redirect_refused",
                            status=resp.status_code,
                        )
                    url, params = target, None
                    left = max(0.001, watch.at - time.monotonic())
                    if resp.status_code == 303:
                        method, body, data, files = "GET", None, None, None
            except TRANSPORT_ERRORS as exc:
                raise _Failed(exc, watch, budget, per_op, limit) from exc
        raise KlaviyoError(f"Too many redirects for {method} {urlsplit(url).path}.", code="redirect_loop")

    def _plain(self, url: str) -> bool:
        """Whether requests' prepare_url would only add the query and requote ``url``: one on
        the Base URL (lower-case scheme and host), ASCII, without a fragment, an empty query, a
        dot segment, a percent sign or brackets (which it would re-encode)."""
        return (
            self._plain_base is not None
            and url.startswith(self._plain_base)
            and url.isascii()
            and not url.endswith("?")  # an empty query, which requests drops
            and "/." not in url  # a dot segment, which it would remove
            and not any(c in url for c in "%#[]")
        )

    def _checked_headers(self, merged: Mapping[str, Any]) -> CaseInsensitiveDict[Any]:
        """The headers as requests' ``prepare_headers`` makes them (each checked: no CR or LF,
        no leading whitespace; keyed case-insensitively), except that the client's own default
        values, checked when it was made, are not checked again on every request."""
        headers: CaseInsensitiveDict[Any] = CaseInsensitiveDict()
        defaults = self._headers
        for name, value in merged.items():
            if defaults.get(name) is not value:
                requests.utils.check_header_validity((name, value))
                name = requests.utils.to_native_string(name)
            headers[name] = value
        return headers

    def get(self, path: str, **kwargs: Any) -> Response:
        return self.request("GET", path, **kwargs)

    def _exchange(
        self,
        method: str,
        url: str,
        params: Any,
        data: Any,
        files: Any,
        headers: Mapping[str, str | None],
        timeout: tuple[float, float],
    ) -> requests.Response:
        """One HTTP exchange, prepared the way requests.Session would with ``trust_env`` off."""
        # prepare_headers keys case-insensitively, so a per-call "accept" replaces the default.
        merged = {**self._headers, **headers}
        if None in merged.values():  # None removes a header, defaults included (as in requests)
            drop = {name.lower() for name, value in headers.items() if value is None}
            merged = {name: value for name, value in merged.items() if name.lower() not in drop}
        prep = requests.PreparedRequest()
        prep.prepare_method(method)
        if self._plain(url):
            prep.url = plain_url(url, params)
        else:
            prep.prepare_url(url, params or None)  # None skips encoding nothing, which is slow
        prep.headers = self._checked_headers(merged)
        prep.prepare_body(data, files)
        resp = self._adapter.send(
            prep, stream=True, timeout=timeout, verify=True, cert=None, proxies=self._proxies
        )
        # Read the whole body now (it returns the connection to the pool), within the size cap.
        resp._content = read_capped(resp, self.max_response_bytes, method, url)
        resp._content_consumed = True
        return resp

    def close(self) -> None:
        self._adapter.close()
        if self._own_pacing:
            self.pacing.close()


def plain_url(url: str, params: Any) -> str:
    """``url`` with ``params`` as its query, written as requests' ``prepare_url`` writes a URL
    that :meth:`KlaviyoClient._plain` accepts: parsing and re-assembling it changes nothing, so
    this skips them (about a tenth of a call's CPU)."""
    # requests' own encoding of params (dict or pairs; None dropped, lists repeated).
    query = requests.models.RequestEncodingMixin._encode_params(params) if params else ""
    if query:
        url = f"{url}&{query}" if "?" in url else f"{url}?{query}"
    return requests.utils.requote_uri(url)


# -- reading and judging responses ------------------------------------------------------------------

READ_CHUNK = 64 * 1024


def read_capped(resp: requests.Response, cap: int, method: str, url: str) -> bytes:
    """The whole (decoded) body of ``resp``, refusing more than ``cap`` bytes."""
    # A HEAD's, 204's or 304's Content-Length describes a body that is not sent.
    bodiless = method == "HEAD" or resp.status_code in (204, 304)
    declared = "" if bodiless else resp.headers.get("content-length", "")
    size = 0
    chunks: list[bytes] = []
    if not (declared.isdigit() and int(declared) > cap):
        for chunk in resp.iter_content(READ_CHUNK):
            size += len(chunk)
            if size > cap:
                break
            chunks.append(chunk)
        else:
            return b"".join(chunks)
    resp.close()  # the rest is never read: the connection is dropped, not pooled
    path = urlsplit(url).path
    raise KlaviyoError(
        f"Klaviyo's response to {method} {path} (HTTP {resp.status_code}) is larger than the "
        f"{cap:,} byte limit; ask for less (a smaller page size, fewer fields) or raise the "
        "connection's Max Response Size.",
        error_class=USER_FIXABLE,
        code="response_too_large",
        status=resp.status_code,
        method=method,
        path=path,
    )


def document_problem(resp: Response, shape: str | None = None) -> str | None:
    """What is wrong with a 2xx body that should be a JSON:API document, or None.

    ``shape`` is the operation's ``response_data`` from the catalog ("one", "many" or None):
    the document's data must then be a resource object (or null), or an array of them.
    """
    if not resp.content:
        # The spec gives every 2xx of an operation a document, or none of them one.
        return "an empty body where a document was due" if shape else None
    if resp.content.lstrip()[:1] == b"<":  # a login page or proxy portal, not an API
        return "an HTML page where a JSON:API document was due; check that the Base URL is Klaviyo's API"
    try:
        doc = resp.json()
    except (ValueError, RecursionError):
        return "a body that is not valid JSON"
    if not isinstance(doc, dict):
        return "a JSON body that is not an object (a JSON:API document is one)"
    if "errors" in doc:
        return "an error document"
    data = doc.get("data")
    if shape == "one" and data is not None and not _is_resource(data):
        return "a document whose data is not a resource object"
    if shape == "many" and not (isinstance(data, list) and all(_is_resource(r) for r in data)):
        return "a document whose data is not an array of resource objects"
    if shape is None and "data" in doc and not isinstance(data, (dict, list, type(None))):
        return "a document whose data is neither a resource, a list nor null"
    return None


def _is_resource(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("type"), str)


def may_have_applied(err: KlaviyoError) -> bool:
    """Whether a failed attempt could have taken effect: broken exchanges, timeouts, garbled
    2xx bodies and 5xx. A 429 or 408 was not processed; 4xx were refused."""
    status = err.status
    return err.error_class == RETRYABLE and (status is None or status >= 500 or 200 <= status < 300)


def settle_outcome(err: KlaviyoError) -> KlaviyoError:
    """For a write that was sent and cannot safely be repeated: a failure that may have taken
    effect becomes ``outcome_unknown`` (in place), saying so."""
    if may_have_applied(err):
        err.error_class = OUTCOME_UNKNOWN
        err.message += " The request was sent, so Klaviyo may have applied it: check before repeating it."
        err.args = (err.message,)
    return err


# Failures of the exchange itself (not HTTP answers): the network, TLS, the framing or encoding
# of the response, a deadline's watchdog shutting the socket.
TRANSPORT_ERRORS = (requests.RequestException, Urllib3Error, http.client.HTTPException, OSError)


class _Failed(Exception):
    """An attempt that ended without an HTTP answer; :meth:`error` says what happened."""

    def __init__(
        self,
        cause: BaseException,
        watch: ExchangeWatch,
        budget: float,
        per_op: tuple[float, float],
        limit: str,
    ) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause
        self.fired = watch.fired
        self.budget = budget
        self.per_op = per_op
        self.limit = limit

    @property
    def sent(self) -> bool:
        """False when the request never left: the connection itself could not be made."""
        cause = self.cause
        if isinstance(
            cause, (requests.ConnectTimeout, requests.exceptions.SSLError, requests.exceptions.ProxyError)
        ):
            return False
        reason = getattr(cause.args[0], "reason", None) if cause.args else None
        return not isinstance(cause, requests.ConnectionError) or not isinstance(reason, NewConnectionError)

    def error(self, method: str, path: str, host: str) -> KlaviyoError:
        cause = self.cause
        where = f"{method} {path}"
        # requests reports a read that timed out mid-body as a ConnectionError around urllib3's
        # ReadTimeoutError; it is a read timeout all the same.
        timed_out = isinstance(cause, requests.Timeout) or _in_chain(cause, ReadTimeoutError) is not None
        # A socket timeout clamped to the exchange's bound is that bound running out.
        clamped = timed_out and self.budget < (
            self.per_op[0] if isinstance(cause, requests.ConnectTimeout) else self.per_op[1]
        )
        if self.fired or clamped:
            return network_error(
                cause,
                method=method,
                path=path,
                code="timeout",
                said=f"The request to Klaviyo ({where}) did not finish within {shown_seconds(self.budget)} s "
                f"({self.limit}).",
            )
        if isinstance(cause, requests.ConnectTimeout):
            said = (
                f"Connecting to {host} took longer than {shown_seconds(self.per_op[0])} s (the connect timeout) "
                f"({where}); nothing was sent."
            )
            return network_error(cause, method=method, path=path, code="timeout", said=said)
        if timed_out:
            said = f"Klaviyo sent nothing for {shown_seconds(self.per_op[1])} s (the read timeout) during {where}."
            return network_error(cause, method=method, path=path, code="timeout", said=said)
        tls = _in_chain(cause, ssl.SSLError)
        if tls is not None:
            return _tls_error(tls, method=method, path=path, host=host)
        if not self.sent:
            said = f"Could not connect to {host} ({where}); nothing was sent."
            return network_error(cause, method=method, path=path, code="connection_error", said=said)
        if isinstance(
            cause, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
        ):
            said = f"Klaviyo's response to {where} was cut off or garbled in transit."
            return network_error(cause, method=method, path=path, code="transport_error", said=said)
        malformed = _malformed_head(cause)
        if malformed is not None:
            said = f"Klaviyo's response to {where} had a malformed head ({type(malformed).__name__}: {malformed})."
            return network_error(cause, method=method, path=path, code="transport_error", said=said)
        said = f"The connection to {host} failed during {where}."
        return network_error(cause, method=method, path=path, code="connection_error", said=said)


_E = TypeVar("_E", bound=BaseException)


def _in_chain(cause: BaseException, kind: type[_E]) -> _E | None:
    """The first exception of ``kind`` behind ``cause`` (wrapped by urllib3 and requests in
    args, reasons and causes), or None."""
    seen: list[Any] = [cause]
    for _ in range(6):
        nxt: list[Any] = []
        for exc in seen:
            if isinstance(exc, kind):
                return exc
            nxt.extend(a for a in getattr(exc, "args", ()) if isinstance(a, BaseException))
            for link in (getattr(exc, "reason", None), getattr(exc, "__cause__", None)):
                if isinstance(link, BaseException):
                    nxt.append(link)
        seen = nxt
    return None


def _malformed_head(cause: BaseException) -> http.client.HTTPException | None:
    """http.client's complaint about a response's status line or header fields (too long, too
    many, conflicting lengths), as against the connection closing before any answer."""
    found = _in_chain(cause, http.client.HTTPException)
    if found is None or isinstance(found, (http.client.RemoteDisconnected, http.client.IncompleteRead)):
        return None
    return found


def _tls_error(exc: ssl.SSLError, *, method: str, path: str, host: str) -> KlaviyoError:
    """A TLS handshake that failed: nothing was sent. A certificate that does not verify, or a
    server that does not speak TLS, fails the same way every time (user_fixable); a handshake
    cut off midway may not (retryable)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        why = f"its certificate was refused ({exc.verify_message or exc.reason})"
        hint = (
            "Check the Base URL's host; the certificate must be valid for it and issued by an "
            "authority in certifi's CA bundle."
        )
        lasting = True
    elif exc.reason in ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "HTTP_REQUEST"):
        why = "the server does not speak TLS there"
        hint = "Check the Base URL: an https:// URL needs a TLS server on that port (is it http://?)."
        lasting = True
    else:
        why = f"the handshake failed ({exc.reason or type(exc).__name__})"
        hint = ""
        lasting = False
    return KlaviyoError(
        f"Could not open a TLS connection to {host} ({method} {path}): {why}; nothing was sent."
        + (f" {hint}" if hint else ""),
        error_class=USER_FIXABLE if lasting else RETRYABLE,
        code="tls_error",
        method=method,
        path=path,
    )
