"""Webhooks and webhook topics (``/api/webhooks``, ``/api/webhook-topics``).

A webhook has a name, an ``endpoint_url``, a ``secret_key`` (stored to sign deliveries, never
rendered) and topics (``relationships.webhook-topics``). Topics are ``event:klaviyo.<metric>``:
one per metric of the account (``Placed Order`` -> ``event:klaviyo.placed_order``) plus
Klaviyo's own SMS topic; a webhook may name a topic whose metric has no events yet. Unlike
Klaviyo, which requires https, an ``http://`` URL on loopback is accepted, so a local receiver can
be tested. Deliveries: :mod:`klaviyo_connector.sandbox.webhook_delivery`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from ...webhooks import MIN_SECRET_LENGTH
from .. import ids
from ..context import Reply, RequestContext, Route, member, sparse
from ..errors import invalid, not_found
from ..server import is_loopback
from ..store import Resource
from ..webhook_delivery import EVENT, TOPIC_PREFIX, WEBHOOK, started, topic_for

TOPIC = "webhook-topic"
TOPICS = "webhook-topics"
SYSTEM_TOPICS = ("event:klaviyo.sent_sms",)  # the spec's example topic
_TOPIC_ID = re.compile(r"^event:klaviyo\.[a-z0-9_]+$")
_ATTRS = "/data/attributes"
MAX_NAME = 255


def account_topics(ctx: RequestContext) -> list[str]:
    names = {
        topic_for(str(m.attributes.get("name") or ""))
        for m in ctx.store.list_resources(ctx.account_id, "metric")
    }
    return sorted(set(SYSTEM_TOPICS) | names)


def render_topic(ctx: RequestContext, topic_id: str) -> dict[str, Any]:
    return {"type": TOPIC, "id": topic_id, "links": ctx.self_link(f"/api/webhook-topics/{topic_id}")}


def render(ctx: RequestContext, webhook: Resource) -> dict[str, Any]:
    base = f"/api/webhooks/{webhook.id}"
    stored = webhook.attributes
    attributes = {
        "name": stored.get("name"),
        "endpoint_url": stored.get("endpoint_url"),
        "enabled": stored.get("enabled", True),
        "created_at": webhook.created,
        "updated_at": webhook.updated,
    }
    topics = [{"type": TOPIC, "id": t} for t in stored.get("_topics") or []]
    return {
        "type": WEBHOOK,
        "id": webhook.id,
        "attributes": sparse(attributes, ctx.fields(WEBHOOK)),
        "relationships": {TOPICS: {"data": topics, "links": ctx.relationship_links(base, TOPICS)}},
        "links": ctx.self_link(base),
    }


def _included(ctx: RequestContext, webhooks: list[Resource]) -> list[dict[str, Any]] | None:
    if TOPICS not in ctx.includes():
        return None
    seen: dict[str, dict[str, Any]] = {}
    for webhook in webhooks:
        for topic in webhook.attributes.get("_topics") or []:
            seen.setdefault(topic, render_topic(ctx, topic))
    return list(seen.values())


# -- checks ----------------------------------------------------------------------------------


def _text(attributes: dict[str, Any], name: str, limit: int | None = None) -> str:
    value = attributes.get(name)
    if not isinstance(value, str) or not value.strip():
        raise invalid(f"'{name}' must be a non-empty string.", pointer=f"{_ATTRS}/{name}")
    if limit is not None and len(value) > limit:
        raise invalid(f"'{name}' may be at most {limit} characters.", pointer=f"{_ATTRS}/{name}")
    return value


def _endpoint(attributes: dict[str, Any]) -> str:
    url = _text(attributes, "endpoint_url", 2048)
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host or not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host))):
        raise invalid(
            "'endpoint_url' must be an https URL (the sandbox also accepts http on loopback).",
            pointer=f"{_ATTRS}/endpoint_url",
        )
    return url


def _secret(attributes: dict[str, Any]) -> str:
    secret = _text(attributes, "secret_key", 1024)
    if len(secret) < MIN_SECRET_LENGTH:
        raise invalid(
            f"'secret_key' must be at least {MIN_SECRET_LENGTH} characters.", pointer=f"{_ATTRS}/secret_key"
        )
    return secret


def _topics(data: dict[str, Any], required: bool) -> list[str] | None:
    rel = member(data, "relationships", TOPICS, "data")
    pointer = f"/data/relationships/{TOPICS}/data"
    if rel is None:
        if required:
            raise invalid("'relationships.webhook-topics' is required.", pointer=pointer)
        return None
    if not isinstance(rel, list) or not rel:
        raise invalid("Give at least one webhook topic.", pointer=pointer)
    out: list[str] = []
    for index, item in enumerate(rel):
        topic = member(item, "id")
        if member(item, "type") != TOPIC or not isinstance(topic, str) or not _TOPIC_ID.match(topic):
            raise invalid(
                f"Each topic is {{'type': 'webhook-topic', 'id': 'event:klaviyo.<metric>'}}; item {index} is not.",
                pointer=f"{pointer}/{index}",
            )
        if topic not in out:
            out.append(topic)
    return out


def _last_event_seq(ctx: RequestContext) -> int:
    """Events recorded so far are not delivered to a new webhook."""
    for _, key in ctx.store.scan(ctx.account_id, EVENT, order=[("r.seq", True)], chunk=1):
        return int(key[-1])
    return 0


# -- handlers --------------------------------------------------------------------------------


def get_webhooks(ctx: RequestContext) -> Reply:
    started(ctx)
    rows = ctx.store.list_resources(ctx.account_id, WEBHOOK)
    return Reply.document([render(ctx, w) for w in rows], ctx.collection_links(), _included(ctx, rows))


def get_webhook(ctx: RequestContext) -> Reply:
    started(ctx)
    row = ctx.get_or_404(WEBHOOK, ctx.params["id"])
    return Reply.document(render(ctx, row), ctx.self_link(f"/api/webhooks/{row.id}"), _included(ctx, [row]))


def create_webhook(ctx: RequestContext) -> Reply:
    data = ctx.resource_body(WEBHOOK)
    attributes = data.get("attributes") or {}
    stored = {
        "name": _text(attributes, "name", MAX_NAME),
        "endpoint_url": _endpoint(attributes),
        "enabled": True,
        "_secret_key": _secret(attributes),
        "_topics": _topics(data, required=True),
    }
    started(ctx)  # the worker picks up the new webhook on its next round
    with ctx.store.transaction():
        stored["_after_seq"] = _last_event_seq(ctx)
        row = ctx.store.create(ctx.account_id, WEBHOOK, ids.ulid(ctx.clock()), stored, now=ctx.now())
    body = {"data": render(ctx, row), "links": ctx.self_link(f"/api/webhooks/{row.id}")}
    return Reply(201, body)


def update_webhook(ctx: RequestContext) -> Reply:
    data = ctx.update_body(WEBHOOK)
    attributes = data.get("attributes") or {}
    with ctx.store.transaction():
        row = ctx.get_or_404(WEBHOOK, ctx.params["id"])
        stored = dict(row.attributes)
        if "name" in attributes:
            stored["name"] = _text(attributes, "name", MAX_NAME)
        if "endpoint_url" in attributes:
            stored["endpoint_url"] = _endpoint(attributes)
        if "secret_key" in attributes:
            stored["_secret_key"] = _secret(attributes)
        if "enabled" in attributes:
            if not isinstance(attributes["enabled"], bool):
                raise invalid("'enabled' must be true or false.", pointer=f"{_ATTRS}/enabled")
            stored["enabled"] = attributes["enabled"]
        topics = _topics(data, required=False)
        if topics is not None:
            stored["_topics"] = topics
        updated = ctx.store.update(ctx.account_id, WEBHOOK, row.id, attributes=stored, now=ctx.now())
    assert updated is not None
    return Reply(200, {"data": render(ctx, updated), "links": ctx.self_link(f"/api/webhooks/{row.id}")})


def delete_webhook(ctx: RequestContext) -> Reply:
    ctx.delete_or_404(WEBHOOK, ctx.params["id"])
    return Reply(204)


def get_webhook_topics(ctx: RequestContext) -> Reply:
    data = [render_topic(ctx, t) for t in account_topics(ctx)]
    return Reply(200, {"data": data, "links": ctx.collection_links()})


def get_webhook_topic(ctx: RequestContext) -> Reply:
    topic = ctx.params["id"]
    if topic not in account_topics(ctx):
        raise not_found(f"A webhook topic with id {topic} does not exist.")
    return Reply(
        200, {"data": render_topic(ctx, topic), "links": ctx.self_link(f"/api/webhook-topics/{topic}")}
    )


ROUTES = [
    Route("GET", "/api/webhooks", get_webhooks, "get_webhooks"),
    Route("POST", "/api/webhooks", create_webhook, "create_webhook"),
    Route("GET", "/api/webhooks/{id}", get_webhook, "get_webhook"),
    Route("PATCH", "/api/webhooks/{id}", update_webhook, "update_webhook"),
    Route("DELETE", "/api/webhooks/{id}", delete_webhook, "delete_webhook"),
    Route("GET", "/api/webhook-topics", get_webhook_topics, "get_webhook_topics"),
    Route("GET", "/api/webhook-topics/{id}", get_webhook_topic, "get_webhook_topic"),
]

__all__ = ["ROUTES", "TOPIC_PREFIX"]
