"""Consent as chosen and one rule for times without a UTC offset, across every action.

Consent: channels left empty mean email marketing only; SMS consent is given or withdrawn only
when an SMS channel is chosen. Time: a date-time without a UTC offset is refused (never read
as UTC), the rule is stated in every such field's help and named in every error about one.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from conftest import BASE, body, refused, run
from klaviyo_connector.actions import ACTIONS
from klaviyo_connector.inputs import TIME_HELP, TIME_RULE
from sandbox_helpers import Box

SUBSCRIBE = f"{BASE}/api/profile-subscription-bulk-create-jobs"
UNSUBSCRIBE = f"{BASE}/api/profile-subscription-bulk-delete-jobs"
EMAIL = "sarah.mason@klaviyo-demo.com"
PHONE = "+15005550006"


# -- consent: SMS only when chosen ---------------------------------------------------------------


def test_email_and_phone_without_channels_subscribes_email_only(runner, klaviyo):
    klaviyo.add("POST", SUBSCRIBE, status=202)
    run(runner, "subscribeProfiles", {"profiles": [{"email": EMAIL, "phone_number": PHONE}]})
    (call,) = klaviyo.calls
    assert call.request.method == "POST" and call.request.url == SUBSCRIBE
    # The phone number is still sent: without the SMS channel Klaviyo saves it on the profile.
    assert body(call) == {
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": EMAIL,
                                "phone_number": PHONE,
                                "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}},
                            },
                        }
                    ]
                }
            },
        }
    }


def test_sms_consent_is_sent_when_chosen(runner, klaviyo):
    klaviyo.add("POST", SUBSCRIBE, status=202)
    profile = {"email": EMAIL, "phone_number": PHONE, "channels": ["sms_marketing"]}
    run(runner, "subscribeProfiles", {"profiles": [profile]})
    attrs = body(klaviyo.calls[0])["data"]["attributes"]["profiles"]["data"][0]["attributes"]
    assert attrs == {
        "email": EMAIL,
        "phone_number": PHONE,
        "subscriptions": {"sms": {"marketing": {"consent": "SUBSCRIBED"}}},
    }


@pytest.mark.parametrize(
    ("action", "verb"), [("subscribeProfiles", "give"), ("unsubscribeProfiles", "withdraw")]
)
def test_a_phone_number_alone_must_choose_its_sms_consent(runner, klaviyo, action, verb):
    err = refused(runner, klaviyo, action, {"profiles": [{"phone_number": PHONE}]})
    assert err.field == "Profiles[0]"
    assert f"choose the SMS consent to {verb}: channels sms_marketing and/or sms_transactional" in err.message


def test_unsubscribe_without_channels_withdraws_email_only(runner, klaviyo):
    klaviyo.add("POST", UNSUBSCRIBE, status=202)
    run(runner, "unsubscribeProfiles", {"profiles": [{"email": EMAIL, "phone_number": PHONE}]})
    assert body(klaviyo.calls[0]) == {
        "data": {
            "type": "profile-subscription-bulk-delete-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {
                                "email": EMAIL,
                                "subscriptions": {"email": {"marketing": {"consent": "UNSUBSCRIBED"}}},
                            },
                        }
                    ]
                }
            },
        }
    }


def test_unsubscribe_names_only_the_addresses_it_unsubscribes(runner, klaviyo):
    klaviyo.add("POST", UNSUBSCRIBE, status=202)
    profile = {"email": EMAIL, "phone_number": PHONE, "channels": ["sms_transactional"]}
    run(runner, "unsubscribeProfiles", {"profiles": [profile]})
    attrs = body(klaviyo.calls[0])["data"]["attributes"]["profiles"]["data"][0]["attributes"]
    assert attrs == {
        "phone_number": PHONE,
        "subscriptions": {"sms": {"transactional": {"consent": "UNSUBSCRIBED"}}},
    }


def test_channel_help_says_sms_consent_is_never_implied():
    for key in ("subscribeProfiles", "unsubscribeProfiles"):
        action = next(a for a in ACTIONS if a.key == key)
        schema = action.inputs.model_json_schema()
        profile = next(d for name, d in schema["$defs"].items() if name.endswith("Profile"))
        channels = profile["properties"]["channels"]["description"]
        assert "Left empty: email_marketing only" in channels
        assert "only when sms_marketing or sms_transactional is chosen" in channels
        assert (
            "SMS consent only when an SMS channel is chosen"
            in schema["properties"]["profiles"]["description"]
        )


def test_consented_at_without_historical_import_is_refused(runner, klaviyo):
    profile = {"email": EMAIL, "consented_at": "2024-05-01T12:00:00Z"}
    err = refused(runner, klaviyo, "subscribeProfiles", {"profiles": [profile]})
    assert err.field == "Profiles[0].consented_at"
    assert "accepted only with Historical Import" in err.message


# -- time: a date-time without an offset is refused, the rule named --------------------------------


def test_a_consent_time_without_an_offset_is_refused_not_read_as_utc(runner, klaviyo):
    profile = {"email": EMAIL, "consented_at": "2024-05-01T12:00:00"}
    err = refused(runner, klaviyo, "subscribeProfiles", {"profiles": [profile], "historicalImport": True})
    assert err.field == "Profiles[0].consented_at"
    assert f"has no UTC offset (got '2024-05-01T12:00:00'); {TIME_RULE}" in err.message


def test_east_of_utc_local_now_is_refused_for_its_missing_offset(runner, klaviyo):
    # Someone at UTC+3 types their local time: read as UTC it lies in the future, which used to
    # be refused only as "must be in the past", never naming UTC.
    local_now = (datetime.now(timezone.utc) + timedelta(hours=3)).replace(tzinfo=None, microsecond=0)
    profile = {"email": EMAIL, "consented_at": local_now.isoformat()}
    err = refused(runner, klaviyo, "subscribeProfiles", {"profiles": [profile], "historicalImport": True})
    assert "has no UTC offset" in err.message and TIME_RULE in err.message


def test_a_badly_written_offset_is_refused_naming_the_rule(runner, klaviyo):
    profile = {"email": EMAIL, "consented_at": "2024-05-01T12:00:00 +05:30"}
    err = refused(runner, klaviyo, "subscribeProfiles", {"profiles": [profile], "historicalImport": True})
    assert f"is not an ISO 8601 date-time (got '2024-05-01T12:00:00 +05:30'); {TIME_RULE}" in err.message


def test_an_offset_is_honoured_and_sent_as_utc(runner, klaviyo):
    klaviyo.add("POST", SUBSCRIBE, status=202)
    profile = {"email": EMAIL, "consented_at": "2024-05-01T09:00:00+10:00"}
    run(runner, "subscribeProfiles", {"profiles": [profile], "historicalImport": True})
    attrs = body(klaviyo.calls[0])["data"]["attributes"]["profiles"]["data"][0]["attributes"]
    assert attrs["subscriptions"]["email"]["marketing"]["consented_at"] == "2024-04-30T23:00:00Z"


def test_a_future_consent_time_is_shown_in_utc(runner, klaviyo):
    profile = {"email": EMAIL, "consented_at": "2999-01-01T09:00:00+02:00"}
    err = refused(runner, klaviyo, "subscribeProfiles", {"profiles": [profile], "historicalImport": True})
    assert "must be in the past (got 2999-01-01T07:00:00Z)" in err.message


NAIVE = "2025-06-01T09:00:00"
PUSH_SILENT = {"channel": "mobile_push", "notification_type": "silent", "kv_pairs": {}}
# One offset-less time in each action that takes date-times: (action, inputs, field named).
TIME_INPUTS: list[tuple[str, dict[str, Any], str]] = [
    ("createEvent", {"eventName": "X", "eventProfile": {"email": EMAIL}, "eventTime": NAIVE}, "Event Time"),
    (
        "bulkCreateEvents",
        {"eventsArray": [{"metric": "X", "profile": {"email": EMAIL}, "time": NAIVE}]},
        "Events Array[0].time",
    ),
    (
        "createCampaign",
        {
            "campaignName": "C",
            "includedAudiences": ["L1"],
            "campaignMessages": [PUSH_SILENT],
            "sendStrategy": {"method": "static", "datetime": NAIVE},
        },
        "Send Strategy.static.datetime",
    ),
    (
        "updateCampaign",
        {
            "campaignId": "C1",
            "sendStrategy": {"method": "throttled", "datetime": NAIVE, "throttle_percentage": 10},
        },
        "Send Strategy.throttled.datetime",
    ),
    (
        "queryMetricAggregates",
        {"metricId": "M", "measurements": ["count"], "startDate": NAIVE},
        "Start Date",
    ),
    (
        "queryCampaignValues",
        {
            "statistics": ["recipients"],
            "conversionMetricId": "M",
            "timeframe": {"start": NAIVE, "end": "2025-06-02T00:00:00Z"},
        },
        "Timeframe.custom.start",
    ),
    (
        "subscribeProfiles",
        {"profiles": [{"email": EMAIL, "consented_at": NAIVE}], "historicalImport": True},
        "Profiles[0].consented_at",
    ),
    (
        "createSegment",
        {
            "segmentName": "S",
            "conditionGroups": [
                {
                    "conditions": [
                        {
                            "type": "profile-group-membership",
                            "is_member": True,
                            "group_ids": ["L1"],
                            "timeframe_filter": {"type": "date", "operator": "after", "date": NAIVE},
                        }
                    ]
                }
            ],
        },
        "Segment Condition Groups[0].conditions[0].profile-group-membership.timeframe_filter",
    ),
    (
        "createSegment",
        {
            "segmentName": "S",
            "conditionGroups": [
                {
                    "conditions": [
                        {
                            "type": "profile-predictive-analytics",
                            "dimension": "expected_date_of_next_purchase",
                            "filter": {"type": "date", "operator": "before", "date": NAIVE},
                        }
                    ]
                }
            ],
        },
        "Segment Condition Groups[0].conditions[0].other",
    ),
]


@pytest.mark.parametrize(
    ("action", "inputs", "field"), TIME_INPUTS, ids=[f"{a}-{f}" for a, _, f in TIME_INPUTS]
)
def test_every_time_input_without_an_offset_is_refused_naming_the_rule(
    runner, klaviyo, action, inputs, field
):
    err = refused(runner, klaviyo, action, inputs)
    assert err.field == field
    assert "has no UTC offset" in err.message and TIME_RULE in err.message


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    return schema["$defs"][ref.rsplit("/", 1)[-1]] if ref else node


def _time_members(
    schema: dict[str, Any], node: dict[str, Any], seen: frozenset[str] = frozenset()
) -> list[dict]:
    """Every property schema under ``node`` that takes a date-time, each with its description."""
    found: list[dict] = []
    ref = node.get("$ref")
    if ref:
        if ref in seen:
            return found
        seen |= {ref}
        node = _resolve(schema, node)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in node.get(key, []):
            found += _time_members(schema, sub, seen)
    if "items" in node:
        found += _time_members(schema, node["items"], seen)
    for prop in (node.get("properties") or {}).values():
        variants = [prop, *prop.get("anyOf", []), *prop.get("oneOf", [])]
        if any(_resolve(schema, v).get("format") == "date-time" for v in variants):
            found.append(prop)
        found += _time_members(schema, prop, seen)
    return found


def test_every_date_time_field_states_the_rule_in_its_help():
    checked = 0
    for action in ACTIONS:
        schema = action.inputs.model_json_schema()
        for name, prop in schema.get("properties", {}).items():
            inner = _time_members(schema, prop)
            own = (
                [prop] if any(v.get("format") == "date-time" for v in [prop, *prop.get("anyOf", [])]) else []
            )
            for member in inner + own:
                assert TIME_HELP in member.get("description", ""), (action.key, name, member)
                checked += 1
            if inner or own:  # the form shows only the top-level help: it states the rule too
                assert TIME_HELP in prop.get("description", ""), (action.key, name)
    assert checked >= 15


# -- the same over real HTTP, against the sandbox --------------------------------------------------


@pytest.fixture
def box() -> Iterator[Box]:
    yield from Box.serve()


def _consent(box: Box, email: str) -> dict[str, Any]:
    found = box.api(
        "GET",
        "/api/profiles",
        params={"filter": f"equals(email,'{email}')", "additional-fields[profile]": "subscriptions"},
    ).json()["data"]
    (profile,) = found
    return profile


def test_sandbox_email_and_phone_without_channels_keeps_sms_unsubscribed(box: Box) -> None:
    box.run("subscribeProfiles", {"profiles": [{"email": EMAIL, "phone_number": PHONE}]})
    profile = _consent(box, EMAIL)
    subscriptions = profile["attributes"]["subscriptions"]
    assert profile["attributes"]["phone_number"] == PHONE  # saved on the profile
    assert subscriptions["email"]["marketing"]["consent"] == "SUBSCRIBED"
    assert subscriptions["sms"]["marketing"]["consent"] == "NEVER_SUBSCRIBED"
    assert subscriptions["sms"]["transactional"]["consent"] == "NEVER_SUBSCRIBED"


def test_sandbox_refuses_consented_at_without_historical_import(box: Box) -> None:
    entry = {"consent": "SUBSCRIBED", "consented_at": "2024-05-01T12:00:00Z"}
    job = {
        "data": {
            "type": "profile-subscription-bulk-create-job",
            "attributes": {
                "profiles": {
                    "data": [
                        {
                            "type": "profile",
                            "attributes": {"email": EMAIL, "subscriptions": {"email": {"marketing": entry}}},
                        }
                    ]
                }
            },
        }
    }
    r = box.post("/api/profile-subscription-bulk-create-jobs", job)
    assert r.status_code == 400
    (error,) = r.json()["errors"]
    assert error["source"] == {
        "pointer": "/data/attributes/profiles/data/0/attributes/subscriptions/email/marketing/consented_at"
    }
    assert "accepted only with historical_import" in error["detail"]
    job["data"]["attributes"]["historical_import"] = True
    assert box.post("/api/profile-subscription-bulk-create-jobs", job).status_code == 202
    assert json.dumps(_consent(box, EMAIL)["attributes"]["subscriptions"]["email"]["marketing"]).count(
        "SUBSCRIBED"
    )


# -- the same rule inside filter text ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "inputs"),
    [
        ("listProfile", {"filter": "greater-than(updated,2024-05-01T09:00:00)"}),
        ("listProfile", {"filter": "greater-than(updated,'2024-05-01 09:00:00')"}),
        ("listEvents", {"filter": "greater-than(datetime,2024-05-01T09:00)"}),
    ],
)
def test_a_filter_time_without_an_offset_is_refused_naming_the_rule(runner, klaviyo, action, inputs):
    err = refused(runner, klaviyo, action, inputs)
    assert "has no UTC offset" in err.message and TIME_RULE in err.message


@pytest.mark.parametrize(
    ("text", "sent"),
    [
        ("greater-than(updated,2024-05-01T09:00:00-05:00)", "greater-than(updated,2024-05-01T14:00:00Z)"),
        (
            "greater-than(updated,2024-05-01)",
            "greater-than(updated,2024-05-01T00:00:00Z)",
        ),  # a day: UTC midnight
    ],
)
def test_filter_times_with_an_offset_or_days_are_sent_in_utc(runner, klaviyo, text, sent):
    from urllib.parse import parse_qs, urlsplit

    klaviyo.add("GET", f"{BASE}/api/profiles", json={"data": []})
    run(runner, "listProfile", {"filter": text})
    assert parse_qs(urlsplit(klaviyo.calls[0].request.url).query)["filter"] == [sent]
