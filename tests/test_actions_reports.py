"""Query Campaign Values: request body, local checks, paging cursor, retries; then the sandbox."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import BASE, body, run
from contract import validate_response
from klaviyo_connector.errors import QUOTA_EXHAUSTED, KlaviyoError
from sandbox_helpers import HTML, Box, Client, FakeClock, new_campaign

URL = f"{BASE}/api/campaign-values-reports"
RESULT = {
    "data": {
        "type": "campaign-values-report",
        "attributes": {
            "results": [
                {
                    "groupings": {
                        "campaign_id": "01A",
                        "campaign_message_id": "01B",
                        "send_channel": "email",
                    },
                    "statistics": {"recipients": 100, "open_rate": 0.42},
                }
            ]
        },
    },
    "links": {"self": URL},
}
BASE_INPUTS = {
    "statistics": "recipients,open_rate",
    "timeframe": "last_30_days",
    "conversionMetricId": "RESQ6t",
}


def test_query_with_a_preset_timeframe(runner, klaviyo):
    klaviyo.add("POST", URL, json=RESULT)
    out = run(runner, "queryCampaignValues", BASE_INPUTS)
    assert out == {"data": RESULT}
    request = klaviyo.calls[0].request
    assert request.url == URL
    assert request.headers["Content-Type"] == "application/vnd.api+json"
    assert body(klaviyo.calls[0]) == {
        "data": {
            "type": "campaign-values-report",
            "attributes": {
                "statistics": ["recipients", "open_rate"],
                "timeframe": {"key": "last_30_days"},
                "conversion_metric_id": "RESQ6t",
            },
        }
    }


def account_in(zone: str) -> dict:
    attrs = {"timezone": zone}
    return {"data": [{"type": "account", "id": "AbC123", "attributes": attrs, "links": {"self": "x"}}]}


def test_query_with_custom_timeframe_filter_group_by_and_cursor(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/accounts", json=account_in("America/New_York"))
    klaviyo.add("POST", URL, json=RESULT)
    run(
        runner,
        "queryCampaignValues",
        {
            **BASE_INPUTS,
            "statistics": ["conversions", "conversion_value", "conversions"],
            # Klaviyo reads custom times in the account's zone: both are converted into it
            "timeframe": '{"start": "2026-07-01T00:00:00-04:00", "end": "2026-07-02T00:00:00Z"}',
            "filter": "and(equals(send_channel,'email'),contains-any(campaign_id,['01A','01C']))",
            "groupBy": "campaign_id,campaign_message_id,campaign_message_name",
            "pageCursor": "bmV4dA",
        },
    )
    account, report = klaviyo.calls
    assert account.request.params == {"fields[account]": "timezone"}
    assert report.request.params == {"page_cursor": "bmV4dA"}
    assert body(report)["data"]["attributes"] == {
        "statistics": ["conversions", "conversion_value"],
        "timeframe": {"start": "2026-07-01T00:00:00-04:00", "end": "2026-07-01T20:00:00-04:00"},
        "conversion_metric_id": "RESQ6t",
        "filter": "equals(send_channel,'email'),contains-any(campaign_id,['01A','01C'])",
        "group_by": ["campaign_id", "campaign_message_id", "campaign_message_name"],
    }


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"statistics": "opens,views"}, "Statistics: views not allowed; choose from: average_order_value"),
        ({"statistics": ""}, "Statistics: List should have at least 1 item"),
        ({"timeframe": "last_3_days"}, "Timeframe: 'last_3_days' is not a preset"),
        (
            {"timeframe": '{"start": "2026-07-02T00:00:00Z", "end": "2026-07-01T00:00:00Z"}'},
            "end must be after start",
        ),
        (
            {"timeframe": '{"start": "2024-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}'},
            "at most one year",
        ),
        ({"conversionMetricId": ""}, "Conversion Metric ID:"),
        (
            {"groupBy": "campaign_id,send_channel"},
            "Group By: must include campaign_id and campaign_message_id",
        ),
        ({"groupBy": "campaign_id,campaign_message_id,day"}, "Group By: day not allowed"),
        ({"filter": "equals(status,'Sent')"}, "Filter: filtering on 'status' is not supported"),
        ({"filter": "or(equals(send_channel,'sms'),equals(send_channel,'email'))"}, "only and() can combine"),
        (
            {"filter": "equals(send_channel,'fax')"},
            "send_channel takes email, sms, push-notification, whatsapp",
        ),
        ({"filter": "contains-all(campaign_id,['a'])"}, "campaign_id cannot be used with contains-all()"),
        (
            {"filter": "equals(campaign_id,'a'),contains-any(campaign_id,['b'])"},
            "only one condition per attribute is allowed",
        ),
    ],
)
def test_query_input_errors(runner, klaviyo, inputs, message):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "queryCampaignValues", {**BASE_INPUTS, **inputs})
    assert message in str(info.value)
    assert len(klaviyo.calls) == 0


def test_filter_list_limit(runner, klaviyo):
    ids = ",".join(f"'c{n}'" for n in range(101))
    with pytest.raises(KlaviyoError, match="campaign_id: at most 100 values per list"):
        run(runner, "queryCampaignValues", {**BASE_INPUTS, "filter": f"contains-any(campaign_id,[{ids}])"})


def test_query_is_retried_after_a_short_429(runner, klaviyo, sleeps):
    throttled = {"errors": [{"code": "throttled", "detail": "Expected available in 30 seconds."}]}
    klaviyo.add("POST", URL, status=429, headers={"Retry-After": "30"}, json=throttled)
    klaviyo.add("POST", URL, json=RESULT)
    assert run(runner, "queryCampaignValues", BASE_INPUTS) == {"data": RESULT}
    assert sleeps.waits and sleeps.waits[0] >= 30


def test_daily_quota_is_reported_not_waited_for(runner, klaviyo, sleeps):
    throttled = {"errors": [{"code": "throttled", "detail": "Expected available in 40000 seconds."}]}
    klaviyo.add("POST", URL, status=429, headers={"Retry-After": "40000"}, json=throttled)
    with pytest.raises(KlaviyoError) as info:
        run(runner, "queryCampaignValues", BASE_INPUTS)
    assert info.value.error_class == QUOTA_EXHAUSTED
    assert sleeps.waits == []
    assert len(klaviyo.calls) == 1


def test_report_action_declares_its_tight_limits():
    from klaviyo_connector.actions import reports

    (action,) = reports.ACTIONS
    described = action.describe()
    assert described["read_only"] and described["idempotent"]
    assert described["rate_limits"] == {
        "query_campaign_values": {"burst_per_second": 1, "steady_per_minute": 2, "daily": 225},
        "get_accounts": {"burst_per_second": 1, "steady_per_minute": 15, "daily": None},
    }
    assert described["scopes"] == ["accounts:read", "campaigns:read"]


# -- sandbox ---------------------------------------------------------------------------------------


@pytest.fixture
def box() -> Iterator[Box]:
    yield from Box.serve()


def report_request(**attributes: Any) -> dict[str, Any]:
    """A campaign values report request body; ``attributes`` override the defaults."""
    defaults = {"statistics": ["recipients"], "timeframe": {"key": "today"}, "conversion_metric_id": "RESQ6t"}
    return {"data": {"type": "campaign-values-report", "attributes": {**defaults, **attributes}}}


def sent_campaign(box: Box, audience: str, **inputs: Any) -> str:
    template = box.run("createTemplate", {"templateName": "T", "templateHtml": HTML})["data"]["id"]
    campaign_id = new_campaign(box, audience, **inputs)["data"]["id"]
    box.run("assignCampaignTemplate", {"campaignId": campaign_id, "templateId": template})
    box.run("sendCampaign", {"campaignId": campaign_id})
    return str(campaign_id)


def test_sandbox_report_rows_come_from_sent_campaigns(box):
    people = [{"email": f"p{n}@example.com"} for n in range(40)]
    audience = box.audience(people)
    first = sent_campaign(box, audience)
    draft = new_campaign(box, audience, campaignName="Draft")["data"]["id"]
    later = sent_campaign(
        box, audience, sendStrategy={"method": "static", "datetime": "2026-07-20T00:00:00Z"}
    )
    statistics = (
        "recipients,delivered,delivery_rate,opens_unique,open_rate,clicks_unique,click_rate,conversion_value"
    )
    inputs = {"statistics": statistics, "timeframe": "today", "conversionMetricId": "RESQ6t"}

    report = box.run("queryCampaignValues", inputs)
    validate_response("POST", f"{box.url}/api/campaign-values-reports", 200, report)
    (row,) = report["data"]["attributes"]["results"]
    assert row["groupings"]["campaign_id"] == first  # not the draft, not the scheduled one
    assert row["groupings"]["send_channel"] == "email"
    stats = row["statistics"]
    assert list(stats) == statistics.split(",")
    assert stats["recipients"] == 40
    assert 0 < stats["delivered"] <= 40
    assert stats["delivery_rate"] == round(stats["delivered"] / 40, 4)
    assert 0.0 <= stats["open_rate"] <= 1.0 and 0.0 <= stats["click_rate"] <= 1.0
    assert report["data"]["relationships"]["campaigns"]["data"] == [{"type": "campaign", "id": first}]
    assert box.run("queryCampaignValues", inputs) == report  # deterministic
    assert draft not in json.dumps(report) and later not in json.dumps(report)

    box.clock.now += 6 * 86400  # 2026-07-21: the scheduled campaign went out on the 20th
    week = box.run("queryCampaignValues", {**inputs, "timeframe": "last_7_days"})
    assert {r["groupings"]["campaign_id"] for r in week["data"]["attributes"]["results"]} == {first, later}
    assert (
        box.run("queryCampaignValues", {**inputs, "timeframe": "today"})["data"]["attributes"]["results"]
        == []
    )
    window = '{"start": "2026-07-19T00:00:00Z", "end": "2026-07-21T00:00:00Z"}'
    custom = box.run("queryCampaignValues", {**inputs, "timeframe": window})
    assert [r["groupings"]["campaign_id"] for r in custom["data"]["attributes"]["results"]] == [later]

    filtered = box.run(
        "queryCampaignValues",
        {**inputs, "timeframe": "last_7_days", "filter": f"equals(campaign_id,'{later}')"},
    )
    assert [r["groupings"]["campaign_id"] for r in filtered["data"]["attributes"]["results"]] == [later]
    by_name = box.run(
        "queryCampaignValues",
        {
            **inputs,
            "timeframe": "last_7_days",
            "groupBy": "campaign_id,campaign_message_id,campaign_message_name",
        },
    )
    assert {tuple(r["groupings"]) for r in by_name["data"]["attributes"]["results"]} == {
        ("campaign_id", "campaign_message_id", "campaign_message_name")
    }
    assert {r["groupings"]["campaign_message_name"] for r in by_name["data"]["attributes"]["results"]} == {
        "Main"
    }


def test_sandbox_recipients_leave_out_unsubscribed_and_excluded_people(box):
    audience = box.audience([{"email": f"p{n}@example.com"} for n in range(4)])
    excluded = box.audience([{"email": "vip@example.com"}])
    box.run("addProfilesToList", {"listId": audience, "emails": ["vip@example.com"]})
    box.run("unsubscribeProfiles", {"profiles": [{"email": "p0@example.com"}]})
    campaign_id = sent_campaign(box, audience, excludedAudiences=excluded)
    inputs = {"statistics": "recipients", "timeframe": "today", "conversionMetricId": "RESQ6t"}
    (row,) = box.run("queryCampaignValues", inputs)["data"]["attributes"]["results"]
    assert row["groupings"]["campaign_id"] == campaign_id
    assert row["statistics"] == {"recipients": 3}  # 5 members - 1 unsubscribed - 1 excluded


def test_sandbox_sms_report_counts_subscribed_phone_numbers(box):
    audience = box.audience([{"phoneNumber": "+15005550006"}], sms_consent=True)
    box.run(
        "addProfilesToList", {"listId": audience, "emails": ["only@example.com"]}
    )  # no phone: not reached
    sms = {"channel": "sms", "content": {"body": "Sale! " * 40}}
    campaign_id = new_campaign(box, audience, campaignMessages=[sms])["data"]["id"]
    box.run("sendCampaign", {"campaignId": campaign_id})
    inputs = {
        "statistics": "recipients,opens_unique,message_segment_count_sum,text_message_spend",
        "timeframe": "this_month",
        "conversionMetricId": "RESQ6t",
        "filter": "equals(send_channel,'sms')",
    }
    (row,) = box.run("queryCampaignValues", inputs)["data"]["attributes"]["results"]
    assert row["statistics"]["recipients"] == 1
    assert row["statistics"]["opens_unique"] == 0  # SMS has no opens
    assert row["statistics"]["message_segment_count_sum"] == 2  # a 239-character body is 2 segments
    assert (
        box.run("queryCampaignValues", {**inputs, "filter": "equals(send_channel,'email')"})["data"][
            "attributes"
        ]["results"]
        == []
    )


@pytest.mark.parametrize(
    ("attributes", "pointer"),
    [
        ({"statistics": ["views"]}, "/data/attributes/statistics/0"),
        ({"statistics": []}, "/data/attributes/statistics"),
        ({"timeframe": {"key": "last_3_days"}}, "/data/attributes/timeframe/key"),
        (
            {"timeframe": {"start": "2024-01-01T00:00:00Z", "end": "2026-01-01T00:00:00Z"}},
            "/data/attributes/timeframe",
        ),
        ({"conversion_metric_id": None}, "/data/attributes/conversion_metric_id"),
        ({"group_by": ["send_channel"]}, "/data/attributes/group_by"),
        ({"filter": "equals(status,'Sent')"}, "/data/attributes/filter"),
        (
            {"filter": "or(equals(send_channel,'sms'),equals(send_channel,'email'))"},
            "/data/attributes/filter",
        ),
        ({"filter": "equals(send_channel,'fax')"}, "/data/attributes/filter"),
        ({"interval": "day"}, "/data/attributes/interval"),
    ],
)
def test_sandbox_report_request_checks(box, attributes, pointer):
    # box.post checks the 400 against the spec's error schema.
    response = box.post("/api/campaign-values-reports", report_request(**attributes))
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["source"] == {"pointer": pointer}


def test_sandbox_report_rate_limit_is_two_a_minute():
    from klaviyo_connector.sandbox import Sandbox, SandboxOptions

    clock = FakeClock()
    with Sandbox(SandboxOptions(state_path=":memory:", clock=clock)) as sandbox:
        assert sandbox.base_url is not None
        api = Client(sandbox.base_url)
        codes = []
        for _ in range(3):
            clock.now += 1.5  # past the 1/s burst window each time
            codes.append(api("POST", "/api/campaign-values-reports", report_request()).status_code)
        assert codes == [200, 200, 429]


def test_sandbox_report_without_sent_campaigns_is_empty(box):
    report = box.run(
        "queryCampaignValues",
        {"statistics": "recipients", "timeframe": "last_year", "conversionMetricId": "M"},
    )
    assert report["data"]["attributes"]["results"] == []
