"""Update Campaign Message: a draft message's subject, preview text, sender, text and image.

``PATCH /api/campaign-messages/{id}`` takes the message's ``definition`` (which must name its
channel) and an ``image`` relationship. The common members are inputs of their own. The message
is read first: its channel decides which inputs apply (another is refused before the update is
sent), and the update carries the current definition with the changes laid over it, so members
left out keep their values whether Klaviyo merges or replaces the definition (the spec doesn't
say). Anything else (SMS render options, push options and buttons) goes in Message Definition,
which is sent as given.
The content of an email (its HTML) comes from a template: Assign Campaign Template sets it.
"""

from __future__ import annotations

import functools
from typing import Any

from klaviyo_connector.actions.campaigns import MessageDefinition
from klaviyo_connector.context import Context
from klaviyo_connector.errors import input_error
from klaviyo_connector.inputs import AtLeastOne, Email, IdField, Inputs, NotTogether, ResourceId, data_source
from klaviyo_connector.jsonapi import attributes, relationship, resource, wire_value
from klaviyo_connector.model import Action
from klaviyo_connector.paths import api_path
from klaviyo_connector.reads import query_input, read_params
from pydantic import Field, model_validator

MESSAGE_ID_EXAMPLE = "01J2DNH8D3DS2Z1NRGKMEWS1T2"

# Input key -> wire name inside definition.content, and the channels whose content has it.
CONTENT = {
    "subject": ("subject", ("email",)),
    "previewText": ("preview_text", ("email",)),
    "fromEmail": ("from_email", ("email",)),
    "fromLabel": ("from_label", ("email",)),
    "replyToEmail": ("reply_to_email", ("email",)),
    "ccEmail": ("cc_email", ("email",)),
    "bccEmail": ("bcc_email", ("email",)),
    "title": ("title", ("mobile_push",)),
    "body": ("body", ("sms", "mobile_push")),
}
# Inputs outside the content, and their channels.
OTHER = {"label": ("email",), "imageId": ("sms", "mobile_push")}
CHANGES = ("label", *CONTENT, "imageId", "definition")


class UpdateCampaignMessageInputs(Inputs):
    FORM_RULES = (
        AtLeastOne(*CHANGES, note="the change to make"),
        NotTogether("definition", *CHANGES[:-2]),
    )

    campaignMessageId: ResourceId = IdField(
        "Campaign Message ID",
        "The draft campaign message to change.",
        MESSAGE_ID_EXAMPLE,
        "selectCampaignMessage",
    )
    label: str | None = Field(
        None, title="Message Label", description="The message's label in Klaviyo (email).", examples=["Main"]
    )
    subject: str | None = Field(
        None, title="Subject", description="The email's subject line.", examples=["Summer sale starts now"]
    )
    previewText: str | None = Field(
        None,
        title="Preview Text",
        description="The text shown after the subject in the inbox (email).",
        examples=["Everything 20% off until Sunday"],
    )
    fromEmail: Email | None = Field(
        None, title="From Email", description="The sender's email address.", examples=["store@example.com"]
    )
    fromLabel: str | None = Field(
        None, title="From Label", description="The sender's name as recipients see it.", examples=["My Store"]
    )
    replyToEmail: Email | None = Field(
        None,
        title="Reply-To Email",
        description="Where replies go (email).",
        examples=["support@example.com"],
    )
    ccEmail: Email | None = Field(
        None, title="CC Email", description="Copied on every send (email).", examples=["team@example.com"]
    )
    bccEmail: Email | None = Field(
        None,
        title="BCC Email",
        description="Blind-copied on every send (email).",
        examples=["archive@example.com"],
    )
    title: str | None = Field(
        None,
        title="Push Title",
        description="The push notification's title (mobile push).",
        examples=["Summer sale"],
    )
    body: str | None = Field(
        None,
        title="Message Body",
        description="The text of an SMS message or a push notification.",
        examples=["Summer sale starts now! Reply STOP to opt out."],
    )
    imageId: ResourceId | None = Field(
        None,
        title="Image ID",
        description="An image to send with an SMS or push message.",
        examples=["7"],
        json_schema_extra=data_source("selectImage"),
    )
    definition: MessageDefinition | None = Field(
        None,
        title="Message Definition",
        description='The whole definition as the API takes it, with its "channel", for members without an input '
        'of their own, e.g. {"channel": "sms", "content": {"body": "Hi"}, "render_options": {"shorten_links": '
        "true}}. Not combined with the other message inputs.",
        examples=[{"channel": "sms", "content": {"body": "Hi"}, "render_options": {"shorten_links": True}}],
    )
    fields: list[str] | None = query_input(
        "update_campaign_message",
        "fields[campaign-message]",
        "Fields",
        "Campaign message fields to return (sparse fieldset), e.g. definition.content.subject.",
        ["definition.content.subject", "definition.content.preview_text"],
    )

    @model_validator(mode="after")
    def _one_kind_of_change(self) -> UpdateCampaignMessageInputs:
        given = self.model_fields_set
        if not set(CHANGES) & given:
            raise ValueError("Campaign Message ID|nothing to change: give a message input to update")
        combined = [_label(key) for key in CHANGES[:-2] if key in given]
        if "definition" in given and combined:
            raise ValueError(
                f"Message Definition|is the whole definition: give the members of {', '.join(combined)} "
                "inside it instead"
            )
        return self


def _current(ctx: Context, message_id: str) -> dict[str, Any]:
    """The message's definition as Klaviyo holds it now."""
    doc = ctx.client.request(
        "GET",
        api_path("/api/campaign-messages/{id}", id=message_id),
        params={"fields[campaign-message]": "definition"},
        operation="get_campaign_message",
    ).json()
    return dict(((doc.get("data") or {}).get("attributes") or {}).get("definition") or {})


@functools.cache
def _updatable() -> dict[tuple[str, str], dict[str, frozenset[str] | None]]:
    """(channel, notification type or "") -> the definition members the update body takes, each
    with its own members when it is an object (``content``); read from the spec's request schema."""
    from klaviyo_connector import schemas

    root = schemas.request_schema("update_campaign_message") or {}
    defs = root.get("$defs") or {}

    def resolved(node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            node = defs[node["$ref"].rsplit("/", 1)[-1]]
        return node

    def branches(node: Any) -> list[Any]:
        node = resolved(node)
        if "anyOf" in node or "oneOf" in node:
            return [b for part in node.get("anyOf") or node["oneOf"] for b in branches(part)]
        return [node] if node.get("type") == "object" else []

    data = resolved(resolved(root)["properties"]["data"])
    out: dict[tuple[str, str], dict[str, frozenset[str] | None]] = {}
    for branch in branches(resolved(data["properties"]["attributes"])["properties"]["definition"]):
        props = branch["properties"]
        kinds = resolved(props.get("notification_type") or {}).get("enum") or [""]
        members = {}
        for name, member in props.items():
            objects = branches(member) if name == "content" else []
            inner = objects[0].get("properties") if objects else None
            members[name] = frozenset(inner) if inner else None
        members.pop("channel")
        out[(props["channel"]["enum"][0], kinds[0] if len(kinds) == 1 else "")] = members
    return out


def _kept(current: dict[str, Any]) -> dict[str, Any]:
    """The members of the current definition the update body takes, so that the update sends
    the whole definition: what it leaves out stays as it was, however Klaviyo applies it."""
    channel = str(current.get("channel"))
    table = _updatable()
    members = table.get((channel, str(current.get("notification_type") or "")))
    if members is None:
        members = table.get((channel, "standard")) or table.get((channel, "")) or {}
    kept: dict[str, Any] = {}
    for name, inner in members.items():
        value = current.get(name)
        if isinstance(value, dict) and inner is not None:
            value = {k: v for k, v in value.items() if k in inner and v is not None}
        if value not in (None, {}):
            kept[name] = value
    return kept


def _label(key: str) -> str:
    return UpdateCampaignMessageInputs.model_fields[key].title or key


def _definition(ctx: Context, inputs: UpdateCampaignMessageInputs) -> dict[str, Any] | None:
    """The definition to send (None when only the image changes), checked against the channel."""
    given = inputs.model_fields_set
    if inputs.definition is not None:
        return dict(wire_value(inputs.definition))
    current = _current(ctx, inputs.campaignMessageId)
    channel = str(current.get("channel"))
    channels = {**{key: chans for key, (_, chans) in CONTENT.items()}, **OTHER}
    for key in CHANGES[:-1]:
        if key in given and channel not in channels[key]:
            article = "an" if channel[:1] in "aeiou" else "a"
            raise input_error(
                _label(key),
                f"applies to {' and '.join(channels[key])} messages; campaign message "
                f"{inputs.campaignMessageId} is {article} {channel} message",
            )
    changes = attributes(inputs, {key: wire for key, (wire, _) in CONTENT.items()})
    label = attributes(inputs, {"label": "label"})
    if not changes and not label:
        return None  # only the image changes
    definition: dict[str, Any] = {"channel": channel, **_kept(current), **label}
    if changes:
        definition["content"] = {**definition.get("content", {}), **changes}
    return definition


def update_campaign_message(ctx: Context, inputs: UpdateCampaignMessageInputs) -> Any:
    params = read_params("update_campaign_message", inputs, {"fields[campaign-message]": "fields"})
    definition = _definition(ctx, inputs)
    relationships = {"image": relationship("image", inputs.imageId)} if inputs.imageId else None
    body = resource(
        "campaign-message",
        {"definition": definition} if definition is not None else {},
        id=inputs.campaignMessageId,
        relationships=relationships,
    )
    return ctx.client.request(
        "PATCH",
        api_path("/api/campaign-messages/{id}", id=inputs.campaignMessageId),
        params=params,
        json_body=body,
        operation="update_campaign_message",
        idempotent=True,
    ).json()


ACTIONS = (
    Action(
        key="updateCampaignMessage",
        label="Update Campaign Message",
        description="Update a draft campaign message: subject, preview text, sender and reply-to (email), text "
        "(SMS, push) or image. Fields left out are unchanged; the email's content comes from Assign Campaign "
        "Template.",
        inputs=UpdateCampaignMessageInputs,
        perform=update_campaign_message,
        operations=("get_campaign_message", "update_campaign_message"),
        idempotent=True,
    ),
)
