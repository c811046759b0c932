"""List actions against a mocked Klaviyo: bodies, queries, batching, email resolution, errors."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import BASE, body, run
from klaviyo_connector.errors import KlaviyoError
from responses import matchers

LIST = {
    "data": {
        "type": "list",
        "id": "RE83th",
        "attributes": {"name": "Newsletter", "opt_in_process": "double_opt_in"},
        "links": {"self": f"{BASE}/api/lists/RE83th/"},
    }
}


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def profile(pid: str, email: str) -> dict:
    return {"type": "profile", "id": pid, "attributes": {"email": email}, "links": {"self": "x"}}


def test_create_list_sends_name_and_opt_in(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/lists", status=201, json=LIST)
    out = run(runner, "createList", {"listName": "Newsletter", "optInProcess": "double_opt_in"})
    assert out == {"data": LIST}
    call = klaviyo.calls[0]
    assert call.request.headers["Content-Type"] == "application/vnd.api+json"
    assert body(call) == {
        "data": {"type": "list", "attributes": {"name": "Newsletter", "opt_in_process": "double_opt_in"}}
    }


def test_create_list_leaves_opt_in_to_the_account_default(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/lists", status=201, json=LIST)
    run(runner, "createList", {"listName": "Newsletter", "optInProcess": ""})
    assert body(klaviyo.calls[0]) == {"data": {"type": "list", "attributes": {"name": "Newsletter"}}}


@pytest.mark.parametrize(
    ("inputs", "label", "fragment"),
    [
        ({"listName": "N", "optInProcess": "triple"}, "Opt-in Process", "single_opt_in"),
        ({}, "List Name", "required"),
    ],
)
def test_create_list_bad_input_is_refused(runner, klaviyo, inputs, label, fragment):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "createList", inputs)
    assert info.value.field == label and fragment in info.value.message
    assert not klaviyo.calls


def test_get_list_with_fields_include_and_profile_count(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/lists/RE83th", json=LIST)
    run(
        runner,
        "getList",
        {"listId": "RE83th", "fields": "name,opt_in_process", "include": "tags", "includeProfileCount": True},
    )
    assert query(klaviyo.calls[0]) == {
        "fields[list]": ["name,opt_in_process"],
        "include": ["tags"],
        "additional-fields[list]": ["profile_count"],
    }


def test_get_list_rejects_unknown_include(runner, klaviyo):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "getList", {"listId": "RE83th", "include": "profiles"})
    assert info.value.field == "Include" and "flow-triggers, tags" in info.value.message
    assert not klaviyo.calls


def test_list_lists_clamps_page_size_to_ten_and_filters(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/lists", json={"data": [LIST["data"]], "links": {"self": "x"}})
    out = run(runner, "listLists", {"filter": "any(name,['Newsletter'])", "pageSize": 50, "sort": "-created"})
    assert query(klaviyo.calls[0]) == {
        "filter": ["any(name,['Newsletter'])"],
        "sort": ["-created"],
        "page[size]": ["10"],
    }
    assert out["data"]["data"][0]["id"] == "RE83th" and out["data"]["meta"]["next_cursor"] is None


def test_update_list_patches_name_with_id(runner, klaviyo):
    klaviyo.add("PATCH", f"{BASE}/api/lists/RE83th", json=LIST)
    run(runner, "updateList", {"listId": "RE83th", "listName": "Weekly"})
    assert body(klaviyo.calls[0]) == {
        "data": {"type": "list", "id": "RE83th", "attributes": {"name": "Weekly"}}
    }


def test_update_list_needs_something_to_change(runner, klaviyo):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "updateList", {"listId": "RE83th"})
    assert "List Name or an Opt-in Process" in info.value.message and not klaviyo.calls


def test_delete_list_acknowledges_the_204(runner, klaviyo):
    klaviyo.add("DELETE", f"{BASE}/api/lists/RE83th", status=204)
    out = run(runner, "deleteList", {"listId": "RE83th"})["data"]
    assert out["status"] == 204 and out["asynchronous"] is False and "RE83th" in out["accepted"]


def test_delete_unknown_list_reports_klaviyo_404(runner, klaviyo):
    error = {
        "errors": [{"id": "e", "code": "not_found", "title": "Not found", "detail": "List does not exist."}]
    }
    klaviyo.add("DELETE", f"{BASE}/api/lists/nope", status=404, json=error)
    with pytest.raises(KlaviyoError) as info:
        run(runner, "deleteList", {"listId": "nope"})
    assert info.value.status == 404 and "List does not exist." in info.value.message


def test_list_list_profiles_uses_page_size_100_and_sparse_fields(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/lists/RE83th/profiles", json={"data": [], "links": {"self": "x"}})
    run(
        runner,
        "listListProfiles",
        {
            "listId": "RE83th",
            "fields": "email,joined_group_at",
            "additionalFields": "subscriptions",
            "pageSize": 500,
            "filter": "greater-than(joined_group_at,2024-01-01T00:00:00Z)",
        },
    )
    assert query(klaviyo.calls[0]) == {
        "fields[profile]": ["email,joined_group_at"],
        "additional-fields[profile]": ["subscriptions"],
        "filter": ["greater-than(joined_group_at,2024-01-01T00:00:00Z)"],
        "page[size]": ["100"],
    }


def test_add_profile_ids_split_into_calls_of_1000(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/lists/RE83th/relationships/profiles", status=204)
    ids = [f"P{i:05d}" for i in range(2500)]
    events = []
    out = runner.run_action(
        "klaviyo",
        "addProfilesToList",
        connection={"key": "apiKey", "fields": {"apiKey": "pk_test_0123456789abcdefghijklmnop"}},
        inputs={"listId": "RE83th", "profileIds": ids + ids[:3]},
        progress=lambda event, info: events.append((event, dict(info))),
    )["data"]
    sizes = [len(body(c)["data"]) for c in klaviyo.calls]
    assert sizes == [1000, 1000, 500]
    assert body(klaviyo.calls[0])["data"][0] == {"type": "profile", "id": "P00000"}
    assert [d["id"] for c in klaviyo.calls for d in body(c)["data"]] == ids
    assert out["added"] == 2500 and out["requests"] == 3 and "consent" in out
    assert "unchanged" in out["consent"] and "created_emails" not in out
    assert [e for e in events if e[0] == "batches"][-1] == (
        "batches",
        {"batch": 3, "of": 3, "profiles": 2500},
    )


def test_add_by_email_resolves_and_creates_missing(runner, klaviyo):
    klaviyo.add(
        "GET",
        f"{BASE}/api/profiles",
        json={"data": [profile("01KNOWN", "known@example.com")], "links": {"self": "x"}},
    )
    klaviyo.add(
        "POST",
        f"{BASE}/api/profile-import",
        status=201,
        json={"data": {"type": "profile", "id": "01NEW", "attributes": {"email": "new@example.com"}}},
    )
    klaviyo.add("POST", f"{BASE}/api/lists/RE83th/relationships/profiles", status=204)
    out = run(
        runner, "addProfilesToList", {"listId": "RE83th", "emails": "Known@example.com, new@example.com"}
    )["data"]
    lookup, create, add = klaviyo.calls
    assert query(lookup) == {
        "filter": ["any(email,['Known@example.com','known@example.com','new@example.com'])"],
        "fields[profile]": ["email"],
        "page[size]": ["100"],
    }
    assert body(create) == {"data": {"type": "profile", "attributes": {"email": "new@example.com"}}}
    assert body(add) == {"data": [{"type": "profile", "id": "01KNOWN"}, {"type": "profile", "id": "01NEW"}]}
    assert out["created_emails"] == ["new@example.com"] and out["added"] == 2
    assert out["profile_ids"] == ["01KNOWN", "01NEW"]


def test_email_lookups_go_100_at_a_time(runner, klaviyo):
    emails = [f"p{i}@example.com" for i in range(150)]
    existing = {"data": [profile(f"ID{i}", e) for i, e in enumerate(emails)], "links": {"self": "x"}}
    klaviyo.add("GET", f"{BASE}/api/profiles", json=existing)
    klaviyo.add("POST", f"{BASE}/api/lists/RE83th/relationships/profiles", status=204)
    run(runner, "addProfilesToList", {"listId": "RE83th", "emails": emails})
    gets = [c for c in klaviyo.calls if c.request.method == "GET"]
    assert len(gets) == 2
    assert query(gets[0])["filter"][0].count("@") == 100 and query(gets[1])["filter"][0].count("@") == 50
    assert not [c for c in klaviyo.calls if "profile-import" in c.request.url]


@pytest.mark.parametrize(
    "inputs",
    [
        {"listId": "RE83th"},
        {"listId": "RE83th", "profileIds": ["A"], "emails": ["a@example.com"]},
        {"listId": "RE83th", "profileIds": []},
    ],
)
def test_members_need_exactly_one_of_ids_or_emails(runner, klaviyo, inputs):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "addProfilesToList", inputs)
    assert "either Profile IDs or Emails" in info.value.message and not klaviyo.calls


def test_bad_email_is_refused_before_any_request(runner, klaviyo):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "addProfilesToList", {"listId": "RE83th", "emails": ["ok@example.com", "nope"]})
    assert info.value.field == "Emails[1]" and not klaviyo.calls


def test_remove_by_email_skips_unknown_and_sends_delete_with_body(runner, klaviyo):
    klaviyo.add(
        "GET",
        f"{BASE}/api/profiles",
        json={"data": [profile("01A", "a@example.com")], "links": {"self": "x"}},
    )
    klaviyo.add(
        "DELETE",
        f"{BASE}/api/lists/RE83th/relationships/profiles",
        status=204,
        match=[matchers.json_params_matcher({"data": [{"type": "profile", "id": "01A"}]})],
    )
    out = run(
        runner,
        "removeProfilesFromList",
        {"listId": "RE83th", "emails": ["a@example.com", "ghost@example.com"]},
    )["data"]
    assert out["removed"] == 1 and out["emails_without_profile"] == ["ghost@example.com"]
    assert klaviyo.calls[1].request.method == "DELETE"
    assert not [c for c in klaviyo.calls if "profile-import" in c.request.url]


def test_remove_with_no_matching_profile_sends_nothing_to_the_list(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/profiles", json={"data": [], "links": {"self": "x"}})
    out = run(runner, "removeProfilesFromList", {"listId": "RE83th", "emails": ["ghost@example.com"]})["data"]
    assert out["removed"] == 0 and out["requests"] == 0 and len(klaviyo.calls) == 1


def test_action_flags():
    from klaviyo_connector.component import component

    actions = component.actions
    assert actions["getList"].read_only and actions["listListProfiles"].read_only
    assert actions["deleteList"].destructive and actions["removeProfilesFromList"].destructive
    assert not actions["createList"].idempotent and not actions["addProfilesToList"].read_only
    assert set(actions["addProfilesToList"].scopes) >= {"lists:write", "profiles:write", "profiles:read"}
