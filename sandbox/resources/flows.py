"""Flows: list them (``GET /api/flows``) and set a flow's status (``PATCH /api/flows/{id}``).

The API can't create flows with a simple body, so every account starts with the same few
flows (:data:`SEEDS`, e.g. "Welcome Series" in draft), made on the account's first flows
request. Seeding is deterministic: ids derive from the account id and the flow's name, and
timestamps are fixed. A flow's tags are the ``tag`` resources linking it under ``flows``.
"""

from __future__ import annotations

import hashlib
import string
from typing import Any

from ...prose_rules import FLOW_STATUSES
from ..context import Reply, RequestContext, Route, sparse
from ..errors import invalid
from ..store import Resource

TYPE = "flow"
ATTRIBUTES = ("name", "status", "archived", "created", "updated", "trigger_type")
_SEED_MARKER = ("sandbox-seed", "flows")
_ALPHABET = string.ascii_letters + string.digits

# (name, status, archived, trigger_type, created)
SEEDS = (
    ("Welcome Series", "draft", False, "Added to List", "2024-01-15T10:00:00+00:00"),
    ("Abandoned Cart Reminder", "live", False, "Metric", "2024-02-01T09:30:00+00:00"),
    ("Browse Abandonment", "manual", False, "Metric", "2024-02-20T14:00:00+00:00"),
    ("Birthday Discount", "draft", False, "Date Based", "2024-03-05T08:00:00+00:00"),
    ("Winback (old)", "draft", True, "Metric", "2023-11-10T16:45:00+00:00"),
)


def seed_id(account_id: str, name: str) -> str:
    """A stable 6-character id (Klaviyo's flow id shape) for a seeded flow."""
    number = int.from_bytes(hashlib.sha256(f"{account_id}/flow/{name}".encode()).digest()[:8], "big")
    chars = []
    for _ in range(6):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "".join(chars)


def ensure_seeded(ctx: RequestContext) -> None:
    """Create the account's starting flows once (a marker row remembers it was done)."""
    marker_type, marker_id = _SEED_MARKER
    if ctx.store.get(ctx.account_id, marker_type, marker_id) is not None:
        return
    with ctx.store.transaction():
        if ctx.store.get(ctx.account_id, marker_type, marker_id) is not None:
            return
        for name, status, archived, trigger_type, created in SEEDS:
            attributes = {"name": name, "status": status, "archived": archived, "trigger_type": trigger_type}
            ctx.store.create(ctx.account_id, TYPE, seed_id(ctx.account_id, name), attributes, now=created)
        ctx.store.create(ctx.account_id, marker_type, marker_id, {}, now=SEEDS[0][4])


def render(ctx: RequestContext, flow: Resource, include: list[str]) -> dict[str, Any]:
    stored = flow.attributes
    attributes = {
        "name": stored.get("name"),
        "status": stored.get("status"),
        "archived": bool(stored.get("archived")),
        "created": flow.created,
        "updated": flow.updated,
        "trigger_type": stored.get("trigger_type"),
    }
    base = f"/api/flows/{flow.id}"
    relationships: dict[str, Any] = {
        "flow-actions": {"links": ctx.relationship_links(base, "flow-actions")},
        "tags": {"links": ctx.relationship_links(base, "tags")},
    }
    if "flow-actions" in include:  # sandbox flows have no actions
        relationships["flow-actions"]["data"] = []
    if "tags" in include:
        tag_ids = ctx.store.linking_ids(ctx.account_id, TYPE, flow.id, "flows", "tag")
        relationships["tags"]["data"] = [{"type": "tag", "id": tid} for tid in tag_ids]
    return {
        "type": TYPE,
        "id": flow.id,
        "attributes": sparse(attributes, ctx.fields(TYPE)),
        "relationships": relationships,
        "links": ctx.self_link(base),
    }


def _included_tags(ctx: RequestContext, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for obj in objects:
        for ref in obj["relationships"]["tags"].get("data") or []:
            tag = ctx.store.get(ctx.account_id, "tag", ref["id"])
            if tag is not None and tag.id not in out:
                out[tag.id] = {
                    "type": "tag",
                    "id": tag.id,
                    "attributes": sparse({"name": tag.attributes.get("name")}, ctx.fields("tag")),
                    "links": ctx.self_link(f"/api/tags/{tag.id}"),
                }
    return list(out.values())


def get_flows(ctx: RequestContext) -> Reply:
    ensure_seeded(ctx)
    include = ctx.includes()
    page, links = ctx.page_stored(TYPE)
    data = [render(ctx, row, include) for row in page]
    tags = _included_tags(ctx, data) if "tags" in include else []
    return Reply.document(data, links, tags if include else None)


def update_flow(ctx: RequestContext) -> Reply:
    ensure_seeded(ctx)
    flow_id = ctx.params["id"]
    data = ctx.update_body(TYPE)
    attributes = data.get("attributes") or {}
    for name in attributes:
        if name != "status":
            raise invalid(
                f"'{name}' is not a valid field for the resource 'flow'.", pointer=f"/data/attributes/{name}"
            )
    status = attributes.get("status")
    if status is None:
        raise invalid(
            "'status' is a required field for the resource 'flow'.", pointer="/data/attributes/status"
        )
    if status not in FLOW_STATUSES:
        raise invalid(
            f"'{status}' is not a valid status; use one of: {', '.join(FLOW_STATUSES)}.",
            pointer="/data/attributes/status",
        )
    with ctx.store.transaction():
        flow = ctx.get_or_404(TYPE, flow_id)
        updated = ctx.store.update(
            ctx.account_id, TYPE, flow_id, attributes={**flow.attributes, "status": status}, now=ctx.now()
        )
    assert updated is not None
    return Reply(200, {"data": render(ctx, updated, []), "links": ctx.self_link(f"/api/flows/{flow_id}")})


ROUTES = [
    Route("GET", "/api/flows", get_flows, "get_flows"),
    Route("PATCH", "/api/flows/{id}", update_flow, "update_flow"),
]
