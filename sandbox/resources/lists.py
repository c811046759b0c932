"""Lists: CRUD (``/api/lists``), members (``/api/lists/{id}/profiles``) and adding or removing
members (``/api/lists/{id}/relationships/profiles``, at most 1000 per call).

Membership is a ``profiles`` link from the list to each profile; the link's creation time is
the member's ``joined_group_at``. Adding a member never changes consent (that is what
subscription jobs do). A list created without ``opt_in_process`` gets the sandbox account's
default, single opt-in. Segments reuse the member listing, the rendering and the read, update
and delete handlers here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ... import catalog
from ... import prose_rules as rules
from .. import ids
from ..context import Reply, RequestContext, Route, resource_values, sparse
from ..errors import ApiError, invalid
from ..ratelimit import Limits
from ..store import Resource
from . import profiles

TYPE = "list"
DEFAULT_OPT_IN = "single_opt_in"
MAX_MEMBERS_PER_CALL = rules.LIST_MEMBERS_PER_CALL
RELATIONSHIPS = ("profiles", "tags", "flow-triggers")
MEMBER = "profiles"  # link name from a list (or segment) to its profiles


# -- shared with segments ------------------------------------------------------------------------


def tag_ids(ctx: RequestContext, rtype: str, rid: str) -> list[str]:
    """Tags of a list or segment, linked from either side."""
    found = ctx.store.linked_ids(ctx.account_id, rtype, rid, "tags")
    found += ctx.store.linking_ids(ctx.account_id, rtype, rid, f"{rtype}s", "tag")
    return list(dict.fromkeys(found))


def group_relationships(ctx: RequestContext, rtype: str, rid: str, include: list[str]) -> dict[str, Any]:
    """``profiles`` / ``tags`` / ``flow-triggers`` relationship links, with ``data`` when included."""
    base = f"/api/{rtype}s/{rid}"
    out: dict[str, Any] = {name: {"links": ctx.relationship_links(base, name)} for name in RELATIONSHIPS}
    if "tags" in include:
        out["tags"]["data"] = [{"type": "tag", "id": tid} for tid in tag_ids(ctx, rtype, rid)]
    if "flow-triggers" in include:
        flows = ctx.store.linking_ids(ctx.account_id, rtype, rid, f"{rtype}s", "flow")
        out["flow-triggers"]["data"] = [{"type": "flow", "id": fid} for fid in flows]
    return out


def included(ctx: RequestContext, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tags and flows named in the objects' relationships, for ``included``."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in objects:
        for name in ("tags", "flow-triggers"):
            for ref in obj["relationships"][name].get("data") or []:
                key = (ref["type"], ref["id"])
                row = ctx.store.get(ctx.account_id, ref["type"], ref["id"]) if key not in seen else None
                if row is None:
                    continue
                allowed = ctx.operation.fields.get(row.type, ()) if ctx.operation else ()
                source = {"created": row.created, "updated": row.updated, **row.attributes}
                attrs = {k: source.get(k) for k in allowed if k != "id"}
                seen[key] = {
                    "type": row.type,
                    "id": row.id,
                    "attributes": sparse(attrs, ctx.fields(row.type)),
                    "links": ctx.self_link(f"/api/{row.type}s/{row.id}"),
                }
    return list(seen.values())


def member_times(ctx: RequestContext, rtype: str, rid: str) -> dict[str, str]:
    """Profile id -> joined_group_at for the members of a list or segment."""
    return ctx.store.link_times(ctx.account_id, rtype, rid, MEMBER)


def members_page(ctx: RequestContext, rtype: str, rid: str, joined: Mapping[str, str] | None = None) -> Reply:
    """A ``get_profiles_for_<list|segment>`` page: members with ``joined_group_at``, in join order.

    ``joined`` (profile id -> joined time) when the caller already has it (a segment just
    evaluated); otherwise each member's time is read as it is needed, so a page costs its rows.
    """
    additional = ctx.additional_fields(profiles.TYPE)
    times: dict[str, str | None] = dict(joined) if joined is not None else {}

    def joined_at(profile_id: str) -> str | None:
        if profile_id not in times:
            times[profile_id] = ctx.store.link_time(ctx.account_id, rtype, rid, MEMBER, profile_id)
        return times[profile_id]

    def getter(profile: Resource, name: str) -> list[Any]:
        if name == "joined_group_at":
            return [joined_at(profile.id)]
        if name == "profile_id":
            return [profile.id]
        if name == "push_token":
            return []  # the sandbox keeps no push tokens
        return resource_values(profile, name)

    page, links = ctx.page_stored(
        profiles.TYPE,
        getter=getter,
        member_of=(rtype, rid, MEMBER),
        columns={"joined_group_at": "l.created"},
        default_order="l.rowid",
    )
    data = [
        profiles.render(ctx, p, additional=additional, extra={"joined_group_at": joined_at(p.id)})
        for p in page
    ]
    return Reply(200, {"data": data, "links": links})


def profile_count_tier(ctx: RequestContext) -> tuple[str, Limits] | None:
    """``additional-fields[list|segment]=profile_count`` is limited to 1/s, 15/m."""
    if any(
        "profile_count" in value
        for key, value in ctx.request.args.items()
        if key.startswith("additional-fields[")
    ):
        return ("profile_count", Limits(1, 15))
    return None


def predictive_tier(ctx: RequestContext) -> tuple[str, Limits] | None:
    if "predictive_analytics" in (ctx.arg("additional-fields[profile]") or ""):
        return ("predictive_analytics", Limits(10, 150))
    return None


# ``render(ctx, row, include, profile_count)``: a list's or a segment's resource object.
Render = Callable[[RequestContext, Resource, list[str], bool], dict[str, Any]]


def group_document(
    ctx: RequestContext, row: Resource, status: int, render: Render, profile_count: bool = False
) -> Reply:
    include = ctx.includes() if ctx.operation and ctx.operation.include else []
    data = render(ctx, row, include, profile_count)
    links = ctx.self_link(f"/api/{row.type}s/{row.id}")
    return Reply.document(data, links, included(ctx, [data]) if include else None, status)


def get_group(ctx: RequestContext, rtype: str, render: Render) -> Reply:
    count = "profile_count" in ctx.additional_fields(rtype)
    return group_document(ctx, ctx.get_or_404(rtype, ctx.params["id"]), 200, render, count)


def get_groups(
    ctx: RequestContext,
    rtype: str,
    render: Render,
    getter: Callable[[Resource, str], list[Any]] = resource_values,
) -> Reply:
    include = ctx.includes()
    page, links = ctx.page_stored(rtype, getter=getter)
    data = [render(ctx, row, include, False) for row in page]
    return Reply.document(data, links, included(ctx, data) if include else None)


def update_group(
    ctx: RequestContext, rtype: str, render: Render, changes: Callable[[dict[str, Any]], dict[str, Any]]
) -> Reply:
    """PATCH: the body's id must be the URL's; ``changes(data)`` checks the attributes sent."""
    rid = ctx.params["id"]
    data = ctx.update_body(rtype)
    new = changes(data)
    with ctx.store.transaction():
        row = ctx.get_or_404(rtype, rid)
        updated = ctx.store.update(
            ctx.account_id, rtype, rid, attributes={**row.attributes, **new}, now=ctx.now()
        )
    assert updated is not None
    return group_document(ctx, updated, 200, render)


def delete_group(ctx: RequestContext, rtype: str) -> Reply:
    ctx.delete_or_404(rtype, ctx.params["id"])
    return Reply(204)


# -- lists ---------------------------------------------------------------------------------------


def render(
    ctx: RequestContext, row: Resource, include: list[str], profile_count: bool = False
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "name": row.attributes.get("name"),
        "created": row.created,
        "updated": row.updated,
        "opt_in_process": row.attributes.get("opt_in_process"),
    }
    if profile_count:
        attributes["profile_count"] = len(member_times(ctx, TYPE, row.id))
    return {
        "type": TYPE,
        "id": row.id,
        "attributes": sparse(attributes, ctx.fields(TYPE)),
        "relationships": group_relationships(ctx, TYPE, row.id, include),
        "links": ctx.self_link(f"/api/lists/{row.id}"),
    }


def _attributes(data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    attributes = dict(data.get("attributes") or {})
    for name in attributes:
        if name not in ("name", "opt_in_process"):
            raise invalid(
                f"'{name}' is not a valid field for the resource 'list'.", pointer=f"/data/attributes/{name}"
            )
    name = attributes.get("name")
    if (creating or name is not None) and (not isinstance(name, str) or not name.strip()):
        raise invalid("'name' must be a non-empty string.", pointer="/data/attributes/name")
    opt_in = attributes.get("opt_in_process")
    allowed = catalog.body_enum("create_list", "data.attributes.opt_in_process")
    if opt_in is not None and opt_in not in allowed:
        raise invalid(
            f"'{opt_in}' is not a valid opt_in_process; use {' or '.join(allowed)}.",
            pointer="/data/attributes/opt_in_process",
        )
    return {k: v for k, v in attributes.items() if v is not None}


def get_lists(ctx: RequestContext) -> Reply:
    return get_groups(ctx, TYPE, render)


def create_list(ctx: RequestContext) -> Reply:
    data = ctx.resource_body(TYPE)
    attributes = _attributes(data, creating=True)
    attributes.setdefault("opt_in_process", DEFAULT_OPT_IN)
    row = ctx.store.create(ctx.account_id, TYPE, ids.short_id(), attributes, now=ctx.now())
    return group_document(ctx, row, 201, render)


def get_list(ctx: RequestContext) -> Reply:
    return get_group(ctx, TYPE, render)


def update_list(ctx: RequestContext) -> Reply:
    return update_group(ctx, TYPE, render, lambda data: _attributes(data, creating=False))


def delete_list(ctx: RequestContext) -> Reply:
    return delete_group(ctx, TYPE)


def get_profiles_for_list(ctx: RequestContext) -> Reply:
    row = ctx.get_or_404(TYPE, ctx.params["id"])
    return members_page(ctx, TYPE, row.id)


def _member_ids(ctx: RequestContext) -> list[str]:
    """The profile ids of a relationships body: 1 to 1000, each an existing profile."""
    body = ctx.json_body()
    refs = body.get("data") if isinstance(body, dict) else None
    if not isinstance(refs, list) or not refs:
        raise invalid("'data' must be a non-empty array of profile references.", pointer="/data")
    if len(refs) > MAX_MEMBERS_PER_CALL:
        raise invalid(
            f"A maximum of {MAX_MEMBERS_PER_CALL} profiles can be sent per call; got {len(refs)}.",
            pointer="/data",
        )
    found: list[str] = []
    for index, ref in enumerate(refs):
        if (
            not isinstance(ref, dict)
            or ref.get("type") != profiles.TYPE
            or not isinstance(ref.get("id"), str)
        ):
            raise invalid("Each item must be {'type': 'profile', 'id': ...}.", pointer=f"/data/{index}")
        found.append(ref["id"])
    missing = [
        pid for pid in dict.fromkeys(found) if ctx.store.get(ctx.account_id, profiles.TYPE, pid) is None
    ]
    if missing:
        raise ApiError(404, "not_found", "Not found.", f"Profile(s) not found: {', '.join(missing[:10])}.")
    return list(dict.fromkeys(found))


def add_profiles(ctx: RequestContext) -> Reply:
    with ctx.store.transaction():
        row = ctx.get_or_404(TYPE, ctx.params["id"])
        member_ids = _member_ids(ctx)
        ctx.store.add_links(ctx.account_id, TYPE, row.id, MEMBER, profiles.TYPE, member_ids, now=ctx.now())
    return Reply(204)


def remove_profiles(ctx: RequestContext) -> Reply:
    with ctx.store.transaction():
        row = ctx.get_or_404(TYPE, ctx.params["id"])
        member_ids = _member_ids(ctx)
        ctx.store.remove_links(ctx.account_id, TYPE, row.id, MEMBER, profiles.TYPE, member_ids)
    return Reply(204)


ROUTES = [
    Route("GET", "/api/lists", get_lists, "get_lists"),
    Route("POST", "/api/lists", create_list, "create_list"),
    Route("GET", "/api/lists/{id}", get_list, "get_list", rate_limit=profile_count_tier),
    Route("PATCH", "/api/lists/{id}", update_list, "update_list"),
    Route("DELETE", "/api/lists/{id}", delete_list, "delete_list"),
    Route(
        "GET",
        "/api/lists/{id}/profiles",
        get_profiles_for_list,
        "get_profiles_for_list",
        rate_limit=predictive_tier,
    ),
    Route("POST", "/api/lists/{id}/relationships/profiles", add_profiles, "add_profiles_to_list"),
    Route("DELETE", "/api/lists/{id}/relationships/profiles", remove_profiles, "remove_profiles_from_list"),
]
