"""Scrubbing of credentials from any text that may reach a user, a log or a host."""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "[REDACTED]"
# The shortest head or tail of a long secret that is masked on its own.
FRAGMENT = 12

# Shapes that are secret wherever they appear, even when we were never told the value.
_PATTERNS = re.compile(
    r"(pk_[A-Za-z0-9_\-]{4,})"
    # A scheme then something credential-shaped (8+ token characters): "Basic auth)" is prose.
    r"|((?:Klaviyo-API-Key|Bearer|Basic)\s+)[A-Za-z0-9._~+/=-]{8,}"
    # A credential's name then a value long enough to be one: "apiKey: is not an input" is prose.
    r"|((?:access_token|refresh_token|client_secret|code_verifier|api_key|apiKey|password)"
    r"[\"']?\s*[=:]\s*[\"']?)[^\s&,;\"']{12,}",
    re.IGNORECASE,
)


def _mask(match: re.Match[str]) -> str:
    if match.group(1):
        return MASK
    prefix = match.group(2) or match.group(3) or ""
    return prefix + MASK


def secret_forms(secrets: Iterable[str]) -> tuple[str, ...]:
    """Each secret as it may appear on the wire or in an echo: as is, URL-encoded, base64
    (standard and URL-safe, with and without padding), and the first and last FRAGMENT
    characters of a long one. Longest first, so a longer form is masked before a shorter one
    inside it."""
    forms: set[str] = set()
    for secret in secrets:
        if not secret or len(secret) < 4:
            continue
        raw = secret.encode()
        b64 = base64.b64encode(raw).decode()
        urlsafe = base64.urlsafe_b64encode(raw).decode()
        forms.update({secret, quote(secret, safe=""), quote_plus(secret), b64, urlsafe})
        forms.update({b64.rstrip("="), urlsafe.rstrip("=")})
        if len(secret) >= 2 * FRAGMENT:  # a server echoing a masked key shows its head or tail
            forms.update({secret[:FRAGMENT], secret[-FRAGMENT:]})
    return tuple(sorted((f for f in forms if len(f) >= 4), key=len, reverse=True))


def redact(text: str, secrets: Iterable[str] = (), *, expand: bool = True) -> str:
    """Replace every known secret (in any encoding, see :func:`secret_forms`) and every
    secret-shaped token in ``text``. ``expand=False`` takes ``secrets`` as already expanded."""
    for form in secret_forms(secrets) if expand else secrets:
        if form in text:
            text = text.replace(form, MASK)
    return _PATTERNS.sub(_mask, text)


def redact_json(value: Any, secrets: Iterable[str] = (), *, expand: bool = True) -> Any:
    """A JSON-like value with every string in it (keys included) scrubbed by :func:`redact`."""
    forms = secret_forms(secrets) if expand else tuple(secrets)
    if isinstance(value, str):
        return redact(value, forms, expand=False)
    if isinstance(value, dict):
        return {
            redact(str(k), forms, expand=False): redact_json(v, forms, expand=False) for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_json(v, forms, expand=False) for v in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    return redact(json.dumps(value, default=str), forms, expand=False)


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """A copy of ``headers`` safe to log: credentials and cookies masked."""
    sensitive = {"authorization", "cookie", "set-cookie", "proxy-authorization"}
    return {k: (MASK if k.lower() in sensitive else redact(str(v))) for k, v in headers.items()}


# -- logging -----------------------------------------------------------------------------------------

# The loggers a connector request passes through. urllib3 logs each request line at DEBUG;
# a secret a user put in a URL must not reach a host's log handlers through it.
# A logger's filters see only its own records (not its children's), so each is named.
LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.response",
    "urllib3.util.retry",
    "klaviyo_connector.http",
    "klaviyo_connector.pool",
    "klaviyo_connector.raw",
    "klaviyo_connector.action",
    "klaviyo_connector.oauth2",
)


class SecretFilter(logging.Filter):
    """Rewrites each record's message with every live connection's secrets masked."""

    def __init__(self) -> None:
        super().__init__()
        self._sources: weakref.WeakSet[Any] = weakref.WeakSet()

    def watch(self, source: Any) -> None:
        """``source`` has a ``secrets()`` method; it is consulted while it is alive."""
        self._sources.add(source)

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = [s for source in list(self._sources) for s in _call(source.secrets)]
        text = record.getMessage()
        clean = redact(text, secrets)
        if clean != text:
            record.msg, record.args = clean, ()
        return True


def _call(fn: Callable[[], Iterable[str]]) -> Iterable[str]:
    try:
        return tuple(fn())
    except Exception:  # a half-built or closed source has nothing to add
        return ()


_filter: SecretFilter | None = None
_filter_lock = threading.Lock()


def guard_logs(source: Any) -> None:
    """Scrub ``source.secrets()`` from every record of :data:`LOGGERS` (installed once)."""
    global _filter
    if _filter is None:
        with _filter_lock:
            if _filter is None:
                installed = SecretFilter()
                for name in LOGGERS:
                    logging.getLogger(name).addFilter(installed)
                _filter = installed
    _filter.watch(source)
