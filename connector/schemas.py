"""Request and response body schemas of every Klaviyo operation, as self-contained JSON Schemas.

The facts come from the generated ``schemas.json`` (``scripts/gen_schemas.py`` strips Klaviyo's
OpenAPI spec down to types, formats, enums, required members, limits and composition). The file
is read on first use, not at import time, so importing this module stays cheap.

Every schema returned is JSON Schema draft 2020-12 and self-contained::

    {"$schema": "https://json-schema.org/draft/2020-12/schema",
     "$defs": {"<ComponentName>": {...}, ...},      # every component it references
     ...the body schema itself, with "$ref": "#/$defs/<ComponentName>"...}

OpenAPI 3.0 idioms are rewritten as the contract tests do: ``nullable: true`` becomes a union
with ``null`` (``"type": ["string", "null"]``, or ``anyOf [..., {"type": "null"}]`` around a
``$ref``/composition), and ``oneOf`` becomes ``anyOf`` (the spec's branches overlap and carry no
discriminator, so "exactly one" would refuse valid bodies). Results are cached per operation and
shared: treat them as read-only (copy before changing one).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "DIALECT",
    "component",
    "request_content_type",
    "request_required",
    "request_schema",
    "response_schema",
    "response_statuses",
    "spec_version",
]

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_SCHEMAS_FILE = Path(__file__).with_name("schemas.json")
_OPENAPI_REF = "#/components/schemas/"
_DEFS_REF = "#/$defs/"
# Keywords whose values are data, never schemas (an enum may hold an object).
_DATA_KEYS = frozenset({"enum", "const", "default", "required", "type", "format"})


@cache
def _data() -> dict[str, Any]:
    return json.loads(_SCHEMAS_FILE.read_text(encoding="utf-8"))


def _operation(operation_id: str) -> dict[str, Any]:
    try:
        return _data()["operations"][operation_id]
    except KeyError:
        raise KeyError(f"unknown Klaviyo operation {operation_id!r}") from None


def _convert(node: Any) -> Any:
    """A JSON Schema 2020-12 copy of an OpenAPI 3.0 schema node (refs point into ``$defs``)."""
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "properties":
            out[key] = {name: _convert(sub) for name, sub in value.items()}
        elif key == "$ref":
            out[key] = _DEFS_REF + value[len(_OPENAPI_REF) :]
        elif key == "oneOf":
            out["anyOf"] = _convert(value)
        elif key == "nullable" or key in _DATA_KEYS:
            out[key] = value
        else:
            out[key] = _convert(value)
    if out.pop("nullable", False) is True:
        if any(k in out for k in ("$ref", "allOf", "anyOf")):
            # A composite cannot just widen "type"; keep it whole as one branch.
            return {"anyOf": [out, {"type": "null"}]}
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


@cache
def component(name: str) -> dict[str, Any]:
    """One component schema (``#/components/schemas/<name>``), converted; refs as ``#/$defs/...``.

    Raises KeyError for a name the spec does not define (or no operation references).
    """
    try:
        raw = _data()["schemas"][name]
    except KeyError:
        raise KeyError(f"unknown Klaviyo schema {name!r}") from None
    return _convert(raw)


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value[len(_DEFS_REF) :])
            elif key == "properties":
                for sub in value.values():
                    _refs(sub, found)
            elif key not in _DATA_KEYS:
                _refs(value, found)
    elif isinstance(node, list):
        for item in node:
            _refs(item, found)


def _self_contained(raw: Any) -> dict[str, Any]:
    root = _convert(raw)
    defs: dict[str, Any] = {}
    pending: set[str] = set()
    _refs(root, pending)
    while pending:
        name = pending.pop()
        if name in defs:
            continue
        defs[name] = component(name)
        found: set[str] = set()
        _refs(defs[name], found)
        pending |= found - set(defs)
    return {"$schema": DIALECT, "$defs": dict(sorted(defs.items())), **root}


@cache
def request_schema(operation_id: str) -> dict[str, Any] | None:
    """The request body's JSON Schema (see the module docstring), or None when there is no body.

    For ``multipart/form-data`` (image upload) it describes the form's parts as properties.
    Raises KeyError for an unknown operationId.
    """
    request = _operation(operation_id)["request"]
    return None if request is None else _self_contained(request["schema"])


def request_content_type(operation_id: str) -> str | None:
    """The request body's media type (``application/vnd.api+json`` or ``multipart/form-data``), or None."""
    request = _operation(operation_id)["request"]
    return None if request is None else request["content_type"]


def request_required(operation_id: str) -> bool:
    """Whether the spec marks the request body as required."""
    request = _operation(operation_id)["request"]
    return bool(request and request["required"])


def response_statuses(operation_id: str) -> tuple[str, ...]:
    """The declared response keys, sorted: ``("200", "4XX", "5XX")`` and the like."""
    return tuple(sorted(_operation(operation_id)["responses"]))


@cache
def response_schema(operation_id: str, status: int) -> dict[str, Any] | None:
    """The JSON Schema of the body answered with ``status``, or None when declared without a body.

    ``status`` matches its exact code first, then its class (``4XX``: Klaviyo's ``{"errors":
    [...]}`` document). Raises KeyError for an unknown operationId or an undeclared status.
    """
    responses = _operation(operation_id)["responses"]
    key = str(status)
    if key not in responses:
        key = f"{key[0]}XX"
    if key not in responses:
        raise KeyError(f"{operation_id}: status {status} is not declared; declared: {sorted(responses)}")
    reply = responses[key]
    if isinstance(reply, str):
        reply = _data()["responses"][reply]
    return None if reply is None else _self_contained(reply)


def spec_version() -> str:
    """The Klaviyo revision the schemas were generated from (e.g. ``2026-07-15``)."""
    return str(_data()["spec_version"])
