"""Campaigns: create, read, update, list, delete, assign a template and send."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from klaviyo_connector import catalog, filters
from klaviyo_connector import prose_rules as rules
from klaviyo_connector.actions.lists import tag_fields
from klaviyo_connector.context import Context
from klaviyo_connector.errors import input_error
from klaviyo_connector.inputs import (
    TIME_HELP,
    AtLeastOne,
    BodyEnum,
    Email,
    EnumHint,
    ExactlyOne,
    IdField,
    Inputs,
    ResourceId,
    Stated,
    UtcDatetime,
    data_source,
)
from klaviyo_connector.jsonapi import acknowledgement, relationship, resource, wire_value
from klaviyo_connector.listing import list_collection, list_inputs
from klaviyo_connector.manifest import acknowledgement_schema, member
from klaviyo_connector.model import Action
from klaviyo_connector.paths import api_path
from klaviyo_connector.reads import get_one, query_input, read_params
from klaviyo_connector.writes import create_once, natural_key
from pydantic import Field, field_validator, model_validator

CAMPAIGN_ID_HELP = "The ID of the campaign."
CAMPAIGN_ID_EXAMPLE = "01J2DNH88028WCAA2RK0BYBZVG"


# Create and update share the send strategy and tracking option schemas.
_CREATE = "create_campaign"


# -- campaign messages (the spec's message definitions, wire names as Klaviyo spells them) ----


_EMAIL_CONTENT_EXAMPLE = {
    "subject": "Summer sale starts now",
    "from_email": "store@example.com",
    "from_label": "My Store",
}


class EmailContent(Inputs):
    """What an email message says and who it is from."""

    FORM_EXAMPLE = _EMAIL_CONTENT_EXAMPLE

    subject: str | None = Field(None, title="Subject", examples=["Summer sale starts now"])
    preview_text: str | None = Field(None, title="Preview Text", examples=["Everything 20% off until Sunday"])
    from_email: Email | None = Field(None, title="From Email", examples=["store@example.com"])
    from_label: str | None = Field(None, title="From Label", examples=["My Store"])
    reply_to_email: Email | None = Field(None, title="Reply-To Email", examples=["support@example.com"])
    cc_email: Email | None = Field(None, title="CC Email", examples=["team@example.com"])
    bcc_email: Email | None = Field(None, title="BCC Email", examples=["archive@example.com"])


class EmailMessage(Inputs):
    """An email campaign message."""

    FORM_EXAMPLE = {"channel": "email", "label": "Main", "content": _EMAIL_CONTENT_EXAMPLE}

    channel: Literal["email"]
    label: str | None = Field(
        None, title="Label", description="The message's label in Klaviyo.", examples=["Main"]
    )
    content: EmailContent | None = None


class SmsContent(Inputs):
    """What an SMS message says."""

    FORM_EXAMPLE = {"body": "Summer sale starts now!"}

    body: str | None = Field(None, title="Body", examples=["Summer sale starts now!"])


class RenderOptions(Inputs):
    """How Klaviyo renders an SMS message."""

    FORM_EXAMPLE = {"shorten_links": True, "add_opt_out_language": True}

    shorten_links: bool | None = None
    add_org_prefix: bool | None = None
    add_info_link: bool | None = None
    add_opt_out_language: bool | None = None


class SmsMessage(Inputs):
    """An SMS campaign message."""

    FORM_LABEL = "SMS Message"
    FORM_EXAMPLE = {"channel": "sms", "content": {"body": "Summer sale starts now!"}}

    channel: Literal["sms"]
    content: SmsContent | None = None
    render_options: RenderOptions | None = None


class PushContent(Inputs):
    """What a push notification says."""

    title: str | None = Field(None, examples=["Summer sale"])
    body: str = Field(min_length=1, examples=["Everything 20% off until Sunday"])
    dynamic_image: str | None = Field(None, examples=["https://example.com/banner.png"])
    action_buttons: list[dict[str, Any]] | None = Field(
        None,
        description="At most 3 buttons, each {label (at most 40 characters), action_type (open_app, deep_link, "
        "open_url or dismiss), url (for deep_link and open_url; at most 2048 characters), position (0, 1, 2 "
        "without gaps; default: the list order)}.",
        examples=[[{"label": "Shop now", "action_type": "open_url", "url": "https://example.com/sale"}]],
    )

    @field_validator("action_buttons")
    @classmethod
    def _buttons(cls, value: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        if value is not None:
            try:
                rules.check_action_buttons(value)
            except rules.RuleBroken as broken:
                where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in broken.path)
                raise ValueError(f"{where}: {broken.message}" if where else broken.message) from None
        return value


class PushMessage(Inputs):
    """A mobile push campaign message."""

    FORM_RULES = (
        Stated(
            "A silent notification (Notification Type silent) takes only Kv Pairs, no Content or Options; a "
            "standard one needs Content.",
            {
                "if": {
                    "properties": {"notification_type": {"const": "silent"}},
                    "required": ["notification_type"],
                },
                "then": {"not": {"anyOf": [{"required": ["content"]}, {"required": ["options"]}]}},
                "else": {"required": ["content"]},
            },
        ),
    )
    FORM_EXAMPLE = {"channel": "mobile_push", "content": {"body": "Everything 20% off until Sunday"}}

    channel: Literal["mobile_push"]
    notification_type: Literal["standard", "silent"] | None = None
    content: PushContent | None = None
    kv_pairs: dict[str, Any] | None = Field(None, examples=[{"promo": "summer"}])
    options: dict[str, Any] | None = Field(None, examples=[{"on_open": {"type": "open_app"}}])

    @model_validator(mode="after")
    def _check_kind(self) -> PushMessage:
        if self.notification_type == "silent":
            if self.content is not None or self.options is not None:
                raise ValueError("a silent push notification takes only kv_pairs, no content or options")
        elif self.content is None:
            raise ValueError("a standard push notification needs content with a body")
        return self


MessageDefinition = Annotated[EmailMessage | SmsMessage | PushMessage, Field(discriminator="channel")]


def _message_definitions(value: Any) -> Any:
    """One definition, a list of them, or Klaviyo's own ``{"data": [campaign-message...]}`` wrapper."""
    if isinstance(value, Mapping) and isinstance(value.get("data"), list):
        value = value["data"]
    if isinstance(value, Mapping):
        value = [value]
    if not isinstance(value, list):
        return value
    out = []
    for item in value:
        if isinstance(item, Mapping) and item.get("type") == "campaign-message":
            item = (item.get("attributes") or {}).get("definition", item)
        channels = catalog.body_enum(
            _CREATE, "data.attributes.campaign-messages.data[].attributes.definition.channel"
        )
        if isinstance(item, Mapping) and item.get("channel") not in channels:
            raise ValueError(
                f"each message needs a channel: {', '.join(channels)} (got {item.get('channel')!r})"
            )
        out.append(item)
    return out


# -- send strategy, send options, tracking options ----------------------------------------------


class StaticOptions(Inputs):
    """Options of a send at a fixed time."""

    FORM_RULES = (
        Stated(
            "Send Past Recipients Immediately applies only when Is Local is true.",
            {
                "if": {"properties": {"is_local": {"const": False}}, "required": ["is_local"]},
                "then": {"not": {"required": ["send_past_recipients_immediately"]}},
            },
        ),
    )

    is_local: bool = Field(
        title="Is Local",
        description="Send at the datetime's clock time in each recipient's timezone; the datetime is then "
        "given in UTC (Z), e.g. 2026-08-01T09:00:00Z for 09:00 local.",
    )
    send_past_recipients_immediately: bool | None = Field(
        None,
        title="Send Past Recipients Immediately",
        description="With local sending: send right away to recipients whose local time has already passed.",
    )

    @model_validator(mode="after")
    def _local_only(self) -> StaticOptions:
        if not self.is_local and self.send_past_recipients_immediately is not None:
            raise ValueError("send_past_recipients_immediately applies only when is_local is true")
        return self


class StaticStrategy(Inputs):
    """Send at a fixed time."""

    FORM_RULES = (
        Stated(
            "With Is Local true, the Datetime is written in UTC (Z or +00:00): it is each recipient's local "
            "clock time.",
            {
                "if": {
                    "properties": {
                        "options": {"properties": {"is_local": {"const": True}}, "required": ["is_local"]}
                    },
                    "required": ["options"],
                },
                "then": {"properties": {"datetime": {"pattern": "(Z|[+-]00:?00)$"}}},
            },
        ),
    )

    method: Literal["static"]
    datetime: UtcDatetime = Field(
        description="When to send (with options.is_local: the clock time in each recipient's timezone, "
        "written in UTC). " + TIME_HELP,
        examples=["2026-08-01T15:00:00Z"],
    )
    options: StaticOptions | None = None

    @model_validator(mode="after")
    def _local_in_utc(self) -> StaticStrategy:
        if self.options is not None and self.options.is_local:
            try:
                rules.check_local_send_time(self.datetime)
            except rules.RuleBroken as broken:
                raise ValueError(broken.message) from None
        return self


class ThrottledStrategy(Inputs):
    """Send to a share of the recipients each hour."""

    method: Literal["throttled"]
    datetime: UtcDatetime = Field(
        description="When to start sending. " + TIME_HELP, examples=["2026-08-01T15:00:00Z"]
    )
    throttle_percentage: Annotated[
        int, BodyEnum(_CREATE, "data.attributes.send_strategy.throttle_percentage")
    ] = Field(description="Percent of recipients per hour.", examples=[10])


class ImmediateStrategy(Inputs):
    """Send as soon as the campaign is sent."""

    method: Literal["immediate"]


class SmartSendTimeStrategy(Inputs):
    """Send on a day, at the time Klaviyo picks for each recipient."""

    method: Literal["smart_send_time"]
    date: dt.date = Field(
        description="The day to send on (YYYY-MM-DD); Klaviyo picks the time.", examples=["2026-08-01"]
    )


SendStrategy = Annotated[
    StaticStrategy | ThrottledStrategy | ImmediateStrategy | SmartSendTimeStrategy,
    Field(discriminator="method"),
]
STRATEGY_METHODS = ("static", "throttled", "immediate", "smart_send_time")


class SendOptions(Inputs):
    """Options of the send."""

    FORM_EXAMPLE = {"use_smart_sending": True}

    use_smart_sending: bool | None = Field(
        None, title="Use Smart Sending", description="Skip recipients who were sent a message recently."
    )


class DynamicTrackingParam(Inputs):
    """A UTM parameter whose value Klaviyo fills in (e.g. the campaign's name)."""

    FORM_EXAMPLE = {"type": "dynamic", "name": "utm_campaign", "value": "campaign_name"}

    type: Literal["dynamic"]
    # Only dynamic values have an enum at this path: a static parameter's value is free text.
    value: Annotated[
        str, BodyEnum(_CREATE, "data.attributes.tracking_options.custom_tracking_params[].value")
    ] = Field(examples=["campaign_name"])
    name: str = Field(min_length=1, examples=["utm_campaign"])


class StaticTrackingParam(Inputs):
    """A UTM parameter with a fixed value."""

    FORM_EXAMPLE = {"type": "static", "name": "utm_source", "value": "klaviyo"}

    type: Literal["static"]
    value: str = Field(examples=["klaviyo"])
    name: str = Field(min_length=1, examples=["utm_source"])


TrackingParam = Annotated[DynamicTrackingParam | StaticTrackingParam, Field(discriminator="type")]


class TrackingOptions(Inputs):
    """How clicks and opens are tracked."""

    FORM_EXAMPLE = {"is_tracking_opens": True, "is_tracking_clicks": True, "add_tracking_params": False}

    add_tracking_params: bool | None = Field(None, title="Add Tracking Params")
    custom_tracking_params: list[TrackingParam] | None = Field(
        None,
        title="Custom Tracking Params",
        description='UTM parameters, e.g. [{"type": "static", "name": "utm_source", "value": "klaviyo"}] or '
        '[{"type": "dynamic", "name": "utm_campaign", "value": "campaign_name"}].',
        examples=[[{"type": "static", "name": "utm_source", "value": "klaviyo"}]],
    )
    is_tracking_clicks: bool | None = Field(None, title="Is Tracking Clicks")
    is_tracking_opens: bool | None = Field(None, title="Is Tracking Opens")


# -- action inputs ------------------------------------------------------------------------------

AUDIENCE_HELP = "List and segment IDs, as a list or comma-separated text."
FIELDS_HELP = "Campaign fields to return (sparse fieldset), e.g. name,status,send_time."
RETURNED_FIELDS_HELP = (
    "Campaign fields to return in the answer (sparse fieldset), e.g. name,status,send_time."
)
FIELDS_EXAMPLE = ["name", "status", "send_time"]
SEND_STRATEGY_HELP = (
    'How to send, with "method": {"method": "immediate"}; {"method": "static", "datetime": '
    '"2026-08-01T15:00:00Z", "options": {"is_local": true, "send_past_recipients_immediately": false}}; '
    '{"method": "throttled", "datetime": ..., "throttle_percentage": 10}; or {"method": "smart_send_time", '
    '"date": "2026-08-01"}. With is_local the datetime is each recipient\'s local clock time, written in UTC '
    "(Z). datetime: " + TIME_HELP
)


class CampaignFields(Inputs):
    """Campaign settings shared by create and update."""

    excludedAudiences: list[str] | None = Field(
        None,
        title="Excluded Audiences",
        description=AUDIENCE_HELP,
        examples=[["X7MYfE"]],
        json_schema_extra=data_source("selectAudience"),
    )
    sendOptions: SendOptions | None = Field(
        None, title="Send Options", description='e.g. {"use_smart_sending": true}.'
    )
    sendStrategy: SendStrategy | None = Field(None, title="Send Strategy", description=SEND_STRATEGY_HELP)
    trackingOptions: TrackingOptions | None = Field(
        None,
        title="Tracking Options",
        description='e.g. {"is_tracking_opens": true, "is_tracking_clicks": true, "add_tracking_params": false}.',
    )

    @field_validator("sendStrategy", mode="before")
    @classmethod
    def _known_method(cls, value: Any) -> Any:
        if isinstance(value, Mapping) and value.get("method") not in STRATEGY_METHODS:
            raise ValueError(
                f'"method" must be one of {", ".join(STRATEGY_METHODS)} (got {value.get("method")!r})'
            )
        return value


class CreateCampaignInputs(CampaignFields):
    campaignName: str = Field(
        title="Campaign Name",
        min_length=1,
        description="The name of the campaign.",
        examples=["My new campaign"],
    )
    campaignMessages: list[MessageDefinition] = Field(
        title="Campaign Messages",
        min_length=1,
        examples=[[{"channel": "email", "label": "Main", "content": _EMAIL_CONTENT_EXAMPLE}]],
        description='The message definitions, e.g. [{"channel": "email", "label": "Main", "content": {"subject": '
        '"Hello", "from_email": "store@example.com", "from_label": "My Store"}}]; sms messages take '
        '{"channel": "sms", "content": {"body": ...}, "render_options": {...}}.',
    )
    includedAudiences: list[str] = Field(
        title="Included Audiences",
        min_length=1,
        description=AUDIENCE_HELP,
        examples=[["X7MYfE"]],
        json_schema_extra=data_source("selectAudience"),
    )

    fields: list[str] | None = Field(
        None,
        title="Fields",
        description=RETURNED_FIELDS_HELP,
        examples=[FIELDS_EXAMPLE],
        json_schema_extra=EnumHint(_CREATE, query="fields[campaign]"),
    )

    @field_validator("campaignMessages", mode="before")
    @classmethod
    def _definitions(cls, value: Any) -> Any:
        return _message_definitions(value)


_CHANGES = (
    "campaignName",
    "includedAudiences",
    "excludedAudiences",
    "sendOptions",
    "sendStrategy",
    "trackingOptions",
)


class UpdateCampaignInputs(CampaignFields):
    FORM_RULES = (AtLeastOne(*_CHANGES, note="the change to make"),)

    campaignId: ResourceId = IdField("Campaign ID", CAMPAIGN_ID_HELP, CAMPAIGN_ID_EXAMPLE, "selectCampaign")
    campaignName: str | None = Field(
        None,
        title="Campaign Name",
        min_length=1,
        description="The name of the campaign.",
        examples=["My renamed campaign"],
    )
    includedAudiences: list[str] | None = Field(
        None,
        title="Included Audiences",
        min_length=1,
        description=AUDIENCE_HELP,
        examples=[["X7MYfE"]],
        json_schema_extra=data_source("selectAudience"),
    )
    fields: list[str] | None = Field(
        None,
        title="Fields",
        description=RETURNED_FIELDS_HELP,
        examples=[FIELDS_EXAMPLE],
        json_schema_extra=EnumHint("update_campaign", query="fields[campaign]"),
    )


INCLUDE_HELP = "Related resources to include: campaign-messages, tags."
INCLUDE_EXAMPLE = ["campaign-messages"]


def campaign_fields(operation: str) -> Any:
    """The Fields input of an action reading campaigns with ``operation``."""
    return Field(
        None,
        title="Fields",
        description=FIELDS_HELP,
        examples=[FIELDS_EXAMPLE],
        json_schema_extra=EnumHint(operation, query="fields[campaign]"),
    )


def campaign_include(operation: str) -> Any:
    """The Include input of an action reading campaigns with ``operation``."""
    return Field(
        None,
        title="Include",
        description=INCLUDE_HELP,
        examples=[INCLUDE_EXAMPLE],
        json_schema_extra=EnumHint(operation, query="include"),
    )


def message_fields(operation: str) -> Any:
    """Campaign Message Fields: the sparse fieldset of the messages a campaign includes."""
    return query_input(
        operation,
        "fields[campaign-message]",
        "Campaign Message Fields",
        "Fields of the included campaign messages (Include campaign-messages) to return, e.g. "
        "definition.content.subject.",
        ["definition.label", "definition.content.subject"],
    )


class CampaignIdInputs(Inputs):
    campaignId: ResourceId = IdField("Campaign ID", CAMPAIGN_ID_HELP, CAMPAIGN_ID_EXAMPLE, "selectCampaign")


class SendCampaignInputs(CampaignIdInputs):
    fields: list[str] | None = query_input(
        "send_campaign",
        "fields[campaign-send-job]",
        "Fields",
        "Send job fields to return in the answer (sparse fieldset), e.g. status.",
        ["status"],
    )


class GetCampaignInputs(CampaignIdInputs):
    fields: list[str] | None = campaign_fields("get_campaign")
    include: list[str] | None = campaign_include("get_campaign")
    campaignMessageFields: list[str] | None = message_fields("get_campaign")
    tagFields: list[str] | None = tag_fields("get_campaign")


class ListCampaignsInputs(list_inputs("get_campaigns")):
    filter: str | None = Field(
        None,
        title="Filter Campaigns",
        description="A Klaviyo filter on name, status, archived, id, created_at, scheduled_at, updated_at, e.g. "
        "equals(status,'Sent'); the Channel filter is added for you.",
        examples=["contains(name,'Summer')"],
    )
    channel: Literal["email", "sms", "mobile_push"] = Field(
        "email",
        title="Channel",
        description="The message channel to list; Klaviyo lists one channel per request.",
    )
    fields: list[str] | None = campaign_fields("get_campaigns")
    include: list[str] | None = campaign_include("get_campaigns")
    campaignMessageFields: list[str] | None = message_fields("get_campaigns")
    tagFields: list[str] | None = tag_fields("get_campaigns")


class AssignTemplateInputs(Inputs):
    FORM_LABEL = "Assign Campaign Template"
    FORM_RULES = (ExactlyOne("campaignMessageId", "campaignId"),)

    campaignMessageId: str | None = Field(
        None,
        title="Campaign Message ID",
        description="The campaign message to assign the template to. Or give Campaign ID for a campaign with "
        "one message.",
        examples=["01J2DNH8D3DS2Z1NRGKMEWS1T2"],
    )
    campaignId: ResourceId | None = Field(
        None,
        title="Campaign ID",
        description="A campaign with a single message, instead of Campaign Message ID.",
        examples=[CAMPAIGN_ID_EXAMPLE],
        json_schema_extra={"x-data-source": "selectCampaign"},
    )
    templateId: ResourceId = IdField(
        "Template ID", "The template to copy onto the message.", "RipRmi", "selectTemplate"
    )
    fields: list[str] | None = query_input(
        "assign_template_to_campaign_message",
        "fields[campaign-message]",
        "Fields",
        "Campaign message fields to return in the answer (sparse fieldset), e.g. content.subject.",
        ["channel", "content.subject"],
    )

    @model_validator(mode="after")
    def _one_target(self) -> AssignTemplateInputs:
        if (self.campaignMessageId is None) == (self.campaignId is None):
            raise ValueError(
                "Campaign Message ID|give either Campaign Message ID or Campaign ID (exactly one)"
            )
        return self


# -- bodies -------------------------------------------------------------------------------------


def _campaign_attributes(inputs: CreateCampaignInputs | UpdateCampaignInputs) -> dict[str, Any]:
    given = inputs.model_fields_set
    attrs: dict[str, Any] = {}
    if "campaignName" in given:
        attrs["name"] = inputs.campaignName
    audiences: dict[str, Any] = {}
    if "includedAudiences" in given:
        audiences["included"] = inputs.includedAudiences
    if "excludedAudiences" in given:
        audiences["excluded"] = inputs.excludedAudiences
    if audiences:
        attrs["audiences"] = audiences
    for key, wire in (
        ("sendStrategy", "send_strategy"),
        ("sendOptions", "send_options"),
        ("trackingOptions", "tracking_options"),
    ):
        if key in given:
            attrs[wire] = wire_value(getattr(inputs, key))
    return attrs


def create_campaign(ctx: Context, inputs: CreateCampaignInputs) -> Any:
    attrs = _campaign_attributes(inputs)
    attrs["campaign-messages"] = {
        "data": [
            {"type": "campaign-message", "attributes": {"definition": wire_value(message)}}
            for message in inputs.campaignMessages
        ]
    }
    channel = ("equals", "messages.channel", inputs.campaignMessages[0].channel)  # get_campaigns needs one
    lookup = natural_key("campaign", "name", inputs.campaignName, extra=(channel,), created="created_at")
    return create_once(
        ctx,
        "/api/campaigns",
        resource("campaign", attrs),
        operation="create_campaign",
        lookup=lookup,
        params=read_params(_CREATE, inputs, RETURNED),
    )


def update_campaign(ctx: Context, inputs: UpdateCampaignInputs) -> Any:
    attrs = _campaign_attributes(inputs)
    if not attrs:
        raise input_error(
            "Campaign Name",
            "give at least one change: Campaign Name, Included Audiences, Excluded Audiences, Send Options, "
            "Send Strategy or Tracking Options",
        )
    return ctx.client.request(
        "PATCH",
        api_path("/api/campaigns/{id}", id=inputs.campaignId),
        params=read_params("update_campaign", inputs, RETURNED),
        json_body=resource("campaign", attrs, id=inputs.campaignId),
        operation="update_campaign",
        idempotent=True,
    ).json()


READS = {
    "fields[campaign]": "fields",
    "include": "include",
    "fields[campaign-message]": "campaignMessageFields",
    "fields[tag]": "tagFields",
}
RETURNED = {"fields[campaign]": "fields"}


def get_campaign(ctx: Context, inputs: GetCampaignInputs) -> Any:
    return get_one(ctx, api_path("/api/campaigns/{id}", id=inputs.campaignId), "get_campaign", inputs, READS)


def _channel_in_filter(text: str | None) -> str | None:
    """The channel a filter already pins with equals(messages.channel,...) at its top level."""
    try:
        nodes = filters.parse(text or "", naive_times=False)
    except filters.FilterError:
        return None  # list_collection reports the syntax error, naming the input
    while len(nodes) == 1 and isinstance(nodes[0], filters.And):
        nodes = nodes[0].items
    for node in nodes:
        if isinstance(node, filters.Comparison) and node.field == "messages.channel":
            return str(node.value)
    return None


def list_campaigns(ctx: Context, inputs: ListCampaignsInputs) -> Any:
    # Klaviyo refuses GET /api/campaigns without a channel filter; add it unless the filter has one.
    pinned = _channel_in_filter(inputs.filter)
    extra: list[filters.Node] = []
    if pinned is None:
        extra.append(filters.condition("equals", "messages.channel", inputs.channel))
    elif "channel" in inputs.model_fields_set and pinned != inputs.channel:
        raise input_error(
            "Channel",
            f"is {inputs.channel} but Filter Campaigns asks for messages.channel {pinned}; pick one",
        )
    return list_collection(
        ctx, "/api/campaigns", "get_campaigns", inputs, read_params("get_campaigns", inputs, READS), extra
    )


def delete_campaign(ctx: Context, inputs: CampaignIdInputs) -> Any:
    response = ctx.client.request(
        "DELETE",
        api_path("/api/campaigns/{id}", id=inputs.campaignId),
        operation="delete_campaign",
        idempotent=True,
    )
    return acknowledgement(response, "Campaign deleted.", campaign_id=inputs.campaignId)


def send_campaign(ctx: Context, inputs: SendCampaignInputs) -> Any:
    response = ctx.client.request(
        "POST",
        "/api/campaign-send-jobs",
        params=read_params("send_campaign", inputs, {"fields[campaign-send-job]": "fields"}),
        json_body=resource("campaign-send-job", id=inputs.campaignId),
        operation="send_campaign",
    )
    return acknowledgement(
        response,
        "Campaign send job created; Klaviyo sends (or schedules) the campaign in the background.",
        campaign_id=inputs.campaignId,
    )


def _single_message(ctx: Context, campaign_id: str) -> str:
    doc = ctx.client.request(
        "GET",
        api_path("/api/campaigns/{id}/campaign-messages", id=campaign_id),
        operation="get_messages_for_campaign",
    ).json()
    messages = (doc or {}).get("data") or []
    if len(messages) == 1:
        return str(messages[0]["id"])
    if not messages:
        raise input_error("Campaign ID", f"campaign {campaign_id} has no messages to assign a template to")
    listed = ", ".join(
        f"{m.get('id')} ({((m.get('attributes') or {}).get('definition') or {}).get('label') or 'no label'})"
        for m in messages
    )
    raise input_error(
        "Campaign ID",
        f"campaign {campaign_id} has {len(messages)} messages ({listed}); give the Campaign Message ID instead",
    )


def assign_campaign_template(ctx: Context, inputs: AssignTemplateInputs) -> Any:
    message_id = inputs.campaignMessageId or _single_message(ctx, str(inputs.campaignId))
    body = resource(
        "campaign-message",
        id=message_id,
        relationships={"template": relationship("template", inputs.templateId)},
    )
    return ctx.client.request(
        "POST",
        "/api/campaign-message-assign-template",
        params=read_params(
            "assign_template_to_campaign_message", inputs, {"fields[campaign-message]": "fields"}
        ),
        json_body=body,
        operation="assign_template_to_campaign_message",
    ).json()


# What the 202/204 acknowledgements of Delete Campaign and Send Campaign carry besides the job.
CAMPAIGN_ACKNOWLEDGEMENT = acknowledgement_schema(
    required=["campaign_id"], campaign_id=member("string", "The campaign's ID, as given.")
)


ACTIONS = (
    Action(
        key="createCampaign",
        label="Create Campaign",
        description="Create a draft campaign with its message(s) and audiences. Creating does not send: assign "
        "a template, then use Send Campaign.",
        inputs=CreateCampaignInputs,
        perform=create_campaign,
        operations=("create_campaign",),
    ),
    Action(
        key="getCampaign",
        label="Get Campaign",
        description="Get the campaign with the given campaign ID, optionally with its messages and tags.",
        inputs=GetCampaignInputs,
        perform=get_campaign,
        operations=("get_campaign",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="listCampaigns",
        label="List Campaigns",
        description="Get the campaigns of one channel (email by default): filter, sort, one page or all pages "
        "up to a cap.",
        inputs=ListCampaignsInputs,
        perform=list_campaigns,
        operations=("get_campaigns",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="updateCampaign",
        label="Update Campaign",
        description="Update the name, audiences, send strategy, send options or tracking options of a campaign. "
        "Fields left out are unchanged; messages are changed separately.",
        inputs=UpdateCampaignInputs,
        perform=update_campaign,
        operations=("update_campaign",),
        idempotent=True,
    ),
    Action(
        key="deleteCampaign",
        label="Delete Campaign",
        description="Delete the campaign with the given campaign ID.",
        inputs=CampaignIdInputs,
        perform=delete_campaign,
        output_schema=CAMPAIGN_ACKNOWLEDGEMENT,
        operations=("delete_campaign",),
        idempotent=True,
        destructive=True,
    ),
    Action(
        key="sendCampaign",
        label="Send Campaign",
        description="Send the campaign now, or schedule it per its send strategy. Klaviyo accepts the send job "
        "and works in the background; the output has the job ID.",
        inputs=SendCampaignInputs,
        perform=send_campaign,
        output_schema=CAMPAIGN_ACKNOWLEDGEMENT,
        operations=("send_campaign",),
    ),
    Action(
        key="assignCampaignTemplate",
        label="Assign Campaign Template",
        description="Copy a template onto a campaign message (by message ID, or by campaign ID when the campaign "
        "has one message).",
        inputs=AssignTemplateInputs,
        perform=assign_campaign_template,
        operations=("assign_template_to_campaign_message", "get_messages_for_campaign"),
    ),
)
