#!/usr/bin/env python3
"""Generate connector/schemas.json: the request and response body schemas of every Klaviyo operation.

Facts only: types, formats, enums, required members, nullable, limits, patterns,
additionalProperties, composition (oneOf/anyOf/allOf), readOnly/writeOnly, defaults and ``$ref``
(as ``#/components/schemas/Name``). Every keyword outside that list (description, summary, title,
example(s), externalDocs, x-* prose) is dropped, so no prose from the spec is copied.

Shape of the output (keys sorted, no spaces)::

    {"operations": {"<operationId>": {
         "request": {"content_type": "application/vnd.api+json", "schema": {...}} | null,
         "responses": {"200": <schema> | null, "4XX": "ClientError", ...}}},
     "responses": {"ClientError": <schema>, "ServerError": <schema>},
     "schemas": {"<Name>": <schema>, ...},          # only those operations reference
     "spec_version": "<revision>"}

A response is a schema, ``null`` (declared without a body) or the name of a shared response in
``responses`` (the spec's ``components/responses``).

Usage: python scripts/gen_schemas.py [--spec PATH] [--out PATH] [--check]
"""

from __future__ import annotations

import json
import sys
from typing import Any

from spec_output import REPO_ROOT, generate

DEFAULT_OUT = REPO_ROOT / "connector" / "schemas.json"

HTTP_METHODS = ("get", "post", "put", "patch", "delete")
SCHEMA_PREFIX = "#/components/schemas/"
RESPONSE_PREFIX = "#/components/responses/"

# Keywords kept as they are (their values are facts, not schemas).
_VALUE_KEYS = frozenset(
    {
        "type",
        "format",
        "enum",
        "const",
        "required",
        "nullable",
        "default",
        "readOnly",
        "writeOnly",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
    }
)
# Keywords whose value is a schema, or a list/map of schemas, walked recursively.
_SCHEMA_KEYS = frozenset({"items", "not", "additionalProperties"})
_SCHEMA_LIST_KEYS = frozenset({"oneOf", "anyOf", "allOf"})


def strip(schema: Any, refs: set[str]) -> Any:
    """A copy of ``schema`` with only fact keywords; adds every component name it references to ``refs``."""
    if not isinstance(schema, dict):
        return schema  # additionalProperties: true/false
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$ref":
            if not value.startswith(SCHEMA_PREFIX):
                raise ValueError(f"unsupported $ref {value!r}")
            refs.add(value[len(SCHEMA_PREFIX) :])
            out[key] = value
        elif key == "properties":
            # Property names are data (a property may be called "description"); keep every one.
            out[key] = {name: strip(sub, refs) for name, sub in value.items()}
        elif key in _SCHEMA_LIST_KEYS:
            out[key] = [strip(sub, refs) for sub in value]
        elif key in _SCHEMA_KEYS:
            out[key] = strip(value, refs)
        elif key in _VALUE_KEYS:
            out[key] = value
    return out


def build_schemas(spec: dict[str, Any]) -> dict[str, Any]:
    components = spec.get("components", {})
    all_schemas: dict[str, Any] = components.get("schemas", {})
    shared_responses: dict[str, Any] = components.get("responses", {})
    refs: set[str] = set()
    used_responses: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def body_schema(content: dict[str, Any]) -> Any:
        media = "application/vnd.api+json" if "application/vnd.api+json" in content else next(iter(content))
        return strip(content[media].get("schema", {}), refs)

    for item in spec["paths"].values():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            request = None
            body = op.get("requestBody")
            if body and body.get("content"):
                content_type = next(iter(body["content"]))
                request = {
                    "content_type": content_type,
                    "required": bool(body.get("required", False)),
                    "schema": strip(body["content"][content_type].get("schema", {}), refs),
                }
            responses: dict[str, Any] = {}
            for code, reply in op.get("responses", {}).items():
                ref = reply.get("$ref")
                if ref is not None:
                    name = ref[len(RESPONSE_PREFIX) :]
                    content = shared_responses[name].get("content")
                    used_responses[name] = body_schema(content) if content else None
                    responses[code] = name
                else:
                    content = reply.get("content")
                    responses[code] = body_schema(content) if content else None
            operations[op["operationId"]] = {"request": request, "responses": responses}

    # Close over references between components.
    schemas: dict[str, Any] = {}
    pending = sorted(refs)
    while pending:
        name = pending.pop()
        if name in schemas:
            continue
        found: set[str] = set()
        schemas[name] = strip(all_schemas[name], found)
        pending.extend(sorted(found - set(schemas)))
    return {
        "operations": operations,
        "responses": used_responses,
        "schemas": schemas,
        "spec_version": spec["info"]["version"],
    }


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"


def _summary(text: str) -> str:
    data = json.loads(text)
    return f"{len(data['operations'])} operations, {len(data['schemas'])} component schemas"


def main(argv: list[str] | None = None) -> int:
    return generate(
        argv,
        description=__doc__.splitlines()[0],
        default_out=DEFAULT_OUT,
        script="gen_schemas.py",
        build=lambda spec: render(build_schemas(spec)),
        summary=_summary,
    )


if __name__ == "__main__":
    sys.exit(main())
