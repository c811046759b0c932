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
