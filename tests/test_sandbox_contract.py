"""Every sandbox response validates against the spec's response schema for its operation.

Requests sent here are validated against the spec too, so the scenario itself is legal
Klaviyo traffic. Uses the shared validator in ``tests/contract.py``; skipped when the spec
file is absent.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from contract import load_spec
from klaviyo_connector.sandbox import Sandbox, SandboxOptions
from sandbox_helpers import HEADERS, Client, serve


@pytest.fixture
def call() -> Iterator[Client]:
    yield from serve()


def test_accounts_responses_match_the_spec(call: Client) -> None:
    account_id = call("GET", "/api/accounts").json()["data"][0]["id"]
    call("GET", f"/api/accounts/{account_id}")
    r = call(
        "GET",
        f"/api/accounts/{account_id}",
        params={"fields[account]": "contact_information,timezone"},
        sparse=True,
    )
    assert set(r.json()["data"]["attributes"]) == {"contact_information", "timezone"}
    assert call("GET", "/api/accounts/zzzzzz").status_code == 404


def test_profile_responses_match_the_spec(call: Client) -> None:
    profile = {
        "data": {
            "type": "profile",
            "attributes": {
                "email": "sarah.mason@example.com",
                "phone_number": "+13239169023",
                "external_id": "63f64a2b-c6bf-40c7-b81f-bed08162edbe",
                "first_name": "Sarah",
                "last_name": "Mason",
                "organization": "Example Corporation",
                "locale": "en-US",
                "title": "Regional Manager",
                "image": "https://images.pexels.com/photos/3760854/pexels-photo-3760854.jpeg",
                "location": {
                    "city": "Boston",
                    "country": "United States",
                    "latitude": 42.36,
                    "longitude": "-71.06",
                },
                "properties": {"newKey": "New Value"},
            },
        }
    }
    r = call("POST", "/api/profiles", profile)
    assert r.status_code == 201
    pid = r.json()["data"]["id"]
    everything = {"additional-fields[profile]": "subscriptions,predictive_analytics"}
    call(
        "POST",
        "/api/profiles",
        {"data": {"type": "profile", "attributes": {"email": "b@example.com"}}},
        everything,
    )
    assert call("POST", "/api/profiles", profile).status_code == 409

    call("GET", f"/api/profiles/{pid}")
    call("GET", f"/api/profiles/{pid}", params=everything)
    call("GET", f"/api/profiles/{pid}", params={"include": "lists,segments"})
    call("GET", f"/api/profiles/{pid}", params={"fields[profile]": "email,location.city"})

    patch = {"data": {"type": "profile", "id": pid, "attributes": {"last_name": None, "title": "Director"}}}
    assert call("PATCH", f"/api/profiles/{pid}", patch).status_code == 200
    call("PATCH", f"/api/profiles/{pid}", patch, everything)

    upsert = {"data": {"type": "profile", "attributes": {"email": "new@example.com", "first_name": "N"}}}
    assert call("POST", "/api/profile-import", upsert).status_code == 201
    assert call("POST", "/api/profile-import", upsert, everything).status_code == 200

    for i in range(5):
        call(
            "POST",
            "/api/profiles",
            {"data": {"type": "profile", "attributes": {"email": f"p{i}@example.com"}}},
        )
    page = call("GET", "/api/profiles", params={"page[size]": "3", "sort": "-created"}).json()
    while "next" in page["links"]:
        page = call("GET", page["links"]["next"]).json()
    call(
        "GET",
        "/api/profiles",
        params={"filter": "any(email,['p1@example.com','p2@example.com'])", **everything},
    )
    call("GET", "/api/profiles", params={"fields[profile]": "email", "include": "push-tokens"})


def test_error_responses_match_the_spec(call: Client) -> None:
    no_auth = {k: v for k, v in HEADERS.items() if k != "Authorization"}
    assert call("GET", "/api/profiles", headers=no_auth).status_code == 401
    no_revision = {k: v for k, v in HEADERS.items() if k != "revision"}
    assert call("GET", "/api/profiles", headers=no_revision).status_code == 400
    assert call("GET", "/api/profiles", headers={**HEADERS, "revision": "2022-01-01"}).status_code == 410
    assert call("GET", "/api/profiles", params={"page[size]": "101"}, headers=HEADERS).status_code == 400
    assert (
        call("GET", "/api/profiles", params={"filter": "equals(title,'x')"}, headers=HEADERS).status_code
        == 400
    )
    bad = {"data": {"type": "profile", "attributes": {"phoneNumber": "+13239169023"}}}
    assert call("POST", "/api/profiles", bad, headers=HEADERS).status_code == 400


def test_faults_match_the_spec() -> None:
    load_spec()
    for options, status in ((SandboxOptions(fail_rate=1.0), 503), (SandboxOptions(throttle_rate=1.0), 429)):
        options.state_path = ":memory:"
        with Sandbox(options) as box:
            assert box.base_url is not None
            r = Client(box.base_url)("GET", "/api/accounts")
            assert r.status_code == status
