"""Rules Klaviyo states only in prose, enforced before sending and by the sandbox alike.

Each rule: the action refuses bad input naming the field's label, with nothing sent; the
sandbox answers 400 (or 413) for the same body sent raw over HTTP; good input goes through.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import BASE, body, document, refused, run
from klaviyo_connector import prose_rules as rules
from sandbox_helpers import Box

PROFILES = f"{BASE}/api/profiles"
CAMPAIGNS = f"{BASE}/api/campaigns"
REPORTS = f"{BASE}/api/campaign-values-reports"
ACCOUNTS = f"{BASE}/api/accounts"
BIG = "x" * (rules.PROFILE_MAX_PAYLOAD + 1)


@pytest.fixture
def box() -> Iterator[Box]:
    yield from Box.serve()


# -- profiles need an identifier ------------------------------------------------------------------


@pytest.mark.parametrize("inputs", [{}, {"firstName": "Sarah"}, {"email": None, "phoneNumber": "null"}])
def test_create_profile_without_an_identifier_is_refused_before_sending(runner, klaviyo, inputs):
    err = refused(runner, klaviyo, "createProfile", inputs)
    assert err.field == "Email"
    assert "give at least one of Email, Phone Number or External ID" in err.message


def test_create_profile_with_one_identifier_is_sent(runner, klaviyo):
    klaviyo.add("POST", PROFILES, status=201, json=document("profile", "01P", {"external_id": "42"}))
    run(runner, "createProfile", {"externalId": "42"})
    assert body(klaviyo.calls[0]) == {"data": {"type": "profile", "attributes": {"external_id": "42"}}}


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/profiles", "A profile needs at least one of email, phone_number or external_id."),
        (
            "/api/profile-import",
            "A profile needs at least one of email, phone_number or external_id (or the profile's id).",
        ),
    ],
)
def test_sandbox_refuses_a_profile_without_an_identifier(box: Box, path: str, detail: str) -> None:
    r = box.post(path, {"data": {"type": "profile", "attributes": {}}})
    assert r.status_code == 400
    (error,) = r.json()["errors"]
    assert error["detail"] == detail and error["source"] == {"pointer": "/data/attributes"}


# -- profile requests: at most 100 KB ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "inputs"),
    [
        ("createProfile", {"email": "a@example.com", "properties": {"notes": BIG}}),
        ("updateProfile", {"profileId": "01P", "properties": {"notes": BIG}}),
        ("createOrUpdateProfile", {"email": "a@example.com", "properties": {"notes": BIG}}),
    ],
)
def test_a_profile_request_over_100_kb_is_refused_naming_the_largest_field(runner, klaviyo, action, inputs):
    err = refused(runner, klaviyo, action, inputs)
    assert err.field == "Properties"
    assert "Klaviyo accepts at most 100 KB (102,400 bytes) per profile request" in err.message


def test_sandbox_answers_413_for_a_profile_over_100_kb(box: Box) -> None:
    attrs = {"email": "a@example.com", "properties": {"notes": BIG}}
    r = box.post("/api/profiles", {"data": {"type": "profile", "attributes": attrs}})
    assert r.status_code == 413


# -- campaigns: a local send time is written in UTC ----------------------------------------------

PUSH = {"channel": "mobile_push", "content": {"body": "Sale!"}}


def _campaign(strategy: dict[str, Any], message: dict[str, Any] = PUSH) -> dict[str, Any]:
    return {
        "campaignName": "Summer",
        "includedAudiences": ["L1"],
        "campaignMessages": [message],
        "sendStrategy": strategy,
    }


def test_a_local_send_time_with_an_offset_is_refused(runner, klaviyo):
    strategy = {"method": "static", "datetime": "2026-08-01T09:00:00-05:00", "options": {"is_local": True}}
    err = refused(runner, klaviyo, "createCampaign", _campaign(strategy))
    assert err.field == "Send Strategy.static"
    assert "with is_local true, give the datetime in UTC (Z or +00:00)" in err.message


def test_a_local_send_time_in_utc_and_a_fixed_time_with_an_offset_are_sent(runner, klaviyo):
    klaviyo.add("POST", CAMPAIGNS, status=201, json=document("campaign", "C1", {"name": "Summer"}))
    local = {"method": "static", "datetime": "2026-08-01T09:00:00Z", "options": {"is_local": True}}
    fixed = {"method": "static", "datetime": "2026-08-01T09:00:00-05:00", "options": {"is_local": False}}
    run(runner, "createCampaign", _campaign(local))
    run(runner, "createCampaign", _campaign(fixed))
    sent = [body(call)["data"]["attributes"]["send_strategy"] for call in klaviyo.calls]
    assert sent == [
        {"method": "static", "datetime": "2026-08-01T09:00:00Z", "options": {"is_local": True}},
        {"method": "static", "datetime": "2026-08-01T09:00:00-05:00", "options": {"is_local": False}},
    ]


def _raw_campaign(list_id: str, strategy: dict[str, Any], content: dict[str, Any] | None = None) -> dict:
    definition = {"channel": "mobile_push", "content": content or {"body": "Sale!"}}
    return {
        "data": {
            "type": "campaign",
            "attributes": {
                "name": "Summer",
                "audiences": {"included": [list_id]},
                "send_strategy": strategy,
                "campaign-messages": {
                    "data": [{"type": "campaign-message", "attributes": {"definition": definition}}]
                },
            },
        }
    }


def test_sandbox_refuses_a_local_send_time_not_in_utc(box: Box) -> None:
    audience = box.audience([])
    local = {"method": "static", "datetime": "2026-08-01T09:00:00-05:00", "options": {"is_local": True}}
    r = box.post("/api/campaigns", _raw_campaign(audience, local))
    assert r.status_code == 400
    (error,) = r.json()["errors"]
    assert error["source"] == {"pointer": "/data/attributes/send_strategy/datetime"}
    assert "give the datetime in UTC" in error["detail"]
    local["datetime"] = "2026-08-01T09:00:00Z"
    assert box.post("/api/campaigns", _raw_campaign(audience, local)).status_code == 201


# -- campaigns: push action buttons ---------------------------------------------------------------


def _button(label: str = "Shop", action: str = "open_app", **more: Any) -> dict[str, Any]:
    return {"label": label, "action_type": action, **more}


BUTTONS: list[tuple[list[dict[str, Any]], str, str]] = [
    ([_button(), _button(), _button(), _button()], "", "at most 3 action buttons (got 4)"),
    ([_button("x" * 41)], "[0].label", "label may have at most 40 characters (got 41)"),
    ([_button(action="share")], "[0].action_type", "action_type must be one of open_app, deep_link"),
    ([_button(action="deep_link")], "[0].url", "a deep_link button needs a url"),
    (
        [_button(action="open_url", url="https://example.com/" + "a" * 2048)],
        "[0].url",
        "url must be text of at most 2048 characters",
    ),
    ([_button(position=0), _button(position=2)], "", "button positions must be 0 to 1, each once (no gaps)"),
]


@pytest.mark.parametrize(("buttons", "where", "message"), BUTTONS)
def test_push_action_buttons_beyond_the_limits_are_refused(runner, klaviyo, buttons, where, message):
    message_def = {"channel": "mobile_push", "content": {"body": "Sale!", "action_buttons": buttons}}
    err = refused(runner, klaviyo, "createCampaign", _campaign({"method": "immediate"}, message_def))
    assert err.field == "Campaign Messages[0].mobile_push.content.action_buttons"
    assert f"{where}: {message}" in err.message if where else message in err.message


def test_push_action_buttons_within_the_limits_are_sent(runner, klaviyo):
    klaviyo.add("POST", CAMPAIGNS, status=201, json=document("campaign", "C1", {"name": "Summer"}))
    buttons = [
        _button("Open", "deep_link", url="myapp://sale", position=1),
        _button("x" * 40, "dismiss", position=0),
    ]
    message_def = {"channel": "mobile_push", "content": {"body": "Sale!", "action_buttons": buttons}}
    run(runner, "createCampaign", _campaign({"method": "immediate"}, message_def))
    definition = body(klaviyo.calls[0])["data"]["attributes"]["campaign-messages"]["data"][0]["attributes"]
    assert definition["definition"]["content"]["action_buttons"] == buttons


@pytest.mark.parametrize(("buttons", "where", "message"), BUTTONS)
def test_sandbox_refuses_push_action_buttons_beyond_the_limits(box: Box, buttons, where, message) -> None:
    audience = box.audience([])
    content = {"body": "Sale!", "action_buttons": buttons}
    r = box.post("/api/campaigns", _raw_campaign(audience, {"method": "immediate"}, content))
    assert r.status_code == 400
    (error,) = r.json()["errors"]
    base = "/data/attributes/campaign-messages/data/0/attributes/definition/content/action_buttons"
    assert error["source"] == {"pointer": base + where.replace("[", "/").replace("]", "").replace(".", "/")}
    assert message in error["detail"]


# -- metric aggregates: the time zones Klaviyo takes ----------------------------------------------


@pytest.mark.parametrize(
    ("zone", "message"),
    [
        (
            "Europe/Kyiv",
            "Europe/Kyiv is one of the IANA time zones Klaviyo does not accept here; use Europe/Kiev",
        ),
        ("Pacific/Kanton", "use Pacific/Enderbury"),
        ("Factory", "Factory is one of the IANA time zones Klaviyo does not accept here"),
        ("america/new_york", "'america/new_york' is not an IANA time zone name"),
    ],
)
def test_time_zones_klaviyo_does_not_take_are_refused(runner, klaviyo, zone, message):
    inputs = {"metricId": "M", "measurements": ["count"], "startDate": "2025-06-01", "timezone": zone}
    err = refused(runner, klaviyo, "queryMetricAggregates", inputs)
    assert err.field == "Timezone" and message in err.message


def test_sandbox_refuses_time_zones_klaviyo_does_not_take(box: Box) -> None:
    def query(zone: str) -> Any:
        attrs = {
            "metric_id": "M",
            "measurements": ["count"],
            "filter": [
                "greater-or-equal(datetime,2026-07-01T00:00:00)",
                "less-than(datetime,2026-07-02T00:00:00)",
            ],
            "timezone": zone,
        }
        return box.post("/api/metric-aggregates", {"data": {"type": "metric-aggregate", "attributes": attrs}})

    for zone in ("Europe/Kyiv", "america/new_york"):
        r = query(zone)
        assert r.status_code == 400
        (error,) = r.json()["errors"]
        assert error["source"] == {"pointer": "/data/attributes/timezone"}
        assert error["detail"].startswith("Invalid timezone: ")
    past = query("Europe/Kiev")  # the time zone is taken; then the metric "M" doesn't exist
    assert past.status_code == 400
    assert past.json()["errors"][0]["source"] == {"pointer": "/data/attributes/metric_id"}


# -- campaign values report: custom times are read in the account's time zone ---------------------

REPORT = {"statistics": ["recipients"], "conversionMetricId": "M"}
RESULT = {"data": {"type": "campaign-values-report", "attributes": {"results": []}, "links": {"self": "x"}}}


def _account(zone: str) -> dict[str, Any]:
    attrs = {"timezone": zone}
    return {"data": [{"type": "account", "id": "A1", "attributes": attrs, "links": {"self": "x"}}]}


def test_report_days_start_at_midnight_in_the_accounts_time_zone(runner, klaviyo):
    klaviyo.add("GET", ACCOUNTS, json=_account("Asia/Tokyo"))
    klaviyo.add("POST", REPORTS, json=RESULT)
    run(runner, "queryCampaignValues", {**REPORT, "timeframe": {"start": "2026-07-01", "end": "2026-07-08"}})
    assert body(klaviyo.calls[1])["data"]["attributes"]["timeframe"] == {
        "start": "2026-07-01T00:00:00+09:00",
        "end": "2026-07-08T00:00:00+09:00",
    }


def test_report_days_and_times_are_not_mixed(runner, klaviyo):
    timeframe = {"start": "2026-07-01", "end": "2026-07-08T00:00:00Z"}
    err = refused(runner, klaviyo, "queryCampaignValues", {**REPORT, "timeframe": timeframe})
    assert err.field == "Timeframe.custom"
    assert "give start and end both as days (YYYY-MM-DD) or both as date-times" in err.message


def test_report_with_a_bad_filter_reads_nothing(runner, klaviyo):
    inputs = {
        **REPORT,
        "timeframe": {"start": "2026-07-01", "end": "2026-07-08"},
        "filter": "equals(status,'x')",
    }
    err = refused(runner, klaviyo, "queryCampaignValues", inputs)
    assert err.field == "Filter"


def test_sandbox_report_over_custom_days(box: Box) -> None:
    out = box.run(
        "queryCampaignValues",
        {
            **REPORT,
            "timeframe": '{"start": "2026-07-01", "end": "2026-07-08"}',
            "conversionMetricId": "RESQ6t",
        },
    )
    assert out["data"]["type"] == "campaign-values-report"


# -- subscriptions: the job limits ---------------------------------------------------------------


def test_sandbox_refuses_a_subscribe_job_over_its_limit(box: Box) -> None:
    rows = [
        {
            "type": "profile",
            "attributes": {
                "email": f"p{i}@example.com",
                "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}},
            },
        }
        for i in range(rules.SUBSCRIBE_MAX_PROFILES + 1)
    ]
    job = {
        "data": {"type": "profile-subscription-bulk-create-job", "attributes": {"profiles": {"data": rows}}}
    }
    r = box.post("/api/profile-subscription-bulk-create-jobs", job)
    assert r.status_code == 400
    assert "A maximum of 1000 profiles can be sent per job" in r.json()["errors"][0]["detail"]


# -- one copy of each fact ------------------------------------------------------------------------


def test_the_actions_and_the_sandbox_take_each_limit_from_one_place():
    from klaviyo_connector.actions import events, images, imports, lists, subscriptions
    from klaviyo_connector.sandbox.resources import events as sb_events
    from klaviyo_connector.sandbox.resources import images as sb_images
    from klaviyo_connector.sandbox.resources import imports as sb_imports
    from klaviyo_connector.sandbox.resources import lists as sb_lists
    from klaviyo_connector.sandbox.resources import profiles as sb_profiles
    from klaviyo_connector.sandbox.resources import subscriptions as sb_subscriptions
    from klaviyo_connector.sandbox.resources import templates as sb_templates

    pairs = [
        (subscriptions.SUBSCRIBE_PER_CALL, sb_subscriptions.MAX_SUBSCRIBE, rules.SUBSCRIBE_MAX_PROFILES),
        (
            subscriptions.UNSUBSCRIBE_PER_CALL,
            sb_subscriptions.MAX_UNSUBSCRIBE,
            rules.UNSUBSCRIBE_MAX_PROFILES,
        ),
        (subscriptions.SUPPRESS_PER_CALL, sb_subscriptions.MAX_SUPPRESS, rules.SUPPRESS_MAX_EMAILS),
        (events.MAX_PROPERTIES, sb_events.MAX_PROPERTIES, rules.EVENT_MAX_PROPERTIES),
        (events.MAX_METRIC_NAME, sb_events.MAX_METRIC_NAME, rules.EVENT_MAX_METRIC_NAME),
        (events.MAX_BULK_EVENTS, sb_events.MAX_BULK_EVENTS, rules.EVENT_BULK_MAX_EVENTS),
        (events.EARLIEST, sb_events.EARLIEST, rules.EVENT_EARLIEST),
        (imports.PROFILES_PER_JOB, sb_imports.MAX_PROFILES, rules.IMPORT_MAX_PROFILES),
        (imports.BYTES_PER_PROFILE, sb_imports.MAX_PROFILE_BYTES, rules.IMPORT_MAX_PROFILE_BYTES),
        (images.MAX_IMAGE_BYTES, sb_images.MAX_BYTES, rules.IMAGE_MAX_BYTES),
        (lists.MEMBERS_PER_CALL, sb_lists.MAX_MEMBERS_PER_CALL, rules.LIST_MEMBERS_PER_CALL),
        (sb_profiles.MAX_PAYLOAD, sb_profiles.MAX_PAYLOAD, rules.PROFILE_MAX_PAYLOAD),
        (sb_templates.MAX_TEMPLATES, sb_templates.MAX_TEMPLATES, rules.TEMPLATE_API_LIMIT),
    ]
    for action_side, sandbox_side, fact in pairs:
        assert action_side == sandbox_side == fact
    # the sender's 5 MB stays under both readings of "5MB"; the sandbox refuses above the larger
    assert events.MAX_BULK_BYTES == imports.BYTES_PER_JOB == rules.FIVE_MB_SAFE < sb_events.MAX_PAYLOAD
