"""Subscribe / unsubscribe / suppress / unsuppress against a mocked Klaviyo."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import BASE, body, run
from klaviyo_connector.errors import KlaviyoError

SUBSCRIBE = f"{BASE}/api/profile-subscription-bulk-create-jobs"
UNSUBSCRIBE = f"{BASE}/api/profile-subscription-bulk-delete-jobs"
SUPPRESS = f"{BASE}/api/profile-suppression-bulk-create-jobs"
UNSUPPRESS = f"{BASE}/api/profile-suppression-bulk-delete-jobs"


def list_doc(opt_in: str) -> dict:
    return {
        "data": {
            "type": "list",
            "id": "RE83th",
            "attributes": {"name": "News", "opt_in_process": opt_in},
            "links": {"self": "x"},
        }
    }


def job(job_type: str, job_id: str, total: int) -> dict:
    return {
        "data": {
            "type": job_type,
            "id": job_id,
            "attributes": {
                "status": "queued",
                "created_at": "2024-01-01T00:00:00+00:00",
                "total_count": total,
            },
            "links": {"self": "x"},
        }
    }


def test_subscribe_to_double_opt_in_list_says_pending(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/lists/RE83th", json=list_doc("double_opt_in"))
    klaviyo.add("POST", SUBSCRIBE, status=202)
    out = run(
        runner,
        "subscribeProfiles",
        {
            "profiles": json.dumps(
                [
                    {"email": "a@example.com"},
                    {
                        "email": "b@example.com",
                        "phone_number": "+1 (500) 555-0006",
                        "channels": ["email_marketing", "sms_marketing", "sms_transactional"],
                    },
                ]
            ),
            "listId": "RE83th",
            "customSource": "Marketing Event",
        },
    )["data"]
    get, post = klaviyo.calls
    assert parse_qs(urlsplit(get.request.url).query) == {"fields[list]": ["name,opt_in_process"]}
    assert body(post) == {
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "custom_source": "Marketing Event",
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": "a@example.com",
                                "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}},
                            },
                        },
                        {
                            "type": "profile",
                            "attributes": {
                                "email": "b@example.com",
                                "phone_number": "+15005550006",
                                "subscriptions": {
                                    "email": {"marketing": {"consent": "SUBSCRIBED"}},
                                    "sms": {
                                        "marketing": {"consent": "SUBSCRIBED"},
                                        "transactional": {"consent": "SUBSCRIBED"},
                                    },
                                },
                            },
                        },
                    ]
                },
            },
            "relationships": {"list": {"data": {"type": "list", "id": "RE83th"}}},
        }
    }
    assert out["status"] == 202 and out["asynchronous"] is True
    assert out["pending_confirmation"] is True and out["opt_in_process"] == "double_opt_in"
    assert "pending" in out["note"] and "until they confirm" in out["note"]
    assert "asynchronously" in out["accepted"]


def test_subscribe_single_opt_in_and_no_list(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/lists/RE83th", json=list_doc("single_opt_in"))
    klaviyo.add("POST", SUBSCRIBE, status=202)
    out = run(runner, "subscribeProfiles", {"profiles": [{"email": "a@example.com"}], "listId": "RE83th"})[
        "data"
    ]
    assert out["pending_confirmation"] is False and "single opt-in" in out["note"]
    out = run(
        runner,
        "subscribeProfiles",
        {"profiles": [{"phone_number": "+15005550006", "channels": ["sms_marketing"]}]},
    )["data"]
    last = body(klaviyo.calls[-1])["data"]
    assert "relationships" not in last
    assert last["attributes"]["profiles"]["data"][0]["attributes"]["subscriptions"] == {
        "sms": {"marketing": {"consent": "SUBSCRIBED"}}
    }
    assert "pending_confirmation" not in out and "default opt-in" in out["note"]
    assert len(klaviyo.calls) == 3  # no list lookup without a list


def test_subscribe_splits_at_1000(runner, klaviyo):
    klaviyo.add("POST", SUBSCRIBE, status=202)
    profiles = [{"email": f"p{i}@example.com"} for i in range(2001)]
    out = run(runner, "subscribeProfiles", {"profiles": profiles})["data"]
    assert [len(body(c)["data"]["attributes"]["profiles"]["data"]) for c in klaviyo.calls] == [1000, 1000, 1]
    assert out["requests"] == 3 and out["profile_count"] == 2001


def test_historical_import_needs_past_consent_dates(runner, klaviyo):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "subscribeProfiles", {"profiles": [{"email": "a@example.com"}], "historicalImport": True})
    assert "consented_at" in info.value.message and not klaviyo.calls
    with pytest.raises(KlaviyoError) as info:
        run(
            runner,
            "subscribeProfiles",
            {
                "profiles": [{"email": "a@example.com", "consented_at": "2999-01-01T00:00:00Z"}],
                "historicalImport": True,
            },
        )
    assert "in the past" in info.value.message and not klaviyo.calls


def test_historical_import_sends_consent_dates(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/lists/RE83th", json=list_doc("double_opt_in"))
    klaviyo.add("POST", SUBSCRIBE, status=202)
    out = run(
        runner,
        "subscribeProfiles",
        {
            "profiles": [{"email": "a@example.com", "consented_at": "2024-05-01T12:00:00-04:00"}],
            "historicalImport": "true",
            "listId": "RE83th",
        },
    )["data"]
    attrs = body(klaviyo.calls[1])["data"]["attributes"]
    assert attrs["historical_import"] is True
    assert attrs["profiles"]["data"][0]["attributes"]["subscriptions"]["email"]["marketing"] == {
        "consent": "SUBSCRIBED",
        "consented_at": "2024-05-01T16:00:00Z",
    }
    assert out["pending_confirmation"] is False and "skips the confirmation" in out["note"]


@pytest.mark.parametrize(
    ("profile", "fragment"),
    [
        ({}, "needs an email or a phone_number"),
        (
            {"email": "a@example.com", "channels": ["sms_marketing"]},
            "sms_marketing needs the profile's phone_number",
        ),
        (
            {"phone_number": "+15005550006", "channels": ["email_marketing"]},
            "email_marketing needs the profile's email",
        ),
        ({"phone_number": "555-1234"}, "E.164"),
        ({"email": "a@example.com", "channels": ["push"]}, "channels"),
    ],
)
def test_bad_profiles_are_refused(runner, klaviyo, profile, fragment):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "subscribeProfiles", {"profiles": [profile]})
    assert info.value.field.startswith("Profiles[0]") and fragment in info.value.message
    assert not klaviyo.calls


def test_missing_list_stops_before_any_job(runner, klaviyo):
    error = {"errors": [{"id": "e", "code": "not_found", "title": "Not found", "detail": "List not found."}]}
    klaviyo.add("GET", f"{BASE}/api/lists/nope", status=404, json=error)
    with pytest.raises(KlaviyoError) as info:
        run(runner, "subscribeProfiles", {"profiles": [{"email": "a@example.com"}], "listId": "nope"})
    assert info.value.status == 404 and len(klaviyo.calls) == 1


def test_unsubscribe_without_list_is_global_and_splits_at_100(runner, klaviyo):
    klaviyo.add("POST", UNSUBSCRIBE, status=202)
    profiles = [{"email": f"p{i}@example.com"} for i in range(150)]
    out = run(runner, "unsubscribeProfiles", {"profiles": profiles})["data"]
    assert [len(body(c)["data"]["attributes"]["profiles"]["data"]) for c in klaviyo.calls] == [100, 50]
    first = body(klaviyo.calls[0])["data"]
    assert first["type"] == "profile-subscription-bulk-delete-job" and "relationships" not in first
    assert first["attributes"]["profiles"]["data"][0]["attributes"]["subscriptions"] == {
        "email": {"marketing": {"consent": "UNSUBSCRIBED"}}
    }
    assert out["global_unsubscribe"] is True and "global unsubscribe" in out["note"]


def test_unsubscribe_from_a_list_warns_about_non_members(runner, klaviyo):
    klaviyo.add("POST", UNSUBSCRIBE, status=202)
    out = run(runner, "unsubscribeProfiles", {"profiles": [{"email": "a@example.com"}], "listId": "RE83th"})[
        "data"
    ]
    assert body(klaviyo.calls[0])["data"]["relationships"] == {
        "list": {"data": {"type": "list", "id": "RE83th"}}
    }
    assert out["global_unsubscribe"] is False and "not on that list are unsubscribed globally" in out["note"]


def test_unsubscribe_rejects_subscribe_only_inputs(runner, klaviyo):
    with pytest.raises(KlaviyoError) as info:
        run(
            runner,
            "unsubscribeProfiles",
            {"profiles": [{"email": "a@example.com"}], "historicalImport": True},
        )
    assert "not an input of this action" in info.value.message and not klaviyo.calls


def test_suppress_emails_in_batches_of_100_returns_job_ids(runner, klaviyo):
    klaviyo.add("POST", SUPPRESS, status=202, json=job("profile-suppression-bulk-create-job", "J1", 100))
    klaviyo.add("POST", SUPPRESS, status=202, json=job("profile-suppression-bulk-create-job", "J2", 20))
    emails = [f"p{i}@example.com" for i in range(120)]
    out = run(runner, "suppressProfiles", {"emails": emails})["data"]
    first = body(klaviyo.calls[0])["data"]
    assert first["type"] == "profile-suppression-bulk-create-job" and "relationships" not in first
    assert first["attributes"]["profiles"]["data"][0] == {
        "type": "profile",
        "attributes": {"email": "p0@example.com"},
    }
    assert [len(body(c)["data"]["attributes"]["profiles"]["data"]) for c in klaviyo.calls] == [100, 20]
    assert out["job_ids"] == ["J1", "J2"] and out["status"] == 202 and "job_id" not in out


@pytest.mark.parametrize(
    ("inputs", "relationship"),
    [
        ({"listId": "RE83th"}, {"list": {"data": {"type": "list", "id": "RE83th"}}}),
        ({"segmentId": "WwKnkd"}, {"segment": {"data": {"type": "segment", "id": "WwKnkd"}}}),
    ],
)
def test_unsuppress_a_whole_list_or_segment(runner, klaviyo, inputs, relationship):
    klaviyo.add("POST", UNSUPPRESS, status=202, json=job("profile-suppression-bulk-delete-job", "J9", 3))
    out = run(runner, "unsuppressProfiles", inputs)["data"]
    assert body(klaviyo.calls[0]) == {
        "data": {
            "type": "profile-suppression-bulk-delete-job",
            "attributes": {},
            "relationships": relationship,
        }
    }
    assert out["job_ids"] == ["J9"] and "USER_SUPPRESSED" in out["accepted"]


@pytest.mark.parametrize(
    "inputs",
    [{}, {"emails": ["a@example.com"], "listId": "RE83th"}, {"listId": "RE83th", "segmentId": "WwKnkd"}],
)
def test_suppress_needs_exactly_one_target(runner, klaviyo, inputs):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "suppressProfiles", inputs)
    assert "exactly one of Emails, List ID or Segment ID" in info.value.message and not klaviyo.calls
