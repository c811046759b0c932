"""Generated actions end to end: the Runner against a real sandbox over HTTP on loopback.

The sandbox emulates the resources the curated actions use (profiles, lists, events, accounts...);
these runs take the generated actions of those operations through a workflow and check what the
sandbox then holds, so what the flattened inputs send is what Klaviyo's API does something with.
"""

from __future__ import annotations

from typing import Any

from conftest import run


def _do(runner: Any, connection: Any, key: str, inputs: dict[str, Any]) -> Any:
    return run(runner, key, inputs, connection)["data"]


def test_profile_created_updated_with_meta_and_read_back(runner, sandbox_connection):
    made = _do(
        runner,
        sandbox_connection,
        "create_profile",
        {"email": "ava.diaz@example.com", "firstName": "Ava", "properties": {"plan": "gold", "tier": 2}},
    )
    profile = made["data"]["id"]
    # meta.patch_properties.unset: the only way to remove a custom property.
    updated = _do(
        runner,
        sandbox_connection,
        "update_profile",
        {"profileId": profile, "lastName": "Diaz", "patchProperties": {"unset": ["plan"]}},
    )
    assert updated["data"]["attributes"]["properties"] == {"tier": 2}
    read = _do(
        runner,
        sandbox_connection,
        "getProfileOperation",
        {"profileId": profile, "profileFields": "email,last_name"},
    )
    assert read["data"]["attributes"] == {"email": "ava.diaz@example.com", "last_name": "Diaz"}


def test_list_operation_pages_through_the_sandbox(runner, sandbox_connection):
    for n in range(5):
        _do(runner, sandbox_connection, "KLAVIYO_CREATE_PROFILE", {"email": f"page{n}@example.com"})
    everything = _do(
        runner,
        sandbox_connection,
        "getProfiles",
        {"pageSize": 2, "fetchAll": True, "filter": "greater-than(created,2020-01-01T00:00:00Z)"},
    )
    assert everything["meta"]["pages"] == 3 and everything["meta"]["records"] == 5
    assert sorted(p["attributes"]["email"] for p in everything["data"]) == [
        f"page{n}@example.com" for n in range(5)
    ]
    first = _do(runner, sandbox_connection, "get_profiles", {"pageSize": 2})
    assert first["meta"]["records"] == 2 and first["meta"]["next_cursor"]
    rest = _do(
        runner, sandbox_connection, "getProfiles", {"pageSize": 2, "pageCursor": first["meta"]["next_cursor"]}
    )
    assert {p["id"] for p in rest["data"]}.isdisjoint({p["id"] for p in first["data"]})


def test_relationship_operations_change_membership(runner, sandbox_connection):
    profile = _do(runner, sandbox_connection, "create_profile", {"email": "leo.park@example.com"})["data"][
        "id"
    ]
    group = _do(runner, sandbox_connection, "create_list", {"name": "VIP"})["data"]["id"]
    added = _do(
        runner, sandbox_connection, "add_profiles_to_list", {"listId": group, "profileIds": [profile]}
    )
    assert added["status"] == 204
    members = _do(runner, sandbox_connection, "getProfilesForList", {"listId": group})
    assert [p["id"] for p in members["data"]] == [profile]
    _do(
        runner,
        sandbox_connection,
        "create_list_relationships_profiles",
        {"listId": group, "profileIds": [profile]},
    )
    _do(runner, sandbox_connection, "remove_profiles_from_list", {"listId": group, "profileIds": [profile]})
    assert _do(runner, sandbox_connection, "KLAVIYO_GET_LIST_PROFILES", {"listId": group})["data"] == []
    assert _do(runner, sandbox_connection, "delete_list", {"listId": group})["status"] == 204


def test_event_created_from_nested_objects_is_stored(runner, sandbox_connection):
    accepted = _do(
        runner,
        sandbox_connection,
        "create_event",
        {
            "properties": {"sku": "TSHIRT-01"},
            "metric": {"data": {"type": "metric", "attributes": {"name": "Viewed Product"}}},
            "profile": {"data": {"type": "profile", "attributes": {"email": "sarah.mason@example.com"}}},
            "time": "2026-05-01T09:00:00Z",
        },
    )
    assert accepted["status"] == 202 and accepted["asynchronous"] is True
    events = _do(runner, sandbox_connection, "getEvents", {"fetchAll": True})
    assert [e["attributes"]["event_properties"]["sku"] for e in events["data"]] == ["TSHIRT-01"]
    account = _do(runner, sandbox_connection, "getAccounts", {})
    assert account["data"][0]["type"] == "account"
