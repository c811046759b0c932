"""Import Profiles against a mocked Klaviyo: job splitting, waiting, per-row errors."""

from __future__ import annotations

import json

import pytest
from conftest import BASE, CONNECTION, body, run
from klaviyo_connector.errors import KlaviyoError

JOBS = f"{BASE}/api/profile-bulk-import-jobs"


def job(job_id: str, status: str, total: int, completed: int = 0, failed: int = 0) -> dict:
    return {
        "data": {
            "type": "profile-bulk-import-job",
            "id": job_id,
            "attributes": {
                "status": status,
                "created_at": "2024-01-01T00:00:00+00:00",
                "total_count": total,
                "completed_count": completed,
                "failed_count": failed,
            },
            "links": {"self": f"{JOBS}/{job_id}/"},
        }
    }


def import_error(index: int, detail: str, payload: dict | None = None, pointer: bool = True) -> dict:
    attrs: dict = {"code": "invalid", "title": "Invalid input.", "detail": detail, "source": {}}
    if pointer:
        attrs["source"] = {"pointer": f"/data/attributes/profiles/data/{index}/attributes/email"}
    if payload is not None:
        attrs["original_payload"] = payload
    return {"type": "import-error", "id": f"E{index}", "attributes": attrs}


def test_import_sends_one_job_with_lists_and_returns_its_id(runner, klaviyo):
    klaviyo.add("POST", JOBS, status=202, json=job("J1", "queued", 2))
    out = run(
        runner,
        "importProfiles",
        {
            "profiles": json.dumps(
                [
                    {"email": "a@example.com", "first_name": "Ann", "properties": {"plan": "gold"}},
                    {"id": "01ABC", "phone_number": "+1 500 555 0006", "location": {"city": "Boston"}},
                ]
            ),
            "listIds": "RE83th, RE83th",
        },
    )["data"]
    assert body(klaviyo.calls[0]) == {
        "data": {
            "type": "profile-bulk-import-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": "a@example.com",
                                "first_name": "Ann",
                                "properties": {"plan": "gold"},
                            },
                        },
                        {
                            "type": "profile",
                            "id": "01ABC",
                            "attributes": {"phone_number": "+15005550006", "location": {"city": "Boston"}},
                        },
                    ]
                }
            },
            "relationships": {"lists": {"data": [{"type": "list", "id": "RE83th"}]}},
        }
    }
    assert out["job_ids"] == ["J1"] and out["status"] == 202 and out["asynchronous"] is True
    assert out["profile_count"] == 2 and out["waited"] is False and "completed" not in out
    assert len(klaviyo.calls) == 1


def test_more_than_10000_profiles_go_in_several_jobs(runner, klaviyo):
    klaviyo.add("POST", JOBS, status=202, json=job("J1", "queued", 10000))
    klaviyo.add("POST", JOBS, status=202, json=job("J2", "queued", 5))
    profiles = [{"email": f"p{i}@example.com"} for i in range(10_005)]
    out = run(runner, "importProfiles", {"profiles": profiles})["data"]
    sizes = [len(body(c)["data"]["attributes"]["profiles"]["data"]) for c in klaviyo.calls]
    assert sizes == [10_000, 5] and out["job_ids"] == ["J1", "J2"]


def test_jobs_stay_under_5_mb(runner, klaviyo):
    klaviyo.add("POST", JOBS, status=202, json=job("J", "queued", 1))
    blob = "x" * 90_000  # ~90 KB per profile: about 55 fit in 5 MB
    profiles = [{"email": f"p{i}@example.com", "properties": {"blob": blob}} for i in range(120)]
    run(runner, "importProfiles", {"profiles": profiles})
    sizes = [len(c.request.body) for c in klaviyo.calls]
    counts = [len(body(c)["data"]["attributes"]["profiles"]["data"]) for c in klaviyo.calls]
    assert len(klaviyo.calls) == 3 and sum(counts) == 120
    assert all(size <= 5_000_000 for size in sizes) and sizes[0] > 4_800_000


def test_a_profile_over_100_kb_is_refused_before_sending(runner, klaviyo):
    profiles = [{"email": "a@example.com"}, {"email": "b@example.com", "properties": {"blob": "x" * 110_000}}]
    with pytest.raises(KlaviyoError) as info:
        run(runner, "importProfiles", {"profiles": profiles})
    assert info.value.field == "Profiles[1]" and "100 KB" in info.value.message and not klaviyo.calls


def test_a_row_without_identifier_is_refused(runner, klaviyo):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "importProfiles", {"profiles": [{"email": "a@example.com"}, {"first_name": "Bo"}]})
    assert (
        info.value.field == "Profiles[1]" and "needs an id, email" in info.value.message and not klaviyo.calls
    )


def test_wait_polls_with_growing_pauses_then_maps_errors_to_rows(runner, klaviyo, sleeps):
    klaviyo.add("POST", JOBS, status=202, json=job("J1", "queued", 3))
    klaviyo.add("GET", f"{JOBS}/J1", json=job("J1", "queued", 3))
    klaviyo.add("GET", f"{JOBS}/J1", json=job("J1", "processing", 3, 1))
    klaviyo.add("GET", f"{JOBS}/J1", json=job("J1", "complete", 3, 1, 2))
    errors = [
        import_error(2, "Invalid email address."),
        import_error(9, "Conflicting identifiers.", {"phone_number": "+15005550006"}, pointer=False),
    ]
    klaviyo.add("GET", f"{JOBS}/J1/import-errors", json={"data": errors, "links": {"self": "x"}})
    events: list = []
    profiles = [{"email": "a@example.com"}, {"phone_number": "+15005550006"}, {"email": "c@example.com"}]
    out = runner.run_action(
        "klaviyo",
        "importProfiles",
        connection=CONNECTION,
        inputs={"profiles": profiles, "waitForCompletion": True},
        progress=lambda event, info: events.append((event, dict(info))),
    )["data"]
    assert sleeps.waits == [2.0, 3.0]
    assert out["completed"] is True and out["timed_out"] is False and out["statuses"] == {"J1": "complete"}
    assert out["counts"] == {"total": 3, "completed": 1, "failed": 2}
    assert [(e["index"], e["detail"]) for e in out["errors"]] == [
        (2, "Invalid email address."),
        (1, "Conflicting identifiers."),
    ]
    assert out["errors_truncated"] is False
    assert [e[1]["status"] for e in events if e[0] == "waiting"] == ["queued", "processing", "complete"]
    error_call = klaviyo.calls[-1]
    assert "page%5Bsize%5D=100" in error_call.request.url


def test_wait_gives_up_at_max_wait(runner, klaviyo, sleeps):
    klaviyo.add("POST", JOBS, status=202, json=job("J1", "queued", 1))
    klaviyo.add("GET", f"{JOBS}/J1", json=job("J1", "processing", 1))
    out = run(
        runner,
        "importProfiles",
        {"profiles": [{"email": "a@example.com"}], "waitForCompletion": True, "maxWaitSeconds": 10},
    )["data"]
    assert sum(sleeps.waits) == 10 and sleeps.waits == [2.0, 3.0, 4.5, 0.5]
    assert out["completed"] is False and out["timed_out"] is True and "Still running" in out["accepted"]
    assert out["errors"] == [] and not [c for c in klaviyo.calls if "import-errors" in c.request.url]


def test_errors_of_a_second_job_map_to_its_rows(runner, klaviyo, sleeps):
    klaviyo.add("POST", JOBS, status=202, json=job("J1", "complete", 55, 55))
    klaviyo.add("POST", JOBS, status=202, json=job("J2", "queued", 5))
    klaviyo.add("GET", f"{JOBS}/J2", json=job("J2", "complete", 5, 4, 1))
    klaviyo.add(
        "GET", f"{JOBS}/J2/import-errors", json={"data": [import_error(1, "Bad.")], "links": {"self": "x"}}
    )
    blob = "x" * 90_000  # the 5 MB limit splits these 60 profiles into two jobs
    profiles = [{"email": f"p{i}@example.com", "properties": {"blob": blob}} for i in range(60)]
    out = run(runner, "importProfiles", {"profiles": profiles, "waitForCompletion": True})["data"]
    first_job_rows = len(body(klaviyo.calls[0])["data"]["attributes"]["profiles"]["data"])
    assert [e["index"] for e in out["errors"]] == [first_job_rows + 1] and out["errors"][0]["job_id"] == "J2"
    assert sleeps.waits == [] and not [c for c in klaviyo.calls if c.request.url.endswith("/J1")]
