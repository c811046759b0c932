"""Sandbox bulk profile import jobs and data-privacy deletion jobs over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox_helpers import Client, serve

JOBS = "/api/profile-bulk-import-jobs"


@pytest.fixture
def call() -> Iterator[Client]:
    yield from serve()


def import_body(rows: list[dict], list_ids: tuple[str, ...] = ()) -> dict:
    data: dict = {
        "type": "profile-bulk-import-job",
        "attributes": {"profiles": {"data": [{"type": "profile", "attributes": row} for row in rows]}},
    }
    if list_ids:
        data["relationships"] = {"lists": {"data": [{"type": "list", "id": lid} for lid in list_ids]}}
    return {"data": data}


def test_import_job_runs_rows_and_reports_bad_ones(call: Client) -> None:
    existing = call(
        "POST", "/api/profiles", {"data": {"type": "profile", "attributes": {"email": "old@example.com"}}}
    )
    old_id = existing.json()["data"]["id"]
    call(
        "POST", "/api/profiles", {"data": {"type": "profile", "attributes": {"phone_number": "+15005550006"}}}
    )
    list_id = call(
        "POST", "/api/lists", {"data": {"type": "list", "attributes": {"name": "Imported"}}}
    ).json()["data"]["id"]
    rows = [
        {"email": "new@example.com", "first_name": "New"},
        {"email": "old@example.com", "last_name": "Updated"},
        {"email": "not-an-email"},
        {"first_name": "Nobody"},
        {"email": "new@example.com", "phone_number": "+15005550006"},  # two different profiles
    ]
    posted = call("POST", JOBS, import_body(rows, (list_id,)))
    assert posted.status_code == 202
    job = posted.json()["data"]
    assert job["attributes"]["status"] == "queued" and job["attributes"]["total_count"] == 5
    done = call("GET", f"{JOBS}/{job['id']}", params={"include": "lists"}).json()
    attrs = done["data"]["attributes"]
    assert (attrs["status"], attrs["completed_count"], attrs["failed_count"]) == ("complete", 2, 3)
    assert [i["id"] for i in done["included"]] == [list_id]

    errors = call("GET", f"{JOBS}/{job['id']}/import-errors").json()["data"]
    pointers = [e["attributes"]["source"]["pointer"] for e in errors]
    assert pointers == [
        "/data/attributes/profiles/data/2/attributes/email",
        "/data/attributes/profiles/data/3",
        "/data/attributes/profiles/data/4/attributes",
    ]
    assert errors[0]["attributes"]["original_payload"] == {"email": "not-an-email"}
    assert errors[2]["attributes"]["code"] == "duplicate_profile"
    page = call("GET", f"{JOBS}/{job['id']}/import-errors", params={"page[size]": "2"}).json()
    assert len(page["data"]) == 2 and "next" in page["links"]

    members = call("GET", f"/api/lists/{list_id}/profiles").json()["data"]
    assert sorted(m["attributes"]["email"] for m in members) == ["new@example.com", "old@example.com"]
    assert call("GET", f"/api/profiles/{old_id}").json()["data"]["attributes"]["last_name"] == "Updated"


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        (import_body([]), 400, "non-empty"),
        (import_body([{"email": f"p{i}@example.com"} for i in range(10_001)]), 400, "10000"),
        (import_body([{"email": "a@example.com"}], ("zzzzzz",)), 404, "zzzzzz"),
        (
            {
                "data": {
                    "type": "profile-bulk-import-job",
                    "attributes": {"profiles": {"data": [{"type": "list"}]}},
                }
            },
            400,
            "'attributes' is a required property",
        ),
    ],
)
def test_malformed_import_requests(call: Client, body: dict, status: int, fragment: str) -> None:
    r = call("POST", JOBS, body, check=False)
    assert r.status_code == status and fragment in r.json()["errors"][0]["detail"]


def test_unknown_job_is_404(call: Client) -> None:
    assert call("GET", f"{JOBS}/01NOPE").status_code == 404
    assert call("GET", f"{JOBS}/01NOPE/import-errors").status_code == 404


def deletion(**identifier: str) -> dict:
    profile: dict = {"type": "profile", "attributes": {}}
    if "id" in identifier:
        profile["id"] = identifier.pop("id")
    profile["attributes"] = identifier
    return {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": {"data": profile}}}}


def test_deletion_jobs(call: Client) -> None:
    a = call(
        "POST", "/api/profiles", {"data": {"type": "profile", "attributes": {"email": "a@example.com"}}}
    ).json()
    b = call(
        "POST", "/api/profiles", {"data": {"type": "profile", "attributes": {"phone_number": "+15005550006"}}}
    ).json()
    assert call("POST", "/api/data-privacy-deletion-jobs", deletion(email="a@example.com")).status_code == 202
    assert call("GET", f"/api/profiles/{a['data']['id']}").status_code == 404
    assert call("POST", "/api/data-privacy-deletion-jobs", deletion(id=b["data"]["id"])).status_code == 202
    assert call("GET", f"/api/profiles/{b['data']['id']}").status_code == 404
    assert (
        call("POST", "/api/data-privacy-deletion-jobs", deletion(email="nobody@example.com")).status_code
        == 202
    )
    r = call(
        "POST",
        "/api/data-privacy-deletion-jobs",
        deletion(email="x@example.com", phone_number="+15005550007"),
        check=False,
    )
    assert r.status_code == 400 and "Exactly one" in r.json()["errors"][0]["detail"]
