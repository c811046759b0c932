"""Find steps: Find Profile, Find Or Create Profile, Find List / Segment / Tag By Name, Is Profile
In List / Segment. Unit tests against a mocked Klaviyo (every request validated against the spec
at teardown), then the same steps end to end against the sandbox over HTTP."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import responses
from conftest import BASE, body, document, refused, run
from klaviyo_connector.errors import KlaviyoError
from sandbox_helpers import Client


def query(call: Any) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True))


def profile(pid: str, **attributes: Any) -> dict[str, Any]:
    return {
        "type": "profile",
        "id": pid,
        "attributes": attributes,
        "links": {"self": f"{BASE}/api/profiles/{pid}/"},
    }


def page(items: list[dict[str, Any]], nxt: str | None = None) -> dict[str, Any]:
    links = {"self": f"{BASE}/x"}
    if nxt:
        links["next"] = nxt
    return {"data": items, "links": links}


def named(rtype: str, rid: str, name: str, **attributes: Any) -> dict[str, Any]:
    return {
        "type": rtype,
        "id": rid,
        "attributes": {"name": name, **attributes},
        "links": {"self": f"{BASE}/"},
    }


# -- Find Profile ----------------------------------------------------------------------------------


def test_find_profile_by_email_looks_up_both_spellings(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/profiles", json=page([profile("01A", email="ann@example.com")]))
    out = run(runner, "findProfile", {"email": "Ann@Example.com"})["data"]
    assert query(klaviyo.calls[0]) == {
        "filter": "any(email,['Ann@example.com','ann@example.com'])",
        "sort": "created",
        "page[size]": "100",
    }
    assert out == {
        "data": profile("01A", email="ann@example.com"),
        "found": True,
        "match_count": 1,
        "match_ids": ["01A"],
        "matched_by": "email",
    }


def test_find_profile_not_found_is_a_result_after_trying_each_identifier(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/profiles", json=page([]))
    out = run(
        runner, "findProfile", {"email": "ann@example.com", "phoneNumber": "+15005550006", "externalId": "42"}
    )["data"]
    assert [query(c)["filter"] for c in klaviyo.calls] == [
        "equals(email,'ann@example.com')",
        "equals(phone_number,'+15005550006')",
        "equals(external_id,'42')",
    ]
    assert out == {"data": None, "found": False, "match_count": 0, "match_ids": [], "matched_by": None}


def test_find_profile_falls_back_to_the_phone_number_and_keeps_it_in_the_fields(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/profiles", json=page([]))
    klaviyo.add(
        "GET",
        f"{BASE}/api/profiles",
        json=page([profile("01B", first_name="Bo", phone_number="+15005550006")]),
    )
    out = run(
        runner,
        "findProfile",
        {
            "email": "bo@example.com",
            "phoneNumber": "+1 (500) 555-0006",
            "fields": "first_name",
            "additionalFields": "subscriptions",
        },
    )["data"]
    first, second = (query(c) for c in klaviyo.calls)
    assert (
        first["fields[profile]"] == "first_name,email"
        and first["additional-fields[profile]"] == "subscriptions"
    )
    assert second["fields[profile]"] == "first_name,phone_number"
    assert second["filter"] == "equals(phone_number,'+15005550006')"
    assert out["matched_by"] == "phone_number" and out["data"]["id"] == "01B"


def test_find_profile_ignores_a_near_match_the_server_returns(runner, klaviyo):
    # A server matching loosely (another email) must not make a false "found".
    klaviyo.add("GET", f"{BASE}/api/profiles", json=page([profile("01C", email="other@example.com")]))
    out = run(runner, "findProfile", {"email": "ann@example.com"})["data"]
    assert out["found"] is False and out["data"] is None


def test_find_profile_needs_an_identifier(runner, klaviyo):
    err = refused(runner, klaviyo, "findProfile", {"fields": "email"})
    assert "give at least one of Email, Phone Number or External ID" in err.message


def test_find_profile_checks_fields_against_the_spec(runner, klaviyo):
    err = refused(runner, klaviyo, "findProfile", {"email": "a@example.com", "fields": "shoe_size"})
    assert "Fields" in err.message and "shoe_size not allowed" in err.message


# -- Find Or Create Profile ------------------------------------------------------------------------


def test_find_or_create_returns_the_profile_found_and_creates_nothing(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/profiles", json=page([profile("01A", email="ann@example.com")]))
    out = run(runner, "findOrCreateProfile", {"email": "ann@example.com", "firstName": "Ann"})["data"]
    assert [c.request.method for c in klaviyo.calls] == ["GET"]
    assert out["found"] is True and out["created"] is False and out["data"]["id"] == "01A"


def test_find_or_create_creates_with_every_field_when_none_matches(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/profiles", json=page([]))
    created = document("profile", "01N", {"email": "new@example.com", "first_name": "Nia"})
    klaviyo.add("POST", f"{BASE}/api/profiles", status=201, json=created)
    out = run(
        runner,
        "findOrCreateProfile",
        {
            "email": "new@example.com",
            "externalId": "X1",
            "firstName": "Nia",
            "additionalFields": "subscriptions",
        },
    )["data"]
    get_email, get_external, post = klaviyo.calls
    assert query(get_email)["filter"] == "equals(email,'new@example.com')"
    assert query(get_external)["filter"] == "equals(external_id,'X1')"
    assert query(post) == {"additional-fields[profile]": "subscriptions"}
    assert body(post) == {
        "data": {
            "type": "profile",
            "attributes": {"email": "new@example.com", "external_id": "X1", "first_name": "Nia"},
        }
    }
    assert out == {
        "data": created["data"],
        "found": False,
        "match_count": 0,
        "match_ids": [],
        "matched_by": None,
        "created": True,
    }


def test_find_or_create_returns_a_profile_made_meanwhile_instead_of_a_duplicate(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/profiles", json=page([]))
    conflict = {
        "errors": [
            {
                "id": "e",
                "status": 409,
                "code": "duplicate_profile",
                "title": "Conflict.",
                "detail": "A profile already exists with one of these identifiers.",
                "source": {"pointer": "/data/attributes"},
                "meta": {"duplicate_profile_id": "01RACE"},
            }
        ]
    }
    klaviyo.add("POST", f"{BASE}/api/profiles", status=409, json=conflict)
    klaviyo.add(
        "GET", f"{BASE}/api/profiles/01RACE", json=document("profile", "01RACE", {"email": "r@example.com"})
    )
    out = run(runner, "findOrCreateProfile", {"email": "r@example.com"})["data"]
    assert [(c.request.method, urlsplit(c.request.url).path) for c in klaviyo.calls] == [
        ("GET", "/api/profiles"),
        ("POST", "/api/profiles"),
        ("GET", "/api/profiles/01RACE"),
    ]
    assert out["found"] is True and out["created"] is False and out["match_ids"] == ["01RACE"]


def test_find_or_create_passes_on_other_create_errors(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/profiles", json=page([]))
    bad = {
        "errors": [
            {"id": "e", "status": 400, "code": "invalid", "title": "Invalid.", "detail": "Bad locale."}
        ]
    }
    klaviyo.add("POST", f"{BASE}/api/profiles", status=400, json=bad)
    with pytest.raises(KlaviyoError) as info:
        run(runner, "findOrCreateProfile", {"email": "r@example.com", "locale": "xx"})
    assert info.value.status == 400 and "Bad locale." in info.value.message
    assert len(klaviyo.calls) == 2


def test_find_or_create_needs_an_identifier(runner, klaviyo):
    err = refused(runner, klaviyo, "findOrCreateProfile", {"firstName": "Ann"})
    assert "Email" in err.message and "Phone Number" in err.message


# -- Find List / Segment / Tag By Name -------------------------------------------------------------


def test_find_list_by_name_reads_every_page_and_returns_the_oldest_exact_match(runner, klaviyo):
    nxt = f"{BASE}/api/lists?filter=equals%28name%2C%5B%27VIP%27%5D%29&page%5Bcursor%5D=c2"
    klaviyo.add(
        "GET",
        f"{BASE}/api/lists",
        json=page([named("list", "L1", "VIP"), named("list", "L2", "vip")], nxt),
        match=[
            responses.matchers.query_param_matcher(
                {"filter": "equals(name,['VIP'])", "sort": "created", "page[size]": "10"}
            )
        ],
    )
    klaviyo.add("GET", nxt, json=page([named("list", "L3", "VIP")]))
    out = run(runner, "findListByName", {"listName": "VIP"})["data"]
    assert out["data"]["id"] == "L1"
    assert out["found"] is True and out["match_count"] == 2 and out["match_ids"] == ["L1", "L3"]
    assert len(klaviyo.calls) == 2


def test_find_list_by_name_keeps_the_name_in_a_sparse_fieldset(runner, klaviyo):
    klaviyo.add(
        "GET", f"{BASE}/api/lists", json=page([named("list", "L1", "VIP", opt_in_process="single_opt_in")])
    )
    out = run(runner, "findListByName", {"listName": "VIP", "fields": "opt_in_process"})["data"]
    assert query(klaviyo.calls[0])["fields[list]"] == "opt_in_process,name"
    assert out["found"] is True


def test_find_segment_by_name_not_found_is_a_result(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/segments", json=page([]))
    out = run(runner, "findSegmentByName", {"segmentName": "Churn risk"})["data"]
    assert query(klaviyo.calls[0]) == {
        "filter": "equals(name,['Churn risk'])",
        "sort": "created",
        "page[size]": "10",
    }
    assert out == {"data": None, "found": False, "match_count": 0, "match_ids": []}


def test_find_tag_by_name_sorts_by_id_and_lists_every_match(runner, klaviyo):
    klaviyo.add(
        "GET", f"{BASE}/api/tags", json=page([named("tag", "a-1", "Summer"), named("tag", "b-2", "Summer")])
    )
    out = run(runner, "findTagByName", {"tagName": "Summer"})["data"]
    assert query(klaviyo.calls[0]) == {"filter": "equals(name,'Summer')", "sort": "id", "page[size]": "50"}
    assert out["data"]["id"] == "a-1" and out["match_ids"] == ["a-1", "b-2"] and out["match_count"] == 2


@pytest.mark.parametrize(
    ("key", "name", "label"),
    [("findListByName", "listName", "List Name"), ("findTagByName", "tagName", "Tag Name")],
)
def test_find_by_name_needs_a_name(runner, klaviyo, key, name, label):
    err = refused(runner, klaviyo, key, {name: ""})
    assert label in err.message


# -- Is Profile In List / Segment ------------------------------------------------------------------


def member(pid: str, joined: str = "2026-05-01T09:00:00+00:00", **attributes: Any) -> dict[str, Any]:
    return profile(pid, joined_group_at=joined, **attributes)


def test_is_profile_in_list_by_email(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/lists/L1/profiles", json=page([member("01A", email="ann@example.com")]))
    out = run(runner, "isProfileInList", {"listId": "L1", "email": "ann@example.com", "fields": "email"})[
        "data"
    ]
    assert query(klaviyo.calls[0]) == {
        "filter": "equals(email,['ann@example.com'])",
        "fields[profile]": "email,joined_group_at",
    }
    assert out == {
        "data": member("01A", email="ann@example.com"),
        "is_member": True,
        "list_id": "L1",
        "profile_id": "01A",
        "joined_group_at": "2026-05-01T09:00:00+00:00",
    }


def test_is_profile_in_list_not_a_member_is_a_result(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/lists/L1/profiles", json=page([]))
    out = run(runner, "isProfileInList", {"listId": "L1", "phoneNumber": "+15005550006"})["data"]
    assert query(klaviyo.calls[0]) == {"filter": "equals(phone_number,['+15005550006'])"}
    assert out == {
        "data": None,
        "is_member": False,
        "list_id": "L1",
        "profile_id": None,
        "joined_group_at": None,
    }


def test_is_profile_in_list_by_id_reads_the_profile_then_filters_by_its_email(runner, klaviyo):
    klaviyo.add(
        "GET", f"{BASE}/api/profiles/01A", json=document("profile", "01A", {"email": "ann@example.com"})
    )
    klaviyo.add("GET", f"{BASE}/api/lists/L1/profiles", json=page([member("01A", email="ann@example.com")]))
    out = run(runner, "isProfileInList", {"listId": "L1", "profileId": "01A"})["data"]
    assert query(klaviyo.calls[0]) == {"fields[profile]": "email,phone_number"}
    assert query(klaviyo.calls[1]) == {"filter": "equals(email,['ann@example.com'])"}
    assert out["is_member"] is True and out["profile_id"] == "01A"


def test_is_profile_in_list_by_id_without_email_or_phone_reads_its_memberships(runner, klaviyo):
    klaviyo.add(
        "GET",
        f"{BASE}/api/profiles/01A",
        json=document("profile", "01A", {"email": None, "phone_number": None}),
    )
    memberships = page([{"type": "list", "id": "L0"}, {"type": "list", "id": "L1"}])
    klaviyo.add("GET", f"{BASE}/api/profiles/01A/relationships/lists", json=memberships)
    out = run(runner, "isProfileInList", {"listId": "L1", "profileId": "01A"})["data"]
    assert out == {
        "data": None,
        "is_member": True,
        "list_id": "L1",
        "profile_id": "01A",
        "joined_group_at": None,
    }
    assert [urlsplit(c.request.url).path for c in klaviyo.calls] == [
        "/api/profiles/01A",
        "/api/profiles/01A/relationships/lists",
    ]


def test_is_profile_in_list_for_an_unknown_profile_is_false(runner, klaviyo):
    missing = {
        "errors": [
            {"id": "e", "status": 404, "code": "not_found", "title": "Not found.", "detail": "No profile."}
        ]
    }
    klaviyo.add("GET", f"{BASE}/api/profiles/01NOPE", status=404, json=missing)
    out = run(runner, "isProfileInList", {"listId": "L1", "profileId": "01NOPE"})["data"]
    assert out["is_member"] is False and len(klaviyo.calls) == 1


def test_is_profile_in_list_for_an_unknown_list_is_an_error(runner, klaviyo):
    missing = {
        "errors": [
            {"id": "e", "status": 404, "code": "not_found", "title": "Not found.", "detail": "No list."}
        ]
    }
    klaviyo.add("GET", f"{BASE}/api/lists/L9/profiles", status=404, json=missing)
    with pytest.raises(KlaviyoError) as info:
        run(runner, "isProfileInList", {"listId": "L9", "email": "ann@example.com"})
    assert info.value.status == 404


def test_is_profile_in_segment_by_id_is_one_request(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/segments/S1/profiles", json=page([member("01A")]))
    out = run(
        runner,
        "isProfileInSegment",
        {"segmentId": "S1", "profileId": "01A", "additionalFields": "subscriptions"},
    )["data"]
    assert query(klaviyo.calls[0]) == {
        "filter": "equals(profile_id,['01A'])",
        "additional-fields[profile]": "subscriptions",
    }
    assert out["is_member"] is True and out["segment_id"] == "S1" and out["joined_group_at"]


@pytest.mark.parametrize("given", [{}, {"email": "ann@example.com", "profileId": "01A"}], ids=["none", "two"])
def test_membership_needs_exactly_one_profile(runner, klaviyo, given):
    err = refused(runner, klaviyo, "isProfileInSegment", {"segmentId": "S1", **given})
    assert "exactly one of Profile ID, Email or Phone Number" in err.message


# -- end to end against the sandbox ----------------------------------------------------------------


def test_find_steps_against_the_sandbox(runner, sandbox_connection):
    def act(key: str, inputs: dict[str, Any]) -> Any:
        return run(runner, key, inputs, sandbox_connection)["data"]

    assert act("findProfile", {"email": "ann@example.com"})["found"] is False
    made = act("findOrCreateProfile", {"email": "ann@example.com", "firstName": "Ann"})
    assert made["created"] is True and made["data"]["attributes"]["first_name"] == "Ann"
    again = act("findOrCreateProfile", {"email": "ANN@example.com", "phoneNumber": "+15005550006"})
    assert again["created"] is False and again["data"]["id"] == made["data"]["id"]
    everyone = act("listProfile", {"fetchAll": True})["data"]
    assert [p["id"] for p in everyone] == [made["data"]["id"]]  # no duplicate
    found = act("findProfile", {"email": "ANN@example.com", "additionalFields": "subscriptions"})
    assert found["found"] is True and "subscriptions" in found["data"]["attributes"]

    vip = act("createList", {"listName": "VIP"})["data"]["id"]
    act("createList", {"listName": "VIP customers"})
    by_name = act("findListByName", {"listName": "VIP"})
    assert by_name["match_ids"] == [vip] and by_name["data"]["attributes"]["name"] == "VIP"
    assert act("findListByName", {"listName": "vip"})["found"] is False

    act("addProfilesToList", {"listId": vip, "profileIds": [made["data"]["id"]]})
    inside = act("isProfileInList", {"listId": vip, "profileId": made["data"]["id"]})
    assert inside["is_member"] is True and inside["joined_group_at"]
    assert act("isProfileInList", {"listId": vip, "email": "ann@example.com"})["is_member"] is True
    assert act("isProfileInList", {"listId": vip, "email": "bo@example.com"})["is_member"] is False

    groups = [{"conditions": [{"type": "profile-group-membership", "is_member": True, "group_ids": [vip]}]}]
    seg = act("createSegment", {"segmentName": "VIP members", "conditionGroups": groups})["data"]["id"]
    assert act("findSegmentByName", {"segmentName": "VIP members"})["match_ids"] == [seg]
    in_segment = act("isProfileInSegment", {"segmentId": seg, "profileId": made["data"]["id"]})
    assert in_segment["is_member"] is True
    assert act("isProfileInSegment", {"segmentId": seg, "phoneNumber": "+15005550009"})["is_member"] is False

    client = Client.of(sandbox_connection)
    tag = client("POST", "/api/tags", {"data": {"type": "tag", "attributes": {"name": "Summer"}}}).json()
    found_tag = act("findTagByName", {"tagName": "Summer"})
    assert found_tag["data"]["id"] == tag["data"]["id"] and found_tag["match_count"] == 1
    assert act("findTagByName", {"tagName": "Winter"}) == {
        "data": None,
        "found": False,
        "match_count": 0,
        "match_ids": [],
    }


@pytest.mark.parametrize(
    ("key", "inputs", "path", "param", "sent"),
    [
        (
            "findProfile",
            {"email": "a@example.com", "fields": "email,first_name"},
            "/api/profiles",
            "fields[profile]",
            "email,first_name",
        ),
        ("findListByName", {"listName": "VIP", "fields": "name"}, "/api/lists", "fields[list]", "name"),
        (
            "isProfileInList",
            {"listId": "L1", "email": "a@example.com", "fields": "joined_group_at,email"},
            "/api/lists/L1/profiles",
            "fields[profile]",
            "joined_group_at,email",
        ),
    ],
)
def test_a_fieldset_already_naming_the_key_is_sent_as_given(runner, klaviyo, key, inputs, path, param, sent):
    klaviyo.add("GET", f"{BASE}{path}", json=page([]))
    run(runner, key, inputs)
    assert query(klaviyo.calls[0])[param] == sent
