"""Input models for any Klaviyo operation, built from its catalog parameters and request-body schema.

:func:`plan` turns one operation into a :class:`Plan`: a pydantic input model (an
:class:`~klaviyo_connector.inputs.Inputs`, so :func:`~klaviyo_connector.inputs.validate_inputs` is
the one coercion path and errors name each input's label) and the :class:`Slot` that says where each
input goes in the request. Built on first use of an operation and cached; nothing is built at import.

Where the inputs come from (keys and labels by :mod:`klaviyo_connector.naming`):

- path parameters: a required ID input named after the resource the path segment before it names
  (``/api/catalog-items/{id}`` -> ``catalogItemId``, "Catalog Item ID"), wired to the picklist
  ``select<Resource>`` when the component declares one (``x-data-source``, set when the form is built);
- query parameters: Filter (checked against the catalog's filterable fields and operators), Sort
  (its enum), ``fields[<type>]`` -> ``<type>Fields``, ``include`` -> ``include``,
  ``additional-fields[<type>]`` -> ``additional<Type>Fields`` (values checked against the catalog's
  enums), any other parameter under its own name; a list operation (a GET answering many resources
  with a page cursor) takes the list inputs of :func:`~klaviyo_connector.listing.list_inputs`;
- a JSON:API body, flattened: each ``data.attributes`` member and each ``data.meta`` member is an input
  under its own name, with type, enum, required flag and limits from the schema; each relationship an
  ID input (``<name>Id``) or, to-many, a list of IDs (``<name>Ids``); a ``data.id`` that no path
  parameter gives is an ID input; a body whose ``data`` is a list of resource identifiers is one list
  of IDs. A member that is not a scalar (or a list of scalars) is one object/array input that keeps
  the spec's schema, refuses members the schema does not name, and is checked against it before
  sending (``jsonschema``);
- a ``multipart/form-data`` body: each part is an input; a binary part takes the file's bytes or
  base64 text.

A key already taken (a body member named like a query parameter's input) gets the suffix of where it
goes (``...Attribute``, ``...Meta``, ``...Param``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, WithJsonSchema, create_model

from . import catalog, naming, schemas
from .inputs import Email, Inputs, ResourceId, UtcDatetime
from .listing import FILTER_LABEL, FilterInput, list_inputs

# Where an input goes in the request.
PATH = "path"
QUERY = "query"  # a scalar query parameter, sent as given
CHOICES = "choices"  # a list query parameter (fields, include, additional fields): enum-checked, comma-joined
FILTER = "filter"  # the filter of an operation that does not page
ATTRIBUTE = "attribute"
META = "meta"
RELATIONSHIP = "relationship"
DATA_ID = "data-id"  # data.id that no path parameter gives
DATA_IDS = "data-ids"  # data is a list of resource identifiers
RELATIONSHIP_RAW = "relationship-raw"  # a relationship that carries more than identifiers, as given
DATA = "data"  # data as a whole (a body the flattening does not cover)
PART = "part"  # a multipart form field
FILE = "file"  # a multipart file part
_SUFFIX = {
    ATTRIBUTE: "Attribute",
    META: "Meta",
    RELATIONSHIP: "Relationship",
    RELATIONSHIP_RAW: "Relationship",
    QUERY: "Param",
    CHOICES: "Param",
    PART: "Part",
}
_SCALARS: dict[str, Any] = {"string": str, "integer": int, "number": int | float, "boolean": bool}
_EXAMPLE_TIME = "2026-05-01T09:00:00Z"


@dataclass(frozen=True)
class Slot:
    """One input and where it goes: ``where`` (a constant above) and the ``wire`` name there."""

    key: str
    where: str
    wire: str
    label: str
    resource_type: str | None = None  # a relationship's (or data.id's) JSON:API type
    many: bool = False  # a to-many relationship
    nullable: bool = True  # whether an explicit null is sent (else null means "not given")


@dataclass(frozen=True)
class Plan:
    """How one operation's inputs become its request."""

    operation: str
    model: type[Inputs]
    slots: tuple[Slot, ...]
    data_type: str | None  # the JSON:API type of the body's data (None: no JSON:API object body)
    content_type: str | None  # the body's media type, or None without a body
    listing: bool  # a list operation: paged by listing.list_collection
    id_from_path: str | None  # the path parameter whose value is also data.id
    attributes_required: bool = False  # data.attributes is sent even when no attribute input is given


# -- JSON Schema helpers --------------------------------------------------------------------------


def _deref(schema: Any, defs: Mapping[str, Any]) -> dict[str, Any]:
    seen = 0
    while isinstance(schema, Mapping) and "$ref" in schema and seen < 64:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
        seen += 1
    return dict(schema) if isinstance(schema, Mapping) else {}


def _core(schema: Any, defs: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """``(the schema without its null alternative, whether null is allowed)``."""
    node = _deref(schema, defs)
    nullable = False
    branches = node.get("anyOf")
    if isinstance(branches, list):
        rest = [b for b in branches if _deref(b, defs).get("type") != "null"]
        nullable = len(rest) < len(branches)
        if len(rest) == 1:
            inner, inner_null = _core(rest[0], defs)
            return inner, nullable or inner_null
        return {**{k: v for k, v in node.items() if k != "anyOf"}, "anyOf": rest}, nullable
    kind = node.get("type")
    if isinstance(kind, list):
        rest_types = [t for t in kind if t != "null"]
        nullable = len(rest_types) < len(kind)
        node = {**node, "type": rest_types[0] if len(rest_types) == 1 else rest_types}
        if isinstance(node.get("enum"), list):
            node["enum"] = [v for v in node["enum"] if v is not None]
    return node, nullable


def closed(schema: Any) -> Any:
    """A copy of ``schema`` where every object that names its properties refuses other members."""
    if isinstance(schema, list):
        return [closed(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("enum", "const", "default", "required", "examples"):
            out[key] = value
        elif key in ("properties", "$defs"):
            out[key] = {name: closed(sub) for name, sub in value.items()}
        else:
            out[key] = closed(value)
    if "properties" in out and "additionalProperties" not in out:
        out["additionalProperties"] = False
    return out


def inline(schema: Any, defs: Mapping[str, Any], seen: frozenset[str] = frozenset()) -> Any:
    """``schema`` with its ``$ref``s replaced by what they name (a form renderer needs no ``$defs``);
    a definition met again inside itself becomes ``{"type": "object"}``."""
    if isinstance(schema, list):
        return [inline(item, defs, seen) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in seen:
            return {"type": "object"}
        return inline(defs[name], defs, seen | {name})
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ("enum", "const", "default", "required", "examples", "$schema"):
            if key != "$schema":
                out[key] = value
        elif key == "properties":
            out[key] = {name: inline(sub, defs, seen) for name, sub in value.items()}
        else:
            out[key] = inline(value, defs, seen)
    return out


def _check_time(value: object) -> bool:
    """The project's rule for a date-time (a UTC offset is required), as a jsonschema format check."""
    from .inputs import aware_datetime

    if not isinstance(value, str):
        return True
    try:
        aware_datetime(value)
    except ValueError:
        return False
    return True


@functools.cache
def _format_checker() -> Any:
    from jsonschema import FormatChecker

    checker = FormatChecker(())
    checker.checks("date-time", raises=())(_check_time)
    return checker


class SchemaCheck:
    """Checks an object or array input against the spec's schema of that member (``jsonschema``,
    imported when the first value is checked), refusing members the schema does not name."""

    def __init__(self, schema: Mapping[str, Any], defs: Mapping[str, Any]) -> None:
        self.schema = {"$defs": closed(dict(defs)), **closed(dict(schema))}

    @functools.cached_property
    def validator(self) -> Any:
        from jsonschema import Draft202012Validator

        return Draft202012Validator(self.schema, format_checker=_format_checker())

    def __call__(self, value: Any) -> Any:
        from jsonschema.exceptions import best_match

        error = best_match(self.validator.iter_errors(value))
        if error is not None:
            where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            problem = error.message
            if error.validator == "additionalProperties":
                problem = f"{problem} (not a member the API takes here)"
            elif error.validator == "format" and error.validator_value == "date-time":
                from .inputs import TIME_RULE

                problem = f"{error.instance!r} is not a date-time with its UTC offset; {TIME_RULE}"
            raise ValueError(f"{where.lstrip('.')}: {problem}" if where else problem)
        return value


def _decode_file(value: Any) -> bytes:
    if isinstance(value, bytes):
        content = value
    else:
        try:
            content = base64.b64decode(re.sub(r"\s+", "", str(value)), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("must be the file's bytes or base64 text; this is not valid base64") from None
    if not content:
        raise ValueError("is empty")
    return content


# -- one input's type -------------------------------------------------------------------------------


def _scalar(node: Mapping[str, Any]) -> tuple[Any, dict[str, Any]] | None:
    """The annotation and Field limits of a scalar schema, or None when it is not one."""
    kind = node.get("type")
    if "anyOf" in node or not isinstance(kind, str) or kind not in _SCALARS:
        return None
    limits: dict[str, Any] = {}
    enum = node.get("enum")
    if isinstance(enum, list) and enum:
        return Literal[tuple(enum)], limits  # type: ignore[valid-type]
    if kind == "string":
        fmt = node.get("format")
        if fmt == "date-time":
            return UtcDatetime, limits
        if fmt == "date":
            return dt.date, limits
        if fmt == "email":
            return Email, limits
        for key, arg in (("minLength", "min_length"), ("maxLength", "max_length"), ("pattern", "pattern")):
            if key in node:
                limits[arg] = node[key]
    elif kind in ("integer", "number"):
        for key, arg in (
            ("minimum", "ge"),
            ("maximum", "le"),
            ("exclusiveMinimum", "gt"),
            ("exclusiveMaximum", "lt"),
        ):
            if isinstance(node.get(key), (int, float)) and not isinstance(node.get(key), bool):
                limits[arg] = node[key]
    return _SCALARS[kind], limits


def member_type(
    schema: Any, defs: Mapping[str, Any], label: str
) -> tuple[Any, dict[str, Any], bool, dict[str, Any]]:
    """``(annotation, Field limits, nullable, the member's schema)`` for one body member: a scalar
    (or list of scalars) typed from its schema, else an object/array input checked by :class:`SchemaCheck`."""
    node, nullable = _core(schema, defs)
    found = _scalar(node)
    if found is not None:
        return found[0], found[1], nullable, node
    if node.get("type") == "array" and "items" in node:
        item_node, item_null = _core(node["items"], defs)
        item = _scalar(item_node)
        if item is not None and not item_null and not item[1]:
            limits: dict[str, Any] = {}
            if "minItems" in node:
                limits["min_length"] = node["minItems"]
            if "maxItems" in node:
                limits["max_length"] = node["maxItems"]
            return list[item[0]], limits, nullable, node  # type: ignore[valid-type]
    kind = node.get("type")
    base: Any = dict[str, Any] if kind == "object" else list[Any] if kind == "array" else Any
    if "anyOf" in node:
        kinds = {_core(b, defs)[0].get("type") for b in node["anyOf"]}
        if kinds <= {"object"}:
            base = dict[str, Any]
        elif "array" in kinds or "object" in kinds:
            base = dict[str, Any] | list[Any] | str | int | float | bool
    annotation = Annotated[
        base,
        AfterValidator(SchemaCheck(node, defs)),
        WithJsonSchema(inline(closed(node), closed(dict(defs)))),
    ]
    return annotation, {"examples": [example_value(node, defs)]}, nullable, node  # a value the spec takes


# -- the plan --------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, op: catalog.Operation) -> None:
        self.op = op
        self.fields: dict[str, tuple[Any, Any]] = {}
        self.slots: list[Slot] = []
        self.taken: set[str] = set()

    def key(self, key: str, label: str, where: str) -> tuple[str, str]:
        if key in self.taken:
            suffix = _SUFFIX.get(where, "Input")
            key, label = key + suffix, f"{label} ({naming.label(suffix)})"
        self.taken.add(key)
        return key, label

    def add(
        self,
        slot: Slot,
        annotation: Any,
        *,
        required: bool,
        description: str,
        limits: Mapping[str, Any] | None = None,
        extra: Any = None,
        examples: list[Any] | None = None,
    ) -> None:
        options: dict[str, Any] = {"title": slot.label, "description": description, **(limits or {})}
        if extra is not None:
            options["json_schema_extra"] = extra
        if examples:
            options["examples"] = examples
        if required:
            self.fields[slot.key] = (annotation, Field(..., **options))
        else:
            self.fields[slot.key] = (annotation | None, Field(None, **options))
        self.slots.append(slot)

    def id_input(
        self, where: str, wire: str, resource: str, required: bool, description: str, many: bool = False
    ) -> None:
        """An ID input (or a list of IDs) for a resource of JSON:API type or path segment ``resource``."""
        words = naming.singular(resource)
        key, label = self.key(
            naming.lower_camel(words) + ("Ids" if many else "Id"),
            naming.label(words) + (" IDs" if many else " ID"),
            where,
        )
        slot = Slot(key, where, wire, label, resource_type=resource, many=many, nullable=False)
        hint = PicklistHint(words)
        if many:
            self.add(slot, list[ResourceId], required=required, description=description, extra=hint)
        else:
            self.add(
                slot,
                ResourceId,
                required=required,
                description=description,
                extra=hint,
                limits={"min_length": 1},
            )

    def member(self, where: str, wire: str, schema: Any, defs: Mapping[str, Any], required: bool) -> None:
        key, label = self.key(naming.lower_camel(wire), naming.label(wire), where)
        annotation, limits, nullable, node = member_type(schema, defs, label)
        place = {
            ATTRIBUTE: "data.attributes.",
            META: "data.meta.",
            RELATIONSHIP_RAW: "data.relationships.",
            DATA: "",
        }
        description = (
            f"The {wire} part of the form" if where == PART else f"{place[where]}{wire} of the request body"
        )
        if node.get("default") is not None:
            description += f"; Klaviyo's default: {node['default']}"
        examples = [_EXAMPLE_TIME] if annotation is UtcDatetime else None
        slot = Slot(key, where, wire, label, nullable=nullable)
        extra = None
        if re.fullmatch(r"[a-z_]+_ids?", wire) and node.get("type") in ("string", "array"):
            # A member that holds another resource's ID (metric_id): its picklist, if there is one.
            extra = PicklistHint(re.sub(r"_ids?$", "", wire).replace("_", "-"))
        self.add(
            slot,
            annotation,
            required=required,
            description=description + ".",
            limits=limits,
            examples=examples,
            extra=extra,
        )


@dataclass(frozen=True)
class PicklistHint:
    """``json_schema_extra`` naming the picklist ``select<Resource>`` for an ID input, when the
    component declares one; looked up when the form is built, so building the model loads no picklist."""

    resource: str

    def __call__(self, schema: dict[str, Any]) -> None:
        name = picklist_for(self.resource)
        if name is not None:
            target = schema.get("items") if schema.get("type") == "array" else schema
            if isinstance(target, dict):
                target["x-data-source"] = name


def picklist_for(resource: str) -> str | None:
    """``select<Resource>`` (``catalog-item`` -> ``selectCatalogItem``) if the component declares it."""
    from .component import component

    name = "select" + "".join(w[:1].upper() + w[1:] for w in naming.words(naming.singular(resource)))
    return name if name in component.data_sources else None


def _filter_options(op: catalog.Operation) -> dict[str, Any]:
    from .listing import filter_example

    options: dict[str, Any] = {
        "title": FILTER_LABEL,
        "description": (FilterInput.model_fields["filter"].description or "") + " Required by this endpoint.",
        "min_length": 1,
    }
    example = filter_example(op.id)
    if example:
        options["examples"] = [example]
    return options


def _query_inputs(b: _Builder, listing: bool) -> None:
    op = b.op
    by_listing = {"sort", "page[size]", op.cursor_param or "page[cursor]"} if listing else set()
    if listing and not op.filter_required:
        by_listing.add("filter")
    for p in op.parameters:
        name = p["name"]
        if p["in"] != "query" or name in by_listing:
            continue
        required = bool(p.get("required"))
        if name == "filter" and listing:  # the list inputs' own Filter, required where the API requires one
            b.fields["filter"] = (str, Field(..., **_filter_options(op)))
            continue
        if name == "filter":
            key, label = b.key("filter", FILTER_LABEL, QUERY)
            description = FilterInput.model_fields["filter"].description or ""
            b.add(Slot(key, FILTER, name, label), str, required=required, description=description)
            continue
        match = re.fullmatch(r"(fields|additional-fields)\[(.+)\]", name)
        if match or name == "include":
            if name == "include":
                key, label = "include", "Include"
                what = "Related resources to include in the response"
            elif match and match.group(1) == "fields":
                key, label = (
                    naming.lower_camel(match.group(2)) + "Fields",
                    naming.label(match.group(2)) + " Fields",
                )
                what = f"The {naming.label(match.group(2))} fields to return (sparse fieldset)"
            else:
                assert match is not None
                kind = naming.label(match.group(2))
                key, label = "additional" + kind.replace(" ", "") + "Fields", f"Additional {kind} Fields"
                what = f"{kind} fields to return that Klaviyo leaves out by default"
            key, label = b.key(key, label, CHOICES)
            from .inputs import EnumHint

            b.add(
                Slot(key, CHOICES, name, label),
                list[str],
                required=required,
                description=f"{what} (query parameter {name}).",
                extra=EnumHint(op.id, query=name),
            )
            continue
        key, label = b.key(naming.lower_camel(name), naming.label(name), QUERY)
        node = {k: v for k, v in p.items() if k in ("type", "enum", "minimum", "maximum", "format")}
        if p.get("type") == "array":
            items = p.get("items") or {}
            annotation: Any = list[Literal[tuple(items["enum"])]] if items.get("enum") else list[str]  # type: ignore[misc]
            b.add(
                Slot(key, CHOICES, name, label),
                annotation,
                required=required,
                description=f"Query parameter {name}.",
            )
            continue
        scalar = _scalar(node) or (str, {})
        b.add(
            Slot(key, QUERY, name, label),
            scalar[0],
            required=required,
            description=f"Query parameter {name}.",
            limits=scalar[1],
        )


def _body_inputs(b: _Builder, path_id: str | None) -> tuple[str | None, str | None, bool]:
    """Add the body's inputs; ``(data type, path parameter giving data.id, attributes required)``."""
    op = b.op
    # The catalog says whether there is a body at all: reads never load the schema facts.
    schema = schemas.request_schema(op.id) if op.request_content_type is not None else None
    if schema is None:
        return None, None, False
    defs = schema.get("$defs", {})
    root = _deref(schema, defs)
    if op.request_content_type == "multipart/form-data":
        required = set(root.get("required", ()))
        for wire, sub in (root.get("properties") or {}).items():
            node = _deref(sub, defs)
            if node.get("format") == "binary":
                key, label = b.key(naming.lower_camel(wire), naming.label(wire), PART)
                b.add(
                    Slot(key, FILE, wire, label, nullable=False),
                    Annotated[bytes | str, AfterValidator(_decode_file)],
                    required=wire in required,
                    description=f"The {wire} part of the form: the file's bytes, or base64 text of them.",
                )
            else:
                b.member(PART, wire, sub, defs, wire in required)
        return None, None, False
    data_schema = (root.get("properties") or {}).get("data")
    data, _ = _core(data_schema, defs)
    data_required = "data" in root.get("required", ())
    if data.get("type") == "array":
        item = _deref(data.get("items"), defs)
        members = set(item.get("properties") or {})
        kind = _deref((item.get("properties") or {}).get("type"), defs).get("enum") or [None]
        if members == {"type", "id"} and kind[0]:
            b.id_input(
                DATA_IDS,
                "data",
                kind[0],
                data_required,
                "The resources this request names (data[].id).",
                True,
            )
            return kind[0], None, False
        b.member(DATA, "data", data_schema, defs, data_required)
        return None, None, False
    props = data.get("properties") or {}
    kind = _deref(props.get("type"), defs).get("enum") or [None]
    data_type = kind[0]
    needed = set(data.get("required", ()))
    id_from_path = None
    if "id" in props:
        if path_id is not None:
            id_from_path = path_id
        elif data_type:
            b.id_input(
                DATA_ID,
                "id",
                data_type,
                "id" in needed,
                "The ID of the resource this request is about (data.id).",
            )
    for where, part in ((ATTRIBUTE, "attributes"), (META, "meta")):
        node, _ = _core(props.get(part), defs)
        inner = set(node.get("required", ()))
        for wire, sub in (node.get("properties") or {}).items():
            b.member(where, wire, sub, defs, part in needed and wire in inner)
    rels, _ = _core(props.get("relationships"), defs)
    rel_required = set(rels.get("required", ()))
    for wire, sub in (rels.get("properties") or {}).items():
        rel, _ = _core(sub, defs)
        target, _ = _core((rel.get("properties") or {}).get("data"), defs)
        many = target.get("type") == "array"
        item = _deref(target.get("items"), defs) if many else target
        rel_type = (_deref((item.get("properties") or {}).get("type"), defs).get("enum") or [None])[0]
        required = "relationships" in needed and wire in rel_required
        if rel_type and set(item.get("properties") or {}) == {"type", "id"}:
            b.id_input(
                RELATIONSHIP,
                wire,
                rel_type,
                required,
                f"data.relationships.{wire} of the request body.",
                many,
            )
        else:  # a relationship with more than identifiers: the member as the spec shapes it
            b.member(RELATIONSHIP_RAW, wire, sub, defs, required)
    return data_type, id_from_path, "attributes" in needed


def _path_inputs(b: _Builder) -> str | None:
    """Add an ID input per path parameter; the one named ``id`` (if any) also gives data.id."""
    op = b.op
    found = None
    for p in op.parameters:
        if p["in"] != "path":
            continue
        name = p["name"]
        segment = op.path.split("{" + name + "}")[0].rstrip("/").rsplit("/", 1)[-1]
        description = f"The ID in the request path ({op.method} {op.path})."
        if p.get("enum"):  # a fixed set of IDs (mapped metrics): a choice, not a picklist
            words = naming.singular(segment)
            key, label = b.key(naming.lower_camel(words) + "Id", naming.label(words) + " ID", PATH)
            slot = Slot(key, PATH, name, label, resource_type=segment, nullable=False)
            b.add(slot, Literal[tuple(p["enum"])], required=True, description=description)  # type: ignore[misc]
        else:
            b.id_input(PATH, name, segment, True, description)
        if name == "id":
            found = name
    return found


@functools.cache
def plan(operation_id: str) -> Plan:
    """The input model and request mapping of one operation (operationId or alias), built once."""
    op = catalog.operation(operation_id)
    listing = op.method == "GET" and op.response_data == "many" and op.cursor_param is not None
    b = _Builder(op)
    base: type[Inputs] = list_inputs(op.id) if listing else Inputs
    b.taken.update(base.model_fields)
    path_id = _path_inputs(b)
    data_type, id_from_path, attributes_required = _body_inputs(b, path_id)
    _query_inputs(b, listing)
    # Required inputs first, as a form shows them (FormSchema orders them so too).
    model = create_model(  # type: ignore[call-overload]
        naming.lower_camel(op.id)[:1].upper() + naming.lower_camel(op.id)[1:] + "Inputs",
        __base__=base,
        **b.fields,
    )
    model.FORM_LABEL = naming.label(op.id)
    return Plan(
        operation=op.id,
        model=model,
        slots=tuple(b.slots),
        data_type=data_type,
        content_type=op.request_content_type,
        listing=listing,
        id_from_path=id_from_path,
        attributes_required=attributes_required,
    )


def example_value(schema: Any, defs: Mapping[str, Any] | None = None) -> Any:
    """A small value a schema accepts (tests and docs build inputs with it)."""
    return _example(schema, defs or {}, 0)


def _example(schema: Any, defs: Mapping[str, Any], depth: int) -> Any:
    node, _ = _core(schema, defs)
    if depth > 12:
        return None
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        return node["enum"][0]
    if "allOf" in node:  # every branch holds: their members together
        merged: dict[str, Any] = {}
        for branch in node["allOf"]:
            part = _example(branch, defs, depth + 1)
            if isinstance(part, dict):
                for name, value in part.items():
                    both = isinstance(value, dict) and isinstance(merged.get(name), dict)
                    merged[name] = {**merged[name], **value} if both else value
        return merged
    if "anyOf" in node:  # an object where one is offered: the richest example
        branches = node["anyOf"]
        objects = [b for b in branches if _core(b, defs)[0].get("type") == "object"]
        return _example((objects or branches)[0], defs, depth + 1)
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        props = node.get("properties") or {}
        return {
            name: _example(props[name], defs, depth + 1) for name in node.get("required", ()) if name in props
        }
    if kind == "array":
        count = max(1, node.get("minItems", 1))
        return [_example(node.get("items", {}), defs, depth + 1) for _ in range(count)]
    if kind == "integer":
        return int(node.get("minimum", 1))
    if kind == "number":
        return node.get("minimum", 1)
    if kind == "boolean":
        return True
    if kind == "string":
        fmt = node.get("format")
        if fmt == "date-time":
            return _EXAMPLE_TIME
        if fmt == "date":
            return "2026-05-01"
        if fmt == "email":
            return "sarah.mason@example.com"
        if fmt in ("uri", "url"):
            return "https://example.com/"
        return "example"[: node.get("maxLength", 7)] or "x"
    return "example"
