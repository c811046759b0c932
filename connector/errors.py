"""The connector's one error type, parsed from Klaviyo's ``errors[]`` and classified for hosts."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from .redact import redact, redact_headers, redact_json, secret_forms

# Error classes: what a host (or person) should do about the failure.
RETRYABLE = "retryable"  # try again later: the call had no effect, or repeating it is safe
OUTCOME_UNKNOWN = "outcome_unknown"  # a write was sent and may have been applied: check before repeating
USER_FIXABLE = "user_fixable"  # the input, the key's scopes or the account must change
REAUTH_REQUIRED = "reauth_required"  # the credential is invalid or revoked: reconnect
QUOTA_EXHAUSTED = "quota_exhausted"  # a daily or long quota: waiting seconds won't help
EDGE_BLOCKED = "edge_blocked"  # Klaviyo's edge (Cloudflare) blocked the request, not the API
UPGRADE_NEEDED = "upgrade_needed"  # the pinned API revision is retired: upgrade the connector
INTERNAL = "internal"  # a defect in the connector itself; report it

ERROR_CLASSES = (
    RETRYABLE,
    OUTCOME_UNKNOWN,
    USER_FIXABLE,
    REAUTH_REQUIRED,
    QUOTA_EXHAUSTED,
    EDGE_BLOCKED,
    UPGRADE_NEEDED,
    INTERNAL,
)

# A 429 asking us to wait longer than this is a long (daily) quota, not a burst.
LONG_QUOTA_SECONDS = 300.0
# Longer Retry-After values are read as this: still a long quota, and a number JSON can carry.
MAX_RETRY_AFTER = 86_400.0


class KlaviyoError(Exception):
    """Every failure the connector reports: bad input, HTTP errors, network errors."""

    def __init__(
        self,
        message: str,
        *,
        error_class: str = USER_FIXABLE,
        status: int | None = None,
        code: str | None = None,
        title: str | None = None,
        detail: str | None = None,
        source: Mapping[str, Any] | None = None,
        error_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        field: str | None = None,
        retry_after: float | None = None,
        rate_limit: Mapping[str, str] | None = None,
        meta: Mapping[str, Any] | None = None,
        errors: Iterable[Mapping[str, Any]] = (),
        attempts: int | None = None,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_class = error_class
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.source = dict(source) if source else None
        self.error_id = error_id
        self.method = method
        self.path = path
        self.field = field
        self.retry_after = retry_after
        self.rate_limit = dict(rate_limit) if rate_limit else None
        self.meta = dict(meta) if meta else None
        self.errors = [dict(e) for e in errors]
        self.attempts = attempts  # requests made, retries included
        # The raw request's view of a failed response: its headers and decoded body.
        self.headers = dict(headers) if headers else None
        self.data = data

    @property
    def retryable(self) -> bool:
        return self.error_class == RETRYABLE

    def to_dict(self) -> dict[str, Any]:
        """The error as plain JSON for hosts; only members that have a value."""
        out: dict[str, Any] = {
            "message": self.message,
            "class": self.error_class,
            "status": self.status,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "source": self.source,
            "id": self.error_id,
            "method": self.method,
            "path": self.path,
            "field": self.field,
            "retry_after": self.retry_after,
            "rate_limit": self.rate_limit,
            "meta": self.meta,
            "errors": self.errors if len(self.errors) > 1 else None,
            "attempts": self.attempts,
            "headers": self.headers,
            "data": self.data,
        }
        return {k: v for k, v in out.items() if v is not None}

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"KlaviyoError({self.message!r}, class={self.error_class!r}, status={self.status!r})"

    def scrubbed(self, secrets: Iterable[str]) -> KlaviyoError:
        """This error with every secret removed from every member (in place).

        Every text member and every structured one (source, meta, errors, headers, data, ...)
        is scrubbed, whatever the server echoed into it: known secrets in any of their
        encodings (see :func:`~.redact.secret_forms`) and secret-shaped tokens.
        """
        forms = secret_forms(secrets)
        for attr, value in vars(self).items():
            if isinstance(value, str):
                setattr(self, attr, redact(value, forms, expand=False))
            elif attr == "headers" and value:
                self.headers = {k: redact(v, forms, expand=False) for k, v in redact_headers(value).items()}
            elif isinstance(value, (dict, list, tuple)) or (value is not None and attr == "data"):
                setattr(self, attr, redact_json(value, forms))
        self.args = (self.message,)
        return self


def input_error(label: str, problem: str, *, source: str | None = None) -> KlaviyoError:
    """Bad input, found before anything was sent."""
    return KlaviyoError(
        f"{label}: {problem}",
        error_class=USER_FIXABLE,
        code="invalid_input",
        detail=problem,
        field=label,
        source={"parameter": source} if source else None,
    )


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        import time
        from email.utils import parsedate_to_datetime  # HTTP-date form, rare

        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, OverflowError):
            return None
    if not math.isfinite(seconds):  # "inf" or "nan" is no instruction at all: treat it as absent
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def _is_edge_block(status: int, headers: Mapping[str, str], text: str) -> bool:
    if headers.get("cf-mitigated"):
        return True
    ctype = headers.get("content-type", "")
    return status == 403 and (
        "text/html" in ctype or text.lstrip().lower().startswith(("<!doctype", "<html"))
    )


def _sentence(text: str) -> str:
    """``text`` (Klaviyo's words, mostly) as a whole sentence in one of our messages: it keeps its
    own full stop ("Please try again.") and gets one only when it has none, so every message is
    built of whole sentences and none ends in a double period."""
    text = text.rstrip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _not_json_api(text: str, doc: Any) -> str | None:
    """What a body that is no JSON:API error document is, in words; None when it is one."""
    if not text.strip() or (isinstance(doc, dict) and ("errors" in doc or "error" in doc)):
        return None  # an empty body says nothing either way (a HEAD request gets one)
    if text.lstrip().startswith("<"):
        return "an HTML page"
    return "a body that is not a JSON:API error document"


def from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str,
    path: str,
    scopes: Iterable[str] = (),
    limits: str = "",
) -> KlaviyoError:
    """Build the error for a non-2xx Klaviyo response.

    ``headers`` must be case-insensitive (requests' CaseInsensitiveDict). ``scopes`` are
    the scopes the called operation needs, named in 403 messages; ``limits`` its rate-limit
    tier in words ("10/s, 150/m"), named in 429 messages.
    """
    text = body.decode("utf-8", "replace") if body else ""
    retry_after = _parse_retry_after(headers.get("retry-after"))
    rate_limit = {
        k: headers[k] for k in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset") if k in headers
    }
    where = f"{method} {path}"

    errors: list[dict[str, Any]] = []
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        if isinstance(doc.get("errors"), list):
            errors = [e for e in doc["errors"] if isinstance(e, dict)]
        elif "error" in doc:  # OAuth endpoints answer {"error": ..., "error_description": ...}
            errors = [{"code": doc.get("error"), "detail": doc.get("error_description")}]
    first = errors[0] if errors else {}
    code = first.get("code")
    title = first.get("title")
    detail = first.get("detail")
    source = first.get("source") if isinstance(first.get("source"), dict) else None
    common: dict[str, Any] = {
        "status": status,
        "code": code,
        "title": title,
        "detail": detail,
        "source": source,
        "error_id": first.get("id"),
        "method": method,
        "path": path,
        "retry_after": retry_after,
        "rate_limit": rate_limit,
        "meta": first.get("meta") if isinstance(first.get("meta"), dict) else None,
        "errors": errors,
    }
    said = detail or title or (text[:200] if text and doc is None and "<" not in text[:1] else "") or ""
    said = str(said).strip()
    lowered = f"{code or ''} {title or ''} {detail or ''}".lower()

    if _is_edge_block(status, headers, text):
        return KlaviyoError(
            f"Klaviyo's edge network blocked the request ({where}, HTTP {status}); this is not a "
            "permission problem. Wait and retry; if it persists, check the network you call from.",
            error_class=EDGE_BLOCKED,
            **{**common, "code": code or "edge_blocked"},
        )
    if status == 410 or "no valid revision" in lowered or code in ("invalid_revision", "gone"):
        return KlaviyoError(
            f"Klaviyo no longer accepts this API revision ({where}): the connector's pinned revision "
            f"needs an upgrade. Klaviyo said: {_sentence(said or 'Gone')}",
            error_class=UPGRADE_NEEDED,
            **common,
        )
    if status == 401:
        return KlaviyoError(
            f"Klaviyo rejected the credentials ({where}): {_sentence(said or 'not authenticated')} "
            "Check the API key, or reconnect the OAuth connection.",
            error_class=REAUTH_REQUIRED,
            **common,
        )
    if status == 403:
        needed = " ".join(scopes)
        hint = f" The action needs the scope(s): {needed}." if needed else ""
        return KlaviyoError(
            f"Klaviyo refused the request ({where}): {_sentence(said or 'permission denied')}{hint}",
            error_class=USER_FIXABLE,
            **common,
        )
    if status == 429:
        tier = f" This endpoint allows {limits} per account." if limits else ""
        if retry_after is not None and retry_after > LONG_QUOTA_SECONDS:
            return KlaviyoError(
                f"Klaviyo's quota for {where} is used up; it resets in about {int(retry_after)} s.{tier}",
                error_class=QUOTA_EXHAUSTED,
                **common,
            )
        when = f"retry after {retry_after:g} s" if retry_after is not None else "retry a little later"
        return KlaviyoError(
            f"Klaviyo rate limit reached ({where}); {when}.{tier}",
            error_class=RETRYABLE,
            **common,
        )
    if status == 408 or status >= 500:
        return KlaviyoError(
            f"Klaviyo had a temporary problem ({where}, HTTP {status}): {_sentence(said or 'server error')}",
            error_class=RETRYABLE,
            **common,
        )
    duplicate = (common["meta"] or {}).get("duplicate_profile_id")
    if status == 409 and duplicate:  # meta.duplicate_profile_id stays in to_dict()["meta"]
        return KlaviyoError(
            f"A profile with these identifiers already exists ({where}): use profile {duplicate} "
            f"(or Create Or Update Profile to update it). Klaviyo said: {_sentence(said or 'duplicate profile')}",
            error_class=USER_FIXABLE,
            **common,
        )
    body = _not_json_api(text, doc) if status in (404, 405) else None
    if body is not None:  # Klaviyo answers every API path with a JSON:API document, errors too
        return KlaviyoError(
            f"The Base URL does not look like Klaviyo's API: {where} was answered HTTP {status} with "
            f"{body}, where Klaviyo sends a JSON:API error document. Check the connection's Base URL "
            "(Klaviyo's is https://a.klaviyo.com) and the path.",
            error_class=USER_FIXABLE,
            **{**common, "code": code or "not_klaviyo_api"},
        )
    pointer = (source or {}).get("pointer") or (source or {}).get("parameter")
    at = f" (at {pointer})" if pointer else ""
    return KlaviyoError(
        f"Klaviyo rejected the request ({where}, HTTP {status}){at}: {_sentence(said or 'request error')}",
        error_class=USER_FIXABLE,
        **common,
    )


def network_error(exc: BaseException, *, method: str, path: str, code: str, said: str) -> KlaviyoError:
    """A failure without an HTTP answer (``code``: timeout, connection_error, transport_error);
    ``said`` is the sentence for people. Retryable: whether repeating it is safe for a write
    is for the HTTP client to judge (it may turn this into ``outcome_unknown``)."""
    return KlaviyoError(
        f"{said} ({type(exc).__name__})",
        error_class=RETRYABLE,
        code=code,
        method=method,
        path=path,
    )
