"""Find steps: a profile by its identifiers (or create it), a list, segment or tag by its name.

Nothing found is an answer, not an error: ``{"data": null, "found": false, ...}`` (see
``klaviyo_connector.finds``). Names match exactly (case included); identifiers match as Klaviyo
stores them, an email in the spelling given or lower-cased.
"""

from __future__ import annotations

from typing import Any

from klaviyo_connector import filters
from klaviyo_connector.actions.lists import group_fields
from klaviyo_connector.actions.profiles import (
    PROFILE_READS,
    PROFILE_WIRE_NAMES,
    ProfileAttributes,
    additional_profile_fields,
    profile_fields,
    within_payload,
)
from klaviyo_connector.context import Context
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.finds import email_condition, find_all, find_schema, result, with_member
from klaviyo_connector.inputs import AtLeastOne, Email, Inputs, PhoneNumber
from klaviyo_connector.jsonapi import attributes, resource
from klaviyo_connector.manifest import member
from klaviyo_connector.model import Action
from klaviyo_connector.paths import api_path
from klaviyo_connector.reads import read_params
from klaviyo_connector.writes import Lookup, create_once, natural_key
from pydantic import Field, model_validator

# Input key -> wire name, in the order a profile is looked up.
IDENTIFIERS = (("email", "email"), ("phoneNumber", "phone_number"), ("externalId", "external_id"))
IDENTIFIER_RULE = AtLeastOne("email", "phoneNumber", "externalId", note="the profile is looked up by it")
MATCHED_BY = member(
    ["string", "null"],
    "The identifier the profile was found by: email, phone_number or external_id (null when none matched).",
    enum=["email", "phone_number", "external_id", None],
)
SEVERAL = "Several matches: the oldest is returned, and Match IDs lists them all."


def _identified(inputs: Inputs) -> None:
    if not any(getattr(inputs, key) for key, _ in IDENTIFIERS):
        raise ValueError(
            "Email|give at least one of Email, Phone Number or External ID to look the profile up by"
        )


class FindProfileInputs(Inputs):
    FORM_RULES = (IDENTIFIER_RULE,)

    email: Email | None = Field(
        None,
        title="Email",
        description="Find the profile with this email (looked up first).",
        examples=["sarah.mason@klaviyo-demo.com"],
    )
    phoneNumber: PhoneNumber | None = Field(
        None,
        title="Phone Number",
        description="Find the profile with this phone number in E.164 format (looked up when Email finds none).",
        examples=["+15005550006"],
    )
    externalId: str | None = Field(
        None,
        title="External ID",
        description="Find the profile with this ID from your own system (looked up last).",
        examples=["12345"],
    )
    fields: list[str] | None = profile_fields("get_profiles")
    additionalFields: list[str] | None = additional_profile_fields("get_profiles")

    @model_validator(mode="after")
    def _something_to_find_by(self) -> FindProfileInputs:
        _identified(self)
        return self


class FindOrCreateProfileInputs(ProfileAttributes):
    FORM_RULES = (IDENTIFIER_RULE,)

    fields: list[str] | None = profile_fields("get_profiles")
    additionalFields: list[str] | None = additional_profile_fields("get_profiles")

    @model_validator(mode="after")
    def _something_to_find_by(self) -> FindOrCreateProfileInputs:
        _identified(self)
        return self


def _name_input(noun: str, example: str) -> Any:
    return Field(
        title=f"{noun} Name",
        min_length=1,
        description=f"The {noun.lower()}'s exact name (case and spaces count).",
        examples=[example],
    )


class FindListByNameInputs(Inputs):
    listName: str = _name_input("List", "Newsletter")
    fields: list[str] | None = group_fields(
        "get_lists", "list", "List fields to return (sparse fieldset); name is always returned.", ["name"]
    )


class FindSegmentByNameInputs(Inputs):
    segmentName: str = _name_input("Segment", "VIP customers")
    fields: list[str] | None = group_fields(
        "get_segments",
        "segment",
        "Segment fields to return (sparse fieldset); name is always returned.",
        ["name", "is_active"],
    )


class FindTagByNameInputs(Inputs):
    tagName: str = _name_input("Tag", "Summer")


# -- profiles ------------------------------------------------------------------------------------


def profile_lookup(wire: str, value: str) -> Lookup:
    """The profile holding one identifier. Klaviyo's filter matches exactly, so an email is
    looked up in the spelling given and lower-cased, and either spelling confirms it."""
    if wire != "email":
        return natural_key("profile", wire, value)
    folded = value.lower()
    return Lookup(
        path="/api/profiles",
        operation="get_profiles",
        filter=filters.render([email_condition("get_profiles", value)]),
        what=f"a profile with email {value!r}",
        same=lambda item: str((item.get("attributes") or {}).get("email") or "").lower() == folded,
    )


def _sparse_keeping(params: dict[str, Any], wire: str) -> dict[str, Any]:
    """``params`` with ``wire`` kept in a Fields restriction: a match is confirmed by it."""
    fields = params.get("fields[profile]")
    if not fields:
        return params
    return {**params, "fields[profile]": ",".join(with_member(fields.split(","), wire) or [])}


def _find_profile(ctx: Context, inputs: Inputs) -> tuple[list[dict[str, Any]], str | None]:
    """The profiles holding the first identifier that matches any, and that identifier's name."""
    params = read_params("get_profiles", inputs, PROFILE_READS)
    for key, wire in IDENTIFIERS:
        value = getattr(inputs, key)
        if value:
            matches = find_all(ctx, profile_lookup(wire, value), _sparse_keeping(params, wire))
            if matches:
                return matches, wire
    return [], None


def find_profile(ctx: Context, inputs: FindProfileInputs) -> Any:
    matches, matched_by = _find_profile(ctx, inputs)
    return result(matches, matched_by=matched_by)


def find_or_create_profile(ctx: Context, inputs: FindOrCreateProfileInputs) -> Any:
    matches, matched_by = _find_profile(ctx, inputs)
    if matches:
        return {**result(matches, matched_by=matched_by), "created": False}
    attrs = attributes(inputs, PROFILE_WIRE_NAMES)
    body = within_payload(resource("profile", attrs))
    wire = next(w for _, w in IDENTIFIERS if attrs.get(w))
    params = read_params("create_profile", inputs, PROFILE_READS)
    try:
        doc = create_once(
            ctx,
            "/api/profiles",
            body,
            operation="create_profile",
            lookup=profile_lookup(wire, attrs[wire]),
            params=params,
        )
    except KlaviyoError as err:
        existing = (err.meta or {}).get("duplicate_profile_id")
        if err.status != 409 or not existing:
            raise
        # Made since the lookup (another run, a sign-up form): that profile is the one, not a second.
        found = ctx.client.request(
            "GET",
            api_path("/api/profiles/{id}", id=str(existing)),
            params=read_params("get_profile", inputs, PROFILE_READS),
            operation="get_profile",
        ).json()
        return {**result([found["data"]], matched_by=None), "created": False}
    out = {**result([]), "data": doc["data"], "matched_by": None, "created": True}
    if doc.get("meta"):
        out["meta"] = doc["meta"]
    return out


# -- lists, segments, tags -----------------------------------------------------------------------


def _find_by_name(ctx: Context, kind: str, name: str, inputs: Inputs | None = None) -> Any:
    params = read_params(f"get_{kind}s", inputs, {f"fields[{kind}]": "fields"}) if inputs else {}
    if params:
        params[f"fields[{kind}]"] = ",".join(with_member(params[f"fields[{kind}]"].split(","), "name") or [])
    return result(find_all(ctx, natural_key(kind, "name", name), params))


def find_list_by_name(ctx: Context, inputs: FindListByNameInputs) -> Any:
    return _find_by_name(ctx, "list", inputs.listName, inputs)


def find_segment_by_name(ctx: Context, inputs: FindSegmentByNameInputs) -> Any:
    return _find_by_name(ctx, "segment", inputs.segmentName, inputs)


def find_tag_by_name(ctx: Context, inputs: FindTagByNameInputs) -> Any:
    return _find_by_name(ctx, "tag", inputs.tagName)


FIND_PROFILE_RESULT = find_schema("The profile found", matched_by=MATCHED_BY)
FIND_OR_CREATE_PROFILE_RESULT = find_schema(
    "The profile found or created",
    matched_by=MATCHED_BY,
    created=member("boolean", "Whether this run created the profile (then found is false)."),
)


def _name_result(noun: str) -> dict[str, Any]:
    return find_schema(f"The oldest {noun} with the name")


ACTIONS = (
    Action(
        key="findProfile",
        label="Find Profile",
        description="Find the profile with an email, phone number or external ID (tried in that order). Not "
        "found is a result, not an error: found is false and data is null.",
        inputs=FindProfileInputs,
        perform=find_profile,
        output_schema=FIND_PROFILE_RESULT,
        operations=("get_profiles",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="findOrCreateProfile",
        label="Find Or Create Profile",
        description="Find the profile with an email, phone number or external ID, or create it with the "
        "fields given when none matches. A profile found is returned unchanged; no duplicate is ever made.",
        inputs=FindOrCreateProfileInputs,
        perform=find_or_create_profile,
        output_schema=FIND_OR_CREATE_PROFILE_RESULT,
        operations=("get_profiles", "create_profile", "get_profile"),
        idempotent=True,
    ),
    Action(
        key="findListByName",
        label="Find List By Name",
        description=f"Find the list with exactly this name. Not found is a result, not an error. {SEVERAL}",
        inputs=FindListByNameInputs,
        perform=find_list_by_name,
        output_schema=_name_result("list"),
        operations=("get_lists",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="findSegmentByName",
        label="Find Segment By Name",
        description=f"Find the segment with exactly this name. Not found is a result, not an error. {SEVERAL}",
        inputs=FindSegmentByNameInputs,
        perform=find_segment_by_name,
        output_schema=_name_result("segment"),
        operations=("get_segments",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="findTagByName",
        label="Find Tag By Name",
        description="Find the tag with exactly this name. Not found is a result, not an error. Several matches "
        "(tags in different tag groups): the first by ID is returned, and Match IDs lists them all.",
        inputs=FindTagByNameInputs,
        perform=find_tag_by_name,
        output_schema=find_schema("The first tag (by ID) with the name"),
        operations=("get_tags",),
        read_only=True,
        idempotent=True,
    ),
)
