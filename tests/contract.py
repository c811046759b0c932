"""OpenAPI contract validator for tests: checks requests and responses against Klaviyo's spec.

Usage from a test::

    from contract import validate_request, validate_response

    op_id = validate_request("POST", url, headers, body)   # AssertionError on any violation
    validate_response("POST", url, 201, response_body)

The spec is the shared ``stable.json`` (or ``$KLAVIYO_OPENAPI_SPEC``); when it is missing, the
calling test is skipped. Schemas are OpenAPI 3.0, so before validating with JSON Schema 2020-12
they are rewritten once: ``nullable: true`` becomes a union with ``null``, and ``oneOf`` becomes
``anyOf`` (the spec's ``oneOf`` branches overlap, e.g. integer/number, and carry no
discriminator, so "exactly one" would reject valid payloads).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest

SPEC_URI = "urn:klaviyo-spec"
JSON_API = "application/vnd.api+json"
MULTIPART = "multipart/form-data"
_HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_REVISION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[A-Za-z0-9]+)?$")
# Lenient ISO-8601: catches garbage such as "yesterday" without rejecting valid offset spellings.
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|z|[+-]\d{2}(:?\d{2})?)?)?$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# `op(field` followed by `,` or `)`; nested and(...)/or(...)/not(...) are skipped by the lookahead.
_FILTER_CALL_RE = re.compile(r"([a-z][a-z-]*)\(\s*(?=([^,()\s]+)\s*(,\s*(\[)?|\)))")
_QUOTED_RE = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_LOGICAL = frozenset({"and", "or", "not"})


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
# One-time preparation: OpenAPI 3.0 -> JSON Schema 2020-12, registry, operation index.
# ---------------------------------------------------------------------------------------------

_NON_SCHEMA_KEYS = frozenset({"example", "examples", "default", "enum", "const", "x-klaviyo-filters"})


def _to_json_schema(node: Any) -> Any:
    """Rewrite OpenAPI 3.0 schema idioms in place, walking the whole document."""
    if isinstance(node, list):
        for item in node:
            _to_json_schema(item)
        return node
    if not isinstance(node, dict):
        return node
    for key, value in list(node.items()):
        if key == "properties" and isinstance(value, dict):
            # Property names are data, not keywords: a property may be called "default" or "enum".
            for sub in value.values():
                _to_json_schema(sub)
        elif key not in _NON_SCHEMA_KEYS:
            _to_json_schema(value)
    if isinstance(node.get("oneOf"), list):
        node["anyOf"] = node.pop("oneOf")
    if node.get("nullable") is True:
        del node["nullable"]
        if any(k in node for k in ("$ref", "allOf", "anyOf")):
            # Composite schemas cannot just widen `type`; keep the original as one branch.
            inner = dict(node)
            node.clear()
            node["anyOf"] = [inner, {"type": "null"}]
        else:
            if isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            if isinstance(node.get("enum"), list) and None not in node["enum"]:
                node["enum"] = [*node["enum"], None]
    return node


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True)
class _Op:
    op_id: str
    method: str
    path: str
    raw: dict[str, Any] = field(repr=False)
    segments: tuple[str, ...]


@dataclass
class _Prepared:
    spec: dict[str, Any]
    registry: Any
    ops_by_key: dict[tuple[str, str], _Op]
    validators: dict[str, Any] = field(default_factory=dict)


def _resolve_local(spec: dict[str, Any], node: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Follow a local ``$ref`` (e.g. to components/responses); returns the target and its pointer."""
    ref = node.get("$ref")
    if not ref:
        return node, None
    target: Any = spec
    for part in ref.lstrip("#/").split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return target, ref


@lru_cache(maxsize=1)
def _prepared() -> _Prepared:
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    load_spec()  # skips when absent
    path = spec_path()
    assert path is not None
    # A separate parse so load_spec() keeps returning the untouched document.
    with path.open(encoding="utf-8") as fh:
        converted = _to_json_schema(json.load(fh))
    registry = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(converted))
    ops: dict[tuple[str, str], _Op] = {}
    for tmpl, item in converted["paths"].items():
        for method, op in item.items():
            if method in _HTTP_METHODS:
                ops[(method.upper(), tmpl)] = _Op(
                    op["operationId"], method.upper(), tmpl, op, tuple(tmpl.strip("/").split("/"))
                )
    return _Prepared(converted, registry, ops)


def _format_checker() -> Any:
    from jsonschema import FormatChecker

    checker = FormatChecker(formats=())
    checker.checks("date-time")(lambda v: not isinstance(v, str) or bool(_DATETIME_RE.match(v)))
    checker.checks("date")(lambda v: not isinstance(v, str) or bool(_DATE_RE.match(v)))
    return checker


def _validator(pointer: str) -> Any:
    prep = _prepared()
    v = prep.validators.get(pointer)
    if v is None:
        from jsonschema import Draft202012Validator

        v = Draft202012Validator(
            {"$ref": SPEC_URI + pointer}, registry=prep.registry, format_checker=_format_checker()
        )
        prep.validators[pointer] = v
    return v


def _find_op(method: str, url: str) -> tuple[_Op, str]:
    from klaviyo_connector.catalog import match

    path = urlsplit(url).path
    cat_op = match(method, path)
    if cat_op is None:
        raise AssertionError(f"{method.upper()} {path}: no operation in the Klaviyo spec matches this path")
    op = _prepared().ops_by_key.get((cat_op.method, cat_op.path))
    if op is None:
        raise AssertionError(
            f"{method.upper()} {path}: catalog matched {cat_op.id} ({cat_op.path}) but the spec at "
            f"{spec_path()} has no such operation; regenerate connector/catalog.json"
        )
    return op, path


# ---------------------------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------------------------


def _brief(values: Any, limit: int = 15) -> str:
    """A list for error messages, cut short so a 100-entry enum does not drown the failure."""
    values = list(values)
    if len(values) <= limit:
        return repr(values)
    return repr(values[:limit])[:-1] + f", ... ({len(values)} in total)]"


def _check_param_value(op_id: str, param: dict[str, Any], raw: str) -> None:
    name, where = param["name"], param["in"]
    schema = param.get("schema", {})
    ptype = schema.get("type")
    label = f"{op_id}: {where} parameter {name}={raw!r}"
    if raw == "":
        raise AssertionError(f"{label}: empty value")
    if ptype == "array":
        if param.get("explode", True) is not False:
            raise AssertionError(f"{label}: exploded arrays are not supported by this validator")
        values = raw.split(",")
        enum = schema.get("items", {}).get("enum")
        for v in values:
            if v == "":
                raise AssertionError(f"{label}: empty item in comma-separated list")
            if enum is not None and v not in enum:
                raise AssertionError(f"{label}: {v!r} is not one of {_brief(enum)}")
        if len(set(values)) != len(values):
            raise AssertionError(f"{label}: duplicate items")
        return
    if ptype in ("integer", "number"):
        try:
            num: float = int(raw) if ptype == "integer" else float(raw)
        except ValueError:
            raise AssertionError(f"{label}: not a valid {ptype}") from None
        if "minimum" in schema and num < schema["minimum"]:
            raise AssertionError(f"{label}: below minimum {schema['minimum']}")
        if "maximum" in schema and num > schema["maximum"]:
            raise AssertionError(f"{label}: above maximum {schema['maximum']}")
        return
    if ptype == "boolean" and raw not in ("true", "false"):
        raise AssertionError(f"{label}: not 'true' or 'false'")
    enum = schema.get("enum")
    if enum is not None and raw not in [e for e in enum if e is not None]:
        raise AssertionError(f"{label}: not one of {_brief(enum)}")


def _check_filter(op: _Op, value: str) -> None:
    """Check that every `operator(field, ...)` in a filter uses a declared field and operator."""
    filters: dict[str, Any] = op.raw.get("x-klaviyo-filters") or {}
    stripped = _QUOTED_RE.sub("''", value)
    calls = _FILTER_CALL_RE.findall(stripped)
    if not calls:
        raise AssertionError(f"{op.op_id}: filter {value!r} contains no operator(field, value) expression")
    for operator, fname, after, bracket in calls:
        if operator in _LOGICAL:
            continue
        spec = filters.get(fname)
        if spec is None:
            raise AssertionError(
                f"{op.op_id}: filter field {fname!r} is not filterable; allowed: {_brief(sorted(filters))}"
            )
        ops = spec.get("operators", {})
        if after.startswith(","):
            allowed = ops.get("list", []) if bracket else ops.get("single", [])
            kind = "list" if bracket else "single-value"
        else:
            allowed, kind = ops.get("none", []), "value-less"
        if operator not in allowed:
            raise AssertionError(
                f"{op.op_id}: filter {operator}({fname}, ...) is not allowed as a {kind} operator; "
                f"allowed {kind} operators for {fname}: {allowed}"
            )


def _check_path_params(op: _Op, path: str) -> None:
    concrete = path.strip("/").split("/")
    params = {p["name"]: p for p in op.raw.get("parameters", []) if p["in"] == "path"}
    for tmpl_seg, value in zip(op.segments, concrete, strict=True):
        if tmpl_seg.startswith("{") and tmpl_seg.endswith("}"):
            param = params.get(tmpl_seg[1:-1])
            if param is None:
                raise AssertionError(f"{op.op_id}: path parameter {tmpl_seg} is not declared")
            _check_param_value(op.op_id, param, unquote(value))


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


def _schema_errors(label: str, pointer: str, instance: Any) -> None:
    from jsonschema.exceptions import best_match

    validator = _validator(pointer)
    errors = list(validator.iter_errors(instance))
    if not errors:
        return
    errors.sort(key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    best = best_match(errors)
    lines = [f"{label}: body does not match schema {pointer}", f"  at {_json_path(best)}: {best.message}"]
    for err in errors[:5]:
        if err is not best:
            lines.append(f"  at {_json_path(err)}: {err.message}")
    if len(errors) > 6:
        lines.append(f"  ... and {len(errors) - 6} more")
    raise AssertionError("\n".join(lines))


def _json_path(err: Any) -> str:
    return "/" + "/".join(str(p) for p in err.absolute_path)


def _check_multipart(op_id: str, schema: dict[str, Any], content_type: str, body: Any) -> None:
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
    props = schema.get("properties", {})
    undeclared = sorted(set(names) - set(props))
    if undeclared:
        raise AssertionError(f"{op_id}: undeclared multipart parts {undeclared}; allowed: {sorted(props)}")
    missing = sorted(set(schema.get("required", [])) - set(names))
    if missing:
        raise AssertionError(f"{op_id}: missing required multipart parts {missing}")


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
    op, path = _find_op(method, url)
    raw = op.raw
    hdrs = {k.lower(): v.decode("latin-1") if isinstance(v, bytes) else str(v) for k, v in headers.items()}
    params = raw.get("parameters", [])

    _check_path_params(op, path)

    # Query parameters: declared, not repeated, required present, values valid.
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    declared = {p["name"]: p for p in params if p["in"] == "query"}
    seen: set[str] = set()
    for name, value in query:
        if name not in declared:
            raise AssertionError(
                f"{op.op_id}: undeclared query parameter {name!r}; declared: {_brief(sorted(declared))}"
            )
        if name in seen:
            raise AssertionError(
                f"{op.op_id}: query parameter {name!r} repeated (use one comma-separated value)"
            )
        seen.add(name)
        _check_param_value(op.op_id, declared[name], value)
        if name == "filter":
            _check_filter(op, value)
    missing = sorted(n for n, p in declared.items() if p.get("required") and n not in seen)
    if missing:
        raise AssertionError(f"{op.op_id}: missing required query parameters {missing}")

    # Header parameters (revision and friends).
    for p in params:
        if p["in"] != "header":
            continue
        value = hdrs.get(p["name"].lower())
        if value is None:
            if p.get("required"):
                raise AssertionError(f"{op.op_id}: missing required header {p['name']!r}")
            continue
        if p["name"].lower() == "revision" and not _REVISION_RE.match(value):
            raise AssertionError(f"{op.op_id}: revision header {value!r} is not YYYY-MM-DD[.suffix]")

    secured = raw.get("security", None) != []
    if not secured and "authorization" in hdrs:
        raise AssertionError(f"{op.op_id}: public /client operation must not send an Authorization header")
    if secured and require_auth:
        auth = hdrs.get("authorization", "")
        if not (auth.startswith("Klaviyo-API-Key ") or auth.startswith("Bearer ")):
            raise AssertionError(
                f"{op.op_id}: Authorization must be 'Klaviyo-API-Key <key>' or 'Bearer <token>'"
            )

    # Body.
    request_body = raw.get("requestBody")
    if request_body is None:
        if not _is_empty(body):
            raise AssertionError(f"{op.op_id}: operation takes no request body but one was sent")
        return op.op_id
    if _is_empty(body):
        if request_body.get("required"):
            raise AssertionError(f"{op.op_id}: request body is required")
        return op.op_id
    assert body is not None
    content = request_body.get("content", {})
    media = _media_type(hdrs)
    if media is None:
        raise AssertionError(f"{op.op_id}: request has a body but no Content-Type header")
    if media not in content:
        raise AssertionError(
            f"{op.op_id}: Content-Type {media!r} not accepted; expected one of {list(content)}"
        )
    if media == MULTIPART:
        schema, _ = _resolve_local(_prepared().spec, content[media]["schema"])
        _check_multipart(op.op_id, schema, hdrs["content-type"], body)
        return op.op_id
    pointer = _pointer("paths", op.path, op.method.lower(), "requestBody", "content", media, "schema")
    _schema_errors(f"{op.op_id} request", pointer, _parse_json(f"{op.op_id} request", body))
    return op.op_id


# ---------------------------------------------------------------------------------------------
# Responses
# ---------------------------------------------------------------------------------------------


def validate_response(method: str, url: str, status: int, body: bytes | str | dict[str, Any] | None) -> None:
    """Validate a response status and JSON body against the operation's declared responses."""
    op, _ = _find_op(method, url)
    responses = op.raw.get("responses", {})
    key = str(status)
    if key not in responses:
        key = f"{key[0]}XX"
    if key not in responses:
        raise AssertionError(f"{op.op_id}: status {status} is not declared; declared: {sorted(responses)}")
    prep = _prepared()
    response, ref = _resolve_local(prep.spec, responses[key])
    content = response.get("content") or {}
    label = f"{op.op_id} response {status}"
    if not content:
        if not _is_empty(body):
            raise AssertionError(f"{label}: declared without a body but one was returned")
        return
    if _is_empty(body):
        raise AssertionError(f"{label}: declared with a {list(content)} body but none was returned")
    assert body is not None
    media = JSON_API if JSON_API in content else next(iter(content))
    base = ref if ref else _pointer("paths", op.path, op.method.lower(), "responses", key)
    pointer = base + _pointer("content", media, "schema")[1:]
    _schema_errors(label, pointer, _parse_json(label, body))


def time_validation(n: int, fn: Any, *args: Any, **kwargs: Any) -> float:
    """Mean seconds per call of ``fn(*args, **kwargs)`` over ``n`` calls (after one warm-up)."""
    fn(*args, **kwargs)
    start = time.perf_counter()
    for _ in range(n):
        fn(*args, **kwargs)
    return (time.perf_counter() - start) / n
