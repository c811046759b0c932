"""Sandbox consent jobs over real HTTP: subscribe (single / double opt-in), unsubscribe, suppress."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox_helpers import Client, serve

SUBSCRIBE = "/api/profile-subscription-bulk-create-jobs"
UNSUBSCRIBE = "/api/profile-subscription-bulk-delete-jobs"
SUPPRESS = "/api/profile-suppression-bulk-create-jobs"
UNSUPPRESS = "/api/profile-suppression-bulk-delete-jobs"
EVERYTHING = {"additional-fields[profile]": "subscriptions"}


@pytest.fixture
def call() -> Iterator[Client]:
    yield from serve()


def new_list(call: Client, opt_in: str) -> str:
    body = {"data": {"type": "list", "attributes": {"name": opt_in, "opt_in_process": opt_in}}}
    return call("POST", "/api/lists", body).json()["data"]["id"]


def job(
    kind: str, rows: list[dict], list_id: str | None = None, consent: str = "SUBSCRIBED", **attrs: object
) -> dict:
    profiles = [
        {
            "type": "profile",
            "attributes": {**row, "subscriptions": {"email": {"marketing": {"consent": consent}}}},
        }
        for row in rows
    ]
    data: dict = {"type": kind, "attributes": {"profiles": {"data": profiles}, **attrs}}
    if list_id:
        data["relationships"] = {"list": {"data": {"type": "list", "id": list_id}}}
    return {"data": data}


def profile_by_email(call: Client, email: str) -> dict:
    found = call("GET", "/api/profiles", params={"filter": f"equals(email,'{email}')", **EVERYTHING}).json()[
        "data"
    ]
    assert len(found) == 1
    return found[0]


def marketing(profile: dict) -> dict:
    return profile["attributes"]["subscriptions"]["email"]["marketing"]


def list_member_ids(call: Client, list_id: str) -> list[str]:
    return [d["id"] for d in call("GET", f"/api/lists/{list_id}/profiles").json()["data"]]


def test_single_opt_in_subscribes_creates_and_adds_to_list(call: Client) -> None:
    list_id = new_list(call, "single_opt_in")
    r = call(
        "POST",
        SUBSCRIBE,
        job(
            "profile-subscription-bulk-create-job",
            [{"email": "a@example.com"}],
            list_id,
            custom_source="Fair",
        ),
    )
    assert r.status_code == 202 and not r.content
    profile = profile_by_email(call, "a@example.com")
    assert (
        marketing(profile)["consent"] == "SUBSCRIBED"
        and marketing(profile)["can_receive_email_marketing"] is True
    )
    assert marketing(profile)["method_detail"] == "Fair"
    assert list_member_ids(call, list_id) == [profile["id"]]


def test_double_opt_in_stays_pending_until_confirmed(call: Client) -> None:
    list_id = new_list(call, "double_opt_in")
    call(
        "POST", SUBSCRIBE, job("profile-subscription-bulk-create-job", [{"email": "d@example.com"}], list_id)
    )
    profile = profile_by_email(call, "d@example.com")
    assert marketing(profile)["consent"] == "NEVER_SUBSCRIBED"
    assert list_member_ids(call, list_id) == []
    pending = call("GET", "/sandbox/pending-subscriptions").json()["data"]
    assert [(p["attributes"]["profile_id"], p["attributes"]["list_id"]) for p in pending] == [
        (profile["id"], list_id)
    ]
    assert call("POST", f"/sandbox/pending-subscriptions/{pending[0]['id']}/confirm").status_code == 204
    confirmed = profile_by_email(call, "d@example.com")
    assert marketing(confirmed)["consent"] == "SUBSCRIBED" and marketing(confirmed)["double_optin"] is True
    assert list_member_ids(call, list_id) == [profile["id"]]
    assert call("GET", "/sandbox/pending-subscriptions").json()["data"] == []


def test_historical_import_skips_double_opt_in(call: Client) -> None:
    list_id = new_list(call, "double_opt_in")
    body = job(
        "profile-subscription-bulk-create-job", [{"email": "h@example.com"}], list_id, historical_import=True
    )
    body["data"]["attributes"]["profiles"]["data"][0]["attributes"]["subscriptions"]["email"]["marketing"][
        "consented_at"
    ] = "2024-01-01T00:00:00Z"
    assert call("POST", SUBSCRIBE, body).status_code == 202
    profile = profile_by_email(call, "h@example.com")
    assert marketing(profile)["consent"] == "SUBSCRIBED" and list_member_ids(call, list_id) == [profile["id"]]


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (
            lambda b: b["data"]["attributes"]["profiles"]["data"][0]["attributes"].update(last_name="X"),
            "'last_name' is not a valid field",
        ),
        (
            lambda b: b["data"]["attributes"]["profiles"]["data"][0]["attributes"]["subscriptions"].update(
                sms={"marketing": {"consent": "SUBSCRIBED"}}
            ),
            "'phone_number' must not be empty when the sms channel",
        ),
        (lambda b: b["data"]["attributes"].update(historical_import=True), "consented_at"),
        (
            lambda b: b["data"]["attributes"]["profiles"]["data"][0]["attributes"].update(email="nope"),
            "Invalid email",
        ),
        (
            lambda b: b["data"]["attributes"]["profiles"].update(
                data=b["data"]["attributes"]["profiles"]["data"] * 1001
            ),
            "1000",
        ),
    ],
)
def test_bad_subscribe_jobs_are_400(call: Client, mutate, fragment: str) -> None:
    body = job("profile-subscription-bulk-create-job", [{"email": "a@example.com"}])
    mutate(body)
    r = call("POST", SUBSCRIBE, body, check=False)
    assert r.status_code == 400 and fragment in r.json()["errors"][0]["detail"]


def test_subscribe_to_a_missing_list_is_404(call: Client) -> None:
    r = call(
        "POST", SUBSCRIBE, job("profile-subscription-bulk-create-job", [{"email": "a@example.com"}], "zzzzzz")
    )
    assert r.status_code == 404


def test_unsubscribe_global_and_from_a_list(call: Client) -> None:
    list_id = new_list(call, "single_opt_in")
    rows = [{"email": "in@example.com"}, {"email": "out@example.com"}]
    call("POST", SUBSCRIBE, job("profile-subscription-bulk-create-job", rows))
    member = profile_by_email(call, "in@example.com")["id"]
    call(
        "POST", f"/api/lists/{list_id}/relationships/profiles", {"data": [{"type": "profile", "id": member}]}
    )
    r = call(
        "POST",
        UNSUBSCRIBE,
        job("profile-subscription-bulk-delete-job", rows, list_id, consent="UNSUBSCRIBED"),
    )
    assert r.status_code == 202
    inside = profile_by_email(call, "in@example.com")
    outside = profile_by_email(call, "out@example.com")
    assert marketing(inside)["consent"] == "SUBSCRIBED"  # only left the list
    assert [s["list_id"] for s in marketing(inside)["list_suppressions"]] == [list_id]
    assert list_member_ids(call, list_id) == []
    assert marketing(outside)["consent"] == "UNSUBSCRIBED"  # not on the list: global
    assert marketing(outside)["can_receive_email_marketing"] is False
    too_many = job(
        "profile-subscription-bulk-delete-job",
        [{"email": f"p{i}@example.com"} for i in range(101)],
        consent="UNSUBSCRIBED",
    )
    r = call("POST", UNSUBSCRIBE, too_many, check=False)
    assert r.status_code == 400 and "100" in r.json()["errors"][0]["detail"]


def test_suppress_and_unsuppress_jobs(call: Client) -> None:
    call("POST", SUBSCRIBE, job("profile-subscription-bulk-create-job", [{"email": "s@example.com"}]))
    body = {
        "data": {
            "type": "profile-suppression-bulk-create-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {"type": "profile", "attributes": {"email": "s@example.com"}},
                        {"type": "profile", "attributes": {"email": "new@example.com"}},
                    ]
                }
            },
        }
    }
    r = call("POST", SUPPRESS, body)
    assert r.status_code == 202
    created = r.json()["data"]
    assert created["attributes"]["total_count"] == 2 and created["attributes"]["status"] == "complete"
    fetched = call("GET", f"{SUPPRESS}/{created['id']}").json()["data"]
    assert fetched["id"] == created["id"]
    profile = profile_by_email(call, "s@example.com")
    assert [s["reason"] for s in marketing(profile)["suppression"]] == ["USER_SUPPRESSED"]
    assert marketing(profile)["can_receive_email_marketing"] is False
    assert (
        marketing(profile_by_email(call, "new@example.com"))["suppression"][0]["reason"] == "USER_SUPPRESSED"
    )

    list_id = new_list(call, "single_opt_in")
    call(
        "POST",
        f"/api/lists/{list_id}/relationships/profiles",
        {"data": [{"type": "profile", "id": profile["id"]}]},
    )
    undo = {
        "data": {
            "type": "profile-suppression-bulk-delete-job",
            "attributes": {},
            "relationships": {"list": {"data": {"type": "list", "id": list_id}}},
        }
    }
    r = call("POST", UNSUPPRESS, undo)
    assert r.status_code == 202 and r.json()["data"]["attributes"]["completed_count"] == 1
    assert r.json()["data"]["relationships"]["lists"]["data"] == [{"type": "list", "id": list_id}]
    profile = profile_by_email(call, "s@example.com")
    assert (
        marketing(profile)["suppression"] == [] and marketing(profile)["can_receive_email_marketing"] is True
    )
    assert call("GET", f"{UNSUPPRESS}/{r.json()['data']['id']}").status_code == 200
    assert call("GET", f"{UNSUPPRESS}/01NOPE").status_code == 404

    neither = {"data": {"type": "profile-suppression-bulk-create-job", "attributes": {}}}
    r = call("POST", SUPPRESS, neither, check=False)
    assert r.status_code == 400 and "exactly one" in r.json()["errors"][0]["detail"]
