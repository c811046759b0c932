"""OpenAPI contract validator for tests: checks requests and responses against Klaviyo's spec.

Usage from a test::

    from contract import validate_request, validate_response

    op_id = validate_request("POST", url, headers, body)   # AssertionError on any violation
    validate_response("POST", url, 201, response_body)

The spec is the shared ``stable.json`` (or ``$KLAVIYO_OPENAPI_SPEC``); when it is missing, the
calling test is skipped. The checks are the sandbox's own (``klaviyo_connector.sandbox.validation``,
on the generated catalog and ``schemas.json``, whose freshness against the spec
``tests/test_catalog.py`` and ``tests/test_schemas.py`` assert), so what these tests refuse the
sandbox refuses too.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from email.parser import BytesParser
from email.policy import HTTP
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

MULTIPART = "multipart/form-data"


def spec_path() -> Path | None:
    """Path of the Klaviyo OpenAPI spec, or None when it is not available."""
    env = os.environ.get("KLAVIYO_OPENAPI_SPEC")
    candidate = (
        Path(env)
        if env
        else Path(__file__).resolve().parents[1].parent / "shared/klaviyo-openapi/stable.json"
    )
    return candidate if candidate.is_file() else None


@lru_cache(maxsize=1)
def _load_spec_or_none() -> dict[str, Any] | None:
    path = spec_path()
    if path is None:
        return None
    with path.open(encoding="utf-8") as fh:
        return json.load(fh)


def load_spec() -> dict[str, Any]:
    """The parsed spec (cached); skips the calling test when the file is absent."""
    spec = _load_spec_or_none()
    if spec is None:
        pytest.skip(f"Klaviyo OpenAPI spec not found at {_expected_location()}")
    return spec


def _expected_location() -> str:
    env = os.environ.get("KLAVIYO_OPENAPI_SPEC")
    return env or str(Path(__file__).resolve().parents[1].parent / "shared/klaviyo-openapi/stable.json")


# ---------------------------------------------------------------------------------------------
# The checks themselves live in the sandbox (klaviyo_connector.sandbox.validation), so the sandbox
# refuses exactly what these tests refuse; this module adds the AssertionError wording.
# ---------------------------------------------------------------------------------------------


def _find_op(method: str, url: str) -> tuple[Any, str]:
    from klaviyo_connector.catalog import match

    load_spec()  # skips when absent
    path = urlsplit(url).path
    op = match(method, path)
    if op is None:
        raise AssertionError(f"{method.upper()} {path}: no operation in the Klaviyo spec matches this path")
    return op, path


def _violation(op_id: str, exc: Exception) -> AssertionError:
    return AssertionError(f"{op_id}: {exc}")


def _path_values(op: Any, path: str) -> dict[str, str]:
    template = op.path.strip("/").split("/")
    concrete = path.strip("/").split("/")
    return {
        seg[1:-1]: unquote(value)
        for seg, value in zip(template, concrete, strict=True)
        if seg.startswith("{") and seg.endswith("}")
    }


def _media_type(headers: Mapping[str, str]) -> str | None:
    ct = headers.get("content-type")
    return ct.split(";", 1)[0].strip().lower() if ct else None


def _is_empty(body: bytes | str | dict[str, Any] | list[Any] | None) -> bool:
    return body is None or (isinstance(body, (bytes, str)) and body.strip() in ("", b""))


def _parse_json(label: str, body: bytes | str | dict[str, Any] | list[Any]) -> Any:
    if isinstance(body, (dict, list)):
        return body
    try:
        return json.loads(body)
    except ValueError as exc:
        raise AssertionError(f"{label}: body is not valid JSON ({exc})") from None


def _schema_errors(label: str, what: str, errors: list[tuple[str, str]]) -> None:
    if not errors:
        return
    (path, message), *others = errors
    lines = [f"{label}: body does not match schema {what}", f"  at {path}: {message}"]
    for other_path, other_message in others[:4]:
        lines.append(f"  at {other_path}: {other_message}")
    if len(others) > 5:
        lines.append(f"  ... and {len(others) - 5} more")
    raise AssertionError("\n".join(lines))


def _multipart_names(op_id: str, content_type: str, body: Any) -> list[str]:
    if isinstance(body, str):
        body = body.encode("utf-8")
    if not isinstance(body, bytes) or not body:
        raise AssertionError(f"{op_id}: multipart body must be non-empty bytes")
    if "boundary=" not in content_type:
        raise AssertionError(f"{op_id}: multipart Content-Type has no boundary: {content_type!r}")
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    if not msg.is_multipart():
        raise AssertionError(f"{op_id}: body is not a multipart/form-data document")
    names = []
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            raise AssertionError(f"{op_id}: multipart part without a Content-Disposition name")
        names.append(str(name))
        if name == "file" and not part.get_param("filename", header="content-disposition"):
            raise AssertionError(f"{op_id}: multipart 'file' part has no filename")
    return names


def validate_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | str | dict[str, Any] | None,
    *,
    require_auth: bool = False,
) -> str:
    """Validate one outgoing request; returns its operationId or raises AssertionError.

    ``require_auth=True`` additionally demands an Authorization header on secured operations.
    Sending Authorization to a ``security: []`` (/client) operation is always an error, since it
    would leak a private credential to a public endpoint.
    """
    from klaviyo_connector import schemas
    from klaviyo_connector.sandbox import validation

    op, path = _find_op(method, url)
    hdrs = {k.lower(): v.decode("latin-1") if isinstance(v, bytes) else str(v) for k, v in headers.items()}
    try:
        validation.check_request(
            op, _path_values(op, path), parse_qsl(urlsplit(url).query, keep_blank_values=True), hdrs
        )
    except validation.SpecViolation as exc:
        raise _violation(op.id, exc) from None

    if not op.security and "authorization" in hdrs:
        raise AssertionError(f"{op.id}: public /client operation must not send an Authorization header")
    if op.security and require_auth:
        auth = hdrs.get("authorization", "")
        if not (auth.startswith("Klaviyo-API-Key ") or auth.startswith("Bearer ")):
            raise AssertionError(
                f"{op.id}: Authorization must be 'Klaviyo-API-Key <key>' or 'Bearer <token>'"
            )

    # Body.
    content_type = schemas.request_content_type(op.id)
    if content_type is None:
        if not _is_empty(body):
            raise AssertionError(f"{op.id}: operation takes no request body but one was sent")
        return op.id
    if _is_empty(body):
        if schemas.request_required(op.id):
            raise AssertionError(f"{op.id}: request body is required")
        return op.id
    assert body is not None
    media = _media_type(hdrs)
    if media is None:
        raise AssertionError(f"{op.id}: request has a body but no Content-Type header")
    if media != content_type:
        raise AssertionError(
            f"{op.id}: Content-Type {media!r} not accepted; expected one of {[content_type]}"
        )
    if media == MULTIPART:
        try:
            validation.check_form_parts(op.id, _multipart_names(op.id, hdrs["content-type"], body))
        except validation.SpecViolation as exc:
            raise _violation(op.id, exc) from None
        return op.id
    label = f"{op.id} request"
    _schema_errors(label, f"of the {op.id} request", validation.body_errors(op.id, _parse_json(label, body)))
    return op.id


# ---------------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------------


def validate_response(method: str, url: str, status: int, body: bytes | str | dict[str, Any] | None) -> None:
    """Validate a response status and JSON body against the operation's declared responses."""
    from klaviyo_connector import schemas
    from klaviyo_connector.sandbox import validation

    op, _ = _find_op(method, url)
    label = f"{op.id} response {status}"
    try:
        schema = schemas.response_schema(op.id, status)
    except KeyError:
        declared = sorted(schemas.response_statuses(op.id))
        raise AssertionError(f"{op.id}: status {status} is not declared; declared: {declared}") from None
    if schema is None:
        if not _is_empty(body):
            raise AssertionError(f"{label}: declared without a body but one was returned")
        return
    if _is_empty(body):
        raise AssertionError(f"{label}: declared with a body but none was returned")
    assert body is not None
    _schema_errors(
        label,
        f"of the {op.id} {status} response",
        validation.response_errors(op.id, status, _parse_json(label, body)),
    )


def time_validation(n: int, fn: Any, *args: Any, **kwargs: Any) -> float:
    """Mean seconds per call of ``fn(*args, **kwargs)`` over ``n`` calls (after one warm-up)."""
    fn(*args, **kwargs)
    start = time.perf_counter()
    for _ in range(n):
        fn(*args, **kwargs)
    return (time.perf_counter() - start) / n
