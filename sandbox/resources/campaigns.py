"""Campaigns, their messages, template assignment and send jobs.

Routes: ``/api/campaigns`` (list, create, get, update, delete), ``/api/campaigns/{id}/
campaign-messages``, ``/api/campaign-messages/{id}``, ``/api/campaign-message-assign-template``
and ``/api/campaign-send-jobs`` (create, get, cancel or revert).

As in the API, listing campaigns needs a ``equals(messages.channel,...)`` filter; a campaign's
messages are created from the create body's ``campaign-messages`` and share one channel;
audiences must be existing lists or segments; assigning a template stores a non-reusable copy
of it on the message (see ``templates.py``); only draft campaigns can be edited or sent.

Sending needs every message to be complete (email: a template, a subject and a sender; sms and
push: a body). The send job is answered ``queued``; after that the campaign moves with the
sandbox clock: ``Scheduled`` until its send time (now, for ``immediate``), ``Sending`` for
:data:`SEND_SECONDS`, then ``Sent`` (or ``Cancelled: No Recipients`` when the audiences hold
nobody reachable on the channel); the job reports ``processing`` while sending and
``complete`` once the campaign is scheduled or sent. Recipients are counted once, at send
time, from the audiences' members (``links`` named ``profiles``) that have an email address
(email), a phone number (sms), or any profile (push); ``reports.py`` derives its statistics
from that count.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ... import catalog, filters
from ... import prose_rules as rules
from .. import ids
from ..context import Reply, RequestContext, Route, iso, member, resource_values, sparse
from ..errors import ApiError, invalid, not_found
from ..filters import parse_strict
from ..store import Resource
from . import lists, profiles, segments, templates

TYPE = "campaign"
MESSAGE_TYPE = "campaign-message"
JOB_TYPE = "campaign-send-job"
SEND_SECONDS = 2.0  # how long a campaign stays "Sending" on the sandbox clock
EMAIL_CONTENT = (
    "subject",
    "preview_text",
    "from_email",
    "from_label",
    "reply_to_email",
    "cc_email",
    "bcc_email",
)
RENDER_OPTIONS = {
    "shorten_links": True,
    "add_org_prefix": True,
    "add_info_link": True,
    "add_opt_out_language": False,
}
PUSH_CONTENT = ("title", "body", "dynamic_image", "action_buttons")
CREATE_ATTRIBUTES = (
    "name",
    "audiences",
    "send_strategy",
    "send_options",
    "tracking_options",
    "campaign-messages",
)
UPDATE_ATTRIBUTES = ("name", "audiences", "send_strategy", "send_options", "tracking_options")
REPORT_CHANNELS = {"email": "email", "sms": "sms", "mobile_push": "push-notification"}


# -- validation ------------------------------------------------------------------------------


def _body_enum(path: str) -> tuple[Any, ...]:
    """The spec's enum at ``path`` of the campaign body (create and update share the schemas)."""
    return catalog.body_enum("create_campaign", f"data.attributes.{path}")


def _keys(value: Any, allowed: tuple[str, ...] | dict[str, Any], pointer: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"'{what}' must be an object.", pointer=pointer)
    for key in value:
        if key not in allowed:
            raise invalid(f"'{key}' is not a valid field for '{what}'.", pointer=f"{pointer}/{key}")
    return value


def _optional_types(value: dict[str, Any], types: tuple[type, ...], pointer: str) -> None:
    for key, item in value.items():
        if item is not None and not isinstance(item, types):
            kind = "a boolean" if types == (bool,) else "a string"
            raise invalid(f"'{key}' must be {kind} or null.", pointer=f"{pointer}/{key}")


def _datetime(value: Any, pointer: str) -> datetime:
    parsed = filters.parse_datetime(value) if isinstance(value, str) and "T" in value else None
    if parsed is None:
        raise invalid(f"'{value}' is not a valid ISO-8601 date-time.", pointer=pointer)
    return parsed


def check_send_strategy(value: Any, pointer: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("'send_strategy' must be an object.", pointer=pointer)
    method = value.get("method")
    allowed: dict[str, tuple[str, ...]] = {
        "static": ("method", "datetime", "options"),
        "throttled": ("method", "datetime", "throttle_percentage"),
        "immediate": ("method",),
        "smart_send_time": ("method", "date"),
    }
    if method not in allowed:
        raise invalid(f"'method' must be one of {', '.join(allowed)}.", pointer=f"{pointer}/method")
    _keys(value, allowed[method], pointer, "send_strategy")
    if method in ("static", "throttled"):
        _datetime(value.get("datetime"), f"{pointer}/datetime")
    percentages = _body_enum("send_strategy.throttle_percentage")
    if method == "throttled" and value.get("throttle_percentage") not in percentages:
        raise invalid(
            f"'throttle_percentage' must be one of {', '.join(map(str, percentages))}.",
            pointer=f"{pointer}/throttle_percentage",
        )
    if method == "smart_send_time":
        date = value.get("date")
        if not isinstance(date, str) or filters.parse_datetime(date) is None or len(date) != 10:
            raise invalid("'date' must be a date such as 2026-08-01.", pointer=f"{pointer}/date")
    options = value.get("options")
    if method == "static" and options is not None:
        _keys(options, ("is_local", "send_past_recipients_immediately"), f"{pointer}/options", "options")
        if not isinstance(options.get("is_local"), bool):
            raise invalid(
                "'is_local' is required and must be a boolean.", pointer=f"{pointer}/options/is_local"
            )
        if not options["is_local"] and "send_past_recipients_immediately" in options:
            raise invalid(
                "'send_past_recipients_immediately' is only allowed when 'is_local' is true.",
                pointer=f"{pointer}/options/send_past_recipients_immediately",
            )
        if options["is_local"]:
            try:
                rules.check_local_send_time(_datetime(value.get("datetime"), f"{pointer}/datetime"))
            except rules.RuleBroken as broken:
                raise invalid(f"{broken.message}.", pointer=f"{pointer}/datetime") from None
    return value


def check_send_options(value: Any, pointer: str) -> dict[str, Any]:
    _keys(value, ("use_smart_sending",), pointer, "send_options")
    _optional_types(value, (bool,), pointer)
    return value


def check_tracking_options(value: Any, pointer: str, channel: str) -> dict[str, Any]:
    fields: tuple[str, ...] = ("add_tracking_params", "custom_tracking_params")
    if channel == "email":
        fields += ("is_tracking_clicks", "is_tracking_opens")
    _keys(value, fields, pointer, "tracking_options")
    _optional_types({k: v for k, v in value.items() if k != "custom_tracking_params"}, (bool,), pointer)
    params = value.get("custom_tracking_params")
    if params is None:
        return value
    if not isinstance(params, list):
        raise invalid("'custom_tracking_params' must be a list.", pointer=f"{pointer}/custom_tracking_params")
    for index, param in enumerate(params):
        where = f"{pointer}/custom_tracking_params/{index}"
        _keys(param, ("type", "value", "name"), where, "custom_tracking_params")
        if param.get("type") not in ("dynamic", "static"):
            raise invalid("'type' must be dynamic or static.", pointer=f"{where}/type")
        if not isinstance(param.get("name"), str) or not param["name"]:
            raise invalid("'name' is required.", pointer=f"{where}/name")
        if not isinstance(param.get("value"), str):
            raise invalid("'value' is required.", pointer=f"{where}/value")
        dynamic = _body_enum("tracking_options.custom_tracking_params[].value")
        if param["type"] == "dynamic" and param["value"] not in dynamic:
            raise invalid(f"'value' must be one of {', '.join(dynamic)}.", pointer=f"{where}/value")
    return value


def check_definition(value: Any, pointer: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid("'definition' must be an object.", pointer=pointer)
    channel = value.get("channel")
    channels = _body_enum("campaign-messages.data[].attributes.definition.channel")
    if channel not in channels:
        raise invalid(f"'channel' must be one of {', '.join(channels)}.", pointer=f"{pointer}/channel")
    content = value.get("content")
    if channel == "email":
        _keys(value, ("channel", "label", "content"), pointer, "definition")
        if value.get("label") is not None and not isinstance(value["label"], str):
            raise invalid("'label' must be a string.", pointer=f"{pointer}/label")
        if content is not None:
            _optional_types(
                _keys(content, EMAIL_CONTENT, f"{pointer}/content", "content"), (str,), f"{pointer}/content"
            )
    elif channel == "sms":
        _keys(value, ("channel", "content", "render_options"), pointer, "definition")
        if content is not None:
            _optional_types(
                _keys(content, ("body",), f"{pointer}/content", "content"), (str,), f"{pointer}/content"
            )
        if value.get("render_options") is not None:
            where = f"{pointer}/render_options"
            _optional_types(
                _keys(value["render_options"], RENDER_OPTIONS, where, "render_options"), (bool,), where
            )
    else:
        _keys(
            value, ("channel", "notification_type", "content", "kv_pairs", "options"), pointer, "definition"
        )
        kind = value.get("notification_type", "standard")
        if kind not in ("standard", "silent"):
            raise invalid(
                "'notification_type' must be standard or silent.", pointer=f"{pointer}/notification_type"
            )
        if kind == "silent" and (content is not None or value.get("options") is not None):
            raise invalid(
                "A silent push notification takes no content or options.", pointer=f"{pointer}/content"
            )
        if kind == "standard":
            _keys(content, PUSH_CONTENT, f"{pointer}/content", "content")
            if not isinstance(content.get("body"), str):
                raise invalid(
                    "'body' is required for a push notification.", pointer=f"{pointer}/content/body"
                )
            if content.get("action_buttons") is not None:
                try:
                    rules.check_action_buttons(content["action_buttons"])
                except rules.RuleBroken as broken:
                    where = broken.pointer(f"{pointer}/content/action_buttons")
                    raise invalid(f"{broken.message}.", pointer=where) from None
    return value


def check_audiences(ctx: RequestContext, value: Any, pointer: str, *, partial: bool) -> dict[str, Any]:
    _keys(value, ("included", "excluded"), pointer, "audiences")
    if not partial and "included" not in value:
        raise invalid("'included' is a required field for 'audiences'.", pointer=f"{pointer}/included")
    for key in ("included", "excluded"):
        ids_ = value.get(key)
        if ids_ is None:
            if key == "included" and "included" in value:
                raise invalid("'included' cannot be null.", pointer=f"{pointer}/included")
            continue
        if not isinstance(ids_, list) or not all(isinstance(i, str) for i in ids_):
            raise invalid(f"'{key}' must be a list of list or segment ids.", pointer=f"{pointer}/{key}")
        if key == "included" and not ids_:
            raise invalid("A campaign needs at least one included audience.", pointer=f"{pointer}/included")
        for audience in ids_:
            if not any(ctx.store.get(ctx.account_id, t, audience) for t in (lists.TYPE, segments.TYPE)):
                raise invalid(
                    f"The audience '{audience}' is not a list or segment in this account.",
                    pointer=f"{pointer}/{key}",
                )
    return value


def default_tracking(channel: str) -> dict[str, Any] | None:
    if channel == "email":
        return {
            "add_tracking_params": False,
            "custom_tracking_params": None,
            "is_tracking_clicks": True,
            "is_tracking_opens": True,
        }
    if channel == "sms":
        return {"add_tracking_params": False, "custom_tracking_params": None}
    return None


# -- state -----------------------------------------------------------------------------------


def messages_of(ctx: RequestContext, campaign_id: str) -> list[Resource]:
    out = []
    for message_id in ctx.store.linked_ids(ctx.account_id, TYPE, campaign_id, "campaign-messages"):
        message = ctx.store.get(ctx.account_id, MESSAGE_TYPE, message_id)
        if message is not None:
            out.append(message)
    return out


def tag_ids(ctx: RequestContext, campaign_id: str) -> list[str]:
    """Tags on a campaign, whichever side stored the link."""
    found = ctx.store.linked_ids(ctx.account_id, TYPE, campaign_id, "tags")
    found += ctx.store.linking_ids(ctx.account_id, TYPE, campaign_id, "campaigns", "tag")
    return list(dict.fromkeys(found))


def status(ctx: RequestContext, campaign: Resource) -> str:
    """The campaign's status now: it moves on the sandbox clock after a send job."""
    send = campaign.attributes.get("_send")
    if not send:
        return "Draft"
    if send.get("cancelled"):
        return "Cancelled"
    now = ctx.clock()
    if now < send["start"]:
        return "Scheduled"
    if not send["recipients"]:
        return "Cancelled: No Recipients"
    return "Sending" if now < send["start"] + SEND_SECONDS else "Sent"


def job_status(ctx: RequestContext, campaign: Resource) -> str:
    state = status(ctx, campaign)
    return "processing" if state == "Sending" else "complete"


def _require_draft(ctx: RequestContext, campaign: Resource, doing: str) -> None:
    state = status(ctx, campaign)
    if state != "Draft":
        raise invalid(
            f"Cannot {doing} campaign {campaign.id}: its status is '{state}'; only drafts can be changed."
        )


def values(ctx: RequestContext) -> Any:
    """Filter/sort getter for campaigns (status and channel are computed)."""

    def get(campaign: Resource, name: str) -> list[Any]:
        if name == "messages.channel":
            return [campaign.attributes.get("channel")]
        if name == "status":
            return [status(ctx, campaign)]
        if name == "created_at":
            return [campaign.created]
        if name == "updated_at":
            return [campaign.updated]
        if name == "scheduled_at":
            return [_scheduled_at(campaign)]
        return resource_values(campaign, name)

    return get


def _scheduled_at(campaign: Resource) -> str | None:
    send = campaign.attributes.get("_send")
    return iso(send["queued_at"]) if send else None


# -- rendering ------------------------------------------------------------------------------


def render(ctx: RequestContext, campaign: Resource, *, include: tuple[str, ...] = ()) -> dict[str, Any]:
    stored = campaign.attributes
    send = stored.get("_send")
    attributes = {
        "name": stored.get("name"),
        "status": status(ctx, campaign),
        "archived": bool(stored.get("archived")),
        "audiences": stored.get("audiences"),
        "send_options": stored.get("send_options"),
        "tracking_options": stored.get("tracking_options"),
        "send_strategy": stored.get("send_strategy"),
        "created_at": campaign.created,
        "scheduled_at": _scheduled_at(campaign),
        "updated_at": campaign.updated,
        "send_time": iso(send["start"]) if send else None,
    }
    base = f"/api/campaigns/{campaign.id}"
    relationships: dict[str, Any] = {
        "campaign-messages": {"links": ctx.relationship_links(base, "campaign-messages")},
        "tags": {"links": ctx.relationship_links(base, "tags")},
    }
    if "campaign-messages" in include:
        message_ids = ctx.store.linked_ids(ctx.account_id, TYPE, campaign.id, "campaign-messages")
        relationships["campaign-messages"]["data"] = [{"type": MESSAGE_TYPE, "id": m} for m in message_ids]
    if "tags" in include:
        relationships["tags"]["data"] = [{"type": "tag", "id": t} for t in tag_ids(ctx, campaign.id)]
    return {
        "type": TYPE,
        "id": campaign.id,
        "attributes": sparse(attributes, ctx.fields(TYPE)),
        "relationships": relationships,
        "links": ctx.self_link(base),
    }


def definition(message: Resource) -> dict[str, Any]:
    """The stored definition with every member the response schemas list."""
    stored = message.attributes["definition"]
    channel = stored["channel"]
    if channel == "email":
        content = {key: None for key in EMAIL_CONTENT}
        content.update(stored.get("content") or {})
        return {"channel": channel, "label": message.attributes.get("label"), "content": content}
    if channel == "sms":
        content = {"body": None, "media_url": None, **(stored.get("content") or {})}
        return {"channel": channel, "content": content, "render_options": _render_options(stored)}
    out: dict[str, Any] = {
        "channel": channel,
        "notification_type": stored.get("notification_type", "standard"),
    }
    if out["notification_type"] == "standard":
        out["content"] = {"title": None, "dynamic_image": None, **(stored.get("content") or {})}
        out["options"] = stored.get("options") or {}
    out["kv_pairs"] = stored.get("kv_pairs")
    return out


def _render_options(stored: dict[str, Any]) -> dict[str, Any]:
    return {**RENDER_OPTIONS, **(stored.get("render_options") or {})}


def _send_times(ctx: RequestContext, message: Resource) -> list[dict[str, Any]] | None:
    campaign = ctx.store.get(ctx.account_id, TYPE, message.relationships.get("campaign", ""))
    send = campaign.attributes.get("_send") if campaign else None
    return [{"datetime": iso(send["start"]), "is_local": False}] if send else None


def _message_relationships(ctx: RequestContext, message: Resource) -> dict[str, Any]:
    base = f"/api/campaign-messages/{message.id}"
    relationships: dict[str, Any] = {
        "campaign": {
            "data": {"type": TYPE, "id": message.relationships.get("campaign")},
            "links": ctx.relationship_links(base, "campaign"),
        },
        "template": {"links": ctx.relationship_links(base, "template")},
        "image": {"links": ctx.relationship_links(base, "image")},
    }
    if message.relationships.get("template"):
        relationships["template"]["data"] = {"type": "template", "id": message.relationships["template"]}
    return relationships


def _message_object(ctx: RequestContext, message: Resource, attributes: dict[str, Any]) -> dict[str, Any]:
    attributes = {
        **attributes,
        "send_times": _send_times(ctx, message),
        "created_at": message.created,
        "updated_at": message.updated,
    }
    return {
        "type": MESSAGE_TYPE,
        "id": message.id,
        "attributes": sparse(attributes, ctx.fields(MESSAGE_TYPE)),
        "relationships": _message_relationships(ctx, message),
        "links": ctx.self_link(f"/api/campaign-messages/{message.id}"),
    }


def render_message(ctx: RequestContext, message: Resource) -> dict[str, Any]:
    return _message_object(ctx, message, {"definition": definition(message)})


def render_message_flat(ctx: RequestContext, message: Resource) -> dict[str, Any]:
    """The older flat message shape the assign-template operation answers with."""
    full = definition(message)
    flat = {
        "label": message.attributes.get("label") or "",
        "channel": full["channel"],
        "content": full.get("content") or {},
        "render_options": _render_options(message.attributes["definition"]),
    }
    return _message_object(ctx, message, flat)


def _included(ctx: RequestContext, campaigns: list[Resource], include: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for campaign in campaigns:
        if "campaign-messages" in include:
            out.extend(render_message(ctx, message) for message in messages_of(ctx, campaign.id))
        if "tags" in include:
            for tag_id in tag_ids(ctx, campaign.id):
                tag = ctx.store.get(ctx.account_id, "tag", tag_id)
                if tag is not None:
                    out.append(
                        {
                            "type": "tag",
                            "id": tag.id,
                            "attributes": sparse({"name": tag.attributes.get("name")}, ctx.fields("tag")),
                            "links": ctx.self_link(f"/api/tags/{tag.id}"),
                        }
                    )
    unique = {(item["type"], item["id"]): item for item in out}
    return list(unique.values())


def _document(ctx: RequestContext, campaign: Resource, status_code: int, include: list[str]) -> Reply:
    return Reply.document(
        render(ctx, campaign, include=tuple(include)),
        ctx.self_link(f"/api/campaigns/{campaign.id}"),
        _included(ctx, [campaign], include) if include else None,
        status_code,
    )


# -- campaign handlers -----------------------------------------------------------------------


def _require_channel_filter(ctx: RequestContext) -> None:
    text = ctx.arg("filter")
    if text is None:
        return  # ctx.page answers "a filter is required"
    try:
        nodes = parse_strict(text)
    except filters.FilterError:
        return  # ctx.page reports the syntax error
    if not any(c.field == "messages.channel" and c.operator == "equals" for c in filters.comparisons(nodes)):
        raise invalid(
            "A channel filter is required: add equals(messages.channel,'email'), 'sms' or 'mobile_push'.",
            parameter="filter",
        )


def get_campaigns(ctx: RequestContext) -> Reply:
    _require_channel_filter(ctx)
    include = ctx.includes()
    rows = ctx.store.list_resources(ctx.account_id, TYPE)
    page, links = ctx.page(rows, rtype=TYPE, getter=values(ctx))
    data = [render(ctx, row, include=tuple(include)) for row in page]
    return Reply.document(data, links, _included(ctx, page, include) if include else None)


def get_campaign(ctx: RequestContext) -> Reply:
    return _document(ctx, ctx.get_or_404(TYPE, ctx.params["id"]), 200, ctx.includes())


def create_campaign(ctx: RequestContext) -> Reply:
    data = ctx.resource_body(TYPE)
    attributes = _keys(data.get("attributes") or {}, CREATE_ATTRIBUTES, "/data/attributes", "attributes")
    for required in ("name", "audiences", "campaign-messages"):
        if attributes.get(required) is None:
            raise invalid(
                f"'{required}' is a required field for the resource 'campaign'.",
                pointer=f"/data/attributes/{required}",
            )
    name = attributes["name"]
    if not isinstance(name, str) or not name.strip():
        raise invalid("'name' must be a non-empty string.", pointer="/data/attributes/name")
    messages = attributes["campaign-messages"]
    pointer = "/data/attributes/campaign-messages/data"
    if not isinstance(messages, dict) or not isinstance(messages.get("data"), list) or not messages["data"]:
        raise invalid("'campaign-messages' needs a non-empty 'data' list.", pointer=pointer)
    definitions = []
    for index, item in enumerate(messages["data"]):
        where = f"{pointer}/{index}"
        if not isinstance(item, dict) or item.get("type") != MESSAGE_TYPE:
            raise invalid("Each campaign message must have type 'campaign-message'.", pointer=f"{where}/type")
        definitions.append(
            check_definition(member(item, "attributes", "definition"), f"{where}/attributes/definition")
        )
    channel = definitions[0]["channel"]
    if any(d["channel"] != channel for d in definitions):
        raise invalid("All messages of a campaign must use the same channel.", pointer=pointer)
    audiences = check_audiences(ctx, attributes["audiences"], "/data/attributes/audiences", partial=False)
    strategy = attributes.get("send_strategy")
    strategy = (
        check_send_strategy(strategy, "/data/attributes/send_strategy")
        if strategy
        else {"method": "immediate"}
    )
    send_options = {"use_smart_sending": True}
    if attributes.get("send_options") is not None:
        send_options.update(check_send_options(attributes["send_options"], "/data/attributes/send_options"))
    tracking = default_tracking(channel)
    if attributes.get("tracking_options") is not None:
        given = check_tracking_options(
            attributes["tracking_options"], "/data/attributes/tracking_options", channel
        )
        tracking = {**(tracking or {}), **given}
    stored = {
        "name": name,
        "channel": channel,
        "archived": False,
        "audiences": {"included": audiences["included"], "excluded": audiences.get("excluded") or []},
        "send_options": send_options,
        "tracking_options": tracking,
        "send_strategy": strategy,
    }
    now = ctx.now()
    with ctx.store.transaction():
        campaign = ctx.store.create(ctx.account_id, TYPE, ids.ulid(ctx.clock()), stored, now=now)
        message_ids = []
        for item in definitions:
            label = item.get("label") or name
            message = ctx.store.create(
                ctx.account_id,
                MESSAGE_TYPE,
                ids.ulid(ctx.clock()),
                {"definition": item, "label": label},
                {"campaign": campaign.id, "template": None},
                now=now,
            )
            message_ids.append(message.id)
        ctx.store.add_links(
            ctx.account_id, TYPE, campaign.id, "campaign-messages", MESSAGE_TYPE, message_ids, now=now
        )
    # The created message ids are in the answer (relationship data), as Klaviyo returns them.
    body = {
        "data": render(ctx, campaign, include=("campaign-messages",)),
        "links": ctx.self_link(f"/api/campaigns/{campaign.id}"),
    }
    return Reply(201, body)


def update_campaign(ctx: RequestContext) -> Reply:
    campaign_id = ctx.params["id"]
    data = ctx.update_body(TYPE)
    changes = _keys(data.get("attributes") or {}, UPDATE_ATTRIBUTES, "/data/attributes", "attributes")
    with ctx.store.transaction():
        campaign = ctx.get_or_404(TYPE, campaign_id)
        _require_draft(ctx, campaign, "update")
        stored = dict(campaign.attributes)
        channel = str(stored.get("channel"))
        if "name" in changes:
            if not isinstance(changes["name"], str) or not changes["name"].strip():
                raise invalid("'name' must be a non-empty string.", pointer="/data/attributes/name")
            stored["name"] = changes["name"]
        if changes.get("audiences") is not None:
            given = check_audiences(ctx, changes["audiences"], "/data/attributes/audiences", partial=True)
            audiences = dict(stored["audiences"])
            if given.get("included") is not None:
                audiences["included"] = given["included"]
            if "excluded" in given:
                audiences["excluded"] = given["excluded"] or []
            stored["audiences"] = audiences
        if changes.get("send_strategy") is not None:
            stored["send_strategy"] = check_send_strategy(
                changes["send_strategy"], "/data/attributes/send_strategy"
            )
        if changes.get("send_options") is not None:
            given = check_send_options(changes["send_options"], "/data/attributes/send_options")
            stored["send_options"] = {**stored["send_options"], **given}
        if changes.get("tracking_options") is not None:
            given = check_tracking_options(
                changes["tracking_options"], "/data/attributes/tracking_options", channel
            )
            stored["tracking_options"] = {**(stored.get("tracking_options") or {}), **given}
        updated = ctx.store.update(ctx.account_id, TYPE, campaign_id, attributes=stored, now=ctx.now())
    assert updated is not None
    return _document(ctx, updated, 200, [])


def delete_campaign(ctx: RequestContext) -> Reply:
    campaign_id = ctx.params["id"]
    with ctx.store.transaction():
        ctx.get_or_404(TYPE, campaign_id)
        for message in messages_of(ctx, campaign_id):
            copy = message.relationships.get("template")
            if copy:
                ctx.store.delete(ctx.account_id, templates.TYPE, copy)
            ctx.store.delete(ctx.account_id, MESSAGE_TYPE, message.id)
        ctx.store.delete(ctx.account_id, TYPE, campaign_id)
    return Reply(204)


# -- message handlers ------------------------------------------------------------------------


def _message_included(
    ctx: RequestContext, messages: list[Resource], include: list[str]
) -> list[dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for message in messages:
        if "campaign" in include:
            campaign = ctx.store.get(ctx.account_id, TYPE, message.relationships.get("campaign", ""))
            if campaign is not None:
                out[(TYPE, campaign.id)] = render(ctx, campaign)
        if "template" in include and message.relationships.get("template"):
            template = ctx.store.get(ctx.account_id, templates.TYPE, message.relationships["template"])
            if template is not None:
                out[(templates.TYPE, template.id)] = templates.render(ctx, template)
    return list(out.values())


def get_messages_for_campaign(ctx: RequestContext) -> Reply:
    include = ctx.includes()
    campaign = ctx.get_or_404(TYPE, ctx.params["id"])
    messages = messages_of(ctx, campaign.id)
    return Reply.document(
        [render_message(ctx, message) for message in messages],
        ctx.collection_links(),
        _message_included(ctx, messages, include) if include else None,
    )


def get_campaign_message(ctx: RequestContext) -> Reply:
    include = ctx.includes()
    message = ctx.get_or_404(MESSAGE_TYPE, ctx.params["id"])
    return Reply.document(
        render_message(ctx, message),
        ctx.self_link(f"/api/campaign-messages/{message.id}"),
        _message_included(ctx, [message], include) if include else None,
    )


def assign_template(ctx: RequestContext) -> Reply:
    data = ctx.resource_body(MESSAGE_TYPE, require_id=True)
    ref = member(data, "relationships", "template", "data")
    pointer = "/data/relationships/template/data"
    if not isinstance(ref, dict) or ref.get("type") != templates.TYPE or not isinstance(ref.get("id"), str):
        raise invalid("relationships.template.data must be {'type': 'template', 'id': ...}.", pointer=pointer)
    now = ctx.now()
    with ctx.store.transaction():
        message = ctx.get_or_404(MESSAGE_TYPE, data["id"])
        template = ctx.get_or_404(templates.TYPE, ref["id"])
        if not templates.is_reusable(template):
            raise not_found(f"A template with id {ref['id']} does not exist.")
        campaign = ctx.get_or_404(TYPE, str(message.relationships.get("campaign")))
        _require_draft(ctx, campaign, "change a message of")
        previous = message.relationships.get("template")
        if previous:
            ctx.store.delete(ctx.account_id, templates.TYPE, previous)
        copy = ctx.store.create(
            ctx.account_id,
            templates.TYPE,
            ids.short_id(),
            {**template.attributes, templates.COPY_FLAG: True},
            now=now,
        )
        updated = ctx.store.update(
            ctx.account_id,
            MESSAGE_TYPE,
            message.id,
            relationships={**message.relationships, "template": copy.id},
            now=now,
        )
    assert updated is not None
    body = {
        "data": render_message_flat(ctx, updated),
        "links": ctx.self_link(f"/api/campaign-messages/{updated.id}"),
    }
    return Reply(200, body)


# -- send jobs -------------------------------------------------------------------------------


def _check_ready(ctx: RequestContext, campaign: Resource) -> None:
    for message in messages_of(ctx, campaign.id):
        stored = message.attributes["definition"]
        content = stored.get("content") or {}
        where = f"Campaign message {message.id}"
        if stored["channel"] == "email":
            if not message.relationships.get("template"):
                raise invalid(f"{where} has no template; assign one before sending.")
            for key in ("subject", "from_email", "from_label"):
                if not content.get(key):
                    raise invalid(f"{where} has no {key}; set it before sending.")
        elif stored.get("notification_type", "standard") == "standard" and not content.get("body"):
            raise invalid(f"{where} has no body; set it before sending.")


def reachable(profile: Resource, channel: str) -> bool:
    """Whether a campaign on ``channel`` goes to the profile (consent as ``profiles.py`` stores it).

    Email: an address, not unsubscribed and not suppressed (never-subscribed profiles on a
    list are emailable). SMS: a phone number with SMS marketing consent. Push: everyone.
    """
    subscriptions = profile.attributes.get("subscriptions") or {}
    if channel == "email":
        marketing = (subscriptions.get("email") or {}).get("marketing") or {}
        return bool(
            profile.attributes.get("email")
            and marketing.get("consent") != "UNSUBSCRIBED"
            and not marketing.get("suppression")
        )
    if channel == "sms":
        marketing = (subscriptions.get("sms") or {}).get("marketing") or {}
        return bool(profile.attributes.get("phone_number") and marketing.get("consent") == "SUBSCRIBED")
    return True


def recipients(ctx: RequestContext, campaign: Resource) -> int:
    """Reachable members of the included audiences, minus the excluded ones, at send time."""

    def members(audience_ids: list[str]) -> set[str]:
        found: set[str] = set()
        for audience in audience_ids:
            segment = ctx.store.get(ctx.account_id, segments.TYPE, audience)
            if segment is not None:
                found.update(segments.refresh_members(ctx, segment))  # evaluated when sending
            else:
                found.update(ctx.store.linked_ids(ctx.account_id, lists.TYPE, audience, lists.MEMBER))
        return found

    audiences = campaign.attributes.get("audiences") or {}
    chosen = members(audiences.get("included") or []) - members(audiences.get("excluded") or [])
    channel = str(campaign.attributes.get("channel"))
    count = 0
    for profile_id in chosen:
        profile = ctx.store.get(ctx.account_id, profiles.TYPE, profile_id)
        if profile is not None and reachable(profile, channel):
            count += 1
    return count


def _start_time(ctx: RequestContext, strategy: dict[str, Any]) -> float:
    now = ctx.clock()
    method = strategy.get("method")
    if method in ("static", "throttled"):
        start = _datetime(strategy.get("datetime"), "/data/attributes/send_strategy/datetime").timestamp()
        if start < now:
            raise invalid("The campaign's send time is in the past; update its send strategy first.")
        return start
    if method == "smart_send_time":
        day = filters.parse_datetime(str(strategy.get("date")))
        assert day is not None
        if day.date() < datetime.fromtimestamp(now, tz=timezone.utc).date():
            raise invalid("The campaign's smart send date is in the past; update its send strategy first.")
        return max(now, day.timestamp())
    return now


def _job(ctx: RequestContext, campaign: Resource, job_state: str) -> dict[str, Any]:
    return {
        "type": JOB_TYPE,
        "id": campaign.id,
        "attributes": sparse({"status": job_state}, ctx.fields(JOB_TYPE)),
        "links": ctx.self_link(f"/api/campaign-send-jobs/{campaign.id}"),
    }


def send_campaign(ctx: RequestContext) -> Reply:
    data = ctx.resource_body(JOB_TYPE, require_id=True)
    with ctx.store.transaction():
        campaign = ctx.get_or_404(TYPE, data["id"])
        if campaign.attributes.get("_send"):
            raise ApiError(
                400,
                "invalid",
                "Invalid input.",
                f"Campaign {campaign.id} has already been sent or scheduled (status '{status(ctx, campaign)}').",
                pointer="/data/id",
            )
        _check_ready(ctx, campaign)
        now = ctx.clock()
        send = {
            "queued_at": now,
            "start": _start_time(ctx, campaign.attributes.get("send_strategy") or {}),
            "recipients": recipients(ctx, campaign),
        }
        updated = ctx.store.update(
            ctx.account_id,
            TYPE,
            campaign.id,
            attributes={**campaign.attributes, "_send": send},
            now=ctx.now(),
        )
    assert updated is not None
    body = {
        "data": _job(ctx, updated, "queued"),
        "links": ctx.self_link(f"/api/campaign-send-jobs/{updated.id}"),
    }
    return Reply(202, body)


def get_campaign_send_job(ctx: RequestContext) -> Reply:
    campaign = ctx.store.get(ctx.account_id, TYPE, ctx.params["id"])
    if campaign is None or not campaign.attributes.get("_send"):
        raise not_found(f"A campaign send job with id {ctx.params['id']} does not exist.")
    body = {
        "data": _job(ctx, campaign, job_status(ctx, campaign)),
        "links": ctx.self_link(f"/api/campaign-send-jobs/{campaign.id}"),
    }
    return Reply(200, body)


def cancel_campaign_send(ctx: RequestContext) -> Reply:
    """``action: cancel`` stops a scheduled or sending campaign for good (status ``Cancelled``);
    ``action: revert`` turns a scheduled one back into a draft. Anything else is a 400."""
    data = ctx.update_body(JOB_TYPE)
    action = member(data, "attributes", "action")
    with ctx.store.transaction():
        campaign = ctx.store.get(ctx.account_id, TYPE, ctx.params["id"])
        if campaign is None or not campaign.attributes.get("_send"):
            raise not_found(f"A campaign send job with id {ctx.params['id']} does not exist.")
        state = status(ctx, campaign)
        allowed = ("Scheduled",) if action == "revert" else ("Scheduled", "Sending")
        if state not in allowed:
            doing = "reverted to a draft" if action == "revert" else "cancelled"
            raise invalid(
                f"Campaign {campaign.id} cannot be {doing}: its status is '{state}'.",
                pointer="/data/attributes/action",
            )
        attributes = dict(campaign.attributes)
        if action == "revert":
            attributes.pop("_send")
        else:
            attributes["_send"] = {**attributes["_send"], "cancelled": True}
        ctx.store.update(ctx.account_id, TYPE, campaign.id, attributes=attributes, now=ctx.now())
    return Reply(204)


ROUTES = [
    Route("GET", "/api/campaigns", get_campaigns, "get_campaigns"),
    Route("POST", "/api/campaigns", create_campaign, "create_campaign"),
    Route("GET", "/api/campaigns/{id}", get_campaign, "get_campaign"),
    Route("PATCH", "/api/campaigns/{id}", update_campaign, "update_campaign"),
    Route("DELETE", "/api/campaigns/{id}", delete_campaign, "delete_campaign"),
    Route(
        "GET", "/api/campaigns/{id}/campaign-messages", get_messages_for_campaign, "get_messages_for_campaign"
    ),
    Route("GET", "/api/campaign-messages/{id}", get_campaign_message, "get_campaign_message"),
    Route(
        "POST",
        "/api/campaign-message-assign-template",
        assign_template,
        "assign_template_to_campaign_message",
    ),
    Route("POST", "/api/campaign-send-jobs", send_campaign, "send_campaign"),
    Route("GET", "/api/campaign-send-jobs/{id}", get_campaign_send_job, "get_campaign_send_job"),
    Route("PATCH", "/api/campaign-send-jobs/{id}", cancel_campaign_send, "cancel_campaign_send"),
]
