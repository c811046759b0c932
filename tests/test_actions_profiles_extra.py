"""Create Or Update Profile, Request Profile Deletion and the duplicate-profile error."""

from __future__ import annotations

import pytest
from conftest import BASE, body, run
from klaviyo_connector.errors import KlaviyoError

PROFILE = {
    "data": {
        "type": "profile",
        "id": "01ABC",
        "attributes": {"email": "a@example.com"},
        "links": {"self": "x"},
    }
}


@pytest.mark.parametrize(("status", "created"), [(201, True), (200, False)])
def test_upsert_reports_created_from_the_status(runner, klaviyo, status, created):
    klaviyo.add("POST", f"{BASE}/api/profile-import", status=status, json=PROFILE)
    out = run(
        runner, "createOrUpdateProfile", {"email": "a@example.com", "firstName": "Ann", "lastName": None}
    )
    assert out["data"] == {**PROFILE, "created": created}
    assert body(klaviyo.calls[0]) == {
        "data": {
            "type": "profile",
            "attributes": {"email": "a@example.com", "first_name": "Ann", "last_name": None},
        }
    }


def test_upsert_by_profile_id_sends_the_id(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/profile-import", status=200, json=PROFILE)
    run(runner, "createOrUpdateProfile", {"profileId": "01ABC", "title": "CEO"})
    assert body(klaviyo.calls[0]) == {
        "data": {"type": "profile", "id": "01ABC", "attributes": {"title": "CEO"}}
    }


def test_upsert_needs_something_to_match_on(runner, klaviyo):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "createOrUpdateProfile", {"firstName": "Ann"})
    assert "Email, Phone Number, External ID or Profile ID" in info.value.message and not klaviyo.calls


def test_upsert_is_retried_after_a_server_error(runner, klaviyo, sleeps):
    error = {"errors": [{"id": "e", "code": "error", "title": "Oops", "detail": "Down."}]}
    klaviyo.add("POST", f"{BASE}/api/profile-import", status=503, json=error)
    klaviyo.add("POST", f"{BASE}/api/profile-import", status=201, json=PROFILE)
    assert run(runner, "createOrUpdateProfile", {"email": "a@example.com"})["data"]["created"] is True
    assert len(klaviyo.calls) == 2 and len(sleeps.waits) == 1


@pytest.mark.parametrize(
    ("inputs", "profile"),
    [
        ({"email": "a@example.com"}, {"type": "profile", "attributes": {"email": "a@example.com"}}),
        (
            {"phoneNumber": "+15005550006"},
            {"type": "profile", "attributes": {"phone_number": "+15005550006"}},
        ),
        ({"profileId": "01ABC"}, {"type": "profile", "id": "01ABC", "attributes": {}}),
    ],
)
def test_deletion_by_exactly_one_identifier(runner, klaviyo, inputs, profile):
    klaviyo.add("POST", f"{BASE}/api/data-privacy-deletion-jobs", status=202)
    out = run(runner, "requestProfileDeletion", inputs)["data"]
    assert body(klaviyo.calls[0]) == {
        "data": {"type": "data-privacy-deletion-job", "attributes": {"profile": {"data": profile}}}
    }
    assert out["status"] == 202 and out["asynchronous"] is True and "Deleted Profiles" in out["accepted"]


@pytest.mark.parametrize(
    ("inputs", "got"),
    [({}, ""), ({"email": "a@example.com", "profileId": "01ABC"}, "(got Email, Profile ID)")],
)
def test_deletion_refuses_zero_or_several_identifiers(runner, klaviyo, inputs, got):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "requestProfileDeletion", inputs)
    assert (
        "exactly one of Email, Phone Number or Profile ID" in info.value.message and got in info.value.message
    )
    assert not klaviyo.calls


def test_duplicate_profile_error_names_the_existing_profile(runner, klaviyo):
    error = {
        "errors": [
            {
                "id": "e",
                "status": 409,
                "code": "duplicate_profile",
                "title": "Conflict.",
                "detail": "A profile already exists with one of these identifiers.",
                "source": {"pointer": "/data/attributes"},
                "meta": {"duplicate_profile_id": "01EXISTING"},
            }
        ]
    }
    klaviyo.add("POST", f"{BASE}/api/profiles", status=409, json=error)
    with pytest.raises(KlaviyoError) as info:
        run(runner, "createProfile", {"email": "a@example.com"})
    err = info.value
    assert "use profile 01EXISTING" in err.message and err.error_class == "user_fixable"
    assert err.to_dict()["meta"] == {"duplicate_profile_id": "01EXISTING"}
    assert err.to_dict()["code"] == "duplicate_profile" and err.status == 409
