"""Profiles: create, read, update and list people."""

from __future__ import annotations

from typing import Any

from klaviyo_connector import prose_rules as rules
from klaviyo_connector.context import Context
from klaviyo_connector.errors import input_error
from klaviyo_connector.http import encode_json
from klaviyo_connector.inputs import (
    AtLeastOne,
    Email,
    EnumHint,
    ExactlyOne,
    IdField,
    Inputs,
    PhoneNumber,
    ResourceId,
    data_source,
    exactly_one,
)
from klaviyo_connector.jsonapi import acknowledgement, attributes, resource
from klaviyo_connector.listing import list_collection, list_inputs
from klaviyo_connector.manifest import document_schema, member
from klaviyo_connector.model import Action
from klaviyo_connector.paths import api_path
from klaviyo_connector.reads import get_one, query_input, read_params
from klaviyo_connector.writes import create_once, natural_key
from pydantic import Field, model_validator

PROFILE_ID_HELP = "Unique identifier for the profile."
PROFILE_ID_EXAMPLE = "01J18FVB5H8XR1X9AXEQFVRW7A"


class Location(Inputs):
    """Location information for the profile (wire names as Klaviyo spells them)."""

    FORM_LABEL = "Profile Location"
    FORM_EXAMPLE = {"city": "New York", "region": "NY", "country": "United States", "zip": "10017"}

    address1: str | None = Field(None, title="Address 1", examples=["89 E 42nd St"])
    address2: str | None = Field(None, title="Address 2", examples=["1st floor"])
    city: str | None = Field(None, title="City", examples=["New York"])
    country: str | None = Field(None, title="Country", examples=["United States"])
    latitude: float | str | None = Field(None, title="Latitude", examples=["40.7128"])
    longitude: float | str | None = Field(None, title="Longitude", examples=["74.0060"])
    region: str | None = Field(None, title="Region", examples=["NY"])
    zip: str | None = Field(None, title="Zip", examples=["10017"])
    timezone: str | None = Field(None, title="Timezone", examples=["America/New_York"])
    ip: str | None = Field(None, title="IP Address", examples=["127.0.0.1"])


class ProfileAttributes(Inputs):
    """The profile fields shared by create and update. Omitted = unchanged; null = clear."""

    email: Email | None = Field(
        None,
        title="Email",
        description="Individual's email address",
        examples=["sarah.mason@klaviyo-demo.com"],
    )
    phoneNumber: PhoneNumber | None = Field(
        None,
        title="Phone Number",
        description="Individual's phone number in E.164 format",
        examples=["+15005550006"],
    )
    externalId: str | None = Field(
        None,
        title="External ID",
        description="A unique identifier used to associate Klaviyo profiles with profiles in an external system.",
        examples=["12345"],
    )
    firstName: str | None = Field(
        None, title="First Name", description="Individual's first name", examples=["Sarah"]
    )
    lastName: str | None = Field(
        None, title="Last Name", description="Individual's last name", examples=["Mason"]
    )
    organization: str | None = Field(
        None,
        title="Organization",
        description="Name of the company or organization for whom the individual works",
        examples=["Example Corporation"],
    )
    title: str | None = Field(
        None, title="Title", description="Individual's job title", examples=["Regional Manager"]
    )
    locale: str | None = Field(
        None, title="Locale", description="IETF BCP 47 language tag", examples=["en-US"]
    )
    image: str | None = Field(
        None,
        title="Image",
        description="URL pointing to the location of a profile image",
        examples=["https://images.pexels.com/photos/3760854/pexels-photo-3760854.jpeg"],
    )
    location: Location | None = Field(
        None, title="Location", description="Location information for the profile."
    )
    properties: dict[str, Any] | None = Field(
        None,
        title="Properties",
        description="An object containing key/value pairs for any custom properties assigned to this profile.",
        examples=[{"pseudonym": "Dr. Octopus"}],
    )


PROFILE_WIRE_NAMES = {
    "email": "email",
    "phoneNumber": "phone_number",
    "externalId": "external_id",
    "firstName": "first_name",
    "lastName": "last_name",
    "organization": "organization",
    "title": "title",
    "locale": "locale",
    "image": "image",
    "location": "location",
    "properties": "properties",
}

FIELDS_HELP = "Profile fields to return (sparse fieldset), e.g. email,first_name,location.city."
ADDITIONAL_HELP = "Request additional fields not included by default: subscriptions, predictive_analytics."
FIELDS_EXAMPLE = ["email", "first_name", "location.city"]
RETURNED_FIELDS_HELP = "Profile fields to return in the answer (sparse fieldset), e.g. email,first_name."
ADDITIONAL_EXAMPLE = ["subscriptions"]


def profile_fields(operation: str, help_text: str = FIELDS_HELP) -> Any:
    """The Fields input of an action reading profiles with ``operation``."""
    return Field(
        None,
        title="Fields",
        description=help_text,
        examples=[FIELDS_EXAMPLE],
        json_schema_extra=EnumHint(operation, query="fields[profile]"),
    )


def additional_profile_fields(operation: str) -> Any:
    """The Additional Profile Fields input of an action reading profiles with ``operation``."""
    return Field(
        None,
        title="Additional Profile Fields",
        description=ADDITIONAL_HELP,
        examples=[ADDITIONAL_EXAMPLE],
        json_schema_extra=EnumHint(operation, query="additional-fields[profile]"),
    )


IDENTIFIER_LABELS = {"email": "Email", "phone_number": "Phone Number", "external_id": "External ID"}


class CreateProfileInputs(ProfileAttributes):
    FORM_RULES = (
        AtLeastOne("email", "phoneNumber", "externalId", note="Klaviyo refuses a profile without one"),
    )

    fields: list[str] | None = profile_fields("create_profile", RETURNED_FIELDS_HELP)
    additionalFields: list[str] | None = additional_profile_fields("create_profile")

    @model_validator(mode="after")
    def _identified(self) -> CreateProfileInputs:
        try:
            rules.check_profile_identified(attributes(self, PROFILE_WIRE_NAMES))
        except rules.RuleBroken:
            raise ValueError(
                "Email|give at least one of Email, Phone Number or External ID: Klaviyo refuses a profile "
                "without one"
            ) from None
        return self


class UpdateProfileInputs(ProfileAttributes):
    profileId: ResourceId = IdField("Profile ID", PROFILE_ID_HELP, PROFILE_ID_EXAMPLE, "selectProfile")
    fields: list[str] | None = profile_fields("update_profile", RETURNED_FIELDS_HELP)
    additionalFields: list[str] | None = additional_profile_fields("update_profile")


class CreateOrUpdateProfileInputs(ProfileAttributes):
    FORM_RULES = (
        AtLeastOne(
            "email",
            "phoneNumber",
            "externalId",
            "profileId",
            note="the profile is found or created by one of them",
        ),
    )

    profileId: ResourceId | None = Field(
        None,
        title="Profile ID",
        description="Update this profile. Left empty, the profile is matched by email, phone number or "
        "external ID, and created when none matches.",
        examples=[PROFILE_ID_EXAMPLE],
        json_schema_extra=data_source("selectProfile"),
    )
    fields: list[str] | None = profile_fields("create_or_update_profile", RETURNED_FIELDS_HELP)
    additionalFields: list[str] | None = additional_profile_fields("create_or_update_profile")


class RequestProfileDeletionInputs(Inputs):
    FORM_RULES = (ExactlyOne("email", "phoneNumber", "profileId"),)

    email: Email | None = Field(
        None,
        title="Email",
        description="Delete the profiles with this email.",
        examples=["sarah.mason@klaviyo-demo.com"],
    )
    phoneNumber: PhoneNumber | None = Field(
        None,
        title="Phone Number",
        description="Delete the profiles with this phone number (E.164).",
        examples=["+15005550006"],
    )
    profileId: ResourceId | None = Field(
        None,
        title="Profile ID",
        description="Delete this profile.",
        examples=[PROFILE_ID_EXAMPLE],
        json_schema_extra=data_source("selectProfile"),
    )

    @model_validator(mode="after")
    def _exactly_one_identifier(self) -> RequestProfileDeletionInputs:
        exactly_one(("Email", self.email), ("Phone Number", self.phoneNumber), ("Profile ID", self.profileId))
        return self


def profile_include(operation: str, help_text: str, example: list[str]) -> Any:
    return query_input(operation, "include", "Include", help_text, example)


def push_token_fields(operation: str) -> Any:
    return query_input(
        operation,
        "fields[push-token]",
        "Push Token Fields",
        "Fields of the included push tokens to return (sparse fieldset), e.g. platform,enablement_status.",
        ["platform", "enablement_status"],
    )


def conversation_fields(operation: str) -> Any:
    return query_input(
        operation,
        "fields[conversation]",
        "Conversation Fields",
        "Fields of the included conversations to return (sparse fieldset), e.g. channel.",
        ["channel"],
    )


class GetProfileInputs(Inputs):
    profileId: ResourceId = IdField("Profile ID", PROFILE_ID_HELP, PROFILE_ID_EXAMPLE, "selectProfile")
    fields: list[str] | None = profile_fields("get_profile")
    additionalFields: list[str] | None = additional_profile_fields("get_profile")
    include: list[str] | None = profile_include(
        "get_profile",
        "Related resources to include: lists, segments, push-tokens, conversations. Including lists or "
        "segments is rate-limited by Klaviyo to 1 request per second, 15 per minute.",
        ["lists", "segments"],
    )
    listFields: list[str] | None = query_input(
        "get_profile",
        "fields[list]",
        "List Fields",
        "Fields of the included lists to return (sparse fieldset), e.g. name.",
        ["name"],
    )
    segmentFields: list[str] | None = query_input(
        "get_profile",
        "fields[segment]",
        "Segment Fields",
        "Fields of the included segments to return (sparse fieldset), e.g. name.",
        ["name"],
    )
    pushTokenFields: list[str] | None = push_token_fields("get_profile")
    conversationFields: list[str] | None = conversation_fields("get_profile")


class ListProfilesInputs(list_inputs("get_profiles")):
    fields: list[str] | None = profile_fields("get_profiles")
    additionalFields: list[str] | None = additional_profile_fields("get_profiles")
    include: list[str] | None = profile_include(
        "get_profiles", "Related resources to include: push-tokens, conversations.", ["push-tokens"]
    )
    pushTokenFields: list[str] | None = push_token_fields("get_profiles")
    conversationFields: list[str] | None = conversation_fields("get_profiles")


# Query parameter -> input key, for every action that reads or writes profiles.
PROFILE_READS = {"fields[profile]": "fields", "additional-fields[profile]": "additionalFields"}
# ... and for those that include related resources.
PROFILE_INCLUDES = {
    **PROFILE_READS,
    "include": "include",
    "fields[push-token]": "pushTokenFields",
    "fields[conversation]": "conversationFields",
}
GET_PROFILE_READS = {**PROFILE_INCLUDES, "fields[list]": "listFields", "fields[segment]": "segmentFields"}


def within_payload(body: dict[str, Any]) -> dict[str, Any]:
    """Klaviyo takes at most 100 KB per profile request; name the largest attribute when over."""
    size = len(encode_json(body))
    if size > rules.PROFILE_MAX_PAYLOAD:
        attrs = body["data"].get("attributes") or {}
        largest = max(attrs, key=lambda name: len(encode_json(attrs[name])))
        label = next(
            ProfileAttributes.model_fields[k].title for k, w in PROFILE_WIRE_NAMES.items() if w == largest
        )
        raise input_error(
            label or largest,
            f"makes the request {size:,} bytes; Klaviyo accepts at most 100 KB ({rules.PROFILE_MAX_PAYLOAD:,} "
            "bytes) per profile request",
        )
    return body


def create_profile(ctx: Context, inputs: CreateProfileInputs) -> Any:
    attrs = attributes(inputs, PROFILE_WIRE_NAMES)
    body = within_payload(resource("profile", attrs))
    # Each identifier is unique in an account: a profile holding it made since the call is this one.
    key, value = next((k, attrs[k]) for k in ("email", "phone_number", "external_id") if attrs.get(k))
    lookup = natural_key("profile", key, value)
    params = read_params("create_profile", inputs, PROFILE_READS)
    return create_once(ctx, "/api/profiles", body, operation="create_profile", lookup=lookup, params=params)


def get_profile(ctx: Context, inputs: GetProfileInputs) -> Any:
    return get_one(
        ctx, api_path("/api/profiles/{id}", id=inputs.profileId), "get_profile", inputs, GET_PROFILE_READS
    )


def update_profile(ctx: Context, inputs: UpdateProfileInputs) -> Any:
    body = within_payload(resource("profile", attributes(inputs, PROFILE_WIRE_NAMES), id=inputs.profileId))
    return ctx.client.request(
        "PATCH",
        api_path("/api/profiles/{id}", id=inputs.profileId),
        params=read_params("update_profile", inputs, PROFILE_READS),
        json_body=body,
        operation="update_profile",
        idempotent=True,
    ).json()


def create_or_update_profile(ctx: Context, inputs: CreateOrUpdateProfileInputs) -> Any:
    attrs = attributes(inputs, PROFILE_WIRE_NAMES)
    try:
        rules.check_profile_identified(attrs, inputs.profileId, id_allowed=True)
    except rules.RuleBroken:
        raise input_error(
            "Email", "give an Email, Phone Number, External ID or Profile ID to find or create the profile"
        ) from None
    response = ctx.client.request(
        "POST",
        "/api/profile-import",
        params=read_params("create_or_update_profile", inputs, PROFILE_READS),
        json_body=within_payload(resource("profile", attrs, id=inputs.profileId)),
        operation="create_or_update_profile",
        idempotent=True,  # an upsert: sending it again leaves the same profile
    )
    return {**response.json(), "created": response.status == 201}


def request_profile_deletion(ctx: Context, inputs: RequestProfileDeletionInputs) -> Any:
    if inputs.profileId:
        profile: dict[str, Any] = {"type": "profile", "id": inputs.profileId, "attributes": {}}
        who = f"profile {inputs.profileId}"
    else:
        key, value = ("email", inputs.email) if inputs.email else ("phone_number", inputs.phoneNumber)
        profile = {"type": "profile", "attributes": {key: value}}
        who = f"every profile with {key} {value}"
    body = resource("data-privacy-deletion-job", {"profile": {"data": profile}})
    response = ctx.client.request(
        "POST",
        "/api/data-privacy-deletion-jobs",
        json_body=body,
        operation="request_profile_deletion",
        idempotent=True,
    )
    return acknowledgement(
        response,
        f"Klaviyo accepted the deletion of {who}. It runs asynchronously; deleted profiles then appear on "
        "the account's Deleted Profiles page.",
    )


def list_profiles(ctx: Context, inputs: ListProfilesInputs) -> Any:
    return list_collection(
        ctx, "/api/profiles", "get_profiles", inputs, read_params("get_profiles", inputs, PROFILE_INCLUDES)
    )


CREATE_OR_UPDATE_PROFILE_RESULT = document_schema(
    required=["created"],
    created=member(
        "boolean", "Whether Klaviyo created the profile (HTTP 201) rather than updating one (200)."
    ),
)


ACTIONS = (
    Action(
        key="createProfile",
        label="Create Profile",
        description="Create a new profile. A duplicate email, phone or external ID fails with the existing "
        "profile's ID in the error (use Create Or Update Profile for an upsert).",
        inputs=CreateProfileInputs,
        perform=create_profile,
        operations=("create_profile",),
    ),
    Action(
        key="getProfile",
        label="Get Profile",
        description="Get the profile with the given profile ID.",
        inputs=GetProfileInputs,
        perform=get_profile,
        operations=("get_profile",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="updateProfile",
        label="Update Profile",
        description="Update the profile with the given profile ID. Fields left out are unchanged; a field set "
        "to null is cleared.",
        inputs=UpdateProfileInputs,
        perform=update_profile,
        operations=("update_profile",),
        idempotent=True,
    ),
    Action(
        key="createOrUpdateProfile",
        label="Create Or Update Profile",
        description="Create a profile, or update the one with the given Profile ID or matching email, phone "
        "number or external ID. Fields left out are unchanged; null clears a field. Output says whether it "
        "was created.",
        inputs=CreateOrUpdateProfileInputs,
        perform=create_or_update_profile,
        output_schema=CREATE_OR_UPDATE_PROFILE_RESULT,
        operations=("create_or_update_profile",),
        idempotent=True,
    ),
    Action(
        key="requestProfileDeletion",
        label="Request Profile Deletion",
        description="Permanently delete (GDPR/CCPA) the profiles with an email, a phone number or a profile ID "
        "(exactly one). Asynchronous.",
        inputs=RequestProfileDeletionInputs,
        perform=request_profile_deletion,
        operations=("request_profile_deletion",),
        idempotent=True,
        destructive=True,
    ),
    Action(
        key="listProfile",
        label="List Profile",
        description="Get profiles in the account: filter, sort, one page or all pages up to a cap.",
        inputs=ListProfilesInputs,
        perform=list_profiles,
        operations=("get_profiles",),
        read_only=True,
        idempotent=True,
    ),
)
