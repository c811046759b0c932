"""The HTTP core: one client per connection over a keep-alive connection pool (requests' adapter).

Every request, curated or raw, goes through :meth:`KlaviyoClient.request`: it adds the pinned
revision, JSON:API content negotiation, the User-Agent and the connection's authorization,
applies timeouts and the retry policy, refuses to send credentials to any other host, and
turns every failure into a :class:`~klaviyo_connector.errors.KlaviyoError`.
"""

from __future__ import annotations

import json
import logging
import random as _random
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.util import parse_url

from . import catalog
from .errors import INTERNAL, QUOTA_EXHAUSTED, KlaviyoError, from_response, network_error
from .paths import has_dot_segment
from .retry import RetryPolicy
from .revision import REVISION
from .version import USER_AGENT

DEFAULT_BASE_URL = "https://a.klaviyo.com"
JSON_API = "application/vnd.api+json"
DEFAULT_TIMEOUT = (10.0, 60.0)  # connect, read (seconds)
MAX_REDIRECTS = 5

log = logging.getLogger("klaviyo_connector.http")

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
        return json.loads(self.content) if self.content else None

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


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


def encode_json(body: Any) -> bytes:
    return json.dumps(body, default=json_default, separators=(",", ":"), ensure_ascii=False).encode()


class _Adapter(HTTPAdapter):
    """requests' adapter, minus two per-call costs a client bound to one origin never needs."""

    _pool: Any = None

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
            pool = self._pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
        return pool

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        # As requests builds it, without parsing Set-Cookie into a jar: no cookies are kept.
        response = requests.Response()
        response.status_code = getattr(resp, "status", None)  # type: ignore[assignment]
        response.headers = CaseInsensitiveDict(getattr(resp, "headers", {}))
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url.decode("utf-8") if isinstance(req.url, bytes) else req.url
        response.request = req
        response.connection = self
        return response

    def close(self) -> None:
        self._pool = None
        super().close()


class KlaviyoClient:
    """A connection's HTTP client. Thread-safe: one instance serves many concurrent calls."""

    def __init__(
        self,
        auth: Auth | None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        revision: str = REVISION,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        pool_size: int = 16,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise KlaviyoError(f"Base URL must be an http(s) URL with a host, got {base_url!r}.")
        self.auth = auth
        self.base_url = base_url.rstrip("/")
        self.origin = origin(self.base_url)
        self.revision = revision
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.random = random
        # Requests go straight to one keep-alive adapter (thread-safe connection pool), not through
        # requests.Session: per call, a Session re-reads proxy settings from the environment,
        # merges settings, cookies and hooks, which costs more than the HTTP exchange itself.
        # Proxies are resolved once per connection; no cookies are kept (the API authenticates
        # by header).
        self._proxies = requests.utils.get_environ_proxies(self.base_url)
        self._adapter = _Adapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
        self._headers = {"User-Agent": USER_AGENT, "Accept": JSON_API, "Accept-Encoding": "gzip, deflate"}

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
    ) -> Response:
        """Send one logical request (with retries); return the 2xx response or raise.

        With ``raise_for_status=False`` a final non-2xx response (after the same retries) is
        returned instead of raised; failures without a response still raise. Every raised
        error carries ``attempts``.
        """
        method = method.upper()
        url = self.url_for(path)
        if operation is not None and not catalog.operation(operation).serves(method, urlsplit(url).path):
            # A defect guard: the path built from input must be the operation's own template.
            raise KlaviyoError(
                f"Refusing to send {method} {urlsplit(url).path}: it is not the path of {operation}.",
                error_class=INTERNAL,
                code="path_mismatch",
            )
        policy = retry or self.retry
        send_headers: dict[str, str] = {"revision": revision or self.revision}
        body: bytes | None = None
        if json_body is not None:
            body = encode_json(json_body)
            send_headers["Content-Type"] = JSON_API
        if headers:
            for name, value in headers.items():
                if name.lower() != "authorization":  # the connection owns authorization
                    send_headers[name] = value
        display_path = urlsplit(url).path
        refreshed = False
        retries = 0
        waited = 0.0
        attempts = 0
        last: Response | None = None  # the last non-2xx response, if the last attempt got one
        while True:
            if authorize and self.auth is not None:
                send_headers["Authorization"] = self.auth.authorization()
            attempts += 1
            started = time.perf_counter()
            try:
                resp = self._send(method, url, params, body, data, files, send_headers, timeout)
            except requests.Timeout as exc:
                err = network_error(exc, method=method, path=display_path, timeout=True)
                status, last = None, None
            except requests.ConnectionError as exc:
                err = network_error(exc, method=method, path=display_path, timeout=False)
                status, last = None, None
            else:
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
                last = Response(
                    status, resp.headers, resp.content, resp.url, attempts, tuple(resp.request.headers)
                )
                if 200 <= status < 300:
                    return last
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
            if (
                retries >= policy.max_retries
                or err.error_class == QUOTA_EXHAUSTED
                or not policy.should_retry(method, status, idempotent=idempotent)
            ):
                return self._give_up(err, last, attempts, raise_for_status)
            wait = policy.delay(retries, err.retry_after, self.random)
            if waited + wait > policy.max_total_wait:  # Retry-After is a floor: never wait less
                return self._give_up(err, last, attempts, raise_for_status)
            log.info("retrying %s %s after %s in %.2f s", method, display_path, status or err.code, wait)
            self.sleep(wait)
            waited += wait
            retries += 1

    def _give_up(
        self, err: KlaviyoError, last: Response | None, attempts: int, raise_for_status: bool
    ) -> Response:
        if last is not None and not raise_for_status:
            return last
        err.attempts = attempts
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
        timeout: tuple[float, float] | float | None,
    ) -> requests.Response:
        # Redirects are followed by hand so credentials never leave the configured host.
        for _ in range(MAX_REDIRECTS + 1):
            resp = self._exchange(
                method, url, params, body if body is not None else data, files, headers, timeout
            )
            if resp.status_code not in (301, 302, 303, 307, 308) or "location" not in resp.headers:
                return resp
            try:
                target = urljoin(resp.url, resp.headers["location"])
            except ValueError:  # e.g. a netloc that NFKC-normalises into delimiters
                target = ""
            if not self.on_host(target):
                raise KlaviyoError(
                    f"Klaviyo redirected {method} {urlsplit(url).path} to another host; not following it "
                    "with credentials.",
                    code="redirect_refused",
                    status=resp.status_code,
                )
            url, params = target, None
            if resp.status_code == 303:
                method, body, data, files = "GET", None, None, None
        raise KlaviyoError(f"Too many redirects for {method} {urlsplit(url).path}.", code="redirect_loop")

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
        timeout: tuple[float, float] | float | None,
    ) -> requests.Response:
        """One HTTP exchange, prepared the way requests.Session would with ``trust_env`` off."""
        # prepare_headers keys case-insensitively, so a per-call "accept" replaces the default.
        merged = {**self._headers, **headers}
        if None in merged.values():  # None removes a header, defaults included (as in requests)
            drop = {name.lower() for name, value in headers.items() if value is None}
            merged = {name: value for name, value in merged.items() if name.lower() not in drop}
        prep = requests.PreparedRequest()
        prep.prepare_method(method)
        prep.prepare_url(url, params or None)  # None skips encoding nothing, which is slow
        prep.prepare_headers(merged)
        prep.prepare_body(data, files)
        resp = self._adapter.send(
            prep, stream=False, timeout=timeout or self.timeout, verify=True, cert=None, proxies=self._proxies
        )
        resp.content  # noqa: B018  read the body now: it returns the connection to the pool
        return resp

    def close(self) -> None:
        self._adapter.close()
