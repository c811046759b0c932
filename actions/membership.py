"""Is Profile In List / Segment: whether a profile is a member, and since when.

The answer comes from the group's member endpoint filtered to the one profile, so a member is
returned as Klaviyo lists it, with ``joined_group_at``. A segment's members filter by profile
ID, email or phone number; a list's only by email or phone number, so a profile given by ID is
read first for them. A profile with neither is checked against its list memberships instead
(then no ``joined_group_at`` is known).
"""

from __future__ import annotations

from typing import Any, Literal

from klaviyo_connector import catalog, filters
from klaviyo_connector.actions.lists import list_id_field
from klaviyo_connector.actions.profiles import (
    PROFILE_ID_EXAMPLE,
    PROFILE_READS,
    additional_profile_fields,
    profile_fields,
)
from klaviyo_connector.actions.segments import segment_id_field
from klaviyo_connector.context import Context
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.finds import email_condition, with_member
from klaviyo_connector.inputs import (
    Email,
    ExactlyOne,
    Inputs,
    PhoneNumber,
    ResourceId,
    data_source,
    exactly_one,
)
from klaviyo_connector.manifest import document_schema, member
from klaviyo_connector.model import Action
from klaviyo_connector.pagination import iterate_pages
from klaviyo_connector.paths import api_path
from klaviyo_connector.reads import read_params
from klaviyo_connector.writes import condition_for
from pydantic import Field, model_validator

GroupKind = Literal["list", "segment"]
JOINED = "joined_group_at"
MEMBER_FIELDS_HELP = (
    "Fields of the member profile to return (sparse fieldset); joined_group_at is always returned."
)


class ProfileGiven(Inputs):
    """The profile asked about: exactly one of its ID, email or phone number."""

    FORM_RULES = (ExactlyOne("profileId", "email", "phoneNumber"),)

    profileId: ResourceId | None = Field(
        None,
        title="Profile ID",
        description="The profile to check (or give its Email or Phone Number instead).",
        examples=[PROFILE_ID_EXAMPLE],
        json_schema_extra=data_source("selectProfile"),
    )
    email: Email | None = Field(
        None,
        title="Email",
        description="The email of the profile to check.",
        examples=["sarah.mason@klaviyo-demo.com"],
    )
    phoneNumber: PhoneNumber | None = Field(
        None,
        title="Phone Number",
        description="The phone number (E.164) of the profile to check.",
        examples=["+15005550006"],
    )

    @model_validator(mode="after")
    def _one_profile(self) -> ProfileGiven:
        exactly_one(("Profile ID", self.profileId), ("Email", self.email), ("Phone Number", self.phoneNumber))
        return self


class _ListGiven(Inputs):
    listId: ResourceId = list_id_field()


class _SegmentGiven(Inputs):
    segmentId: ResourceId = segment_id_field()


# The group comes first in the form: pydantic orders fields by reversed MRO.
class IsProfileInListInputs(ProfileGiven, _ListGiven):
    fields: list[str] | None = profile_fields("get_profiles_for_list", MEMBER_FIELDS_HELP)
    additionalFields: list[str] | None = additional_profile_fields("get_profiles_for_list")


class IsProfileInSegmentInputs(ProfileGiven, _SegmentGiven):
    fields: list[str] | None = profile_fields("get_profiles_for_segment", MEMBER_FIELDS_HELP)
    additionalFields: list[str] | None = additional_profile_fields("get_profiles_for_segment")


def _identifier(ctx: Context, kind: GroupKind, inputs: ProfileGiven) -> filters.Node | None:
    """The member filter naming the profile; None when a list can't be filtered to it."""
    op = f"get_profiles_for_{kind}"
    if inputs.email:
        return email_condition(op, inputs.email)
    if inputs.phoneNumber:
        return condition_for(op, "equals", "phone_number", inputs.phoneNumber)
    profile_id = str(inputs.profileId)
    if "profile_id" in catalog.operation(op).filters:
        return condition_for(op, "equals", "profile_id", profile_id)
    profile = ctx.client.request(
        "GET",
        api_path("/api/profiles/{id}", id=profile_id),
        params={"fields[profile]": "email,phone_number"},
        operation="get_profile",
    ).json()
    attrs = (profile.get("data") or {}).get("attributes") or {}
    if attrs.get("email"):
        return condition_for(op, "equals", "email", attrs["email"])
    if attrs.get("phone_number"):
        return condition_for(op, "equals", "phone_number", attrs["phone_number"])
    return None


def _in_memberships(ctx: Context, profile_id: str, list_id: str) -> bool:
    """Whether ``list_id`` is among the profile's list memberships (every page)."""
    pages = iterate_pages(
        ctx.client,
        api_path("/api/profiles/{id}/relationships/lists", id=profile_id),
        operation="get_list_ids_for_profile",
        max_records=None,
    )
    return any(ref.get("id") == list_id for doc in pages for ref in doc.get("data") or [])


def _same_profile(item: dict[str, Any], inputs: ProfileGiven) -> bool:
    attrs = item.get("attributes") or {}
    if inputs.profileId:
        return item.get("id") == inputs.profileId
    if inputs.email:
        return str(attrs.get("email") or "").lower() == inputs.email.lower()
    return True  # the phone filter is exact and a phone number belongs to one profile


def membership(
    ctx: Context, kind: GroupKind, group_id: str, inputs: IsProfileInListInputs | IsProfileInSegmentInputs
) -> Any:
    """``{"data": the member or null, "is_member", "<kind>_id", "profile_id", "joined_group_at"}``."""
    answer: dict[str, Any] = {"data": None, "is_member": False, f"{kind}_id": group_id}
    answer.update(profile_id=inputs.profileId, joined_group_at=None)
    try:
        node = _identifier(ctx, kind, inputs)
    except KlaviyoError as err:
        if err.status == 404:  # no such profile: it is in no list
            return answer
        raise
    if node is None:  # a profile with neither email nor phone number (lists only)
        answer["is_member"] = _in_memberships(ctx, str(inputs.profileId), group_id)
        return answer
    op = f"get_profiles_for_{kind}"
    params = read_params(op, inputs, PROFILE_READS)
    if params.get("fields[profile]"):
        params["fields[profile]"] = ",".join(with_member(params["fields[profile]"].split(","), JOINED) or [])
    params["filter"] = filters.render([node])
    doc = ctx.client.request(
        "GET", api_path(f"/api/{kind}s/{{id}}/profiles", id=group_id), params=params, operation=op
    ).json()
    found = next((item for item in doc.get("data") or [] if _same_profile(item, inputs)), None)
    if found is not None:
        answer.update(
            data=found,
            is_member=True,
            profile_id=found.get("id"),
            joined_group_at=(found.get("attributes") or {}).get(JOINED),
        )
    return answer


def is_profile_in_list(ctx: Context, inputs: IsProfileInListInputs) -> Any:
    return membership(ctx, "list", inputs.listId, inputs)


def is_profile_in_segment(ctx: Context, inputs: IsProfileInSegmentInputs) -> Any:
    return membership(ctx, "segment", inputs.segmentId, inputs)


def _result(kind: GroupKind) -> dict[str, Any]:
    return document_schema(
        description=f"The profile as a member of the {kind} (null when it is not one), and whether it is.",
        required=["is_member", f"{kind}_id", "profile_id", JOINED],
        is_member=member(
            "boolean", f"Whether the profile is in the {kind}; false is an answer, not an error."
        ),
        **{f"{kind}_id": member("string", f"The {kind}'s ID, as given.")},
        profile_id=member(
            ["string", "null"], "The profile's ID (null when given by email or phone and not a member)."
        ),
        joined_group_at=member(
            ["string", "null"], f"When the profile joined the {kind} (ISO 8601), when it is a member."
        ),
    )


ACTIONS = (
    Action(
        key="isProfileInList",
        label="Is Profile In List",
        description="Check whether a profile (by profile ID, email or phone number) is in a list; output has "
        "is_member and, for a member, the profile with joined_group_at. Not a member is not an error.",
        inputs=IsProfileInListInputs,
        perform=is_profile_in_list,
        output_schema=_result("list"),
        operations=("get_profiles_for_list", "get_profile", "get_list_ids_for_profile"),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="isProfileInSegment",
        label="Is Profile In Segment",
        description="Check whether a profile (by profile ID, email or phone number) is in a segment; output has "
        "is_member and, for a member, the profile with joined_group_at. Not a member is not an error.",
        inputs=IsProfileInSegmentInputs,
        perform=is_profile_in_segment,
        output_schema=_result("segment"),
        operations=("get_profiles_for_segment",),
        read_only=True,
        idempotent=True,
    ),
)
