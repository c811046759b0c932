"""Tags: list, create, get, rename and delete (``/api/tags``).

Every account has one Default Tag Group (made on first use); a tag created without
``relationships.tag-group`` joins it. An account holds at most 500 tags. ``include=tag-group``
adds the tag's group to ``included``.
"""

from __future__ import annotations

import uuid
from typing import Any

from ..context import Reply, RequestContext, Route, member, sparse
from ..errors import invalid, not_found
from ..store import Resource

TYPE = "tag"
GROUP_TYPE = "tag-group"
MAX_TAGS = 500
RELATED = ("lists", "segments", "campaigns", "flows")


def _default_group(ctx: RequestContext) -> Resource:
    with ctx.store.transaction():
        for group in ctx.store.list_resources(ctx.account_id, GROUP_TYPE):
            if group.attributes.get("default"):
                return group
        attributes = {"name": "Default Tag Group", "exclusive": False, "default": True}
        return ctx.store.create(ctx.account_id, GROUP_TYPE, str(uuid.uuid4()), attributes, now=ctx.now())


def render(ctx: RequestContext, tag: Resource) -> dict[str, Any]:
    base = f"/api/tags/{tag.id}"
    relationships: dict[str, Any] = {
        "tag-group": {
            "data": {"type": GROUP_TYPE, "id": tag.relationships.get("tag-group")},
            "links": ctx.relationship_links(base, "tag-group"),
        }
    }
    for name in RELATED:
        relationships[name] = {"links": ctx.relationship_links(base, name)}
    return {
        "type": TYPE,
        "id": tag.id,
        "attributes": sparse({"name": tag.attributes.get("name")}, ctx.fields(TYPE)),
        "relationships": relationships,
        "links": ctx.self_link(base),
    }


def _included(ctx: RequestContext, tags: list[Resource]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for tag in tags:
        group_id = tag.relationships.get("tag-group")
        group = ctx.store.get(ctx.account_id, GROUP_TYPE, group_id) if group_id else None
        if group is not None and group.id not in out:
            attributes = {k: group.attributes.get(k) for k in ("name", "exclusive", "default")}
            out[group.id] = {
                "type": GROUP_TYPE,
                "id": group.id,
                "attributes": sparse(attributes, ctx.fields(GROUP_TYPE)),
                "links": ctx.self_link(f"/api/tag-groups/{group.id}"),
            }
    return list(out.values())


def _document(ctx: RequestContext, tags: list[Resource], body: dict[str, Any]) -> dict[str, Any]:
    if "tag-group" in ctx.includes():
        body["included"] = _included(ctx, tags)
    return body


def _name(data: dict[str, Any]) -> str:
    name = member(data, "attributes", "name")
    if not isinstance(name, str) or not name.strip():
        raise invalid("'name' is a required field for the resource 'tag'.", pointer="/data/attributes/name")
    return name


# -- handlers ----------------------------------------------------------------------------


def get_tags(ctx: RequestContext) -> Reply:
    ctx.fields(TYPE)  # checked even when there is nothing to render
    page, links = ctx.page_stored(TYPE)
    body = {"data": [render(ctx, tag) for tag in page], "links": links}
    return Reply(200, _document(ctx, page, body))


def get_tag(ctx: RequestContext) -> Reply:
    tag = ctx.get_or_404(TYPE, ctx.params["id"])
    body = {"data": render(ctx, tag), "links": ctx.self_link(f"/api/tags/{tag.id}")}
    return Reply(200, _document(ctx, [tag], body))


def create_tag(ctx: RequestContext) -> Reply:
    data = ctx.resource_body(TYPE)
    name = _name(data)
    group_ref = member(data, "relationships", "tag-group", "data") or None
    with ctx.store.transaction():
        if group_ref is not None:
            if not isinstance(group_ref, dict) or group_ref.get("type") != GROUP_TYPE:
                raise invalid(
                    "The tag-group relationship must be {'type': 'tag-group', 'id': ...}.",
                    pointer="/data/relationships/tag-group/data",
                )
            group = ctx.store.get(ctx.account_id, GROUP_TYPE, str(group_ref.get("id")))
            if group is None:
                raise not_found(f"A tag group with id {group_ref.get('id')} does not exist.")
        else:
            group = _default_group(ctx)
        if ctx.store.count(ctx.account_id, TYPE) >= MAX_TAGS:
            raise invalid(f"An account cannot have more than {MAX_TAGS} unique tags.", pointer="/data")
        tag = ctx.store.create(
            ctx.account_id,
            TYPE,
            str(uuid.uuid4()),
            {"name": name},
            {"tag-group": group.id},
            now=ctx.now(),
        )
    body = {"data": render(ctx, tag), "links": ctx.self_link(f"/api/tags/{tag.id}")}
    return Reply(201, body)


def update_tag(ctx: RequestContext) -> Reply:
    tag_id = ctx.params["id"]
    data = ctx.update_body(TYPE)
    name = _name(data)
    with ctx.store.transaction():
        ctx.get_or_404(TYPE, tag_id)
        ctx.store.update(ctx.account_id, TYPE, tag_id, attributes={"name": name}, now=ctx.now())
    return Reply(204)


def delete_tag(ctx: RequestContext) -> Reply:
    ctx.delete_or_404(TYPE, ctx.params["id"])
    return Reply(204)


ROUTES = [
    Route("GET", "/api/tags", get_tags, "get_tags"),
    Route("POST", "/api/tags", create_tag, "create_tag"),
    Route("GET", "/api/tags/{id}", get_tag, "get_tag"),
    Route("PATCH", "/api/tags/{id}", update_tag, "update_tag"),
    Route("DELETE", "/api/tags/{id}", delete_tag, "delete_tag"),
]
