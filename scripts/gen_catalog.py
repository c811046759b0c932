#!/usr/bin/env python3
"""Generate connector/catalog.json, a facts-only catalog of every operation in Klaviyo's OpenAPI spec.

Only machine-readable facts are kept (names, types, limits, enums of parameters and request
bodies, scopes, rate limits, filter operators); no description, summary or example text is
copied from the spec.

Usage: python scripts/gen_catalog.py [--spec PATH] [--out PATH] [--check]
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from spec_output import REPO_ROOT, generate

DEFAULT_OUT = REPO_ROOT / "connector" / "catalog.json"

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*([smd])\s*$")
_RATE_UNITS = {"burst": "s", "steady": "m", "daily": "d"}


def _parse_rate(value: str, key: str, op_id: str) -> int:
    m = _RATE_RE.match(value)
    if not m or m.group(2) != _RATE_UNITS[key]:
        raise ValueError(f"{op_id}: unexpected x-klaviyo-ratelimit {key}={value!r}")
    return int(m.group(1))


def _rate_limit(op: dict[str, Any], op_id: str) -> dict[str, int | None] | None:
    raw = op.get("x-klaviyo-ratelimit")
    if not raw:
        return None
    unknown = set(raw) - set(_RATE_UNITS)
    if unknown:
        raise ValueError(f"{op_id}: unknown x-klaviyo-ratelimit keys {sorted(unknown)}")
    return {
        "burst": _parse_rate(raw["burst"], "burst", op_id),
        "steady": _parse_rate(raw["steady"], "steady", op_id),
        "daily": _parse_rate(raw["daily"], "daily", op_id) if "daily" in raw else None,
    }


def _parameter(p: dict[str, Any]) -> dict[str, Any]:
    schema = p.get("schema", {})
    out: dict[str, Any] = {
        "name": p["name"],
        "in": p["in"],
        # Path parameters are always required in OpenAPI even when the flag is omitted.
        "required": bool(p.get("required", p["in"] == "path")),
        "type": schema.get("type"),
    }
    if "items" in schema:
        items = schema["items"]
        out["items"] = {k: items[k] for k in ("type", "enum") if k in items}
    for key in ("enum", "default", "minimum", "maximum"):
        if key in schema:
            out[key] = schema[key]
    if p.get("explode") is False:
        out["explode"] = False
    return out


def _filters(op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for field, spec in (op.get("x-klaviyo-filters") or {}).items():
        ops = spec.get("operators", {})
        list_ops = sorted(ops.get("list", []))
        single_ops = sorted(ops.get("single", []))
        none_ops = sorted(ops.get("none", []))
        value = spec.get("value")
        if value is None:
            # Value-less operators such as has(profile) carry no value schema.
            ftype = "none"
        elif value.get("format") == "date-time":
            ftype = "date-time"
        else:
            ftype = value.get("type", "string")
        entry: dict[str, Any] = {
            "operators": sorted(set(list_ops) | set(single_ops) | set(none_ops)),
            "list_operators": list_ops,
            "single_operators": single_ops,
            "type": ftype,
        }
        if none_ops:
            entry["none_operators"] = none_ops
        if value is not None and "enum" in value:
            entry["enum"] = list(value["enum"])
        out[field] = entry
    return out


def _bracket_params(params: list[dict[str, Any]], prefix: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in params:
        name = p["name"]
        if p["in"] == "query" and name.startswith(prefix + "[") and name.endswith("]"):
            out[name[len(prefix) + 1 : -1]] = list(p.get("schema", {}).get("items", {}).get("enum", []))
    return out


def _enum_of(params: list[dict[str, Any]], name: str) -> list[str] | None:
    for p in params:
        if p["in"] == "query" and p["name"] == name:
            schema = p.get("schema", {})
            enum = (
                schema.get("items", {}).get("enum") if schema.get("type") == "array" else schema.get("enum")
            )
            return list(enum) if enum is not None else None
    return None


def _body_enums(body: dict[str, Any] | None, schemas: dict[str, Any]) -> dict[str, list[Any]]:
    """Dotted JSON path (``data.attributes.statistics[]``) -> sorted enum values declared there.

    Every content type and every oneOf/anyOf/allOf branch is merged into its path; ``[]`` marks
    array items and ``.*`` additionalProperties values.
    """
    found: dict[str, dict[tuple[str, Any], Any]] = {}

    def walk(schema: dict[str, Any], path: str, refs: frozenset[str]) -> None:
        ref = schema.get("$ref")
        if ref is not None:
            name = ref.rsplit("/", 1)[-1]
            if name not in refs:  # recursive schemas (flow steps) are walked once per path
                walk(schemas[name], path, refs | {name})
            return
        for value in schema.get("enum", ()):
            # Keyed by type too, so 1 and true stay distinct values.
            found.setdefault(path, {})[(type(value).__name__, value)] = value
        for key in ("oneOf", "anyOf", "allOf"):
            for branch in schema.get(key, ()):
                walk(branch, path, refs)
        for name, prop in (schema.get("properties") or {}).items():
            walk(prop, f"{path}.{name}" if path else name, refs)
        if isinstance(schema.get("items"), dict):
            walk(schema["items"], f"{path}[]", refs)
        if isinstance(schema.get("additionalProperties"), dict):
            walk(schema["additionalProperties"], f"{path}.*", refs)

    for content in ((body or {}).get("content") or {}).values():
        walk(content.get("schema") or {}, "", frozenset())
    return {path: [values[k] for k in sorted(values)] for path, values in found.items()}


def _response_data(op: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """The shape of ``data`` in the operation's 2xx document: "one" (a resource, possibly
    null), "many" (an array) or None (no body, or a document without data)."""

    def resolve(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            kind, name = node["$ref"].split("/")[-2:]
            node = spec.get("components", {}).get(kind, {}).get(name, {})
        return node

    for code, reply in sorted(op.get("responses", {}).items()):
        if not code.startswith("2"):
            continue
        for content in (resolve(reply).get("content") or {}).values():
            data = (resolve(content.get("schema") or {}).get("properties") or {}).get("data")
            if data is not None:
                return "many" if resolve(data).get("type") == "array" else "one"
    return None


def _operation(path: str, method: str, op: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec.get("components", {}).get("schemas", {})
    op_id = op["operationId"]
    params = [p for p in op.get("parameters", []) if "$ref" not in p]
    if len(params) != len(op.get("parameters", [])):
        raise ValueError(f"{op_id}: $ref parameters are not supported by the generator")
    by_name = {(p["in"], p["name"]): p for p in params}

    page_size = None
    ps = by_name.get(("query", "page[size]"))
    if ps is not None:
        page_size = {"default": ps["schema"].get("default"), "max": ps["schema"].get("maximum")}
    cursor = next((c for c in ("page[cursor]", "page_cursor") if ("query", c) in by_name), None)

    filter_param = by_name.get(("query", "filter"))
    body = op.get("requestBody")
    content_types = list((body or {}).get("content", {}))
    tags = op.get("tags") or []
    return {
        "id": op_id,
        "aliases": list(op.get("x-klaviyo-operation-aliases", [])),
        "method": method.upper(),
        "path": path,
        "tag": tags[0] if tags else None,
        "parameters": [_parameter(p) for p in params],
        "page_size": page_size,
        "cursor_param": cursor,
        "rate_limit": _rate_limit(op, op_id),
        "scopes": list(op.get("x-klaviyo-scopes", [])),
        "filters": _filters(op),
        "filter_required": bool(filter_param and filter_param.get("required", False)),
        "sort": _enum_of(params, "sort"),
        "include": _enum_of(params, "include"),
        "fields": _bracket_params(params, "fields"),
        "additional_fields": _bracket_params(params, "additional-fields"),
        "success": sorted(int(code) for code in op.get("responses", {}) if code.isdigit() and code[0] == "2"),
        "response_data": _response_data(op, spec),
        "request_content_type": content_types[0] if content_types else None,
        "body_required": bool(body and body.get("required", False)),
        "body_enums": _body_enums(body, schemas),
        # Operations with `security: []` (the /client endpoints) take no credentials.
        "security": op.get("security", None) != [],
    }


def build_catalog(spec: dict[str, Any]) -> dict[str, Any]:
    ops = [
        _operation(path, method, op, spec)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in HTTP_METHODS
    ]
    ops.sort(key=lambda o: o["id"])
    ids = [o["id"] for o in ops]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate operationId in spec")
    return {"count": len(ops), "operations": ops, "spec_version": spec["info"]["version"]}


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def render(catalog: dict[str, Any]) -> str:
    # One operation per line keeps diffs readable while staying compact.
    lines = [f'{{"count":{_dumps(catalog["count"])},"operations":[']
    ops = catalog["operations"]
    for i, op in enumerate(ops):
        lines.append(_dumps(op) + ("," if i < len(ops) - 1 else ""))
    lines.append(f'],"spec_version":{_dumps(catalog["spec_version"])}}}')
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    return generate(
        argv,
        description=__doc__.splitlines()[0],
        default_out=DEFAULT_OUT,
        script="gen_catalog.py",
        build=lambda spec: render(build_catalog(spec)),
        summary=lambda text: f"{json.loads(text)['count']} operations",
    )


if __name__ == "__main__":
    sys.exit(main())
