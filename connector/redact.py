"""Scrubbing of credentials from any text that may reach a user, a log or a host."""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "[REDACTED]"

# Shapes that are secret wherever they appear, even when we were never told the value.
_PATTERNS = re.compile(
    r"(pk_[A-Za-z0-9_\-]{4,})"
    r"|((?:Klaviyo-API-Key|Bearer|Basic)\s+)[^\s,;\"']+"
    r"|((?:access_token|refresh_token|client_secret|code_verifier|api_key|apiKey|password)"
    r"[\"']?\s*[=:]\s*[\"']?)[^\s&,;\"']+",
    re.IGNORECASE,
)


def _mask(match: re.Match[str]) -> str:
    if match.group(1):
        return MASK
    prefix = match.group(2) or match.group(3) or ""
    return prefix + MASK


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace every known secret and every secret-shaped token in ``text``."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, MASK)
    return _PATTERNS.sub(_mask, text)


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    """A copy of ``headers`` safe to log: credentials and cookies masked."""
    sensitive = {"authorization", "cookie", "set-cookie", "proxy-authorization"}
    return {k: (MASK if k.lower() in sensitive else redact(str(v))) for k, v in headers.items()}
