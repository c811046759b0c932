"""Actions as agent tool definitions: MCP tools, OpenAI functions and Anthropic tools.

One place turns an action's form schema (:meth:`~.model.Action.input_schema`, JSON Schema with
``$defs``, cross-field rules as combinators and ``x-`` keywords) into a tool input schema every
major client accepts:

- ``$ref`` is inlined and ``$defs`` dropped (several clients resolve no references);
- only the keywords in :data:`KEPT` remain; ``oneOf`` becomes ``anyOf`` and ``const`` a one-value
  ``enum`` (what OpenAI's and Gemini's subsets take); ``if``/``then``/``else``, ``not``,
  ``contains``, ``dependentRequired`` and combinators that only state cross-field rules are
  dropped, and the top level is a plain ``{"type": "object", "properties", "required"}`` (the
  Anthropic and OpenAI APIs refuse a top-level ``anyOf``);
- what was dropped is said in words: the form's ``x-rules`` sentences join the tool's
  description, and ``x-data-source`` becomes "find one with the selectList tool" in the field's;
- an ``enum`` of more than :data:`MAX_ENUM` values (sparse fieldsets: 100+ names, repeated across
  tools) is said in words with its first values, pointing to ``describeAction``;
- a schema longer than :data:`MAX_SCHEMA_CHARS` lists each structured input by its own shape
  only (:func:`compact`; a flow definition alone is 1.4 MB), pointing to ``describeAction``.

Dropping a rule loosens nothing that matters: the Runner validates every call against the
action's own model and names the field's label in its error, before anything is sent.

Tool names are the action keys (``createProfile``), which already fit every client's rule
(:data:`TOOL_NAME`: at most 64 of ``[A-Za-z0-9_-]``); a key that doesn't fit is mapped by
:func:`tool_name`, the same way everywhere.

Nothing here imports the MCP SDK; importing this module is cheap.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal

Format = Literal["mcp", "openai", "anthropic"]
FORMATS: tuple[Format, ...] = ("mcp", "openai", "anthropic")

# The rule MCP clients (Claude, OpenAI, Cursor, VS Code, Gemini) share for tool names.
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# OpenAI refuses a function description longer than this; the other formats use the same cap.
MAX_DESCRIPTION = 1024
# A tool's definition goes to the model on every turn: an input schema longer than this (JSON
# characters, about 8k tokens) is listed with each input's own shape only (:func:`compact`).
MAX_SCHEMA_CHARS = 32_000
# An enum longer than this is summarized in words, not listed (see _Flattener.schema).
MAX_ENUM = 25

# JSON Schema keywords kept in a tool input schema: the subset the clients above all accept.
KEPT = frozenset(
    {
        "type",
        "title",
        "description",
        "properties",
        "required",
        "additionalProperties",
        "items",
        "enum",
        "default",
        "examples",
        "format",
        "pattern",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "uniqueItems",
        "minProperties",
        "maxProperties",
        "anyOf",
        "allOf",
    }
)
# Keywords whose value is a map of names to schemas, and those whose value is one schema.
_SCHEMA_MAPS = ("properties",)
_SCHEMA_VALUES = ("items", "additionalProperties")
# A branch that declares one of these is an alternative type, not a cross-field rule.
_TYPED = ("type", "$ref", "enum", "const")


def tool_name(key: str) -> str:
    """The tool name for an action or picklist key: the key itself when it fits :data:`TOOL_NAME`,
    else its letters, digits, ``_`` and ``-`` (others become ``_``), cut to 55 characters plus
    ``_`` and 8 hex digits of the key's SHA-1 so two long keys never share a name."""
    if TOOL_NAME.match(key):
        return key
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", key) or "_"
    if len(safe) <= 64 and safe == key:
        return safe
    return f"{safe[:55]}_{hashlib.sha1(key.encode()).hexdigest()[:8]}"


def is_generated(plugin: Any) -> bool:
    """Whether an action was generated from the catalog rather than curated: generated actions
    carry ``generated=True`` or a ``group`` other than ``"curated"`` (see ``model.Action``)."""
    if getattr(plugin, "generated", False) is True:
        return True
    group = getattr(plugin, "group", None)
    return isinstance(group, str) and group not in ("", "curated")


def toolset(tag: str) -> str:
    """The toolset name of a catalog tag: ``Custom Objects`` -> ``custom_objects``."""
    return re.sub(r"[^a-z0-9]+", "_", tag.lower()).strip("_")


def toolsets_of(plugin: Any) -> tuple[str, ...]:
    """The resource toolsets an action belongs to: the catalog tags of the operations it calls
    (``addProfilesToList``: ``lists``, ``profiles``); none for an action that names no operation."""
    from .catalog import operation

    tags = {operation(op_id).tag for op_id in getattr(plugin, "operations", ())}
    return tuple(sorted(toolset(tag) for tag in tags if tag))


def resource_toolsets() -> tuple[str, ...]:
    """Every resource toolset: one per tag of the catalog's operations (``catalogs``, ``profiles``, ...)."""
    from .catalog import operations

    return tuple(sorted({toolset(op.tag) for op in operations() if op.tag}))


# -- input schemas ----------------------------------------------------------------------------


def _is_rule(branch: Any) -> bool:
    """A combinator branch that states a cross-field rule ({"required": [...]}, ...) rather than
    an alternative type (one that declares a type, or is itself a choice of types)."""
    if not isinstance(branch, Mapping):
        return True
    if any(k in branch for k in _TYPED):
        return False
    choices = [branch[k] for k in ("anyOf", "oneOf", "allOf") if isinstance(branch.get(k), list)]
    return not choices or any(_is_rule(b) for choice in choices for b in choice)


def _picklist_note(source: str) -> str:
    return f"Find one with the {tool_name(source)} tool."


def _join(*parts: str | None) -> str:
    return " ".join(p.strip() for p in parts if p and p.strip())


class _Flattener:
    def __init__(self, defs: Mapping[str, Any]) -> None:
        self.defs = defs

    def schema(self, node: Any, stack: tuple[str, ...] = ()) -> Any:
        if not isinstance(node, Mapping):
            return copy.deepcopy(node)
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            name = ref.rsplit("/", 1)[1]
            if name in stack:  # a recursive model: stop with an open object one level down
                return {"type": "object", "description": f"Another {name}, with the same members."}
            target = {**self.defs.get(name, {}), **{k: v for k, v in node.items() if k != "$ref"}}
            return self.schema(target, (*stack, name))
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "const":
                out["enum"] = [copy.deepcopy(value)]
            elif key in ("oneOf", "anyOf"):
                if value and not any(_is_rule(b) for b in value):
                    out.setdefault("anyOf", []).extend(self.schema(b, stack) for b in value)
            elif key == "allOf":
                if value and not any(_is_rule(b) for b in value):
                    out["allOf"] = [self.schema(b, stack) for b in value]
            elif key in _SCHEMA_MAPS and isinstance(value, Mapping):
                out[key] = {name: self.schema(sub, stack) for name, sub in value.items()}
            elif key in _SCHEMA_VALUES and isinstance(value, Mapping):
                out[key] = self.schema(value, stack)
            elif key == "enum" and isinstance(value, list) and len(value) > MAX_ENUM:
                # Sparse-fieldset enums run to 100+ names and repeat across tools; an agent's context
                # is better spent elsewhere. The action still refuses a value outside the list.
                shown = ", ".join(str(v) for v in value[:5])
                out["description"] = _join(
                    out.get("description"),
                    f"One of {len(value)} values ({shown}, ...); describeAction lists them all.",
                )
            elif key in KEPT:
                out[key] = copy.deepcopy(value)
        notes = []
        rules = node.get("x-rules")
        if isinstance(rules, list):
            notes.extend(str(rule) for rule in rules)
        source = node.get("x-data-source")
        if isinstance(source, str):
            notes.append(_picklist_note(source))
        if notes:
            out["description"] = _join(out.get("description"), *notes)
        return out


def tool_input_schema(form_schema: Mapping[str, Any]) -> dict[str, Any]:
    """A tool input schema for an action's form schema (see the module's docstring).

    Shape: ``{"type": "object", "properties": {...}, "required": [...], "additionalProperties":
    false}``, with no ``$ref``/``$defs``, no top-level combinator and only :data:`KEPT` keywords.
    The form's cross-field rules are returned in ``description`` (as sentences), not enforced.
    """
    flat = _Flattener(form_schema.get("$defs") or {}).schema(
        {k: v for k, v in form_schema.items() if k != "$defs"}
    )
    out: dict[str, Any] = {"type": "object", "properties": flat.get("properties", {})}
    if flat.get("required"):
        out["required"] = list(flat["required"])
    if "additionalProperties" in flat:
        out["additionalProperties"] = flat["additionalProperties"]
    if flat.get("description"):  # the form's rules, in words
        out["description"] = flat["description"]
    return out


def _shallow(node: Mapping[str, Any], key: str) -> dict[str, Any]:
    """One input's own shape: its type, label, description and limits, without its members."""
    nested = ("properties", "items", "additionalProperties", "anyOf", "allOf", "examples")
    out = {k: copy.deepcopy(v) for k, v in node.items() if k in KEPT and k not in nested}
    items = node.get("items")
    if isinstance(items, Mapping) and isinstance(items.get("type"), str):
        out["items"] = {"type": items["type"]}
    branches = node.get("anyOf")
    if isinstance(branches, list) and all(isinstance(b.get("type"), str) for b in branches):
        out["anyOf"] = [{"type": t} for t in dict.fromkeys(b["type"] for b in branches)]
    note = (
        f"Members left out here for size: describeAction (or `klaviyo-connector describe {key}`) lists them."
    )
    out["description"] = _join(out.get("description"), note)
    return out


def _has_members(node: Mapping[str, Any]) -> bool:
    return any(k in node for k in ("properties", "anyOf", "allOf")) or (
        isinstance(node.get("items"), Mapping) and any(k in node["items"] for k in ("properties", "anyOf"))
    )


def compact(schema: dict[str, Any], key: str, limit: int = MAX_SCHEMA_CHARS) -> dict[str, Any]:
    """``schema`` (a tool input schema) if its JSON is at most ``limit`` characters, else the
    same inputs with each structured one cut to its own shape (type, label, description, limits),
    saying where its members are listed. Nothing required is lost; the action still checks every
    member before sending."""
    if len(json.dumps(schema)) <= limit:
        return schema
    properties = {
        name: _shallow(sub, key) if isinstance(sub, Mapping) and _has_members(sub) else sub
        for name, sub in schema.get("properties", {}).items()
    }
    return {**schema, "properties": properties}


# -- tool definitions -------------------------------------------------------------------------


def annotations(plugin: Any) -> dict[str, Any]:
    """MCP tool annotations from an action's flags (``read_only``, ``destructive``,
    ``idempotent``); every action reaches Klaviyo, an open world. A picklist is read-only."""
    read_only = bool(getattr(plugin, "read_only", True))
    return {
        "title": plugin.label,
        "readOnlyHint": read_only,
        "destructiveHint": bool(getattr(plugin, "destructive", False)),
        "idempotentHint": bool(getattr(plugin, "idempotent", read_only)),
        "openWorldHint": True,
    }


def _cap(text: str, limit: int = MAX_DESCRIPTION) -> str:
    """``text`` within ``limit`` characters, cut after a whole sentence where it has to be cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    end = cut.rfind(". ")
    return cut[: end + 1] if end > limit // 2 else cut.rstrip() + "…"


def tool_description(plugin: Any, schema: Mapping[str, Any] | None = None) -> str:
    """An action's description for an agent: its own, the rules its inputs follow, and whether
    it writes (at most :data:`MAX_DESCRIPTION` characters)."""
    if getattr(plugin, "read_only", True):
        effect = "Reads only."
    elif getattr(plugin, "destructive", False):
        effect = "Writes to Klaviyo and may delete or overwrite data."
    else:
        effect = "Writes to Klaviyo."
    rules = (schema or {}).get("description")
    return _cap(_join(plugin.description, rules, effect))


def mcp_tool(plugin: Any) -> dict[str, Any]:
    """An action or picklist as an MCP tool: ``{"name", "title", "description", "inputSchema",
    "annotations"}`` (the MCP ``Tool`` object, as JSON; an input schema over
    :data:`MAX_SCHEMA_CHARS` is :func:`compact`)."""
    schema = tool_input_schema(plugin.input_schema())
    return {
        "name": tool_name(plugin.key),
        "title": plugin.label,
        "description": tool_description(plugin, schema),
        "inputSchema": compact({k: v for k, v in schema.items() if k != "description"}, plugin.key),
        "annotations": annotations(plugin),
    }


def convert(tool: Mapping[str, Any], fmt: Format) -> dict[str, Any]:
    """An MCP tool (as :func:`mcp_tool` makes it) in another format: ``openai`` is a Chat
    Completions function tool ``{"type": "function", "function": {"name", "description",
    "parameters"}}``, ``anthropic`` a Messages API tool ``{"name", "description", "input_schema"}``."""
    if fmt == "mcp":
        return dict(tool)
    if fmt == "openai":
        return {
            "type": "function",
            "function": {
                "name": tool["name"],
                "description": tool["description"],
                "parameters": tool["inputSchema"],
            },
        }
    if fmt == "anthropic":
        return {"name": tool["name"], "description": tool["description"], "input_schema": tool["inputSchema"]}
    raise ValueError(f"unknown tool format {fmt!r}; use one of {', '.join(FORMATS)}")


def tool_definitions(plugins: Iterable[Any], fmt: Format = "mcp") -> list[dict[str, Any]]:
    """Each action (or picklist) as a tool definition in ``fmt``, in the order given."""
    return [convert(mcp_tool(plugin), fmt) for plugin in plugins]
