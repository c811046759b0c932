"""Klaviyo's webhook signature scheme: sign a delivery (the sandbox) and verify one (triggers).

Source: Klaviyo's "Working with system webhooks" guide. Each delivery is a POST with a JSON body
``{"data": [{"topic", "external_id", "payload"}], "meta": {"klaviyo_account_id",
"klaviyo_webhook_id", "timestamp"}}`` and three headers: ``Klaviyo-Webhook-Id`` (must equal
``meta.klaviyo_webhook_id``), ``Klaviyo-Timestamp`` (when it was sent, an HTTP date such as
``Tue, 14 Apr 2026 03:50:12 GMT``) and ``Klaviyo-Signature``: the hex HMAC-SHA256, keyed with the
webhook's ``secret_key``, of the raw body bytes followed by the timestamp header's bytes.

Only the standard library is used (hmac, hashlib, email.utils), so verifying stays cheap.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

from .errors import KlaviyoError

WEBHOOK_ID_HEADER = "Klaviyo-Webhook-Id"
SIGNATURE_HEADER = "Klaviyo-Signature"
TIMESTAMP_HEADER = "Klaviyo-Timestamp"
# A delivery older (or newer) than this, in seconds, is refused as a possible replay.
REPLAY_WINDOW = 300.0
# Klaviyo's minimum secret length for a webhook (create_webhook refuses shorter ones).
MIN_SECRET_LENGTH = 16


def http_date(moment: float) -> str:
    """``moment`` (epoch seconds) as the Klaviyo-Timestamp header writes it (RFC 9110 IMF-fixdate)."""
    return format_datetime(datetime.fromtimestamp(moment, tz=timezone.utc), usegmt=True)


def signature(secret: str, body: bytes, timestamp: str) -> str:
    """The ``Klaviyo-Signature`` value: hex HMAC-SHA256 of ``body + timestamp`` keyed with ``secret``."""
    return hmac.new(secret.encode("utf-8"), body + timestamp.encode("utf-8"), hashlib.sha256).hexdigest()


def signed_headers(secret: str, body: bytes, webhook_id: str, moment: float) -> dict[str, str]:
    """The headers of one delivery sent at ``moment`` (epoch seconds)."""
    stamp = http_date(moment)
    return {
        "Content-Type": "application/json",
        WEBHOOK_ID_HEADER: webhook_id,
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: signature(secret, body, stamp),
    }


def request_parts(body: Any, headers: Any) -> tuple[bytes, dict[str, str]]:
    """A delivery's body and headers as hosts' web frameworks hand them over, normalized.

    ``body``: bytes, bytearray or memoryview (the raw body; a ``str`` is taken as its UTF-8
    text). ``headers``: a mapping, or pairs such as ASGI's ``[(b"klaviyo-signature", b"...")]``;
    bytes are decoded as Latin-1, as HTTP headers are. Anything else is a ``user_fixable``
    KlaviyoError naming what was given.
    """
    if isinstance(body, (bytes, bytearray, memoryview)):
        raw = bytes(body)
    elif isinstance(body, str):
        raw = body.encode("utf-8")
    else:
        raise KlaviyoError(
            f"The webhook body must be the raw request body (bytes), not {type(body).__name__}.",
            code="invalid_input",
            error_class="user_fixable",
        )
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    try:
        named = {_text(key): _text(value) for key, value in pairs}
    except (TypeError, ValueError):
        raise KlaviyoError(
            "The webhook headers must be a mapping or (name, value) pairs of the request's headers.",
            code="invalid_input",
            error_class="user_fixable",
        ) from None
    return raw, named


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("latin-1")
    if isinstance(value, str):
        return value
    raise TypeError(type(value).__name__)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _refused(reason: str) -> KlaviyoError:
    return KlaviyoError(
        f"Webhook delivery refused: {reason}.", status=401, code="webhook_refused", error_class="user_fixable"
    )


def _sent_at(stamp: str) -> float:
    """Epoch seconds of a Klaviyo-Timestamp: an HTTP date, or an ISO-8601 date-time with an offset."""
    try:
        when = parsedate_to_datetime(stamp)
    except (TypeError, ValueError):
        try:
            when = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
        except ValueError:
            raise _refused("the Klaviyo-Timestamp header is not a date") from None
    if when.tzinfo is None:
        raise _refused("the Klaviyo-Timestamp header has no time zone")
    return when.timestamp()


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secret: str,
    *,
    now: float,
    window: float = REPLAY_WINDOW,
) -> dict[str, Any]:
    """The delivery's JSON document once its signature, age and webhook ID check out.

    ``body`` is the raw request body (never re-serialised JSON); ``now`` is epoch seconds.
    Raises KlaviyoError (``code="webhook_refused"``, status 401) for a missing header, a signature
    that does not match (a tampered body or timestamp, or another secret), a timestamp more than
    ``window`` seconds from ``now`` (a replay), a body that is not a delivery, or a
    ``meta.klaviyo_webhook_id`` that differs from the Klaviyo-Webhook-Id header.
    """
    given = _header(headers, SIGNATURE_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    webhook_id = _header(headers, WEBHOOK_ID_HEADER)
    missing = [
        name
        for name, value in (
            (SIGNATURE_HEADER, given),
            (TIMESTAMP_HEADER, stamp),
            (WEBHOOK_ID_HEADER, webhook_id),
        )
        if not value
    ]
    if missing:
        raise _refused(f"the {' and '.join(missing)} header{'s are' if len(missing) > 1 else ' is'} missing")
    assert given is not None and stamp is not None
    if not hmac.compare_digest(signature(secret, body, stamp), given.strip().lower()):
        raise _refused("the signature does not match the body and timestamp (tampered, or another secret)")
    age = now - _sent_at(stamp)
    if abs(age) > window:
        raise _refused(
            f"it was signed {abs(age):.0f} s {'ago' if age > 0 else 'ahead'}, outside the {window:.0f} s "
            "replay window"
        )
    try:
        doc = json.loads(body)
    except ValueError:
        raise _refused("the body is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise _refused('the body is not a delivery ({"data": [...], "meta": {...}})')
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    if meta.get("klaviyo_webhook_id") != webhook_id:
        raise _refused("meta.klaviyo_webhook_id differs from the Klaviyo-Webhook-Id header")
    return doc
