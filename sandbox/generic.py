"""The spec-driven core: natural semantics on the Store for every operation no hand-written route serves.

Each catalog operation is classified by its method and path shape (:func:`shape`):

=================  ==============================================  =====================================
kind               path                                            answer
=================  ==============================================  =====================================
``list``           ``GET /api/X``                                  a page of the stored resources
``create``         ``POST /api/X`` (body of a readable type)       stores it; 201 (or the spec's 2xx)
``named``          ``POST /api/X`` whose body names a resource     clone / render / merge: acts on it
``job``            ``POST /api/X-jobs`` (``*-job`` bodies)         stores the job, applies its items
``query``          ``POST /api/X`` of a type never stored          a report: the answer, nothing stored
``accept``         ``POST`` answered 202/204 without a body        stores what can be read back; 202
``get``            ``GET /api/X/{id}``                             the stored resource or 404
``update``         ``PATCH /api/X/{id}``                           merges attributes/relationships
``delete``         ``DELETE /api/X/{id}``                          deletes it (and its links); 204
``related``        ``GET /api/X/{id}/Y``                           the related resource(s)
``relationship``   ``GET /api/X/{id}/relationships/Y``             their ``{type, id}``
``link``           ``POST|PATCH|DELETE .../relationships/Y``       adds / replaces / removes links; 204
=================  ==============================================  =====================================

Resource types, which member holds a relationship's type, and every required member of an answer
come from the spec's schemas (:mod:`klaviyo_connector.schemas`): a resource is built from what is
stored, and a required member the store lacks gets the smallest valid value
(:func:`.instances.minimal`). Relationships are stored as links (to-many) or in the resource's
``relationships`` (to-one: ``{"tag-group": id}``), read from either side, as the hand-written
modules store them. ``/client/*`` operations act on the account named by ``company_id``.
Listings go through ``ctx.page_stored`` (filters, sorts, ``page[size]`` and cursors from the
catalog, in SQL where it can).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from .. import catalog, schemas
from . import ids
from .context import Reply, RequestContext, Route, resource_values, sparse
from .errors import ApiError, conflict, not_found
from .instances import minimal, resolve
from .store import Resource, StoreConflict

__all__ = ["Shape", "render", "routes", "shape"]

_COLLECTION_PATHS_CACHE: dict[str, str] = {}


# -- what the schemas say ---------------------------------------------------------------------------


def _data(root: Mapping[str, Any] | None) -> tuple[Mapping[str, Any] | None, bool]:
    """The schema of a document's (or body's) ``data`` resource, and whether ``data`` is an array."""
    if root is None:
        return None, False
    data = _non_null(root, root).get("properties", {}).get("data")
    if data is None:
        return None, False
    data = _non_null(data, root)
    if data.get("type") == "array":
        return _non_null(data.get("items", {}), root), True
    return data, False


def _non_null(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    """``schema`` resolved, without a nullable wrapper, its ``allOf`` merged into one object schema."""
    schema = resolve(schema, root)
    while "anyOf" in schema:
        branches = [b for b in schema["anyOf"] if resolve(b, root).get("type") != "null"]
        schema = resolve(branches[0], root) if branches else schema
        if len(branches) != 1:
            break
    if "allOf" in schema:
        merged: dict[str, Any] = {"type": "object", "properties": {}, "required": []}
        for branch in schema["allOf"]:
            part = _non_null(branch, root)
            for name, sub in part.get("properties", {}).items():
                known = merged["properties"].get(name)
                # A member both branches describe holds what each says of it.
                merged["properties"][name] = sub if known is None else {"allOf": [known, sub]}
            merged["required"] += [r for r in part.get("required", ()) if r not in merged["required"]]
        return merged
    return schema


def _type_of(resource: Mapping[str, Any] | None, root: Mapping[str, Any]) -> str | None:
    if resource is None:
        return None
    prop = resource.get("properties", {}).get("type")
    pending = [prop] if prop is not None else []
    while pending:  # through refs and allOf merges to the enum that names the type
        node = resolve(pending.pop(0), root)
        enum = node.get("enum") or []
        found = next((v for v in enum if isinstance(v, str)), None)
        if found:
            return found
        pending.extend(node.get("allOf", ()))
    return None


def _success(op: catalog.Operation) -> int:
    return op.success[0] if op.success else 200


def _response_root(op: catalog.Operation) -> Mapping[str, Any] | None:
    return schemas.response_schema(op.id, _success(op))


def _response_type(op: catalog.Operation) -> str | None:
    root = _response_root(op)
    resource, _ = _data(root)
    return _type_of(resource, root) if root else None


def _request_resource(op: catalog.Operation) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    root = schemas.request_schema(op.id)
    resource, _ = _data(root)
    return resource, root


def _request_type(op: catalog.Operation) -> str | None:
    resource, root = _request_resource(op)
    return _type_of(resource, root) if root else None


@cache
def _collections() -> dict[str, str]:
    """``/api/catalog-items`` -> ``catalog-item``: each collection's resource type, from its operations."""
    found: dict[str, str] = {}
    for op in sorted(catalog.operations(), key=lambda o: (o.method != "GET", len(o.path))):
        parts = op.path.strip("/").split("/")
        if len(parts) not in (2, 3) or (len(parts) == 3 and not parts[2].startswith("{")):
            continue
        base = "/" + "/".join(parts[:2])
        rtype = _response_type(op) if op.method == "GET" else _request_type(op)
        if rtype and base not in found:
            found[base] = rtype
    return found


@cache
def _item_paths() -> dict[str, str]:
    """``catalog-item`` -> ``/api/catalog-items``: where a type's resources are read one by one."""
    out: dict[str, str] = {}
    for op in catalog.operations():
        parts = op.path.strip("/").split("/")
        if op.method == "GET" and len(parts) == 3 and parts[2].startswith("{"):
            rtype = _response_type(op)
            if rtype:
                out.setdefault(rtype, "/" + "/".join(parts[:2]))
    return out


@cache
def _read_types() -> frozenset[str]:
    return frozenset(
        t for op in catalog.operations() if op.method == "GET" for t in [_response_type(op)] if t
    )


def _readable(rtype: str) -> bool:
    """Whether some GET answers resources of ``rtype`` (so it is stored, not computed per request)."""
    return rtype in _read_types()


@dataclass(frozen=True)
class Shape:
    """An operation's kind (see the module docstring), its primary type and relationship name."""

    kind: str
    rtype: str | None
    relation: str | None = None


def shape(op: catalog.Operation) -> Shape:
    """Classify ``op`` by method and path shape, with types from the schemas."""
    parts = op.path.strip("/").split("/")[1:]
    base = "/" + "/".join(op.path.strip("/").split("/")[:2])
    own = _collections().get(base)
    if len(parts) == 1:
        if op.method == "GET":
            return Shape("list", _response_type(op) or own)
        request_type = _request_type(op)
        request_resource, request_root = _request_resource(op)
        if op.response_data is None:
            return Shape("accept", request_type)
        if request_type and request_type.endswith("-job"):
            return Shape("job", request_type)
        if request_resource is not None and "id" in request_resource.get("required", ()):
            return Shape("named", request_type)
        response_type = _response_type(op)
        if response_type and _readable(response_type) and response_type == request_type:
            return Shape("create", response_type)
        return Shape("query", response_type or request_type)
    if len(parts) == 2:
        kind = {"GET": "get", "PATCH": "update", "DELETE": "delete"}.get(op.method, "accept")
        return Shape(kind, own)
    if len(parts) == 3:
        return Shape("related", own, parts[2])
    if len(parts) == 4 and parts[2] == "relationships":
        return Shape("relationship" if op.method == "GET" else "link", own, parts[3])
    return Shape("accept", own)


# -- reading relationships ----------------------------------------------------------------------


def _stored_refs(value: Any) -> list[str]:
    """Ids held in a to-one/to-many ``relationships`` member as the modules store it."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for item in value for v in _stored_refs(item)]
    if isinstance(value, Mapping):
        if "data" in value:
            return _stored_refs(value["data"])
        if isinstance(value.get("id"), str):
            return [value["id"]]
    return []


def _reverse_names(xtype: str, rtype: str) -> list[str]:
    """Names under which a ``rtype`` resource may link to an ``xtype`` one (its relationship whose
    type is ``xtype``, the collection's name, the plural)."""
    names = [f"{xtype}s"]
    path = _item_paths().get(xtype)
    if path:
        names.append(path.rsplit("/", 1)[-1])
    for op in catalog.operations():
        if op.method == "GET" and _response_type(op) == rtype:
            root = _response_root(op)
            resource, _ = _data(root)
            if root is None or resource is None:
                continue
            rels = resolve(resource.get("properties", {}).get("relationships", {}), root).get(
                "properties", {}
            )
            for name, rel in rels.items():
                target, _ = _data(_with_defs(rel, root))
                if target is not None and _type_of(target, root) == xtype:
                    names.append(name)
            break
    return list(dict.fromkeys(names))


def _with_defs(schema: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    return {**resolve(schema, root), "$defs": root.get("$defs", {})}


def related_ids(ctx: RequestContext, parent: Resource, name: str, rtype: str) -> list[str]:
    """Ids of ``rtype`` resources related to ``parent`` under ``name``, whichever side stored it."""
    if parent.type == "segment" and rtype == "profile":
        from .resources import segments

        return list(segments.refresh_members(ctx, parent))
    found = _stored_refs(parent.relationships.get(name))
    # Hand-written families keep some to-one links as attributes (an event's ``metric_id``).
    found += _stored_refs(parent.attributes.get(f"{name.replace('-', '_')}_id"))
    found += ctx.store.linked_ids(ctx.account_id, parent.type, parent.id, name)
    for reverse in _reverse_names(parent.type, rtype):
        found += ctx.store.linking_ids(ctx.account_id, parent.type, parent.id, reverse, rtype)
    if not found:
        # A to-one stored on the other side: tags whose "tag-group" is this group.
        names = _reverse_names(parent.type, rtype)
        for row, _ in ctx.store.scan(ctx.account_id, rtype, chunk=500):
            if any(parent.id in _stored_refs(row.relationships.get(n)) for n in names):
                found.append(row.id)
    return list(dict.fromkeys(found))


# -- rendering -------------------------------------------------------------------------------------

_TIMES = {"created": "created", "updated": "updated", "created_at": "created", "updated_at": "updated"}


def _fits(value: Any, schema: Mapping[str, Any], root: Mapping[str, Any]) -> bool:
    """A cheap shape check: whether a stored value can stand where ``schema`` is expected."""
    schema = resolve(schema, root)
    if "anyOf" in schema:
        return any(_fits(value, branch, root) for branch in schema["anyOf"])
    enum = schema.get("enum")
    if enum is not None and value not in enum:
        return False
    kinds = schema.get("type")
    if kinds is None:
        return True
    kinds = [kinds] if isinstance(kinds, str) else kinds
    checks = {
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict) and all(k in v for k in schema.get("required", ())),
    }
    return any(checks.get(kind, lambda v: True)(value) for kind in kinds)


def render(
    ctx: RequestContext, row: Resource, resource: Mapping[str, Any], root: Mapping[str, Any]
) -> dict[str, Any]:
    """``row`` as the JSON:API resource ``resource`` (a schema inside ``root``) describes it."""
    props = resource.get("properties", {})
    now = ctx.now()
    out: dict[str, Any] = {"type": row.type, "id": row.id}
    if "attributes" in props:
        attrs_schema = _non_null(props["attributes"], root)
        declared = attrs_schema.get("properties", {})
        required = set(attrs_schema.get("required", ()))
        attributes: dict[str, Any] = {}
        for name, sub in declared.items():
            if name in row.attributes and _fits(row.attributes[name], sub, root):
                attributes[name] = row.attributes[name]
            elif name in _TIMES and _fits(getattr(row, _TIMES[name]), sub, root):
                attributes[name] = getattr(row, _TIMES[name])
            elif name in required:
                attributes[name] = minimal(sub, root, now=now)
        out["attributes"] = sparse(attributes, ctx.fields(row.type))
    if "relationships" in props:
        out["relationships"] = _relationships(ctx, row, props["relationships"], root)
    base = _item_paths().get(row.type)
    if "links" in props:
        out["links"] = ctx.self_link(f"{base}/{row.id}" if base else ctx.request.path)
    for name in resource.get("required", ()):
        if name not in out:
            out[name] = minimal(props.get(name, {}), root, now=now)
    return out


def _relationships(
    ctx: RequestContext, row: Resource, schema: Mapping[str, Any], root: Mapping[str, Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    base = _item_paths().get(row.type) or ctx.request.path.rstrip("/").rsplit("/", 1)[0]
    for name, rel in _non_null(schema, root).get("properties", {}).items():
        rel = _non_null(rel, root)
        rel_props = rel.get("properties", {})
        value: dict[str, Any] = {}
        if "data" in rel_props:
            target, many = _data(_with_defs(rel, root))
            ttype = _type_of(target, root) if target else None
            stored = _stored_refs(row.relationships.get(name))
            stored += ctx.store.linked_ids(ctx.account_id, row.type, row.id, name)
            if ttype and many:
                value["data"] = [{"type": ttype, "id": i} for i in dict.fromkeys(stored)]
            elif ttype and stored:
                value["data"] = {"type": ttype, "id": stored[0]}
            elif "data" in rel.get("required", ()):
                value["data"] = minimal(rel_props["data"], root, now=ctx.now())
        if "links" in rel_props:
            value["links"] = ctx.relationship_links(f"{base}/{row.id}", name)
        for member_name in rel.get("required", ()):
            if member_name not in value:
                value[member_name] = minimal(rel_props.get(member_name, {}), root, now=ctx.now())
        out[name] = value
    return out


def _included(
    ctx: RequestContext, rows: list[Resource], root: Mapping[str, Any]
) -> list[dict[str, Any]] | None:
    names = ctx.includes()
    if not names:
        return None
    items = resolve(root, root).get("properties", {}).get("included")
    branches = resolve(resolve(items or {}, root).get("items", {}), root).get("anyOf") or [
        resolve(items or {}, root).get("items", {})
    ]
    by_type = {}
    for branch in branches:
        branch = resolve(branch, root)
        btype = _type_of(branch, root)
        if btype:
            by_type[btype] = branch
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        for name in names:
            for btype, branch in by_type.items():
                for rid in related_ids(ctx, row, name, btype):
                    target = ctx.store.get(ctx.account_id, btype, rid)
                    if target is not None and (btype, rid) not in out:
                        out[(btype, rid)] = render(ctx, target, branch, root)
    return list(out.values())


def _document(
    ctx: RequestContext,
    op: catalog.Operation,
    data: Resource | list[Resource] | None,
    links: dict[str, str] | None = None,
    status: int | None = None,
) -> Reply:
    root = _response_root(op)
    assert root is not None
    resource, _ = _data(root)
    assert resource is not None
    rows = data if isinstance(data, list) else ([data] if data is not None else [])
    body = minimal(root, root, now=ctx.now())
    if isinstance(data, list):
        body["data"] = [render(ctx, row, resource, root) for row in data]
    else:
        body["data"] = render(ctx, data, resource, root) if data is not None else None
    if "links" in resolve(root, root).get("properties", {}):
        body["links"] = links or {"self": ctx.url(ctx.request.path)}
    included = _included(ctx, rows, root)
    if included is not None:
        body["included"] = included
    return Reply(status or _success(op), body)


def _identifiers(op: catalog.Operation, ctx: RequestContext, rtype: str, ids_: Iterable[str]) -> Reply:
    body = minimal(_response_root(op) or {}, _response_root(op) or {}, now=ctx.now())
    _, many = _data(_response_root(op))
    refs = [{"type": rtype, "id": i} for i in ids_]
    body["data"] = refs if many else (refs[0] if refs else None)
    if "links" in body or "links" in resolve(_response_root(op) or {}, _response_root(op) or {}).get(
        "properties", {}
    ):
        body["links"] = {"self": ctx.url(ctx.request.path)}
    return Reply(_success(op), body)


# -- writing -----------------------------------------------------------------------------------------

# Klaviyo's own id shapes: catalog ids join integration, catalog and external id; a coupon's id is
# its external id; a coupon code's id joins its coupon and code. Anything else gets a ULID.
_NATURAL_IDS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], str | None]] = {
    "catalog-item": lambda a, r: _catalog_id(a),
    "catalog-variant": lambda a, r: _catalog_id(a),
    "catalog-category": lambda a, r: _catalog_id(a),
    "coupon": lambda a, r: a.get("external_id") if isinstance(a.get("external_id"), str) else None,
    "coupon-code": lambda a, r: (
        f"{(_stored_refs(r.get('coupon')) or ['coupon'])[0]}-{a['unique_code']}"
        if isinstance(a.get("unique_code"), str)
        else None
    ),
}


def _catalog_id(attributes: Mapping[str, Any]) -> str | None:
    external = attributes.get("external_id")
    if not isinstance(external, str):
        return None
    integration = attributes.get("integration_type") or "$custom"
    catalog_type = attributes.get("catalog_type") or "$default"
    return f"{integration}:::{catalog_type}:::{external}"


def _new_id(ctx: RequestContext, rtype: str, data: Mapping[str, Any]) -> str:
    if isinstance(data.get("id"), str):
        return str(data["id"])
    attributes = data.get("attributes") or {}
    relationships = data.get("relationships") or {}
    natural = _NATURAL_IDS.get(rtype)
    made = natural(attributes, relationships) if natural else None
    return made or ids.ulid(ctx.clock())


def _write_relationships(
    ctx: RequestContext, rtype: str, rid: str, relationships: Mapping[str, Any], stored: dict[str, Any]
) -> None:
    """Body relationships: to-one into ``stored`` (the row's relationships), to-many as links."""
    for name, value in relationships.items():
        data = value.get("data") if isinstance(value, Mapping) else None
        refs = data if isinstance(data, list) else ([data] if isinstance(data, Mapping) else [])
        for index, ref in enumerate(refs):
            ttype, tid = ref.get("type"), ref.get("id")
            if isinstance(ttype, str) and isinstance(tid, str) and _readable(ttype):
                if ctx.store.get(ctx.account_id, ttype, tid) is None:
                    raise ApiError(
                        404,
                        "not_found",
                        "Not found.",
                        f"A {ttype.replace('-', ' ')} with id {tid} does not exist.",
                        pointer=f"/data/relationships/{name}/data"
                        + (f"/{index}" if isinstance(data, list) else ""),
                    )
        if isinstance(data, list):
            targets = [r["id"] for r in data if isinstance(r, Mapping) and isinstance(r.get("id"), str)]
            ttype = next((r.get("type") for r in data if isinstance(r, Mapping)), name)
            ctx.store.add_links(ctx.account_id, rtype, rid, name, str(ttype), targets, now=ctx.now())
        elif isinstance(data, Mapping):
            stored[name] = data.get("id")
        elif data is None and isinstance(value, Mapping) and "data" in value:
            stored.pop(name, None)


def _create(ctx: RequestContext, rtype: str, data: Mapping[str, Any]) -> Resource:
    attributes = dict(data.get("attributes") or {})
    rid = _new_id(ctx, rtype, data)
    relationships: dict[str, Any] = {}
    with ctx.store.transaction():
        _write_relationships(ctx, rtype, rid, data.get("relationships") or {}, relationships)
        try:
            return ctx.store.create(ctx.account_id, rtype, rid, attributes, relationships, now=ctx.now())
        except StoreConflict:
            raise conflict(
                "duplicate",
                f"A {rtype.replace('-', ' ')} with id {rid} already exists.",
                pointer="/data/attributes",
                meta={"duplicate_id": rid},
            ) from None


def _update(ctx: RequestContext, rtype: str, rid: str, data: Mapping[str, Any]) -> Resource:
    with ctx.store.transaction():
        row = ctx.get_or_404(rtype, rid)
        attributes = {**row.attributes, **(data.get("attributes") or {})}
        relationships = dict(row.relationships)
        _write_relationships(ctx, rtype, rid, data.get("relationships") or {}, relationships)
        updated = ctx.store.update(
            ctx.account_id, rtype, rid, attributes=attributes, relationships=relationships, now=ctx.now()
        )
        assert updated is not None
        return updated


def _body_data(ctx: RequestContext) -> Mapping[str, Any]:
    body = ctx.json_body()
    data = body.get("data") if isinstance(body, Mapping) else None
    return data if isinstance(data, Mapping) else {}


def _path_id(ctx: RequestContext) -> str:
    return next(iter(ctx.params.values()))


# -- handlers -------------------------------------------------------------------------------------


def _before_read(ctx: RequestContext, rtype: str | None) -> None:
    if rtype == "flow":  # the account's starting flows exist before any read
        from .resources import flows

        flows.ensure_seeded(ctx)


def _values(row: Resource, name: str) -> list[Any]:
    if name == "ids":
        return [row.id]
    if name.endswith(".id"):
        rel = name[: -len(".id")]
        found = _stored_refs(row.relationships.get(rel))
        return found or [None]
    return resource_values(row, name)


def _handler(op: catalog.Operation, spec: Shape) -> Callable[[RequestContext], Reply]:
    def handle(ctx: RequestContext) -> Reply:
        if not op.security:
            ctx.use_client_account()
        _before_read(ctx, spec.rtype)
        return _HANDLERS[spec.kind](ctx, op, spec)

    handle.__name__ = f"generic_{op.id}"
    return handle


def _list(ctx: RequestContext, op: catalog.Operation, spec: Shape) -> Reply:
    assert spec.rtype is not None
    plain = all(name != "ids" and not name.endswith(".id") for name in op.filters)
    if plain:
        rows, links = ctx.page_stored(spec.rtype)
    else:
        rows, links = ctx.page_stored(spec.rtype, getter=_values)
    return _document(ctx, op, rows, links)


def _get(ctx: RequestContext, op: catalog.Operation, spec: Shape) -> Reply:
    return _document(ctx, op, ctx.get_or_404(str(spec.rtype), _path_id(ctx)))


def _create_handler(ctx: RequestContext, op: catalog.Operation, spec: Shape) -> Reply:
    data = dict(_body_data(ctx))
    attributes = {**_attribute_defaults(op.id), **(data.get("attributes") or {})}
    return _document(ctx, op, _create(ctx, str(spec.rtype), {**data, "attributes": attributes}))


@cache
def _attribute_defaults(operation_id: str) -> dict[str, Any]:
    """The spec's defaults for the body's ``data.attributes`` members, which Klaviyo stores when
    a create leaves them out (a catalog item is ``published: true``)."""
    root = schemas.request_schema(operation_id) or {}
    data = resolve((resolve(root, root).get("properties") or {}).get("data") or {}, root)
    attributes = resolve((data.get("properties") or {}).get("attributes") or {}, root)
    found: dict[str, Any] = {}
    for name, member in (attributes.get("properties") or {}).items():
        member = resolve(member, root)
        if "default" in member:
            found[name] = member["default"]
    return found


def _update_handler(ctx: RequestContext, op: catalog.Operation, spec: Shape) -> Reply:
    rid = _path_id(ctx)
    data = _body_data(ctx)
    if isinstance(data.get("id"), str) and data["id"] != rid:
        raise conflict(
            "conflict",
            f"The id in the request body ({data['id']}) does not match the id in the URL ({rid}).",
            pointer="/data/id",
        )
    row = _update(ctx, str(spec.rtype), rid, data)
    return Reply(204) if op.response_data is None else _document(ctx, op, row)


def _delete(ctx: RequestContext, op: catalog.Operation, spec: Shape) -> Reply:
    ctx.delete_or_404(str(spec.rtype), _path_id(ctx))
    return Reply(204)


def _related(ctx: RequestContext, op: catalog.Operation, spec: Shape) -> Reply:
    parent = ctx.get_or_404(str(spec.rtype), _path_id(ctx))
    rtype = _response_type(op)
    assert rtype is not None and spec.relation is not None
    _before_read(ctx, rtype)
    found = related_ids(ctx, parent, spec.relation, rtype)
    if op.response_data == "one":
        row = ctx.store.get(ctx.account_id, rtype, found[0]) if found else None
        if row is None and not _nullable_data(op):
            raise not_found(f"The {parent.type.replace('-', ' ')} {parent.id} has no {spec.relation}.")
        return _document(ctx, op, row)
    wanted = set(found)
    rows, links = ctx.page_stored(rtype, keep=lambda r: r.id in wanted)
    return _document(ctx, op, rows, links)


def _nullable_data(op: catalog.Operation) -> bool:
    root = _response_root(op)
    if root is None:
        return True
    data = resolve(resolve(root, root).get("properties", {}).get("data", {}), root)
    return any(resolve(b, root).get("type") == "null" for b in data.get("anyOf", ()))


def _relationship(ctx: RequestContext, op: catalog.Operation, spec: Shape) -> Reply:
    parent = ctx.get_or_404(str(spec.rtype), _path_id(ctx))
    root = _response_root(op)
    target, _ = _data(root)
    rtype = _type_of(target, root) if root else None
    assert rtype is not None and spec.relation is not None
    found = related_ids(ctx, parent, spec.relation, rtype)
    if op.response_data == "one" and not found and not _nullable_data(op):
        raise not_found(f"The {parent.type.replace('-', ' ')} {parent.id} has no {spec.relation}.")
    return _identifiers(op, ctx, rtype, found)


def _link(ctx: RequestContext, op: catalog.Operation, spec: Shape) -> Reply:
    rtype, relation, rid = str(spec.rtype), str(spec.relation), _path_id(ctx)
    body = ctx.json_body()
    data = body.get("data") if isinstance(body, Mapping) else None
    refs = data if isinstance(data, list) else [data]
    with ctx.store.transaction():
        parent = ctx.get_or_404(rtype, rid)
        for index, ref in enumerate(refs):
            if not isinstance(ref, Mapping):
                continue
            if (
                _readable(str(ref.get("type")))
                and ctx.store.get(ctx.account_id, str(ref.get("type")), str(ref.get("id"))) is None
            ):
                raise ApiError(
                    404,
                    "not_found",
                    "Not found.",
                    f"A {str(ref.get('type')).replace('-', ' ')} with id {ref.get('id')} does not exist.",
                    pointer="/data" + (f"/{index}" if isinstance(data, list) else ""),
                )
        if not isinstance(data, list):  # a to-one relationship (a campaign message's image)
            relationships = dict(parent.relationships)
            relationships[relation] = data.get("id") if isinstance(data, Mapping) else None
            ctx.store.update(ctx.account_id, rtype, rid, relationships=relationships, now=ctx.now())
            return Reply(204)
        ttype = next((str(r.get("type")) for r in refs if isinstance(r, Mapping)), relation)
        targets = [str(r.get("id")) for r in refs if isinstance(r, Mapping)]
        if op.method == "PATCH":
            current = ctx.store.linked_ids(ctx.account_id, rtype, rid, relation)
            ctx.store.remove_links(ctx.account_id, rtype, rid, relation, ttype, current)
        if op.method == "DELETE":
            ctx.store.remove_links(ctx.account_id, rtype, rid, relation, ttype, targets)
            # The link may have been stored from the other side.
            for reverse in _reverse_names(rtype, ttype):
                for target in targets:
                    ctx.store.remove_links(ctx.account_id, ttype, target, reverse, rtype, [rid])
        else:
            ctx.store.add_links(ctx.account_id, rtype, rid, relation, ttype, targets, now=ctx.now())
    return Reply(204)


def _job_items(attributes: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The resource objects a bulk job carries (``{"items": {"data": [...]}}`` and the like)."""
    for value in attributes.values():
        if isinstance(value, Mapping) and isinstance(value.get("data"), list):
            return [item for item in value["data"] if isinstance(item, Mapping)]
    return []


def _job(ctx: RequestContext, op: catalog.Operation, spec: Shape) -> Reply:
    jtype = str(spec.rtype)
    data = _body_data(ctx)
    items = _job_items(data.get("attributes") or {})
    verb = next((v for v in ("create", "update", "delete") if f"-bulk-{v}-" in jtype), None)
    done: list[tuple[str, str]] = []
    errors: list[dict[str, Any]] = []
    member = next(
        (
            name
            for name, v in (data.get("attributes") or {}).items()
            if isinstance(v, Mapping) and isinstance(v.get("data"), list)
        ),
        "items",
    )
    for index, item in enumerate(items):
        itype = str(item.get("type"))
        try:
            if verb == "create" and _readable(itype):
                done.append((itype, _create(ctx, itype, item).id))
            elif verb == "update" and isinstance(item.get("id"), str):
                done.append((itype, _update(ctx, itype, str(item["id"]), item).id))
            elif verb == "delete" and isinstance(item.get("id"), str):
                ctx.delete_or_404(itype, str(item["id"]))
                done.append((itype, str(item["id"])))
        except ApiError as exc:
            # The spec's job error names where the failing item is (APIJobErrorPayload.source).
            pointer = exc.pointer or f"/data/attributes/{member}/data/{index}"
            errors.append(
                {
                    "id": exc.to_object()["id"],
                    "code": exc.code,
                    "title": exc.title,
                    "detail": exc.detail,
                    "source": {"pointer": pointer},
                }
            )
    now = ctx.now()
    status = {
        "status": "complete",
        "created_at": now,
        "completed_at": now,
        "total_count": len(items),
        "completed_count": len(done),
        "failed_count": len(errors),
        "completed_items": len(done),
        "errors": errors,
    }
    job = ctx.store.create(ctx.account_id, jtype, ids.ulid(ctx.clock()), status, now=now)
    by_type: dict[str, list[str]] = {}
    for itype, iid in done:
        by_type.setdefault(itype, []).append(iid)
    root = _response_root(op)
    resource, _ = _data(root)
    rels = resolve((resource or {}).get("properties", {}).get("relationships", {}), root or {}).get(
        "properties", {}
    )
    for itype, iids in by_type.items():
        for name, rel in rels.items():
            target, _ = _data(_with_defs(rel, root or {}))
            if target is not None and _type_of(target, root or {}) == itype:
                ctx.store.add_links(ctx.account_id, jtype, job.id, name, itype, iids, now=now)
    if op.response_data is None:
        return Reply(_success(op))
    return _document(ctx, op, job)


def _named(ctx: RequestContext, op: catalog.Operation, spec: Shape) -> Reply:
    """A body naming an existing resource: clone it (a new name), render it, or merge into it."""
    data = _body_data(ctx)
    rtype = _response_type(op) or str(spec.rtype)
    source_type = str(data.get("type"))
    if not _readable(source_type):
        source_type = rtype
    source = ctx.get_or_404(source_type, str(data.get("id")))
    attributes = data.get("attributes") or {}
    if "clone" in op.id:
        copied = dict(source.attributes)
        new_name = attributes.get("name") or attributes.get("new_name")
        copied["name"] = (
            new_name if isinstance(new_name, str) else f"Copy of {source.attributes.get('name', '')}"
        )
        row = ctx.store.create(
            ctx.account_id,
            source.type,
            ids.short_id() if len(source.id) == 6 else ids.ulid(ctx.clock()),
            copied,
            dict(source.relationships),
            now=ctx.now(),
        )
        return _document(ctx, op, row)
    if source_type != rtype:  # merge: the other profiles go, the named one stays
        for ref in _job_items(data.get("relationships") or {}):
            if isinstance(ref.get("id"), str) and ref["id"] != source.id:
                ctx.store.delete(ctx.account_id, rtype, ref["id"])
    return _document(ctx, op, source)


def _query(ctx: RequestContext, op: catalog.Operation, spec: Shape) -> Reply:
    """A report: computed on request, never stored. The sandbox records no sends or form views,
    so every series and value is empty (``results: []``)."""
    root = _response_root(op)
    assert root is not None
    body = minimal(root, root, now=ctx.now())
    if isinstance(body.get("data"), dict):
        body["data"]["id"] = ids.ulid(ctx.clock())
    return Reply(_success(op), body)


def _accept(ctx: RequestContext, op: catalog.Operation, spec: Shape) -> Reply:
    """Accepted for processing: what can be read back (a push token) is stored at once."""
    data = _body_data(ctx)
    rtype = str(data.get("type") or spec.rtype)
    if op.method == "PATCH" and spec.rtype:  # cancel a send job and the like
        _update(ctx, spec.rtype, _path_id(ctx), data)
    elif rtype in _item_paths() and _generic_type(rtype):
        _create(ctx, rtype, data)
    return Reply(_success(op))


def _generic_type(rtype: str) -> bool:
    """Whether resources of ``rtype`` are read through generic routes (so storing one here is seen)."""
    path = _item_paths().get(rtype)
    return path is not None and path + "/{id}" in _GENERIC_PATHS


_GENERIC_PATHS: set[str] = set()

_HANDLERS: dict[str, Callable[[RequestContext, catalog.Operation, Shape], Reply]] = {
    "list": _list,
    "get": _get,
    "create": _create_handler,
    "update": _update_handler,
    "delete": _delete,
    "related": _related,
    "relationship": _relationship,
    "link": _link,
    "job": _job,
    "named": _named,
    "query": _query,
    "accept": _accept,
}


def routes(served: Iterable[str]) -> list[Route]:
    """A route for every catalog operation whose operationId is not in ``served``."""
    taken = set(served)
    out: list[Route] = []
    for op in catalog.operations():
        if op.id in taken:
            continue
        spec = shape(op)
        if op.method == "GET" and len(op.path.strip("/").split("/")) == 3:
            _GENERIC_PATHS.add(op.path)
        content = schemas.request_content_type(op.id)
        types = (
            (content, "application/json")
            if content == "application/vnd.api+json"
            else ((content,) if content else ("application/vnd.api+json", "application/json"))
        )
        out.append(
            Route(op.method, op.path, _handler(op, spec), op.id, auth=op.security, content_types=types)
        )
    return out
