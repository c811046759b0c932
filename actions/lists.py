"""Lists: create, read, rename and delete lists; list, add and remove their members.

Adding a profile to a list changes membership only, never marketing consent (use Subscribe
Profiles for consent). Members can be given by profile ID or by email; emails are resolved to
profiles first and, when adding, the missing ones are created.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Literal

from klaviyo_connector import filters
from klaviyo_connector import prose_rules as rules
from klaviyo_connector.actions.profiles import PROFILE_READS, additional_profile_fields, profile_fields
from klaviyo_connector.context import Context
from klaviyo_connector.inputs import (
    AtLeastOne,
    BodyEnum,
    Email,
    EnumHint,
    ExactlyOne,
    IdField,
    Inputs,
    ResourceId,
    data_source,
)
from klaviyo_connector.jsonapi import acknowledgement, attributes, batches, resource
from klaviyo_connector.listing import ListInputs, list_collection, list_inputs
from klaviyo_connector.manifest import acknowledgement_schema, member
from klaviyo_connector.model import Action
from klaviyo_connector.paths import api_path
from klaviyo_connector.reads import get_one, query_input, read_params
from klaviyo_connector.writes import create_once, natural_key
from pydantic import Field, model_validator

LIST_ID_HELP = "The unique identifier of the list."
LIST_ID_EXAMPLE = "RE83th"
FIELDS_HELP = "List fields to return (sparse fieldset), e.g. name,opt_in_process."
FIELDS_EXAMPLE = ["name", "opt_in_process"]
INCLUDE_HELP = "Related resources to include: flow-triggers, tags."
INCLUDE_EXAMPLE = ["tags"]
PROFILE_FIELDS_HELP = "Profile fields to return (sparse fieldset), e.g. email,first_name,joined_group_at."
MEMBERS_PER_CALL = rules.LIST_MEMBERS_PER_CALL
EMAILS_PER_LOOKUP = 100  # the largest page of GET /api/profiles
CONSENT_NOTE = (
    "Marketing consent is unchanged: list membership is not a subscription. Use Subscribe Profiles "
    "to give or record consent."
)
REMOVAL_CONSENT_NOTE = (
    "Marketing consent is unchanged: leaving a list is not an unsubscribe. Use Unsubscribe Profiles "
    "to withdraw consent."
)

OptInProcess = Annotated[str, BodyEnum("create_list", "data.attributes.opt_in_process")]


def list_id_field() -> Any:
    return IdField("List ID", LIST_ID_HELP, LIST_ID_EXAMPLE, "selectList")


def group_fields(operation: str, kind: str, help_text: str, example: list[str]) -> Any:
    """The Fields input of an action reading lists or segments (``kind``) with ``operation``."""
    return Field(
        None,
        title="Fields",
        description=help_text,
        examples=[example],
        json_schema_extra=EnumHint(operation, query=f"fields[{kind}]"),
    )


def flow_fields(operation: str) -> Any:
    """Flow Fields: the sparse fieldset of the flows a list or segment includes (flow-triggers)."""
    return query_input(
        operation,
        "fields[flow]",
        "Flow Fields",
        "Fields of the included flows (Include flow-triggers) to return, e.g. name,status.",
        ["name", "status"],
    )


def tag_fields(operation: str) -> Any:
    """Tag Fields: the sparse fieldset of the tags a resource includes."""
    return query_input(
        operation,
        "fields[tag]",
        "Tag Fields",
        "Fields of the included tags (Include tags) to return, e.g. name.",
        ["name"],
    )


RETURNED_FIELDS_HELP = "List fields to return in the answer (sparse fieldset), e.g. name,opt_in_process."


def include_field(operation: str, help_text: str, example: list[str]) -> Any:
    """The Include input (related resources) of an action reading with ``operation``."""
    return Field(
        None,
        title="Include",
        description=help_text,
        examples=[example],
        json_schema_extra=EnumHint(operation, query="include"),
    )


class CreateListInputs(Inputs):
    listName: str = Field(
        title="List Name",
        description="A helpful name to label the list.",
        examples=["Newsletter"],
        min_length=1,
    )
    optInProcess: OptInProcess | None = Field(
        None,
        title="Opt-in Process",
        description="single_opt_in or double_opt_in (people confirm by email before being subscribed). "
        "Left empty, the account's default applies.",
        examples=["double_opt_in"],
    )
    fields: list[str] | None = group_fields("create_list", "list", RETURNED_FIELDS_HELP, FIELDS_EXAMPLE)


class UpdateListInputs(Inputs):
    FORM_RULES = (AtLeastOne("listName", "optInProcess"),)

    listId: ResourceId = list_id_field()
    listName: str | None = Field(
        None, title="List Name", description="A helpful name to label the list.", examples=["Newsletter"]
    )
    optInProcess: OptInProcess | None = Field(
        None,
        title="Opt-in Process",
        description="single_opt_in or double_opt_in.",
        examples=["single_opt_in"],
    )
    fields: list[str] | None = group_fields("update_list", "list", RETURNED_FIELDS_HELP, FIELDS_EXAMPLE)

    @model_validator(mode="after")
    def _something_to_change(self) -> UpdateListInputs:
        if not {"listName", "optInProcess"} & self.model_fields_set:
            raise ValueError("give a List Name or an Opt-in Process to change")
        return self


class ListIdInputs(Inputs):
    listId: ResourceId = list_id_field()


class GetListInputs(Inputs):
    listId: ResourceId = list_id_field()
    fields: list[str] | None = group_fields("get_list", "list", FIELDS_HELP, FIELDS_EXAMPLE)
    include: list[str] | None = include_field("get_list", INCLUDE_HELP, INCLUDE_EXAMPLE)
    includeProfileCount: bool = Field(
        False,
        title="Include Profile Count",
        description="Also return the number of profiles in the list (Klaviyo allows this at only 1 request "
        "per second, 15 per minute).",
    )
    flowFields: list[str] | None = flow_fields("get_list")
    tagFields: list[str] | None = tag_fields("get_list")


class ListListsInputs(list_inputs("get_lists")):
    fields: list[str] | None = group_fields("get_lists", "list", FIELDS_HELP, FIELDS_EXAMPLE)
    include: list[str] | None = include_field("get_lists", INCLUDE_HELP, INCLUDE_EXAMPLE)
    flowFields: list[str] | None = flow_fields("get_lists")
    tagFields: list[str] | None = tag_fields("get_lists")


class ListListProfilesInputs(list_inputs("get_profiles_for_list")):
    listId: ResourceId = list_id_field()
    fields: list[str] | None = profile_fields("get_profiles_for_list", PROFILE_FIELDS_HELP)
    additionalFields: list[str] | None = additional_profile_fields("get_profiles_for_list")


class MembersInputs(Inputs):
    FORM_LABEL = "List Members"
    FORM_RULES = (ExactlyOne("profileIds", "emails"),)

    listId: ResourceId = list_id_field()
    profileIds: list[str] | None = Field(
        None,
        title="Profile IDs",
        description="IDs of the profiles (give these or Emails, not both). More than 1000 are sent in "
        "several calls.",
        examples=[["01GDDKASAP8TKDDA2GRZDSVP4H"]],
        max_length=100_000,
        json_schema_extra=data_source("selectProfile"),
    )
    emails: list[Email] | None = Field(
        None,
        title="Emails",
        description="Email addresses of the profiles (give these or Profile IDs, not both).",
        examples=[["sarah.mason@klaviyo-demo.com"]],
        max_length=100_000,
    )

    @model_validator(mode="after")
    def _one_way_to_name_members(self) -> MembersInputs:
        if bool(self.profileIds) == bool(self.emails):
            raise ValueError("give either Profile IDs or Emails (exactly one of them, not empty)")
        if self.profileIds and any(not p for p in self.profileIds):
            raise ValueError("Profile IDs must not contain empty values")
        return self


# -- shared with segments: lists and segments are both groups of profiles, read alike -----------

GroupKind = Literal["list", "segment"]


def _group_reads(kind: GroupKind) -> dict[str, str]:
    return {
        f"fields[{kind}]": "fields",
        "include": "include",
        "fields[flow]": "flowFields",
        "fields[tag]": "tagFields",
    }


def get_group(ctx: Context, kind: GroupKind, group_id: str, inputs: Inputs, profile_count: bool) -> Any:
    """One list or segment; ``profile_count`` adds its size (a slower rate-limit tier)."""
    extra = {f"additional-fields[{kind}]": "profile_count"} if profile_count else None
    return get_one(
        ctx, api_path(f"/api/{kind}s/{{id}}", id=group_id), f"get_{kind}", inputs, _group_reads(kind), extra
    )


def list_groups(ctx: Context, kind: GroupKind, inputs: ListInputs) -> Any:
    op = f"get_{kind}s"
    return list_collection(ctx, f"/api/{kind}s", op, inputs, read_params(op, inputs, _group_reads(kind)))


def list_group_profiles(ctx: Context, kind: GroupKind, group_id: str, inputs: ListInputs) -> Any:
    op = f"get_profiles_for_{kind}"
    params = read_params(op, inputs, PROFILE_READS)
    return list_collection(ctx, api_path(f"/api/{kind}s/{{id}}/profiles", id=group_id), op, inputs, params)


def delete_group(ctx: Context, kind: GroupKind, group_id: str) -> Any:
    response = ctx.client.request(
        "DELETE", api_path(f"/api/{kind}s/{{id}}", id=group_id), operation=f"delete_{kind}"
    )
    return acknowledgement(response, f"{kind.capitalize()} {group_id} was deleted (its profiles were not).")


# -- helpers -------------------------------------------------------------------------------------


def _unique(values: Sequence[str], key: Any = None) -> list[str]:
    seen: set[str] = set()
    out: list[str] = []
    for value in values:
        k = key(value) if key else value
        if k not in seen:
            seen.add(k)
            out.append(value)
    return out


def find_profiles_by_email(ctx: Context, emails: Sequence[str]) -> dict[str, str]:
    """Lower-cased email -> profile ID for the emails that have a profile (100 spellings per request).

    Each email is looked up as given and lower-cased: Klaviyo's filter matches exactly, and a
    profile stored in either spelling must be found rather than duplicated.
    """
    spellings = list(dict.fromkeys(s for e in emails for s in (e, e.lower())))
    found: dict[str, str] = {}
    for start, chunk in batches(spellings, EMAILS_PER_LOOKUP):
        flt = filters.render([filters.condition("any", "email", list(chunk))])
        doc = ctx.client.request(
            "GET",
            "/api/profiles",
            params={"filter": flt, "fields[profile]": "email", "page[size]": EMAILS_PER_LOOKUP},
            operation="get_profiles",
        ).json()
        for item in doc.get("data") or []:
            email = ((item.get("attributes") or {}).get("email") or "").lower()
            if email:
                found.setdefault(email, item["id"])
        ctx.progress("lookup", {"spellings_checked": start + len(chunk), "of": len(spellings)})
    return found


def _create_profile(ctx: Context, email: str) -> str:
    # profile-import is an upsert, so a profile created meanwhile is matched, not duplicated.
    doc = ctx.client.request(
        "POST",
        "/api/profile-import",
        json_body=resource("profile", {"email": email}),
        operation="create_or_update_profile",
        idempotent=True,
    ).json()
    return str(doc["data"]["id"])


def _send_members(ctx: Context, method: str, list_id: str, profile_ids: list[str], operation: str) -> Any:
    response = None
    calls = 0
    total = (len(profile_ids) + MEMBERS_PER_CALL - 1) // MEMBERS_PER_CALL
    for _, chunk in batches(profile_ids, MEMBERS_PER_CALL):
        response = ctx.client.request(
            method,
            api_path("/api/lists/{id}/relationships/profiles", id=list_id),
            json_body={"data": [{"type": "profile", "id": pid} for pid in chunk]},
            operation=operation,
            idempotent=True,  # adding or removing the same members again changes nothing
        )
        calls += 1
        ctx.progress(
            "batches",
            {"batch": calls, "of": total, "profiles": min(calls * MEMBERS_PER_CALL, len(profile_ids))},
        )
    return response, calls


# -- actions -------------------------------------------------------------------------------------


def create_list(ctx: Context, inputs: CreateListInputs) -> Any:
    attrs = attributes(inputs, {"listName": "name", "optInProcess": "opt_in_process"})
    return create_once(
        ctx,
        "/api/lists",
        resource("list", attrs),
        operation="create_list",
        lookup=natural_key("list", "name", inputs.listName),
        params=read_params("create_list", inputs, {"fields[list]": "fields"}),
    )


def get_list(ctx: Context, inputs: GetListInputs) -> Any:
    return get_group(ctx, "list", inputs.listId, inputs, inputs.includeProfileCount)


def list_lists(ctx: Context, inputs: ListListsInputs) -> Any:
    return list_groups(ctx, "list", inputs)


def update_list(ctx: Context, inputs: UpdateListInputs) -> Any:
    attrs = attributes(inputs, {"listName": "name", "optInProcess": "opt_in_process"})
    return ctx.client.request(
        "PATCH",
        api_path("/api/lists/{id}", id=inputs.listId),
        params=read_params("update_list", inputs, {"fields[list]": "fields"}),
        json_body=resource("list", attrs, id=inputs.listId),
        operation="update_list",
        idempotent=True,
    ).json()


def delete_list(ctx: Context, inputs: ListIdInputs) -> Any:
    return delete_group(ctx, "list", inputs.listId)


def list_list_profiles(ctx: Context, inputs: ListListProfilesInputs) -> Any:
    return list_group_profiles(ctx, "list", inputs.listId, inputs)


def add_profiles_to_list(ctx: Context, inputs: MembersInputs) -> Any:
    created: list[str] = []
    if inputs.emails:
        emails = _unique(inputs.emails, str.lower)
        found = find_profiles_by_email(ctx, emails)
        ids = []
        for email in emails:
            pid = found.get(email.lower())
            if pid is None:
                pid = _create_profile(ctx, email)
                created.append(email)
                ctx.progress("created", {"profiles_created": len(created)})
            ids.append(pid)
        ids = _unique(ids)
    else:
        ids = _unique(inputs.profileIds or [])
    response, calls = _send_members(ctx, "POST", inputs.listId, ids, "add_profiles_to_list")
    return acknowledgement(
        response,
        f"Added {len(ids)} profile(s) to list {inputs.listId} (profiles already on the list stay as they were).",
        list_id=inputs.listId,
        added=len(ids),
        profile_ids=ids,
        created_emails=created if inputs.emails else None,
        requests=calls,
        consent=CONSENT_NOTE,
    )


def remove_profiles_from_list(ctx: Context, inputs: MembersInputs) -> Any:
    not_found: list[str] = []
    if inputs.emails:
        emails = _unique(inputs.emails, str.lower)
        found = find_profiles_by_email(ctx, emails)
        ids = _unique([found[e.lower()] for e in emails if e.lower() in found])
        not_found = [e for e in emails if e.lower() not in found]
    else:
        ids = _unique(inputs.profileIds or [])
    if not ids:
        return {
            "accepted": f"Nothing to remove: no profile has these emails, so list {inputs.listId} is unchanged.",
            "status": None,
            "asynchronous": False,
            "list_id": inputs.listId,
            "removed": 0,
            "profile_ids": [],
            "emails_without_profile": not_found,
            "requests": 0,
            "consent": REMOVAL_CONSENT_NOTE,
        }
    response, calls = _send_members(ctx, "DELETE", inputs.listId, ids, "remove_profiles_from_list")
    return acknowledgement(
        response,
        f"Removed {len(ids)} profile(s) from list {inputs.listId} (profiles that were not on it are unaffected).",
        list_id=inputs.listId,
        removed=len(ids),
        profile_ids=ids,
        emails_without_profile=not_found if inputs.emails else None,
        requests=calls,
        consent=REMOVAL_CONSENT_NOTE,
    )


_MEMBERSHIP = {
    "list_id": member("string", "The list's ID, as given."),
    "profile_ids": member(
        "array", "The IDs of the profiles sent, without repeats.", items={"type": "string"}
    ),
    "requests": member("integer", "How many membership requests were sent."),
}
ADD_PROFILES_ACKNOWLEDGEMENT = acknowledgement_schema(
    required=["list_id", "added", "profile_ids", "requests", "consent"],
    **_MEMBERSHIP,
    added=member("integer", "How many profiles were sent to be added."),
    created_emails=member(
        "array",
        "With Emails: the emails no profile had, for which a profile was created.",
        items={"type": "string"},
    ),
    consent=member("string", "A reminder that list membership does not change marketing consent."),
)
REMOVE_PROFILES_ACKNOWLEDGEMENT = acknowledgement_schema(
    required=["list_id", "removed", "profile_ids", "requests", "consent"],
    **_MEMBERSHIP,
    removed=member("integer", "How many profiles were sent to be removed."),
    emails_without_profile=member(
        "array", "With Emails: the emails no profile has (nothing to remove).", items={"type": "string"}
    ),
    consent=member("string", "A reminder that leaving a list does not withdraw marketing consent."),
)


ACTIONS = (
    Action(
        key="createList",
        label="Create List",
        description="Create a new list.",
        inputs=CreateListInputs,
        perform=create_list,
        operations=("create_list",),
    ),
    Action(
        key="getList",
        label="Get List",
        description="Get a list with the given list ID.",
        inputs=GetListInputs,
        perform=get_list,
        operations=("get_list",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="listLists",
        label="List Lists",
        description="Get all lists in an account: filter, sort, one page or all pages up to a cap.",
        inputs=ListListsInputs,
        perform=list_lists,
        operations=("get_lists",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="updateList",
        label="Update List",
        description="Update the name (or opt-in process) of a list with the given list ID.",
        inputs=UpdateListInputs,
        perform=update_list,
        operations=("update_list",),
        idempotent=True,
    ),
    Action(
        key="deleteList",
        label="Delete List",
        description="Delete a list with the given list ID. Its profiles are kept.",
        inputs=ListIdInputs,
        perform=delete_list,
        operations=("delete_list",),
        idempotent=True,
        destructive=True,
    ),
    Action(
        key="listListProfiles",
        label="List List Profiles",
        description="Get all profiles within a list with the given list ID.",
        inputs=ListListProfilesInputs,
        perform=list_list_profiles,
        operations=("get_profiles_for_list",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="addProfilesToList",
        label="Add Profiles To List",
        description="Add profiles to a list by profile ID or email, without changing their marketing consent. "
        "Emails without a profile get one created. Any number of profiles (sent 1000 per call).",
        inputs=MembersInputs,
        perform=add_profiles_to_list,
        output_schema=ADD_PROFILES_ACKNOWLEDGEMENT,
        operations=("get_profiles", "create_or_update_profile", "add_profiles_to_list"),
        idempotent=True,
    ),
    Action(
        key="removeProfilesFromList",
        label="Remove Profiles From List",
        description="Remove profiles from a list by profile ID or email, without unsubscribing them. Any "
        "number of profiles (sent 1000 per call).",
        inputs=MembersInputs,
        perform=remove_profiles_from_list,
        output_schema=REMOVE_PROFILES_ACKNOWLEDGEMENT,
        operations=("get_profiles", "remove_profiles_from_list"),
        idempotent=True,
        destructive=True,
    ),
)
