"""Marketing consent and suppressions: subscribe, unsubscribe, suppress and unsuppress profiles.

Klaviyo runs all four as asynchronous jobs (202). Subscribing to a double opt-in list does not
put anyone on the list until they confirm by email, so the output says so instead of looking
like a success that never shows up.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

from klaviyo_connector import prose_rules as rules
from klaviyo_connector.context import Context
from klaviyo_connector.inputs import (
    TIME_HELP,
    AtLeastOne,
    Email,
    ExactlyOne,
    Inputs,
    PhoneNumber,
    ResourceId,
    Stated,
    UtcDatetime,
    data_source,
    exactly_one,
)
from klaviyo_connector.jsonapi import acknowledgement, batches, relationship
from klaviyo_connector.manifest import acknowledgement_schema, member, resources
from klaviyo_connector.model import Action
from klaviyo_connector.paths import api_path
from pydantic import Field, model_validator

SUBSCRIBE_PER_CALL = rules.SUBSCRIBE_MAX_PROFILES
UNSUBSCRIBE_PER_CALL = rules.UNSUBSCRIBE_MAX_PROFILES
SUPPRESS_PER_CALL = rules.SUPPRESS_MAX_EMAILS

Channel = Literal["email_marketing", "sms_marketing", "sms_transactional"]
SMS_CHANNELS = ("sms_marketing", "sms_transactional")
# channel input -> (subscriptions key, consent key) on the wire
_CHANNELS: dict[str, tuple[str, str]] = {
    "email_marketing": ("email", "marketing"),
    "sms_marketing": ("sms", "marketing"),
    "sms_transactional": ("sms", "transactional"),
}
# Only the email default is implied: SMS consent is recorded (or withdrawn) only when chosen,
# since an unasked SMS consent is consent nobody gave, and on an account without an SMS sender
# for the number's region Klaviyo refuses the whole job, email consent included.
SUBSCRIBE_CHANNELS_HELP = (
    "Which consents to give: email_marketing, sms_marketing, sms_transactional. Left empty: email_marketing "
    "only (the email is required then); a phone number given with it is saved on the profile without SMS "
    "consent. SMS consent is given only when sms_marketing or sms_transactional is chosen."
)
UNSUBSCRIBE_CHANNELS_HELP = (
    "Which consents to withdraw: email_marketing, sms_marketing, sms_transactional. Left empty: "
    "email_marketing only (the email is required then). SMS consent is withdrawn only when sms_marketing or "
    "sms_transactional is chosen."
)


def _channel_needs(channels: tuple[str, ...], member: str) -> dict[str, Any]:
    """JSON Schema: when Channels holds any of ``channels``, ``member`` is required."""
    holds = {"anyOf": [{"contains": {"const": channel}} for channel in channels]}
    return {
        "if": {"properties": {"channels": holds}, "required": ["channels"]},
        "then": {"required": [member]},
    }


class _ConsentProfile(Inputs):
    """One person, by email and/or phone number, and the channels to change."""

    VERB: ClassVar[str] = "change"
    FORM_RULES = (
        AtLeastOne("email", "phone_number"),
        Stated(
            "Without Channels only email_marketing changes, so Email is needed; SMS consent is never implied.",
            {"anyOf": [{"required": ["email"]}, {"required": ["channels"]}]},
        ),
        Stated("Channel email_marketing needs Email.", _channel_needs(("email_marketing",), "email")),
        Stated(
            "Channels sms_marketing and sms_transactional need Phone Number (E.164).",
            _channel_needs(SMS_CHANNELS, "phone_number"),
        ),
    )
    FORM_EXAMPLE = {"email": "sarah.mason@klaviyo-demo.com"}

    email: Email | None = Field(None, title="Email", examples=["sarah.mason@klaviyo-demo.com"])
    phone_number: PhoneNumber | None = Field(None, title="Phone Number", examples=["+15005550006"])
    channels: list[Channel] | None = Field(None, title="Channels", examples=[["email_marketing"]])

    @model_validator(mode="after")
    def _identified(self) -> _ConsentProfile:
        if not self.email and not self.phone_number:
            raise ValueError("each profile needs an email or a phone_number")
        if not self.channels and not self.email:
            raise ValueError(
                f"with only a phone number, choose the SMS consent to {self.VERB}: channels sms_marketing and/or "
                "sms_transactional (SMS consent is never implied)"
            )
        for channel in self.channels or ():
            if channel == "email_marketing" and not self.email:
                raise ValueError(f"{channel} needs the profile's email")
            if channel in SMS_CHANNELS and not self.phone_number:
                raise ValueError(f"{channel} needs the profile's phone_number (E.164)")
        return self

    def chosen_channels(self) -> list[str]:
        return list(dict.fromkeys(self.channels)) if self.channels else ["email_marketing"]


class UnsubscribeProfile(_ConsentProfile):
    """One person, by email and/or phone number, and the consents to withdraw."""

    VERB: ClassVar[str] = "withdraw"

    channels: list[Channel] | None = Field(
        None, title="Channels", description=UNSUBSCRIBE_CHANNELS_HELP, examples=[["email_marketing"]]
    )


class SubscribeProfile(_ConsentProfile):
    """One person, by email and/or phone number, and the consents to give."""

    VERB: ClassVar[str] = "give"

    channels: list[Channel] | None = Field(
        None, title="Channels", description=SUBSCRIBE_CHANNELS_HELP, examples=[["email_marketing"]]
    )
    consented_at: UtcDatetime | None = Field(
        None,
        title="Consented At",
        description="When the person consented, for Historical Import only (then required, and in the past; "
        "Klaviyo refuses it otherwise). " + TIME_HELP,
        examples=["2024-05-01T12:00:00Z"],
    )


PROFILES_HELP = (
    'Array of people: [{"email": "...", "phone_number": "+1...", "channels": ["email_marketing"]}]. '
    "Phone numbers in E.164. Channels left empty: email_marketing only; SMS consent only when an SMS channel "
    "is chosen."
)


def _list_id_field() -> Any:
    return Field(
        None,
        title="List ID",
        description="The list to subscribe them to (its opt-in process applies).",
        examples=["RE83th"],
        json_schema_extra=data_source("selectList"),
    )


_EVERY_PROFILE_CONSENTED = {"properties": {"profiles": {"items": {"required": ["consented_at"]}}}}
_NO_PROFILE_CONSENTED = {"properties": {"profiles": {"items": {"not": {"required": ["consented_at"]}}}}}


class SubscribeInputs(Inputs):
    FORM_LABEL = "Subscribe Profiles"
    FORM_RULES = (
        Stated(
            "With Historical Import every profile needs Consented At (in the past); without it, Consented At "
            "is refused.",
            {
                "if": {"properties": {"historicalImport": {"const": True}}, "required": ["historicalImport"]},
                "then": _EVERY_PROFILE_CONSENTED,
                "else": _NO_PROFILE_CONSENTED,
            },
        ),
    )

    profiles: list[SubscribeProfile] = Field(
        title="Profiles",
        description=PROFILES_HELP
        + ' With Historical Import each person also needs "consented_at". '
        + TIME_HELP
        + " Sent 1000 per call.",
        examples=[[{"email": "sarah.mason@klaviyo-demo.com", "channels": ["email_marketing"]}]],
        min_length=1,
        max_length=100_000,
    )
    listId: ResourceId | None = _list_id_field()
    customSource: str | None = Field(
        None,
        title="Custom Source",
        description="Where the consent was collected, shown on the profile (e.g. Marketing Event).",
        examples=["Marketing Event"],
    )
    historicalImport: bool = Field(
        False,
        title="Historical Import",
        description="Consent collected earlier: skips double opt-in and 'added to list' flows; every profile "
        "then needs consented_at in the past (and consented_at is refused without it).",
    )

    @model_validator(mode="after")
    def _consent_times(self) -> SubscribeInputs:
        now = datetime.now(timezone.utc)
        for index, profile in enumerate(self.profiles):
            try:
                rules.check_consent_time(profile.consented_at, self.historicalImport, now)
            except rules.RuleBroken as broken:
                text = broken.message.replace("historical_import", "Historical Import")
                raise ValueError(f"Profiles[{index}].consented_at|{text}") from None
        return self


class UnsubscribeInputs(Inputs):
    FORM_LABEL = "Unsubscribe Profiles"

    profiles: list[UnsubscribeProfile] = Field(
        title="Profiles",
        description=PROFILES_HELP + " Sent 100 per call.",
        examples=[[{"email": "sarah.mason@klaviyo-demo.com", "channels": ["email_marketing"]}]],
        min_length=1,
        max_length=100_000,
    )
    listId: ResourceId | None = Field(
        None,
        title="List ID",
        description="Unsubscribe from this list only. Profiles that are not on it are unsubscribed globally. "
        "Left empty: a global unsubscribe.",
        examples=["RE83th"],
        json_schema_extra=data_source("selectList"),
    )


class SuppressInputs(Inputs):
    FORM_LABEL = "Suppress Or Unsuppress Profiles"
    FORM_RULES = (ExactlyOne("emails", "listId", "segmentId"),)

    emails: list[Email] | None = Field(
        None,
        title="Emails",
        description="Email addresses to act on (sent 100 per call). Give exactly one of Emails, List ID, Segment ID.",
        examples=[["sarah.mason@klaviyo-demo.com"]],
        max_length=100_000,
    )
    listId: ResourceId | None = Field(
        None,
        title="List ID",
        description="Act on every current member of this list.",
        examples=["RE83th"],
        json_schema_extra=data_source("selectList"),
    )
    segmentId: ResourceId | None = Field(
        None,
        title="Segment ID",
        description="Act on every current member of this segment.",
        examples=["WwKnkd"],
        json_schema_extra=data_source("selectSegment"),
    )

    @model_validator(mode="after")
    def _exactly_one_target(self) -> SuppressInputs:
        exactly_one(("Emails", self.emails), ("List ID", self.listId), ("Segment ID", self.segmentId))
        return self


# -- bodies --------------------------------------------------------------------------------------


def _profile_item(profile: _ConsentProfile, consent: str, *, all_identifiers: bool) -> dict[str, Any]:
    """One profile of a consent job. ``all_identifiers``: also the email or phone number whose
    channel is not changed (a subscribe job saves it on the profile; an unsubscribe job names
    only the addresses it unsubscribes)."""
    channels = profile.chosen_channels()
    subscriptions: dict[str, Any] = {}
    consented_at = getattr(profile, "consented_at", None)
    for channel in channels:
        medium, kind = _CHANNELS[channel]
        entry: dict[str, Any] = {"consent": consent}
        if consented_at is not None:
            entry["consented_at"] = consented_at
        subscriptions.setdefault(medium, {})[kind] = entry
    attrs: dict[str, Any] = {}
    if profile.email and (all_identifiers or "email_marketing" in channels):
        attrs["email"] = profile.email
    if profile.phone_number and (all_identifiers or any(c in SMS_CHANNELS for c in channels)):
        attrs["phone_number"] = profile.phone_number
    attrs["subscriptions"] = subscriptions
    return {"type": "profile", "attributes": attrs}


def _list_relationship(list_id: str | None) -> dict[str, Any] | None:
    return {"list": relationship("list", list_id)} if list_id else None


def _job_body(job_type: str, attrs: dict[str, Any], relationships: dict[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {"type": job_type, "attributes": attrs}
    if relationships:
        data["relationships"] = relationships
    return {"data": data}


def _opt_in_process(ctx: Context, list_id: str) -> str | None:
    """The list's opt-in process (this also stops a job for a list that doesn't exist)."""
    doc = ctx.client.request(
        "GET",
        api_path("/api/lists/{id}", id=list_id),
        params={"fields[list]": "name,opt_in_process"},
        operation="get_list",
    ).json()
    return ((doc.get("data") or {}).get("attributes") or {}).get("opt_in_process")


def _send_jobs(
    ctx: Context, path: str, operation: str, bodies: list[dict[str, Any]], *, idempotent: bool
) -> tuple[Any, list[Any]]:
    """POST each job body; ``idempotent`` when resending a job cannot change the outcome."""
    last = None
    responses = []
    for number, body in enumerate(bodies, start=1):
        last = ctx.client.request("POST", path, json_body=body, operation=operation, idempotent=idempotent)
        responses.append(last)
        ctx.progress("jobs", {"submitted": number, "of": len(bodies)})
    return last, responses


# -- actions -------------------------------------------------------------------------------------


def subscribe_profiles(ctx: Context, inputs: SubscribeInputs) -> Any:
    opt_in = _opt_in_process(ctx, inputs.listId) if inputs.listId else None
    bodies = []
    for _, chunk in batches(inputs.profiles, SUBSCRIBE_PER_CALL):
        attrs: dict[str, Any] = {}
        if inputs.customSource is not None:
            attrs["custom_source"] = inputs.customSource
        attrs["profiles"] = {"data": [_profile_item(p, "SUBSCRIBED", all_identifiers=True) for p in chunk]}
        if inputs.historicalImport:
            attrs["historical_import"] = True
        bodies.append(
            _job_body("profile-subscription-bulk-create-job", attrs, _list_relationship(inputs.listId))
        )
    last, _ = _send_jobs(
        ctx, "/api/profile-subscription-bulk-create-jobs", "bulk_subscribe_profiles", bodies, idempotent=False
    )
    count = len(inputs.profiles)
    if not inputs.listId:
        note = "No list given: the account's default opt-in setting applies."
    elif opt_in == "double_opt_in" and not inputs.historicalImport:
        note = (
            f"List {inputs.listId} uses double opt-in: each profile gets a confirmation email and stays pending "
            "(not subscribed, not on the list) until they confirm."
        )
    elif opt_in == "double_opt_in":
        note = f"List {inputs.listId} uses double opt-in, but Historical Import skips the confirmation email."
    else:
        note = f"List {inputs.listId} uses single opt-in: the profiles are subscribed and added to it."
    return acknowledgement(
        last,
        f"Klaviyo accepted the subscription of {count} profile(s); the job runs asynchronously, so changes "
        "appear after a short delay.",
        profile_count=count,
        requests=len(bodies),
        list_id=inputs.listId,
        opt_in_process=opt_in,
        pending_confirmation=(opt_in == "double_opt_in" and not inputs.historicalImport)
        if inputs.listId
        else None,
        note=note,
    )


def unsubscribe_profiles(ctx: Context, inputs: UnsubscribeInputs) -> Any:
    bodies = [
        _job_body(
            "profile-subscription-bulk-delete-job",
            {"profiles": {"data": [_profile_item(p, "UNSUBSCRIBED", all_identifiers=False) for p in chunk]}},
            _list_relationship(inputs.listId),
        )
        for _, chunk in batches(inputs.profiles, UNSUBSCRIBE_PER_CALL)
    ]
    last, _ = _send_jobs(
        ctx,
        "/api/profile-subscription-bulk-delete-jobs",
        "bulk_unsubscribe_profiles",
        bodies,
        idempotent=True,
    )
    count = len(inputs.profiles)
    if inputs.listId:
        note = (
            f"Unsubscribed from list {inputs.listId}; profiles that were not on that list are unsubscribed "
            "globally (from all marketing on these channels)."
        )
    else:
        note = "No list given: this is a global unsubscribe from all marketing on these channels."
    return acknowledgement(
        last,
        f"Klaviyo accepted the unsubscription of {count} profile(s); the job runs asynchronously.",
        profile_count=count,
        requests=len(bodies),
        list_id=inputs.listId,
        global_unsubscribe=not inputs.listId,
        note=note,
    )


def _suppression(
    ctx: Context, inputs: SuppressInputs, job_type: str, path: str, operation: str, verb: str
) -> Any:
    if inputs.emails:
        emails = list(dict.fromkeys(inputs.emails))
        bodies = [
            _job_body(
                job_type,
                {"profiles": {"data": [{"type": "profile", "attributes": {"email": e}} for e in chunk]}},
                None,
            )
            for _, chunk in batches(emails, SUPPRESS_PER_CALL)
        ]
        target = f"{len(emails)} email(s)"
    elif inputs.listId:
        bodies = [_job_body(job_type, {}, {"list": relationship("list", inputs.listId)})]
        target = f"every member of list {inputs.listId}"
    else:  # the input model guarantees exactly one target
        bodies = [_job_body(job_type, {}, {"segment": relationship("segment", str(inputs.segmentId))})]
        target = f"every member of segment {inputs.segmentId}"
    last, responses = _send_jobs(ctx, path, operation, bodies, idempotent=True)
    jobs = [r.json()["data"] for r in responses if r.content]
    out = acknowledgement(
        last, f"Klaviyo accepted the request to {verb} {target}; the job runs asynchronously."
    )
    out.pop("job", None)
    out.pop("job_id", None)
    out["job_ids"] = [job.get("id") for job in jobs]
    out["jobs"] = jobs
    out["requests"] = len(bodies)
    return out


def suppress_profiles(ctx: Context, inputs: SuppressInputs) -> Any:
    return _suppression(
        ctx,
        inputs,
        "profile-suppression-bulk-create-job",
        "/api/profile-suppression-bulk-create-jobs",
        "bulk_suppress_profiles",
        "suppress (no email marketing, whatever their consent)",
    )


def unsuppress_profiles(ctx: Context, inputs: SuppressInputs) -> Any:
    return _suppression(
        ctx,
        inputs,
        "profile-suppression-bulk-delete-job",
        "/api/profile-suppression-bulk-delete-jobs",
        "bulk_unsuppress_profiles",
        "unsuppress (only manual USER_SUPPRESSED suppressions are removed)",
    )


_SUBSCRIPTION = {
    "profile_count": member("integer", "How many profiles were sent."),
    "requests": member("integer", "How many jobs were submitted (the last one is job/job_id)."),
    "list_id": member("string", "The list given, if any."),
    "note": member("string", "What the request means for the profiles' consent, in words."),
}
SUBSCRIBE_ACKNOWLEDGEMENT = acknowledgement_schema(
    required=["profile_count", "requests", "note"],
    **_SUBSCRIPTION,
    opt_in_process=member(
        "string", "The list's opt-in process (single_opt_in or double_opt_in), if a list was given."
    ),
    pending_confirmation=member(
        "boolean",
        "With a list: whether profiles wait for a double opt-in confirmation before being subscribed.",
    ),
)
UNSUBSCRIBE_ACKNOWLEDGEMENT = acknowledgement_schema(
    required=["profile_count", "requests", "global_unsubscribe", "note"],
    **_SUBSCRIPTION,
    global_unsubscribe=member("boolean", "Whether this was a global unsubscribe (no list given)."),
)
SUPPRESSION_ACKNOWLEDGEMENT = acknowledgement_schema(
    required=["job_ids", "jobs", "requests"],
    omit=["job", "job_id"],
    job_ids=member(
        "array", "The IDs of the jobs Klaviyo created, one per request.", items={"type": ["string", "null"]}
    ),
    jobs=resources("The jobs Klaviyo created, as it answered."),
    requests=member("integer", "How many jobs were submitted."),
)


ACTIONS = (
    Action(
        key="subscribeProfiles",
        label="Subscribe Profiles",
        description="Subscribe one or more profiles to email marketing, SMS marketing, or both (creating "
        "profiles as needed). Asynchronous; a double opt-in list keeps them pending until they confirm.",
        inputs=SubscribeInputs,
        perform=subscribe_profiles,
        output_schema=SUBSCRIBE_ACKNOWLEDGEMENT,
        operations=("get_list", "bulk_subscribe_profiles"),
    ),
    Action(
        key="unsubscribeProfiles",
        label="Unsubscribe Profiles",
        description="Unsubscribe one or more profiles from email marketing, SMS marketing, or both. Without a "
        "list this is a global unsubscribe.",
        inputs=UnsubscribeInputs,
        perform=unsubscribe_profiles,
        output_schema=UNSUBSCRIBE_ACKNOWLEDGEMENT,
        operations=("bulk_unsubscribe_profiles",),
        idempotent=True,
        destructive=True,
    ),
    Action(
        key="suppressProfiles",
        label="Suppress Profiles",
        description="Suppress profiles by email, or every member of a list or segment: they stop receiving "
        "email marketing whatever their consent.",
        inputs=SuppressInputs,
        perform=suppress_profiles,
        output_schema=SUPPRESSION_ACKNOWLEDGEMENT,
        operations=("bulk_suppress_profiles",),
        idempotent=True,
        destructive=True,
    ),
    Action(
        key="unsuppressProfiles",
        label="Unsuppress Profiles",
        description="Remove manual suppressions (USER_SUPPRESSED) by email, or from every member of a list or "
        "segment. Unsubscribes, bounces and invalid emails stay suppressed.",
        inputs=SuppressInputs,
        perform=unsuppress_profiles,
        output_schema=SUPPRESSION_ACKNOWLEDGEMENT,
        operations=("bulk_unsuppress_profiles",),
        idempotent=True,
    ),
)
