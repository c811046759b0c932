"""Lists, segments, consent and imports end to end: the Runner against the sandbox over HTTP."""

from __future__ import annotations

import pytest
from conftest import run
from klaviyo_connector.errors import KlaviyoError


def test_list_lifecycle_subscribe_and_import(runner, sandbox_connection, sleeps):
    conn = sandbox_connection

    def act(key: str, inputs: dict) -> dict:
        return run(runner, key, inputs, conn)["data"]

    list_id = act("createList", {"listName": "Customers"})["data"]["id"]
    added = act("addProfilesToList", {"listId": list_id, "emails": ["ann@example.com", "bo@example.com"]})
    assert added["created_emails"] == ["ann@example.com", "bo@example.com"] and added["added"] == 2
    members = act("listListProfiles", {"listId": list_id, "fields": "email,joined_group_at"})["data"]
    assert sorted(m["attributes"]["email"] for m in members) == ["ann@example.com", "bo@example.com"]
    assert all(m["attributes"]["joined_group_at"] for m in members)

    # adding the same people again creates nobody
    again = act("addProfilesToList", {"listId": list_id, "emails": ["ANN@example.com"]})
    assert again["created_emails"] == [] and again["profile_ids"] == [added["profile_ids"][0]]

    double = act("createList", {"listName": "Newsletter", "optInProcess": "double_opt_in"})["data"]["id"]
    subscribed = act("subscribeProfiles", {"listId": double, "profiles": [{"email": "ann@example.com"}]})
    assert subscribed["status"] == 202 and subscribed["pending_confirmation"] is True
    assert "pending" in subscribed["note"]
    assert act("listListProfiles", {"listId": double})["data"] == []  # not on it until confirmed

    imported = act(
        "importProfiles",
        {
            "profiles": [
                {"email": "cy@example.com", "first_name": "Cy"},
                {"email": "di@example.com"},
                {"phone_number": "+15005550006", "properties": {"plan": "gold"}},
            ],
            "listIds": [list_id],
            "waitForCompletion": True,
        },
    )
    assert imported["completed"] is True and imported["counts"] == {"total": 3, "completed": 3, "failed": 0}
    assert imported["errors"] == [] and len(imported["job_ids"]) == 1
    assert sleeps.waits == []  # the sandbox finished the job by the first status check
    members = act("listListProfiles", {"listId": list_id, "fetchAll": True})["data"]
    assert len(members) == 5

    gone = act("deleteList", {"listId": list_id})
    assert gone["status"] == 204
    with pytest.raises(KlaviyoError) as info:
        act("getList", {"listId": list_id})
    assert info.value.status == 404


def test_segments_suppression_upsert_and_deletion(runner, sandbox_connection):
    conn = sandbox_connection

    def act(key: str, inputs: dict) -> dict:
        return run(runner, key, inputs, conn)["data"]

    first = act("createOrUpdateProfile", {"email": "eve@example.com", "properties": {"tier": "vip"}})
    assert first["created"] is True
    second = act("createOrUpdateProfile", {"email": "eve@example.com", "firstName": "Eve"})
    assert second["created"] is False and second["data"]["id"] == first["data"]["id"]
    act("createOrUpdateProfile", {"email": "fay@example.com", "properties": {"tier": "basic"}})

    vip = {
        "type": "profile-property",
        "property": "properties['tier']",
        "filter": {"type": "string", "operator": "equals", "value": "vip"},
    }
    segment = act("createSegment", {"segmentName": "VIPs", "conditionGroups": [{"conditions": [vip]}]})[
        "data"
    ]
    in_segment = act("listSegmentProfiles", {"segmentId": segment["id"]})["data"]
    assert [p["attributes"]["email"] for p in in_segment] == ["eve@example.com"]
    with pytest.raises(KlaviyoError) as info:
        act("updateSegment", {"segmentId": segment["id"], "isActive": False, "isStarred": True})
    assert info.value.field == "Is Active"
    assert (
        act("updateSegment", {"segmentId": segment["id"], "isActive": False})["data"]["attributes"][
            "is_active"
        ]
        is False
    )

    suppressed = act("suppressProfiles", {"emails": ["eve@example.com"]})
    assert suppressed["status"] == 202 and len(suppressed["job_ids"]) == 1
    eve = act("getProfile", {"profileId": first["data"]["id"], "additionalFields": "subscriptions"})["data"]
    reasons = [s["reason"] for s in eve["attributes"]["subscriptions"]["email"]["marketing"]["suppression"]]
    assert reasons == ["USER_SUPPRESSED"]

    with pytest.raises(KlaviyoError) as info:
        act("createProfile", {"email": "eve@example.com"})
    assert f"use profile {first['data']['id']}" in info.value.message
    assert info.value.to_dict()["meta"]["duplicate_profile_id"] == first["data"]["id"]

    deleted = act("requestProfileDeletion", {"email": "eve@example.com"})
    assert deleted["status"] == 202
    with pytest.raises(KlaviyoError) as info:
        act("getProfile", {"profileId": first["data"]["id"]})
    assert info.value.status == 404


def test_unsubscribe_without_list_is_global(runner, sandbox_connection):
    conn = sandbox_connection
    run(runner, "subscribeProfiles", {"profiles": [{"email": "gus@example.com"}]}, conn)
    out = run(runner, "unsubscribeProfiles", {"profiles": [{"email": "gus@example.com"}]}, conn)["data"]
    assert out["global_unsubscribe"] is True
    found = run(
        runner,
        "listProfile",
        {"filter": "equals(email,'gus@example.com')", "additionalFields": "subscriptions"},
        conn,
    )
    consent = found["data"]["data"][0]["attributes"]["subscriptions"]["email"]["marketing"]["consent"]
    assert consent == "UNSUBSCRIBED"
