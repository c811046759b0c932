"""The sandbox's /client/* writes land in the account company_id names, as Klaviyo's do: a
profile or event sent from a browser is there for the private API to read."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from klaviyo_connector.sandbox import Sandbox, SandboxOptions
from sandbox_helpers import Client, FakeClock

CLIENT_HEADERS = {"revision": "2026-07-15", "Content-Type": "application/vnd.api+json"}


@pytest.fixture
def api() -> Iterator[Client]:
    with Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=0, clock=FakeClock())) as box:
        assert box.base_url is not None
        yield Client(box.base_url)


def company(api: Client) -> str:
    return str(api("GET", "/api/accounts").json()["data"][0]["id"])


def send(api: Client, path: str, body: Any, company_id: str) -> Any:
    return api("POST", path, body, params={"company_id": company_id}, headers=CLIENT_HEADERS)


def viewed(**profile: Any) -> dict[str, Any]:
    return {
        "type": "event",
        "attributes": {
            "properties": {"product": "Shirt"},
            "metric": {"data": {"type": "metric", "attributes": {"name": "Viewed Product"}}},
            **({"profile": {"data": {"type": "profile", "attributes": profile}}} if profile else {}),
        },
    }


def test_a_client_profile_is_created_then_updated_by_its_email(api: Client) -> None:
    account = company(api)
    body = {"data": {"type": "profile", "attributes": {"email": "mia@example.com", "first_name": "Mia"}}}
    assert send(api, "/client/profiles", body, account).status_code == 202
    body["data"]["attributes"]["last_name"] = "Wong"
    assert send(api, "/client/profiles", body, account).status_code == 202
    profiles = api("GET", "/api/profiles").json()["data"]
    assert [(p["attributes"]["email"], p["attributes"]["last_name"]) for p in profiles] == [
        ("mia@example.com", "Wong")
    ]


def test_client_events_single_and_bulk_are_stored_with_their_profiles(api: Client) -> None:
    account = company(api)
    assert send(api, "/client/events", {"data": viewed(email="mia@example.com")}, account).status_code == 202
    bulk = {
        "data": {
            "type": "event-bulk-create",
            "attributes": {
                "profile": {"data": {"type": "profile", "attributes": {"email": "leo@example.com"}}},
                "events": {"data": [viewed(), viewed()]},
            },
        }
    }
    bulk["data"]["attributes"]["events"]["data"][1]["attributes"]["time"] = "2026-07-14T10:00:00+00:00"
    assert send(api, "/client/event-bulk-create", bulk, account).status_code == 202
    events = api("GET", "/api/events", params={"include": "profile"}).json()
    assert len(events["data"]) == 3
    emails = sorted({p["attributes"]["email"] for p in events["included"] if p["type"] == "profile"})
    assert emails == ["leo@example.com", "mia@example.com"]


def test_an_unknown_company_id_is_a_400_and_stores_nothing(api: Client) -> None:
    company(api)
    r = send(api, "/client/events", {"data": viewed(email="mia@example.com")}, "NoSuch")
    assert r.status_code == 400
    assert r.json()["errors"][0]["source"] == {"parameter": "company_id"}
    assert api("GET", "/api/events").json()["data"] == []


def test_merging_profiles_moves_memberships_events_and_missing_attributes(api: Client) -> None:
    def profile(**attributes: Any) -> str:
        r = api("POST", "/api/profiles", {"data": {"type": "profile", "attributes": attributes}})
        assert r.status_code == 201, r.text
        return str(r.json()["data"]["id"])

    keep = profile(email="mia@example.com", first_name="Mia")
    gone = profile(phone_number="+15005550006", first_name="M.", last_name="Wong")
    list_id = api("POST", "/api/lists", {"data": {"type": "list", "attributes": {"name": "VIP"}}}).json()
    list_id = list_id["data"]["id"]
    body = {"data": [{"type": "profile", "id": gone}]}
    assert api("POST", f"/api/lists/{list_id}/relationships/profiles", body).status_code == 204
    event = {"data": viewed(phone_number="+15005550006")}
    assert api("POST", "/api/events", event).status_code == 202
    merge = {
        "data": {
            "type": "profile-merge",
            "id": keep,
            "relationships": {"profiles": {"data": [{"type": "profile", "id": gone}]}},
        }
    }
    r = api("POST", "/api/profile-merge", merge)
    assert r.status_code == 201 and r.json()["data"]["id"] == keep
    assert api("GET", f"/api/profiles/{gone}").status_code == 404
    merged = api("GET", f"/api/profiles/{keep}").json()["data"]["attributes"]
    assert (merged["first_name"], merged["last_name"], merged["phone_number"]) == (
        "Mia",
        "Wong",
        "+15005550006",
    )
    members = api("GET", f"/api/lists/{list_id}/profiles").json()["data"]
    assert [m["id"] for m in members] == [keep]
    events = api("GET", "/api/events", params={"include": "profile"}).json()
    assert [e["relationships"]["profile"]["data"]["id"] for e in events["data"]] == [keep]
