"""The HTTP core: one client per connection over a keep-alive ``requests.Session``.

Every request, curated or raw, goes through :meth:`KlaviyoClient.request`: it adds the pinned
revision, JSON:API content negotiation, the User-Agent and the connection's authorization,
applies timeouts and the retry policy, refuses to send credentials to any other host, and
turns every failure into a :class:`~klaviyo_connector.errors.KlaviyoError`.
"""

from __future__ import annotations

import json
import logging
import random as _random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter

from . import catalog
from .errors import QUOTA_EXHAUSTED, KlaviyoError, from_response, network_error
from .redact import redact
from .retry import RetryPolicy
from .revision import REVISION
from .version import USER_AGENT

DEFAULT_BASE_URL = "https://a.klaviyo.com"
JSON_API = "application/vnd.api+json"
DEFAULT_TIMEOUT = (10.0, 60.0)  # connect, read (seconds)
MAX_REDIRECTS = 5

log = logging.getLogger("klaviyo_connector.http")


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
        session = requests.Session()
        # requests re-reads proxy settings from the environment on every call, which costs
        # more than the rest of the call; resolve them once per connection instead.
        proxies = requests.utils.get_environ_proxies(self.base_url)
        session.trust_env = False
        session.proxies.update(proxies)
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.headers.clear()
        session.headers.update(
            {"User-Agent": USER_AGENT, "Accept": JSON_API, "Accept-Encoding": "gzip, deflate"}
        )
        self.session = session
        self._lock = threading.Lock()

    # -- URLs ---------------------------------------------------------------------------------

    def url_for(self, path_or_url: str) -> str:
        """An absolute URL on this connection's host; anything else is refused."""
        if not isinstance(path_or_url, str) or not path_or_url:
            raise KlaviyoError("A request path is required.", code="invalid_url")
        if "\\" in path_or_url or any(ord(c) < 0x21 or ord(c) == 0x7F for c in path_or_url):
            raise KlaviyoError("The URL contains characters that are not allowed.", code="invalid_url")
        if path_or_url.startswith("/") and not path_or_url.startswith("//"):
            return self.base_url + path_or_url
        parts = urlsplit(path_or_url)
        if parts.scheme in ("http", "https") and parts.netloc and "@" not in parts.netloc:
            if origin(path_or_url) == self.origin:
                return path_or_url
        raise KlaviyoError(
            "Only paths (like /api/profiles) or URLs on the connection's Klaviyo host "
            f"({self.origin[0]}://{self.origin[1].rsplit(':', 1)[0]}) are allowed; refusing to send "
            "credentials elsewhere.",
            code="invalid_url",
        )

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
    ) -> Response:
        """Send one logical request (with retries); return the 2xx response or raise."""
        method = method.upper()
        url = self.url_for(path)
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
        while True:
            if authorize and self.auth is not None:
                send_headers["Authorization"] = self.auth.authorization()
            attempts += 1
            started = time.perf_counter()
            try:
                resp = self._send(method, url, params, body, data, files, send_headers, timeout)
            except requests.Timeout as exc:
                err = network_error(exc, method=method, path=display_path, timeout=True)
                status = None
            except requests.ConnectionError as exc:
                err = network_error(exc, method=method, path=display_path, timeout=False)
                status = None
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
                if 200 <= status < 300:
                    return Response(status, resp.headers, resp.content, resp.url, attempts)
                if status == 401 and authorize and self.auth is not None and not refreshed:
                    refreshed = True
                    if self.auth.refresh_after_unauthorized():
                        continue
                scopes = catalog.operation(operation).scopes if operation else ()
                err = from_response(
                    status, resp.headers, resp.content, method=method, path=display_path, scopes=scopes
                )
            if (
                retries >= policy.max_retries
                or err.error_class == QUOTA_EXHAUSTED
                or not policy.should_retry(method, status, idempotent=idempotent)
            ):
                raise err.scrubbed(self.secrets())
            wait = policy.delay(retries, err.retry_after, self.random)
            if waited + wait > policy.max_total_wait:
                raise err.scrubbed(self.secrets())
            log.info("retrying %s %s after %s in %.2f s", method, display_path, status or err.code, wait)
            self.sleep(wait)
            waited += wait
            retries += 1

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
            resp = self.session.request(
                method,
                url,
                params=params,
                data=body if body is not None else data,
                files=files,
                headers=headers,
                timeout=timeout or self.timeout,
                allow_redirects=False,
            )
            if resp.status_code not in (301, 302, 303, 307, 308) or "location" not in resp.headers:
                return resp
            target = urljoin(resp.url, resp.headers["location"])
            if origin(target) != self.origin:
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

    def close(self) -> None:
        self.session.close()


def safe_repr(text: str, secrets: Iterable[str]) -> str:
    return redact(text, tuple(secrets))
