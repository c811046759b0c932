"""The smallest value a JSON Schema accepts: to fill members the sandbox must answer but never stored.

``minimal(schema, root)`` walks a schema from :mod:`klaviyo_connector.schemas` (``root`` is the
self-contained document whose ``$defs`` resolve its ``$ref``s) and builds the least it accepts:
objects hold only their required members, arrays are empty (or ``minItems`` long), enums give
their first value, strings their format's shape (``date-time``: ``now``), numbers their
minimum or 0, ``anyOf`` its first branch that is not ``null``. The sandbox's generic routes use
it for required members a resource lacks; the every-operation test builds request bodies with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["minimal", "resolve"]

_MAX_DEPTH = 40
_STRINGS = {
    "date-time": None,  # ``now``
    "date": None,  # ``now``'s day
    "time": "09:00:00",
    "uri": "https://example.com/",
    "email": "sandbox@example.com",
}


def resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """``schema`` with its ``$ref`` chain followed (refs are ``#/$defs/Name`` inside ``root``)."""
    seen = 0
    while "$ref" in schema and seen < _MAX_DEPTH:
        schema = root["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
        seen += 1
    return schema


def minimal(
    schema: Mapping[str, Any],
    root: Mapping[str, Any],
    *,
    now: str = "2026-01-01T00:00:00+00:00",
    depth: int = 0,
) -> Any:
    """The smallest instance of ``schema`` (see the module docstring). ``now`` is an ISO time."""
    schema = resolve(schema, root)
    if depth > _MAX_DEPTH:
        return None
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if enum:
        return next((v for v in enum if v is not None), None)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for branch in schema["allOf"]:
            value = minimal(branch, root, now=now, depth=depth + 1)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    if "anyOf" in schema:
        branches = schema["anyOf"]
        chosen = next((b for b in branches if resolve(b, root).get("type") != "null"), branches[0])
        return minimal(chosen, root, now=now, depth=depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "null"
    if kind == "object":
        props = schema.get("properties", {})
        return {
            name: minimal(props.get(name, {}), root, now=now, depth=depth + 1)
            for name in schema.get("required", ())
        }
    if kind == "array":
        count = int(schema.get("minItems", 0))
        return [minimal(schema.get("items", {}), root, now=now, depth=depth + 1) for _ in range(count)]
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "date-time":
            return now
        if fmt == "date":
            return now[:10]
        return _STRINGS.get(fmt or "") or "sandbox"
    if kind in ("integer", "number"):
        return int(schema.get("minimum", 0))
    if kind == "boolean":
        return False
    return None
