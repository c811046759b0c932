"""Segment actions against a mocked Klaviyo: typed conditions, wire bodies, the is_active rule."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import BASE, body, run
from klaviyo_connector.errors import KlaviyoError

SEGMENT = {
    "data": {
        "type": "segment",
        "id": "WwKnkd",
        "attributes": {"name": "Fans", "is_active": True, "is_processing": False, "is_starred": False},
        "links": {"self": f"{BASE}/api/segments/WwKnkd/"},
    }
}
MEMBERSHIP = {"type": "profile-group-membership", "is_member": True, "group_ids": ["RE83th"]}
PROPERTY = {
    "type": "profile-property",
    "property": "properties['Favorite Color']",
    "filter": {"type": "string", "operator": "equals", "value": "blue"},
}
METRIC = {
    "type": "profile-metric",
    "metric_id": "UMTLbD",
    "measurement": "count",
    "measurement_filter": {"type": "numeric", "operator": "greater-than", "value": 2},
    "timeframe_filter": {"type": "date", "operator": "in-the-last", "unit": "day", "quantity": 30},
    "metric_filters": [
        {"property": "$value", "filter": {"type": "numeric", "operator": "greater-than", "value": 10}}
    ],
}
CONSENT = {
    "type": "profile-marketing-consent",
    "consent": {
        "channel": "email",
        "can_receive_marketing": True,
        "consent_status": {"subscription": "subscribed"},
    },
}
REGION = {"type": "profile-region", "in_region": True, "region": "european_union"}


def test_create_segment_sends_the_definition_in_wire_format(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/segments", status=201, json=SEGMENT)
    groups = [{"conditions": [MEMBERSHIP, PROPERTY]}, {"conditions": [METRIC, CONSENT, REGION]}]
    out = run(
        runner,
        "createSegment",
        {"segmentName": "Fans", "conditionGroups": json.dumps(groups), "isStarred": "true"},
    )
    assert out == {"data": SEGMENT}
    assert body(klaviyo.calls[0]) == {
        "data": {
            "type": "segment",
            "attributes": {"name": "Fans", "definition": {"condition_groups": groups}, "is_starred": True},
        }
    }


def test_create_segment_accepts_a_whole_definition_and_keeps_datetime_offsets(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/segments", status=201, json=SEGMENT)
    condition = {
        "type": "profile-group-membership",
        "is_member": True,
        "group_ids": ["RE83th"],
        "timeframe_filter": {"type": "date", "operator": "after", "date": "2024-01-01T02:00:00+02:00"},
    }
    run(
        runner,
        "createSegment",
        {"segmentName": "Fans", "conditionGroups": {"condition_groups": [{"conditions": [condition]}]}},
    )
    sent = body(klaviyo.calls[0])["data"]["attributes"]
    assert "is_starred" not in sent
    assert sent["definition"]["condition_groups"][0]["conditions"][0]["timeframe_filter"] == {
        "type": "date",
        "operator": "after",
        "date": "2024-01-01T02:00:00+02:00",
    }


@pytest.mark.parametrize(
    ("condition", "fragment"),
    [
        (
            {**PROPERTY, "filter": {"type": "string", "operator": "greater-than", "value": "x"}},
            "operator 'greater-than'",
        ),
        ({**PROPERTY, "filter": {"type": "numeric", "operator": "equals", "value": "x"}}, "must be a number"),
        ({**PROPERTY, "filter": {"type": "string", "operator": "equals"}}, "needs 'value'"),
        (
            {**PROPERTY, "filter": {"type": "existence", "operator": "is-set", "value": 1}},
            "does not take: value",
        ),
        ({**MEMBERSHIP, "group_ids": []}, "at least 1"),
        (
            {
                **MEMBERSHIP,
                "is_member": False,
                "timeframe_filter": {"type": "date", "operator": "before", "date": "2024-01-01T00:00:00Z"},
            },
            "is_member true",
        ),
        (
            {**METRIC, "timeframe_filter": {"type": "date", "operator": "calendar-month", "value": 3}},
            "calendar-month",
        ),
        (
            {
                "type": "profile-marketing-consent",
                "consent": {
                    "channel": "sms",
                    "can_receive_marketing": True,
                    "consent_status": {"subscription": "any"},
                },
            },
            "takes consent_status.subscription subscribed",
        ),
        (
            {
                "type": "profile-marketing-consent",
                "consent": {
                    "channel": "email",
                    "can_receive_marketing": False,
                    "consent_status": {"subscription": "never_subscribed"},
                },
            },
            "filters is required",
        ),
        ({"type": "profile-shoe-size"}, "unknown condition type 'profile-shoe-size'"),
        ({"property": "email"}, "type: is required"),
    ],
)
def test_bad_conditions_are_refused_with_their_location(runner, klaviyo, condition, fragment):
    with pytest.raises(KlaviyoError) as info:
        run(
            runner, "createSegment", {"segmentName": "Fans", "conditionGroups": [{"conditions": [condition]}]}
        )
    assert info.value.field.startswith("Segment Condition Groups[0].conditions[0]")
    assert fragment in info.value.message
    assert not klaviyo.calls


def test_empty_definition_is_refused(runner, klaviyo):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "createSegment", {"segmentName": "Fans", "conditionGroups": "[]"})
    assert info.value.field == "Segment Condition Groups" and not klaviyo.calls


def test_update_segment_sends_only_given_attributes(runner, klaviyo):
    klaviyo.add("PATCH", f"{BASE}/api/segments/WwKnkd", json=SEGMENT)
    run(runner, "updateSegment", {"segmentId": "WwKnkd", "segmentName": "Big fans", "isStarred": False})
    assert body(klaviyo.calls[0]) == {
        "data": {"type": "segment", "id": "WwKnkd", "attributes": {"name": "Big fans", "is_starred": False}}
    }


def test_deactivation_is_sent_alone(runner, klaviyo):
    klaviyo.add("PATCH", f"{BASE}/api/segments/WwKnkd", json=SEGMENT)
    run(runner, "updateSegment", {"segmentId": "WwKnkd", "isActive": "false"})
    assert body(klaviyo.calls[0])["data"]["attributes"] == {"is_active": False}


def test_deactivation_with_other_changes_is_refused_before_sending(runner, klaviyo):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "updateSegment", {"segmentId": "WwKnkd", "isActive": False, "segmentName": "x"})
    assert info.value.field == "Is Active" and "only change" in info.value.message and not klaviyo.calls


def test_reactivation_may_come_with_other_changes(runner, klaviyo):
    klaviyo.add("PATCH", f"{BASE}/api/segments/WwKnkd", json=SEGMENT)
    run(runner, "updateSegment", {"segmentId": "WwKnkd", "isActive": True, "segmentName": "x"})
    assert body(klaviyo.calls[0])["data"]["attributes"] == {"name": "x", "is_active": True}


def test_update_with_nothing_to_change_is_refused(runner, klaviyo):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "updateSegment", {"segmentId": "WwKnkd"})
    assert "nothing to change" in info.value.message and not klaviyo.calls


def test_get_segment_with_profile_count(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/segments/WwKnkd", json=SEGMENT)
    run(
        runner,
        "getSegment",
        {"segmentId": "WwKnkd", "fields": "name,definition", "includeProfileCount": True},
    )
    assert parse_qs(urlsplit(klaviyo.calls[0].request.url).query) == {
        "fields[segment]": ["name,definition"],
        "additional-fields[segment]": ["profile_count"],
    }


def test_list_segments_and_profiles(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/segments", json={"data": [SEGMENT["data"]], "links": {"self": "x"}})
    klaviyo.add("GET", f"{BASE}/api/segments/WwKnkd/profiles", json={"data": [], "links": {"self": "x"}})
    run(runner, "listSegments", {"filter": "equals(is_starred,true)"})
    run(runner, "listSegmentProfiles", {"segmentId": "WwKnkd", "fields": "email", "pageSize": 1000})
    assert parse_qs(urlsplit(klaviyo.calls[0].request.url).query) == {
        "filter": ["equals(is_starred,true)"],
        "page[size]": ["10"],
    }
    assert parse_qs(urlsplit(klaviyo.calls[1].request.url).query) == {
        "fields[profile]": ["email"],
        "page[size]": ["100"],
    }


def test_delete_segment(runner, klaviyo):
    klaviyo.add("DELETE", f"{BASE}/api/segments/WwKnkd", status=204)
    out = run(runner, "deleteSegment", {"segmentId": "WwKnkd"})["data"]
    assert out["status"] == 204 and "WwKnkd" in out["accepted"]


def test_segment_condition_input_schema_is_typed():
    from klaviyo_connector.component import component

    schema = component.actions["createSegment"].inputs.model_json_schema()
    assert schema["properties"]["conditionGroups"]["title"] == "Segment Condition Groups"
    assert {
        "PropertyCondition",
        "GroupMembershipCondition",
        "MetricCondition",
        "MarketingConsentCondition",
    } <= set(schema["$defs"])
