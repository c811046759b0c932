"""Curated actions offer every query parameter of their operations (sparse fieldsets, includes,
additional fields), each checked against the catalog and sent as the spec spells it.

The first test is the inventory: a query parameter of an action's operation is either an input
(its form enum read from the catalog) or set by the action itself, with the reason written here.
Every request below is validated against the spec at teardown (``klaviyo``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest import BASE, document, refused, run
from klaviyo_connector import catalog
from klaviyo_connector.inputs import EnumHint

# Parameters every list action handles through its own inputs (Filter, Sort, Page Size, Page Cursor).
PAGING = {"filter", "sort", "page[size]", "page[cursor]"}

# Operations an action calls only to do its job, with the parameters it chooses itself.
HELPERS = {
    ("importProfiles", "get_bulk_import_profiles_job"): "polls the job it started for status and counts",
    ("importProfiles", "get_errors_for_bulk_import_profiles_job"): "collects the job's errors for the output",
    ("addProfilesToList", "get_profiles"): "resolves emails to profile IDs",
    ("addProfilesToList", "create_or_update_profile"): "creates the profiles no email matched",
    ("removeProfilesFromList", "get_profiles"): "resolves emails to profile IDs",
    ("subscribeProfiles", "get_list"): "reads the list's opt-in process",
    ("assignCampaignTemplate", "get_messages_for_campaign"): "finds the campaign's only message",
    ("updateCampaignMessage", "get_campaign_message"): "reads the message's channel",
    ("queryCampaignValues", "get_accounts"): "reads the account's time zone",
    ("findOrCreateProfile", "get_profile"): "reads the profile a concurrent create made (same Fields)",
    ("isProfileInList", "get_profile"): "reads the profile's email and phone number to filter the list",
}

# Parameters of an action's own operation that it sets itself, and why.
SET_BY_THE_ACTION = {
    ("getList", "additional-fields[list]"): "Include Profile Count",
    ("getSegment", "additional-fields[segment]"): "Include Profile Count",
    ("getEvent", "include"): "metric and profile always; Include Attributions adds attributions",
    ("listEvents", "include"): "metric and profile always; Include Attributions adds attributions",
    ("queryCampaignValues", "page_cursor"): "Page Cursor",
    ("queryCampaignValues", "fields[campaign-values-report]"): "the report's results are the output",
    ("queryMetricAggregates", "fields[metric-aggregate]"): "the aggregate's dates and data are the output",
    ("importProfiles", "fields[profile-bulk-import-job]"): "the job's status and counts are the output",
    (
        "suppressProfiles",
        "fields[profile-suppression-bulk-create-job]",
    ): "the job is the output as Klaviyo sent it",
    (
        "unsuppressProfiles",
        "fields[profile-suppression-bulk-delete-job]",
    ): "the job is the output as Klaviyo sent it",
    **{
        (key, param): "a find step returns the match; related resources are read with the Get action"
        for key, params in {
            "findProfile": ("include", "fields[conversation]", "fields[push-token]"),
            "findOrCreateProfile": ("include", "fields[conversation]", "fields[push-token]"),
            "findListByName": ("include", "fields[flow]", "fields[tag]"),
            "findSegmentByName": ("include", "fields[flow]", "fields[tag]"),
            "findTagByName": ("include", "fields[tag]", "fields[tag-group]"),
        }.items()
        for param in params
    },
}


def _offered(action: Any) -> set[str]:
    """The query parameters the action's inputs carry (by their form enum's source)."""
    return {
        field.json_schema_extra.query
        for field in action.inputs.model_fields.values()
        if isinstance(field.json_schema_extra, EnumHint) and field.json_schema_extra.query
    }


def test_every_query_parameter_of_a_curated_action_is_an_input_or_set_by_it():
    from klaviyo_connector.actions import ACTIONS

    missing = []
    for action in ACTIONS:
        if action.key == "rawRequest":
            continue
        offered = _offered(action)
        for op_id in action.operations:
            if (action.key, op_id) in HELPERS:
                continue
            for param in catalog.operation(op_id).parameters:
                name = param["name"]
                if param["in"] != "query" or name in PAGING or name in offered:
                    continue
                if (action.key, name) not in SET_BY_THE_ACTION:
                    missing.append(f"{action.key}: {op_id} {name}")
    assert not missing, "query parameters no input offers:\n" + "\n".join(missing)


def test_the_allowances_name_real_actions_and_parameters():
    from klaviyo_connector.component import component

    for key, op_id in HELPERS:
        assert op_id in component.actions[key].operations, (key, op_id)
    for key, param in SET_BY_THE_ACTION:
        params = {
            p["name"] for op in component.actions[key].operations for p in catalog.operation(op).parameters
        }
        assert param in params, (key, param)


def query(call: Any) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True))


PROFILE = document("profile", "01A", {"email": "ann@example.com"})
LIST = document("list", "L1", {"name": "VIP"})
SEGMENT = document("segment", "S1", {"name": "VIP"})
CAMPAIGN = document("campaign", "C1", {"name": "Hello"})
TEMPLATE = document("template", "T1", {"name": "Welcome"})
IMAGE = document("image", "I1", {"name": "Logo"})
FLOW = document("flow", "F1", {"status": "live"})
EMPTY = {"data": [], "links": {"self": f"{BASE}/x"}}
GROUPS = [{"conditions": [{"type": "profile-group-membership", "is_member": True, "group_ids": ["L1"]}]}]
MESSAGE = {"channel": "email", "label": "Main", "content": {"subject": "Hi"}}
SUBS = "subscriptions"

CASES = [
    # (action, inputs, method, path, status, answer, the query expected)
    (
        "createProfile",
        {"email": "ann@example.com", "additionalFields": SUBS, "fields": "email,subscriptions"},
        "POST",
        "/api/profiles",
        201,
        PROFILE,
        {"additional-fields[profile]": SUBS, "fields[profile]": "email,subscriptions"},
    ),
    (
        "updateProfile",
        {"profileId": "01A", "firstName": "Ann", "additionalFields": "subscriptions,predictive_analytics"},
        "PATCH",
        "/api/profiles/01A",
        200,
        PROFILE,
        {"additional-fields[profile]": "subscriptions,predictive_analytics"},
    ),
    (
        "createOrUpdateProfile",
        {"email": "ann@example.com", "additionalFields": SUBS},
        "POST",
        "/api/profile-import",
        200,
        PROFILE,
        {"additional-fields[profile]": SUBS},
    ),
    (
        "getProfile",
        {"profileId": "01A", "include": "lists,segments", "listFields": "name", "segmentFields": "name"},
        "GET",
        "/api/profiles/01A",
        200,
        PROFILE,
        {"include": "lists,segments", "fields[list]": "name", "fields[segment]": "name"},
    ),
    (
        "listProfile",
        {"include": "push-tokens", "pushTokenFields": "platform", "conversationFields": "channel"},
        "GET",
        "/api/profiles",
        200,
        EMPTY,
        {
            "include": "push-tokens",
            "fields[push-token]": "platform",
            "fields[conversation]": "channel",
            "page[size]": "100",
        },
    ),
    (
        "createList",
        {"listName": "VIP", "fields": "name"},
        "POST",
        "/api/lists",
        201,
        LIST,
        {"fields[list]": "name"},
    ),
    (
        "updateList",
        {"listId": "L1", "listName": "VIP", "fields": "name,opt_in_process"},
        "PATCH",
        "/api/lists/L1",
        200,
        LIST,
        {"fields[list]": "name,opt_in_process"},
    ),
    (
        "getList",
        {"listId": "L1", "include": "tags,flow-triggers", "tagFields": "name", "flowFields": "name,status"},
        "GET",
        "/api/lists/L1",
        200,
        LIST,
        {"include": "tags,flow-triggers", "fields[tag]": "name", "fields[flow]": "name,status"},
    ),
    (
        "listSegments",
        {"include": "tags", "tagFields": "name"},
        "GET",
        "/api/segments",
        200,
        EMPTY,
        {"include": "tags", "fields[tag]": "name", "page[size]": "10"},
    ),
    (
        "createSegment",
        {"segmentName": "VIP", "conditionGroups": GROUPS, "fields": "name"},
        "POST",
        "/api/segments",
        201,
        SEGMENT,
        {"fields[segment]": "name"},
    ),
    (
        "updateSegment",
        {"segmentId": "S1", "isStarred": True, "fields": "is_starred"},
        "PATCH",
        "/api/segments/S1",
        200,
        SEGMENT,
        {"fields[segment]": "is_starred"},
    ),
    (
        "createCampaign",
        {
            "campaignName": "Hello",
            "includedAudiences": ["L1"],
            "campaignMessages": [MESSAGE],
            "fields": "name,status",
        },
        "POST",
        "/api/campaigns",
        201,
        CAMPAIGN,
        {"fields[campaign]": "name,status"},
    ),
    (
        "updateCampaign",
        {"campaignId": "C1", "campaignName": "Hi", "fields": "name"},
        "PATCH",
        "/api/campaigns/C1",
        200,
        CAMPAIGN,
        {"fields[campaign]": "name"},
    ),
    (
        "getCampaign",
        {
            "campaignId": "C1",
            "include": "campaign-messages,tags",
            "campaignMessageFields": "definition.label",
            "tagFields": "name",
        },
        "GET",
        "/api/campaigns/C1",
        200,
        CAMPAIGN,
        {
            "include": "campaign-messages,tags",
            "fields[campaign-message]": "definition.label",
            "fields[tag]": "name",
        },
    ),
    (
        "sendCampaign",
        {"campaignId": "C1", "fields": "status"},
        "POST",
        "/api/campaign-send-jobs",
        202,
        document("campaign-send-job", "C1", {"status": "queued"}),
        {"fields[campaign-send-job]": "status"},
    ),
    (
        "assignCampaignTemplate",
        {"campaignMessageId": "M1", "templateId": "T1", "fields": "content.subject"},
        "POST",
        "/api/campaign-message-assign-template",
        200,
        document("campaign-message", "M1", {}),
        {"fields[campaign-message]": "content.subject"},
    ),
    (
        "createTemplate",
        {"templateName": "Welcome", "templateHtml": "<p>Hi</p>", "additionalFields": "definition"},
        "POST",
        "/api/templates",
        201,
        TEMPLATE,
        {"additional-fields[template]": "definition"},
    ),
    (
        "getTemplate",
        {"templateId": "T1", "additionalFields": "definition", "fields": "name"},
        "GET",
        "/api/templates/T1",
        200,
        TEMPLATE,
        {"additional-fields[template]": "definition", "fields[template]": "name"},
    ),
    (
        "updateTemplate",
        {"templateId": "T1", "templateText": "Hi", "fields": "text"},
        "PATCH",
        "/api/templates/T1",
        200,
        TEMPLATE,
        {"fields[template]": "text"},
    ),
    (
        "uploadImage",
        {"imageUrl": "https://example.com/logo.png", "fields": "name,image_url"},
        "POST",
        "/api/images",
        201,
        IMAGE,
        {"fields[image]": "name,image_url"},
    ),
    (
        "updateImage",
        {"imageId": "I1", "imageHidden": True, "fields": "hidden"},
        "PATCH",
        "/api/images/I1",
        200,
        IMAGE,
        {"fields[image]": "hidden"},
    ),
    (
        "listFlows",
        {"include": "flow-actions,tags", "flowActionFields": "definition.type", "tagFields": "name"},
        "GET",
        "/api/flows",
        200,
        EMPTY,
        {
            "include": "flow-actions,tags",
            "fields[flow-action]": "definition.type",
            "fields[tag]": "name",
            "page[size]": "50",
        },
    ),
    (
        "updateFlowStatus",
        {"flowId": "F1", "status": "manual", "fields": "status"},
        "PATCH",
        "/api/flows/F1",
        200,
        FLOW,
        {"fields[flow]": "status"},
    ),
    (
        "listMetrics",
        {"include": "flow-triggers", "flowFields": "name"},
        "GET",
        "/api/metrics",
        200,
        EMPTY,
        {"include": "flow-triggers", "fields[flow]": "name"},
    ),
    (
        "getEvent",
        {"eventId": "E1", "includeAttributions": True, "attributionFields": "id"},
        "GET",
        "/api/events/E1",
        200,
        document("event", "E1", {}),
        {"include": "metric,profile,attributions", "fields[attribution]": "id"},
    ),
]


@pytest.mark.parametrize(
    ("key", "inputs", "method", "path", "status", "answer", "expected"), CASES, ids=[c[0] for c in CASES]
)
def test_the_new_query_parameters_are_sent(
    runner, klaviyo, key, inputs, method, path, status, answer, expected
):
    klaviyo.add(method, f"{BASE}{path}", status=status, json=answer)
    run(runner, key, inputs)
    sent = [c for c in klaviyo.calls if c.request.method == method and urlsplit(c.request.url).path == path]
    assert len(sent) == 1 and query(sent[0]) == expected


@pytest.mark.parametrize(
    ("key", "inputs", "label"),
    [
        (
            "createProfile",
            {"email": "a@example.com", "additionalFields": "shoe_size"},
            "Additional Profile Fields",
        ),
        ("getList", {"listId": "L1", "tagFields": "colour"}, "Tag Fields"),
        ("getCampaign", {"campaignId": "C1", "campaignMessageFields": "colour"}, "Campaign Message Fields"),
        ("listFlows", {"include": "metrics"}, "Include"),
        ("updateFlowStatus", {"flowId": "F1", "status": "live", "fields": "colour"}, "Flow Fields"),
    ],
)
def test_a_value_the_spec_does_not_allow_is_refused_naming_the_input(runner, klaviyo, key, inputs, label):
    err = refused(runner, klaviyo, key, inputs)
    assert f"{label}:" in err.message and "not allowed" in err.message


def test_fields_alone_are_not_a_change(runner, klaviyo):
    err = refused(runner, klaviyo, "updateSegment", {"segmentId": "S1", "fields": "name"})
    assert "nothing to change" in err.message


def test_create_profile_returns_subscriptions_in_one_call_against_the_sandbox(runner, sandbox_connection):
    out = run(
        runner,
        "createProfile",
        {"email": "ann@example.com", "additionalFields": "subscriptions"},
        sandbox_connection,
    )["data"]
    assert out["data"]["attributes"]["subscriptions"]["email"]["marketing"]["consent"]
