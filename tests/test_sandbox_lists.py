"""Sandbox lists and segments over real HTTP: every request and response checked against the spec."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox_helpers import Client, serve


@pytest.fixture
def call() -> Iterator[Client]:
    yield from serve()


def new_profile(call: Client, email: str, **attrs: object) -> str:
    r = call("POST", "/api/profiles", {"data": {"type": "profile", "attributes": {"email": email, **attrs}}})
    assert r.status_code == 201
    return r.json()["data"]["id"]


def new_list(call: Client, name: str = "Newsletter", opt_in: str | None = None) -> str:
    attrs = {"name": name} if opt_in is None else {"name": name, "opt_in_process": opt_in}
    r = call("POST", "/api/lists", {"data": {"type": "list", "attributes": attrs}})
    assert r.status_code == 201
    return r.json()["data"]["id"]


def members(list_id: str, *ids: str) -> dict:
    return {"data": [{"type": "profile", "id": pid} for pid in ids]}


def test_list_crud(call: Client) -> None:
    list_id = new_list(call)
    doc = call("GET", f"/api/lists/{list_id}").json()["data"]
    assert len(list_id) == 6 and doc["attributes"]["name"] == "Newsletter"
    assert doc["attributes"]["opt_in_process"] == "single_opt_in"  # the sandbox account's default
    other = new_list(call, "VIP", "double_opt_in")
    patch = {"data": {"type": "list", "id": other, "attributes": {"name": "VIPs"}}}
    attrs = call("PATCH", f"/api/lists/{other}", patch).json()["data"]["attributes"]
    assert (attrs["name"], attrs["opt_in_process"]) == ("VIPs", "double_opt_in")
    page = call("GET", "/api/lists", params={"filter": "equals(name,['VIPs'])"}).json()
    assert [d["id"] for d in page["data"]] == [other]
    sorted_page = call("GET", "/api/lists", params={"sort": "-name", "page[size]": "1"}).json()
    assert [d["id"] for d in sorted_page["data"]] == [other] and "next" in sorted_page["links"]
    assert call("DELETE", f"/api/lists/{other}").status_code == 204
    assert call("GET", f"/api/lists/{other}").status_code == 404
    assert call("DELETE", f"/api/lists/{other}").status_code == 404


@pytest.mark.parametrize(
    ("attributes", "pointer"),
    [
        ({}, "/data/attributes/name"),
        ({"name": "x", "opt_in_process": "triple"}, "/data/attributes/opt_in_process"),
        ({"name": "x", "color": "red"}, "/data/attributes/color"),
    ],
)
def test_bad_list_bodies_are_400(call: Client, attributes: dict, pointer: str) -> None:
    r = call("POST", "/api/lists", {"data": {"type": "list", "attributes": attributes}}, check=False)
    assert r.status_code == 400 and r.json()["errors"][0]["source"]["pointer"] == pointer


def test_membership_joined_at_count_filters_and_limits(call: Client) -> None:
    list_id = new_list(call)
    a = new_profile(call, "a@example.com")
    b = new_profile(call, "b@example.com")
    assert (
        call("POST", f"/api/lists/{list_id}/relationships/profiles", members(list_id, a, b, a)).status_code
        == 204
    )
    page = call("GET", f"/api/lists/{list_id}/profiles").json()
    assert [d["id"] for d in page["data"]] == [a, b]
    assert all(d["attributes"]["joined_group_at"] for d in page["data"])
    only_b = call(
        "GET", f"/api/lists/{list_id}/profiles", params={"filter": "any(email,['b@example.com'])"}
    ).json()
    assert [d["id"] for d in only_b["data"]] == [b]
    sparse = call(
        "GET",
        f"/api/lists/{list_id}/profiles",
        params={"fields[profile]": "email,joined_group_at"},
        sparse=True,
    ).json()
    assert set(sparse["data"][0]["attributes"]) == {"email", "joined_group_at"}
    counted = call("GET", f"/api/lists/{list_id}", params={"additional-fields[list]": "profile_count"}).json()
    assert counted["data"]["attributes"]["profile_count"] == 2
    included = call("GET", f"/api/profiles/{a}", params={"include": "lists"}).json()
    assert included["data"]["relationships"]["lists"]["data"] == [{"type": "list", "id": list_id}]

    assert (
        call("DELETE", f"/api/lists/{list_id}/relationships/profiles", members(list_id, a)).status_code == 204
    )
    page = call("GET", f"/api/lists/{list_id}/profiles").json()
    assert [d["id"] for d in page["data"]] == [b]

    too_many = {"data": [{"type": "profile", "id": b}] * 1001}
    r = call("POST", f"/api/lists/{list_id}/relationships/profiles", too_many, check=False)
    assert r.status_code == 400 and "1000" in r.json()["errors"][0]["detail"]
    r = call("POST", f"/api/lists/{list_id}/relationships/profiles", members(list_id, "01NOPE"))
    assert r.status_code == 404 and "01NOPE" in r.json()["errors"][0]["detail"]
    assert call("POST", "/api/lists/zzzzzz/relationships/profiles", members("x", b)).status_code == 404
    # deleting a list keeps its profiles
    assert call("DELETE", f"/api/lists/{list_id}").status_code == 204
    assert call("GET", f"/api/profiles/{b}").status_code == 200


def segment_body(name: str, groups: list) -> dict:
    return {
        "data": {"type": "segment", "attributes": {"name": name, "definition": {"condition_groups": groups}}}
    }


def test_segment_membership_is_evaluated(call: Client) -> None:
    list_id = new_list(call)
    gold = new_profile(call, "gold@example.com", properties={"plan": "gold", "seats": 12}, first_name="Ann")
    silver = new_profile(call, "silver@example.com", properties={"plan": "silver", "seats": 3})
    none = new_profile(call, "none@example.com")
    call("POST", f"/api/lists/{list_id}/relationships/profiles", members(list_id, gold, silver))
    in_list = {"type": "profile-group-membership", "is_member": True, "group_ids": [list_id]}
    big = {
        "type": "profile-property",
        "property": "properties['seats']",
        "filter": {"type": "numeric", "operator": "greater-than", "value": 10},
    }
    silver_plan = {
        "type": "profile-property",
        "property": "properties['plan']",
        "filter": {"type": "string", "operator": "equals", "value": "SILVER"},
    }
    # (in the list) AND (more than 10 seats OR silver plan)
    r = call(
        "POST",
        "/api/segments",
        segment_body("Customers", [{"conditions": [in_list]}, {"conditions": [big, silver_plan]}]),
    )
    assert r.status_code == 201
    segment = r.json()["data"]
    assert segment["attributes"]["is_active"] is True and segment["attributes"]["is_starred"] is False
    ids = [d["id"] for d in call("GET", f"/api/segments/{segment['id']}/profiles").json()["data"]]
    assert ids == [gold, silver]

    not_in_list = {"type": "profile-group-membership", "is_member": False, "group_ids": [list_id]}
    outsiders = call(
        "POST", "/api/segments", segment_body("Outsiders", [{"conditions": [not_in_list]}])
    ).json()["data"]
    assert [d["id"] for d in call("GET", f"/api/segments/{outsiders['id']}/profiles").json()["data"]] == [
        none
    ]

    # a segment of a segment, and a property condition on a well-known field
    named = {
        "type": "profile-property",
        "property": "first_name",
        "filter": {"type": "existence", "operator": "is-set"},
    }
    nested = [
        {
            "conditions": [
                {"type": "profile-group-membership", "is_member": True, "group_ids": [segment["id"]]}
            ]
        },
        {"conditions": [named]},
    ]
    inner = call("POST", "/api/segments", segment_body("Named customers", nested)).json()["data"]
    assert [d["id"] for d in call("GET", f"/api/segments/{inner['id']}/profiles").json()["data"]] == [gold]
    counted = call(
        "GET", f"/api/segments/{segment['id']}", params={"additional-fields[segment]": "profile_count"}
    ).json()
    assert counted["data"]["attributes"]["profile_count"] == 2
    included = call("GET", f"/api/profiles/{gold}", params={"include": "segments"}).json()
    assert {"type": "segment", "id": segment["id"]} in included["data"]["relationships"]["segments"]["data"]

    # membership follows the data: removing silver from the list drops it from the segment
    call("DELETE", f"/api/lists/{list_id}/relationships/profiles", members(list_id, silver))
    assert [d["id"] for d in call("GET", f"/api/segments/{segment['id']}/profiles").json()["data"]] == [gold]


def test_segment_update_rules_and_listing(call: Client) -> None:
    list_id = new_list(call)
    groups = [
        {"conditions": [{"type": "profile-group-membership", "is_member": True, "group_ids": [list_id]}]}
    ]
    seg = call("POST", "/api/segments", segment_body("S", groups)).json()["data"]["id"]
    star = {"data": {"type": "segment", "id": seg, "attributes": {"is_starred": True, "name": "Starred"}}}
    assert call("PATCH", f"/api/segments/{seg}", star).json()["data"]["attributes"]["is_starred"] is True
    both = {"data": {"type": "segment", "id": seg, "attributes": {"is_active": False, "name": "x"}}}
    r = call("PATCH", f"/api/segments/{seg}", both)
    assert r.status_code == 400 and "only attribute" in r.json()["errors"][0]["detail"]
    off = {"data": {"type": "segment", "id": seg, "attributes": {"is_active": False}}}
    assert call("PATCH", f"/api/segments/{seg}", off).json()["data"]["attributes"]["is_active"] is False
    starred = call("GET", "/api/segments", params={"filter": "equals(is_starred,true)"}).json()["data"]
    assert [d["id"] for d in starred] == [seg]
    inactive = call("GET", "/api/segments", params={"filter": "equals(is_active,false)"}).json()["data"]
    assert [d["id"] for d in inactive] == [seg]
    assert call("DELETE", f"/api/segments/{seg}").status_code == 204
    assert call("GET", f"/api/segments/{seg}").status_code == 404


@pytest.mark.parametrize(
    ("groups", "fragment"),
    [
        ([], "must not be empty"),
        ([{"conditions": []}], "non-empty 'conditions'"),
        ([{"conditions": [{"type": "profile-shoe-size"}]}], "'profile-shoe-size' is not one of"),
        (
            [{"conditions": [{"type": "profile-property", "property": "email"}]}],
            "'filter' is a required property",
        ),
        (
            [
                {
                    "conditions": [
                        {"type": "profile-group-membership", "is_member": True, "group_ids": ["nope00"]}
                    ]
                }
            ],
            "not a list or segment",
        ),
    ],
)
def test_bad_segment_definitions_are_400(call: Client, groups: list, fragment: str) -> None:
    r = call("POST", "/api/segments", segment_body("S", groups), check=False)
    assert r.status_code == 400 and fragment in r.json()["errors"][0]["detail"]
