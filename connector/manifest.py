"""The host manifest: one JSON document describing the whole component, built from its declarations.

A host renders connections, action forms, picklists and triggers from it without importing Python.
Everything is read from the component at call time (input schemas from each pydantic model, scopes
and rate limits from the catalog); nothing is built when this module is imported. The manifest's own
JSON Schema is ``manifest.schema.json`` beside this file.

Output schemas: an action may declare ``output_schema``; otherwise it is derived from the catalog's
facts about the action's main operation (see :func:`result_schema`), wrapped in the runner's
``{"data": ...}`` envelope.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .catalog import Operation
    from .model import Action, Component, Connection, DataSource

MANIFEST_VERSION = 1
SCHEMA_FILE = Path(__file__).with_name("manifest.schema.json")
DRAFT = "https://json-schema.org/draft/2020-12/schema"
# The group of an action that calls no catalog operation (it can call any).
OTHER_GROUP = "Other"
# The plugin kinds a component may declare, as (manifest key, Component attribute). Triggers are
# optional: a component without a ``triggers`` attribute has none.
PLUGIN_KINDS = (("actions", "actions"), ("dataSources", "data_sources"), ("triggers", "triggers"))

# -- output schemas ------------------------------------------------------------------------------

RESOURCE = {
    "title": "JSON:API resource",
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"type": "string"},
        "id": {"type": ["string", "null"]},
        "attributes": {"type": "object"},
        "relationships": {"type": "object"},
        "links": {"type": "object"},
        "meta": {"type": "object"},
    },
}
_DEFS = {"resource": RESOURCE}
_RESOURCES = {"type": "array", "items": {"$ref": "#/$defs/resource"}}
_MEMBERS = {"links": {"type": "object"}, "meta": {"type": "object"}, "included": _RESOURCES}


_RESOURCE_REF = {"$ref": "#/$defs/resource"}


def member(type_: str | Sequence[str] | None, description: str, **schema: Any) -> dict[str, Any]:
    """One member of a result: its JSON type(s) (None: any JSON), a one-line description, and any
    further keywords (``items``, ``properties``, ``enum``...)."""
    out: dict[str, Any] = {}
    if type_ is not None:
        out["type"] = type_ if isinstance(type_, str) else list(type_)
    return {**out, "description": description, **schema}


def resources(description: str) -> dict[str, Any]:
    """A member holding a list of JSON:API resources."""
    return member("array", description, items=dict(_RESOURCE_REF))


ACKNOWLEDGEMENT_MEMBERS: dict[str, dict[str, Any]] = {
    "accepted": member("string", "What Klaviyo accepted, in words."),
    "status": member(["integer", "null"], "Klaviyo's HTTP status (null when nothing needed sending)."),
    "asynchronous": member("boolean", "Whether Klaviyo finishes the work later."),
    "job_id": member(["string", "null"], "The ID of the job Klaviyo created, when it answered with one."),
    "job": {**_RESOURCE_REF, "description": "The job Klaviyo created, when it answered with one."},
}


def acknowledgement_schema(
    *,
    description: str | None = None,
    required: Sequence[str] = (),
    omit: Sequence[str] = (),
    **members: Mapping[str, Any],
) -> dict[str, Any]:
    """The "Acknowledgement" an action returns for a 202/204 answer (see ``jsonapi.acknowledgement``):
    ``accepted``, ``status`` and ``asynchronous``, the job Klaviyo created (unless its name is in
    ``omit``), then the action's own ``members``; those in ``required`` are always present.

    Without a ``description`` an action's declared schema takes the one derived from its operation.
    """
    properties = {name: dict(schema) for name, schema in ACKNOWLEDGEMENT_MEMBERS.items() if name not in omit}
    properties.update({name: dict(schema) for name, schema in members.items()})
    out: dict[str, Any] = {"title": "Acknowledgement"}
    if description is not None:
        out["description"] = description
    return {
        **out,
        "type": "object",
        "required": ["accepted", "status", "asynchronous", *required],
        "properties": properties,
    }


def document_schema(
    *,
    many: bool = False,
    description: str | None = None,
    required: Sequence[str] = (),
    **members: Mapping[str, Any],
) -> dict[str, Any]:
    """Klaviyo's JSON:API document (``many``: a collection) with the action's own top-level
    ``members`` beside ``data``, ``links``, ``meta`` and ``included``."""
    data = _RESOURCES if many else {"anyOf": [_RESOURCE_REF, {"type": "null"}]}
    out: dict[str, Any] = {"title": "JSON:API collection" if many else "JSON:API document"}
    if description is not None:
        out["description"] = description
    return {
        **out,
        "type": "object",
        "required": ["data", *required],
        "properties": {"data": data, **_MEMBERS, **{name: dict(schema) for name, schema in members.items()}},
    }


def spec_document(op: Operation, title: str, description: str) -> dict[str, Any] | None:
    """Klaviyo's answer to ``op`` as the spec's response schema shapes it (``klaviyo_connector.schemas``),
    its top-level members listed in place (so a host sees them without following a ``$ref``), under
    ``title`` and ``description``; None when the operation's success has no body."""
    from .schemas import response_schema

    status = next((code for code in op.success if code not in (202, 204)), None)
    found = response_schema(op.id, status) if status is not None else None
    if found is None:
        return None
    defs = dict(found.get("$defs") or {})
    root: Mapping[str, Any] = found
    while "$ref" in root and len(root) <= 3:  # the root names its definition: show that one's members
        root = defs[str(root["$ref"]).rsplit("/", 1)[-1]]
    members = {k: v for k, v in root.items() if k not in ("$schema", "$defs", "title", "description")}
    required = members.pop("required", None)
    # Sparse fieldsets and includes leave out members the spec marks required: below the document's
    # own members, nothing is required, so a read with fields[...] still matches its schema.
    out = {
        "title": title,
        "description": description,
        **_optional(members),
        "$defs": _optional(defs, names=True),
    }
    if required:
        out["required"] = list(required)
    return out


def _optional(schema: Any, names: bool = False) -> Any:
    """A copy of ``schema`` without ``required`` lists (enums and other values kept as they are);
    ``names``: ``schema`` maps names to schemas (``properties``, ``$defs``), so every key is kept."""
    if isinstance(schema, list):
        return [_optional(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    if names:
        return {name: _optional(sub) for name, sub in schema.items()}
    return {
        k: v if k in ("enum", "const", "default", "examples") else _optional(v, k in ("properties", "$defs"))
        for k, v in schema.items()
        if k != "required"
    }


def _document(op: Operation) -> dict[str, Any]:
    description = f"Klaviyo's document from {op.id} (HTTP {_codes(op)}) with one resource (or null)."
    return spec_document(op, "JSON:API document", description) or document_schema(description=description)


def _collection(op: Operation) -> dict[str, Any]:
    description = (
        f"Klaviyo's document from {op.id} (HTTP {_codes(op)}) with a list of resources; "
        "when the action reads several pages they are joined into one document, and meta.next_cursor "
        "is the cursor of the page after the last one read."
    )
    return spec_document(op, "JSON:API collection", description) or document_schema(
        many=True, description=description
    )


_ANSWERS = {
    202: "202: Klaviyo accepted the request and finishes it asynchronously",
    204: "204 with no body: the change is made",
}


def _acknowledgement(op: Operation) -> dict[str, Any]:
    answers = " or ".join(_ANSWERS[code] for code in op.success)
    return acknowledgement_schema(
        description=f"{op.id} answers HTTP {answers}; there is no resource to return, so the action "
        "says in words what was accepted, with the job Klaviyo created (if any) and details of the request."
    )


_ANY = {
    "title": "Any JSON",
    "description": "The action calls no fixed operation, so its result's shape depends on the request.",
}


def _codes(op: Operation) -> str:
    return "/".join(str(c) for c in op.success)


def main_operation(action: Action) -> Operation | None:
    """The operation whose answer an action returns: its last write, else its first read.

    Lookups an action makes before its write (finding profiles, reading a list's opt-in setting)
    come first in ``operations``; the write they prepare is what the action reports on.
    """
    from .catalog import operation

    ops = [operation(op_id) for op_id in action.operations]
    writes = [op for op in ops if op.method != "GET"]
    if writes:
        return writes[-1]
    return ops[0] if ops else None


def result_schema(action: Action) -> dict[str, Any]:
    """The JSON Schema of what ``perform`` returns: the action's own ``output_schema`` (a declared
    Acknowledgement or JSON:API document without a description takes the derived one's), else from
    the catalog's facts about its main operation. Success codes that are all 202 or 204 mean there is no
    resource to return, so the action acknowledges; otherwise it returns Klaviyo's JSON:API document,
    one resource or a collection as the operation's response data says."""
    if action.output_schema is not None:
        declared = json.loads(json.dumps(action.output_schema))  # a private copy the caller may change
        derived = _derived_schema(action)
        if (
            "description" in declared
            or "description" not in derived
            or declared.get("title") != derived["title"]
        ):
            return declared
        return {"title": declared.pop("title"), "description": derived["description"], **declared}
    return _derived_schema(action)


def _derived_schema(action: Action) -> dict[str, Any]:
    """The result schema the catalog's facts about the action's main operation give."""
    op = main_operation(action)
    if op is None:
        return dict(_ANY)
    if all(code in (202, 204) for code in op.success):
        return _acknowledgement(op)
    if op.response_data == "many":
        return _collection(op)
    if op.response_data == "one":
        return _document(op)
    return dict(_ANY)


def output_schema(action: Action) -> dict[str, Any]:
    """What the runner returns for the action: ``{"data": <result>}``."""
    result = result_schema(action)
    defs = {**_DEFS, **result.pop("$defs", {})}
    return {
        "$schema": DRAFT,
        "type": "object",
        "required": ["data"],
        "properties": {"data": result},
        "additionalProperties": False,
        "$defs": defs,
    }


def data_source_output_schema() -> dict[str, Any]:
    """What the runner returns for a picklist: ``{"result": [{"key", "label"}, ...]}``."""
    option = {
        "type": "object",
        "required": ["key", "label"],
        "properties": {"key": {"type": "string"}, "label": {"type": "string"}},
    }
    return {
        "$schema": DRAFT,
        "type": "object",
        "required": ["result"],
        "properties": {"result": {"type": "array", "items": option}},
        "additionalProperties": False,
    }


# -- facts per plugin ------------------------------------------------------------------------------


def input_schema(plugin: Any) -> dict[str, Any]:
    """The plugin's inputs as the form a host renders: the plugin's own ``input_schema()`` where it
    has one, else the JSON Schema of its input model."""
    own = getattr(plugin, "input_schema", None)
    schema = own() if callable(own) else plugin.inputs.model_json_schema()
    return {"$schema": DRAFT, **schema}


def picklists(schema: Any, pointer: str = "") -> Iterator[dict[str, str]]:
    """Every ``x-data-source`` in a schema: its JSON Pointer and the data source named there."""
    if isinstance(schema, Mapping):
        name = schema.get("x-data-source")
        if isinstance(name, str):
            yield {"pointer": pointer, "dataSource": name}
        for key, value in schema.items():
            yield from picklists(value, f"{pointer}/{_escape(str(key))}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            yield from picklists(value, f"{pointer}/{index}")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def group(action: Action) -> str:
    """The resource an action works on: the catalog tag of its main operation."""
    op = main_operation(action)
    return (op.tag if op is not None else None) or OTHER_GROUP


def rate_limits(operations: Sequence[str]) -> list[dict[str, Any]]:
    from .catalog import operation

    out = []
    for op_id in operations:
        op = operation(op_id)
        if op.rate_limit is not None:
            out.append(
                {
                    "operation": op.id,
                    "method": op.method,
                    "path": op.path,
                    "burstPerSecond": op.rate_limit.burst,
                    "steadyPerMinute": op.rate_limit.steady,
                    "daily": op.rate_limit.daily,
                    "text": op.rate_limit.describe(),
                }
            )
    return out


def plugins(component: Component, attribute: str) -> list[Any]:
    """The component's plugins of one kind, in declaration order (none when it has no such kind)."""
    found = getattr(component, attribute, None)
    if found is None:
        return []
    return list(found.values()) if isinstance(found, Mapping) else list(found)


def _common(plugin: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "key": plugin.key,
        "label": plugin.label,
        "description": getattr(plugin, "description", ""),
    }
    if getattr(plugin, "inputs", None) is not None:
        schema = input_schema(plugin)
        out["inputSchema"] = schema
        out["picklists"] = list(picklists(schema))
    operations = list(getattr(plugin, "operations", ()))
    out["operations"] = operations
    out["scopes"] = list(plugin.scopes) if hasattr(plugin, "scopes") else []
    out["rateLimits"] = rate_limits(operations)
    return out


def action_entry(action: Action) -> dict[str, Any]:
    return {
        **_common(action),
        "group": group(action),
        "readOnly": action.read_only,
        "idempotent": action.idempotent,
        "destructive": action.destructive,
        "generated": action.generated,
        "outputSchema": output_schema(action),
    }


def listed_actions(component: Component) -> list[Action]:
    """The curated actions, then the one generated for every operation (``generated``: a host shows
    them apart, as "all operations"); a component without generated actions lists its own."""
    curated = plugins(component, "actions")
    every = getattr(component, "all_actions", None)
    return list(every().values()) if callable(every) else curated


def data_source_entry(source: DataSource) -> dict[str, Any]:
    return {**_common(source), "outputSchema": data_source_output_schema()}


# One trigger record, whatever the trigger (see klaviyo_connector.model.Trigger).
TRIGGER_RECORD_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["key", "occurred_at", "data"],
    "properties": {
        "key": {"type": "string", "description": "Stable de-duplication key."},
        "occurred_at": {"type": ["string", "null"], "format": "date-time"},
        "data": {"type": "object", "description": "The resource, as the matching get action returns it."},
    },
}


def trigger_entry(trigger: Any) -> dict[str, Any]:
    entry = _common(trigger)
    kind = getattr(trigger, "kind", None)
    if kind is not None:  # a polling trigger is run with run_trigger; a webhook one is set up
        entry["kind"] = kind
        entry["recordSchema"] = TRIGGER_RECORD_SCHEMA
    return entry


def required_scopes(component: Component) -> list[str]:
    """Every scope the component's plugins need, from the catalog."""
    from .catalog import scopes_for

    operations = [
        op
        for _, attr in PLUGIN_KINDS
        for p in plugins(component, attr)
        for op in getattr(p, "operations", ())
    ]
    return list(scopes_for(operations))


def oauth2(connection: Connection, component: Component) -> dict[str, Any] | None:
    """The OAuth endpoints of a connection whose module reads them from its fields (else None).

    The connection's own ``config_from_fields`` settles the defaults (the revoke URL derives from
    the token URL), so the manifest states what the connector really uses.
    """
    module = connection.load()
    config_from_fields = getattr(module, "config_from_fields", None)
    if config_from_fields is None:
        return None
    placeholders = {f.key: "client" for f in connection.fields if f.required}
    config = config_from_fields(placeholders)
    return {
        "grantType": "authorization_code",
        "pkce": "S256",  # connections/oauth2.py sends an S256 challenge with every authorization
        "clientAuthentication": "client_secret_basic",
        "authorizeUrl": config.authorize_url,
        "tokenUrl": config.token_url,
        "revokeUrl": config.revoke_url,
        "defaultScopes": list(config.scopes) or required_scopes(component),
    }


def connection_entry(connection: Connection, component: Component) -> dict[str, Any]:
    return {
        "key": connection.key,
        "label": connection.label,
        "description": connection.description,
        "fields": [
            {
                "key": f.key,
                "label": f.label,
                "description": f.description,
                "secret": f.secret,
                "required": f.required,
                "default": f.default,
            }
            for f in connection.fields
        ],
        "oauth2": oauth2(connection, component),
    }


def build_manifest(component: Component | None = None) -> dict[str, Any]:
    """The manifest of ``component`` (default: this package's Klaviyo component)."""
    if component is None:
        from .component import component as default

        component = default
    return {
        "manifestVersion": MANIFEST_VERSION,
        "component": {
            "key": component.key,
            "label": component.label,
            "description": component.description,
            "version": component.version,
        },
        "connections": [connection_entry(c, component) for c in component.connections],
        "actions": [action_entry(a) for a in listed_actions(component)],
        "dataSources": [data_source_entry(d) for d in plugins(component, "data_sources")],
        "triggers": [trigger_entry(t) for t in plugins(component, "triggers")],
    }


def manifest_schema() -> dict[str, Any]:
    """The JSON Schema every manifest validates against."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
