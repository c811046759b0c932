"""Campaign actions against a mocked Klaviyo, then the sandbox (with a clock the tests move)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import BASE, body, document, run
from contract import validate_response
from klaviyo_connector.errors import KlaviyoError
from sandbox_helpers import EMAIL, HTML, Box, new_campaign

CAMPAIGN_ID = "01J2DNH88028WCAA2RK0BYBZVG"
MESSAGE_ID = "01J2DNH8D3DS2Z1NRGKMEWS1T2"


def campaign_doc(**attributes: Any) -> dict[str, Any]:
    attrs = {
        "name": "Summer",
        "status": "Draft",
        "archived": False,
        "audiences": {"included": ["Y6nRLr"], "excluded": []},
        "send_options": {"use_smart_sending": True},
        "tracking_options": None,
        "send_strategy": {"method": "immediate"},
        "created_at": "2026-07-15T00:00:00+00:00",
        "updated_at": "2026-07-15T00:00:00+00:00",
    }
    return document("campaign", CAMPAIGN_ID, {**attrs, **attributes})


def message(message_id: str, label: str) -> dict[str, Any]:
    return {
        "type": "campaign-message",
        "id": message_id,
        "attributes": {"definition": {"channel": "email", "label": label, "content": {}}},
        "links": {"self": f"{BASE}/api/campaign-messages/{message_id}/"},
    }


# -- createCampaign --------------------------------------------------------------------------------


def test_create_campaign_builds_the_wire_body(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/campaigns", status=201, json=campaign_doc())
    out = run(
        runner,
        "createCampaign",
        {
            "campaignName": "Summer",
            "includedAudiences": "Y6nRLr, X7MYfE",
            "excludedAudiences": ["UTd5ui"],
            "campaignMessages": json.dumps(EMAIL),
            "sendStrategy": '{"method": "static", "datetime": "2026-08-01T15:00:00Z", '
            '"options": {"is_local": true, "send_past_recipients_immediately": false}}',
            "sendOptions": {"use_smart_sending": False},
            "trackingOptions": {
                "is_tracking_opens": True,
                "custom_tracking_params": [
                    {"type": "dynamic", "value": "campaign_name", "name": "utm_campaign"},
                    {"type": "static", "value": "klaviyo", "name": "utm_source"},
                ],
            },
        },
    )
    assert out == {"data": campaign_doc()}
    assert body(klaviyo.calls[0]) == {
        "data": {
            "type": "campaign",
            "attributes": {
                "name": "Summer",
                "audiences": {"included": ["Y6nRLr", "X7MYfE"], "excluded": ["UTd5ui"]},
                "send_strategy": {
                    "method": "static",
                    "datetime": "2026-08-01T15:00:00Z",
                    "options": {"is_local": True, "send_past_recipients_immediately": False},
                },
                "send_options": {"use_smart_sending": False},
                "tracking_options": {
                    "is_tracking_opens": True,
                    "custom_tracking_params": [
                        {"type": "dynamic", "value": "campaign_name", "name": "utm_campaign"},
                        {"type": "static", "value": "klaviyo", "name": "utm_source"},
                    ],
                },
                "campaign-messages": {
                    "data": [{"type": "campaign-message", "attributes": {"definition": EMAIL}}]
                },
            },
        }
    }


@pytest.mark.parametrize(
    ("messages", "definition"),
    [
        (
            [{"channel": "sms", "content": {"body": "Sale!"}, "render_options": {"shorten_links": False}}],
            {"channel": "sms", "content": {"body": "Sale!"}, "render_options": {"shorten_links": False}},
        ),
        (
            {"data": [{"type": "campaign-message", "attributes": {"definition": EMAIL}}]},
            EMAIL,
        ),
        (
            [{"channel": "mobile_push", "content": {"title": "Hi", "body": "Sale!"}}],
            {"channel": "mobile_push", "content": {"title": "Hi", "body": "Sale!"}},
        ),
        (
            [{"channel": "mobile_push", "notification_type": "silent", "kv_pairs": {"a": "1"}}],
            {"channel": "mobile_push", "notification_type": "silent", "kv_pairs": {"a": "1"}},
        ),
    ],
)
def test_create_campaign_message_shapes(runner, klaviyo, messages, definition):
    klaviyo.add("POST", f"{BASE}/api/campaigns", status=201, json=campaign_doc())
    run(
        runner,
        "createCampaign",
        {"campaignName": "S", "includedAudiences": "Y6nRLr", "campaignMessages": messages},
    )
    sent = body(klaviyo.calls[0])["data"]["attributes"]["campaign-messages"]["data"]
    assert sent == [{"type": "campaign-message", "attributes": {"definition": definition}}]


@pytest.mark.parametrize(
    ("strategy", "wire"),
    [
        ({"method": "immediate"}, {"method": "immediate"}),
        (
            {"method": "smart_send_time", "date": "2026-08-01"},
            {"method": "smart_send_time", "date": "2026-08-01"},
        ),
        (
            {"method": "throttled", "datetime": "2026-08-01T10:00:00+02:00", "throttle_percentage": 25},
            {"method": "throttled", "datetime": "2026-08-01T10:00:00+02:00", "throttle_percentage": 25},
        ),
    ],
)
def test_create_campaign_send_strategies(runner, klaviyo, strategy, wire):
    klaviyo.add("POST", f"{BASE}/api/campaigns", status=201, json=campaign_doc())
    inputs = {
        "campaignName": "S",
        "includedAudiences": "Y6nRLr",
        "campaignMessages": [EMAIL],
        "sendStrategy": strategy,
    }
    run(runner, "createCampaign", inputs)
    assert body(klaviyo.calls[0])["data"]["attributes"]["send_strategy"] == wire


BASE_INPUTS = {"campaignName": "S", "includedAudiences": "Y6nRLr", "campaignMessages": [EMAIL]}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"campaignMessages": []}, "Campaign Messages: List should have at least 1 item"),
        ({"campaignMessages": [{"label": "x"}]}, "Campaign Messages: each message needs a channel"),
        (
            {"campaignMessages": [{"channel": "email", "content": {"from_email": "nope"}}]},
            "Campaign Messages[0].email.content.from_email: is not a valid email address",
        ),
        (
            {"campaignMessages": [{"channel": "email", "content": {"subjekt": "typo"}}]},
            "Campaign Messages[0].email.content.subjekt: is not an allowed member here",
        ),
        ({"campaignMessages": [{"channel": "mobile_push"}]}, "a standard push notification needs content"),
        (
            {
                "campaignMessages": [
                    {"channel": "mobile_push", "notification_type": "silent", "content": {"body": "x"}}
                ]
            },
            "a silent push notification takes only kv_pairs",
        ),
        ({"includedAudiences": ""}, "Included Audiences: List should have at least 1 item"),
        ({"includedAudiences": " , "}, "Included Audiences: List should have at least 1 item"),
        ({"sendStrategy": {"method": "later"}}, 'Send Strategy: "method" must be one of static, throttled'),
        ({"sendStrategy": {"method": "static"}}, "Send Strategy.static.datetime: is required"),
        (
            {
                "sendStrategy": {
                    "method": "throttled",
                    "datetime": "2026-08-01T00:00:00Z",
                    "throttle_percentage": 15,
                }
            },
            "throttle_percentage: must be one of 1, 2, 5, 10, 11, 13, 14, 17, 20, 25, 33, 50",
        ),
        (
            {
                "sendStrategy": {
                    "method": "static",
                    "datetime": "2026-08-01T00:00:00Z",
                    "options": {"is_local": False, "send_past_recipients_immediately": True},
                }
            },
            "send_past_recipients_immediately applies only when is_local is true",
        ),
        (
            {"sendStrategy": {"method": "smart_send_time", "date": "soon"}},
            "Send Strategy.smart_send_time.date",
        ),
        (
            {
                "trackingOptions": {
                    "custom_tracking_params": [{"type": "dynamic", "value": "weekday", "name": "d"}]
                }
            },
            "value: must be one of campaign_id",
        ),
        ({"sendOptions": "{not json"}, "Send Options: is not valid JSON"),
    ],
)
def test_create_campaign_input_errors(runner, klaviyo, inputs, message):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "createCampaign", {**BASE_INPUTS, **inputs})
    assert message in str(info.value)
    assert len(klaviyo.calls) == 0


# -- update / get / list / delete ------------------------------------------------------------------


def test_update_campaign_sends_only_given_members(runner, klaviyo):
    klaviyo.add("PATCH", f"{BASE}/api/campaigns/{CAMPAIGN_ID}", json=campaign_doc(name="Renamed"))
    out = run(
        runner,
        "updateCampaign",
        {"campaignId": CAMPAIGN_ID, "campaignName": "Renamed", "excludedAudiences": "UTd5ui"},
    )
    assert out["data"]["data"]["attributes"]["name"] == "Renamed"
    assert body(klaviyo.calls[0]) == {
        "data": {
            "type": "campaign",
            "id": CAMPAIGN_ID,
            "attributes": {"name": "Renamed", "audiences": {"excluded": ["UTd5ui"]}},
        }
    }


def test_update_campaign_needs_a_change(runner, klaviyo):
    with pytest.raises(KlaviyoError, match="give at least one change"):
        run(runner, "updateCampaign", {"campaignId": CAMPAIGN_ID})
    with pytest.raises(KlaviyoError, match="campaignMessages: is not an input of this action"):
        run(runner, "updateCampaign", {"campaignId": CAMPAIGN_ID, "campaignMessages": [EMAIL]})
    assert len(klaviyo.calls) == 0


def test_get_campaign_with_fields_and_include(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/campaigns/{CAMPAIGN_ID}", json=campaign_doc())
    run(
        runner,
        "getCampaign",
        {"campaignId": CAMPAIGN_ID, "fields": "name,status", "include": "campaign-messages"},
    )
    assert klaviyo.calls[0].request.params == {
        "fields[campaign]": "name,status",
        "include": "campaign-messages",
    }


def test_get_campaign_rejects_unknown_include(runner, klaviyo):
    with pytest.raises(
        KlaviyoError, match="Include: lists not allowed; choose from: campaign-messages, tags"
    ):
        run(runner, "getCampaign", {"campaignId": CAMPAIGN_ID, "include": "lists"})
    assert len(klaviyo.calls) == 0


def list_page() -> dict[str, Any]:
    return {"data": [campaign_doc()["data"]], "links": {"self": f"{BASE}/api/campaigns"}}


@pytest.mark.parametrize(
    ("inputs", "sent_filter"),
    [
        ({}, "equals(messages.channel,'email')"),
        ({"channel": "sms"}, "equals(messages.channel,'sms')"),
        (
            {"filter": "equals(status,'Sent')"},
            "equals(status,'Sent'),equals(messages.channel,'email')",
        ),
        ({"filter": "equals(messages.channel,'sms')"}, "equals(messages.channel,'sms')"),
        (
            {
                "filter": "and(equals(messages.channel,'mobile_push'),contains(name,'x'))",
                "channel": "mobile_push",
            },
            "and(equals(messages.channel,'mobile_push'),contains(name,'x'))",
        ),
        (
            {"filter": "greater-or-equal(created_at,'2024-08-01T00:00:00Z')"},
            "greater-or-equal(created_at,2024-08-01T00:00:00Z),equals(messages.channel,'email')",
        ),
    ],
)
def test_list_campaigns_always_pins_a_channel(runner, klaviyo, inputs, sent_filter):
    klaviyo.add("GET", f"{BASE}/api/campaigns", json=list_page())
    out = run(runner, "listCampaigns", inputs)
    assert out["data"]["data"] == list_page()["data"]
    assert klaviyo.calls[0].request.params == {"filter": sent_filter, "page[size]": "100"}


def test_list_campaigns_channel_conflict_and_bad_filter(runner, klaviyo):
    with pytest.raises(
        KlaviyoError, match="Channel: is email but Filter Campaigns asks for messages.channel sms"
    ):
        run(runner, "listCampaigns", {"channel": "email", "filter": "equals(messages.channel,'sms')"})
    with pytest.raises(KlaviyoError) as info:
        run(runner, "listCampaigns", {"filter": "equals(subject,'x')"})
    assert info.value.field == "Filter Campaigns"
    assert "filtering on 'subject' is not supported" in str(info.value)
    with pytest.raises(KlaviyoError, match="Channel: "):
        run(runner, "listCampaigns", {"channel": "whatsapp"})
    assert len(klaviyo.calls) == 0


def test_list_campaigns_fetch_all_follows_pages(runner, klaviyo):
    second = f"{BASE}/api/campaigns?filter=equals(messages.channel,'email')&page%5Bcursor%5D=abc"
    klaviyo.add("GET", f"{BASE}/api/campaigns", json={**list_page(), "links": {"self": "x", "next": second}})
    klaviyo.add("GET", second, json=list_page())
    out = run(runner, "listCampaigns", {"fetchAll": True, "include": "tags"})
    assert out["data"]["meta"]["pages"] == 2
    assert klaviyo.calls[0].request.params["include"] == "tags"


def test_delete_campaign_acknowledges(runner, klaviyo):
    klaviyo.add("DELETE", f"{BASE}/api/campaigns/{CAMPAIGN_ID}", status=204)
    out = run(runner, "deleteCampaign", {"campaignId": CAMPAIGN_ID})
    assert out["data"] == {
        "accepted": "Campaign deleted.",
        "status": 204,
        "asynchronous": False,
        "campaign_id": CAMPAIGN_ID,
    }


# -- send / assign template ------------------------------------------------------------------------


def test_send_campaign_returns_the_job(runner, klaviyo):
    job = {
        "data": {
            "type": "campaign-send-job",
            "id": CAMPAIGN_ID,
            "attributes": {"status": "queued"},
            "links": {"self": f"{BASE}/api/campaign-send-jobs/{CAMPAIGN_ID}/"},
        },
        "links": {"self": f"{BASE}/api/campaign-send-jobs/{CAMPAIGN_ID}/"},
    }
    klaviyo.add("POST", f"{BASE}/api/campaign-send-jobs", status=202, json=job)
    out = run(runner, "sendCampaign", {"campaignId": CAMPAIGN_ID})["data"]
    assert body(klaviyo.calls[0]) == {"data": {"type": "campaign-send-job", "id": CAMPAIGN_ID}}
    assert out["status"] == 202 and out["asynchronous"] is True
    assert out["job_id"] == CAMPAIGN_ID and out["job"] == job["data"]
    assert out["campaign_id"] == CAMPAIGN_ID


def test_send_campaign_is_not_retried_on_a_server_error(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/campaign-send-jobs", status=500, json={"errors": [{"detail": "oops"}]})
    with pytest.raises(KlaviyoError):
        run(runner, "sendCampaign", {"campaignId": CAMPAIGN_ID})
    assert len(klaviyo.calls) == 1


ASSIGNED = {
    "data": {
        "type": "campaign-message",
        "id": MESSAGE_ID,
        "attributes": {"label": "Main", "channel": "email", "content": {}},
        "links": {"self": f"{BASE}/api/campaign-messages/{MESSAGE_ID}/"},
    }
}
ASSIGN_BODY = {
    "data": {
        "type": "campaign-message",
        "id": MESSAGE_ID,
        "relationships": {"template": {"data": {"type": "template", "id": "RipRmi"}}},
    }
}


def test_assign_template_by_message_id(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/campaign-message-assign-template", json=ASSIGNED)
    out = run(runner, "assignCampaignTemplate", {"campaignMessageId": MESSAGE_ID, "templateId": "RipRmi"})
    assert out == {"data": ASSIGNED}
    assert len(klaviyo.calls) == 1
    assert body(klaviyo.calls[0]) == ASSIGN_BODY


def test_assign_template_by_campaign_id_resolves_its_message(runner, klaviyo):
    klaviyo.add(
        "GET",
        f"{BASE}/api/campaigns/{CAMPAIGN_ID}/campaign-messages",
        json={"data": [message(MESSAGE_ID, "Main")], "links": {"self": "x"}},
    )
    klaviyo.add("POST", f"{BASE}/api/campaign-message-assign-template", json=ASSIGNED)
    run(runner, "assignCampaignTemplate", {"campaignId": CAMPAIGN_ID, "templateId": "RipRmi"})
    assert [c.request.method for c in klaviyo.calls] == ["GET", "POST"]
    assert body(klaviyo.calls[1]) == ASSIGN_BODY


def test_assign_template_refuses_a_campaign_with_several_messages(runner, klaviyo):
    klaviyo.add(
        "GET",
        f"{BASE}/api/campaigns/{CAMPAIGN_ID}/campaign-messages",
        json={"data": [message("01AAA", "A"), message("01BBB", "B")], "links": {"self": "x"}},
    )
    with pytest.raises(KlaviyoError) as info:
        run(runner, "assignCampaignTemplate", {"campaignId": CAMPAIGN_ID, "templateId": "RipRmi"})
    assert info.value.field == "Campaign ID"
    assert "has 2 messages (01AAA (A), 01BBB (B)); give the Campaign Message ID instead" in str(info.value)
    assert len(klaviyo.calls) == 1


def test_assign_template_needs_exactly_one_target(runner, klaviyo):
    for inputs in (
        {"templateId": "RipRmi"},
        {"templateId": "R", "campaignId": "C", "campaignMessageId": "M"},
    ):
        with pytest.raises(
            KlaviyoError, match="Campaign Message ID: give either Campaign Message ID or Campaign ID"
        ):
            run(runner, "assignCampaignTemplate", inputs)
    assert len(klaviyo.calls) == 0


def test_campaign_action_flags():
    from klaviyo_connector.actions import campaigns

    flags = {a.key: (a.read_only, a.idempotent, a.destructive) for a in campaigns.ACTIONS}
    assert flags == {
        "createCampaign": (False, False, False),
        "getCampaign": (True, True, False),
        "listCampaigns": (True, True, False),
        "updateCampaign": (False, True, False),
        "deleteCampaign": (False, True, True),
        "sendCampaign": (False, False, False),
        "assignCampaignTemplate": (False, False, False),
    }


# -- sandbox ---------------------------------------------------------------------------------------


@pytest.fixture
def box() -> Iterator[Box]:
    yield from Box.serve()


def test_sandbox_campaign_create_get_list_update_delete(box):
    audience = box.audience([{"email": "a@example.com"}])
    created = new_campaign(box, audience, trackingOptions={"is_tracking_clicks": False})
    campaign = created["data"]
    attributes = campaign["attributes"]
    assert attributes["status"] == "Draft"
    assert attributes["audiences"] == {"included": [audience], "excluded": []}
    assert attributes["send_strategy"] == {"method": "immediate"}
    assert attributes["tracking_options"]["is_tracking_clicks"] is False
    assert attributes["tracking_options"]["is_tracking_opens"] is True
    (message_ref,) = campaign["relationships"]["campaign-messages"]["data"]

    got = box.run("getCampaign", {"campaignId": campaign["id"], "include": "campaign-messages,tags"})
    validate_response("GET", f"{box.url}/api/campaigns/{campaign['id']}", 200, got)
    (included,) = got["included"]
    assert included["id"] == message_ref["id"]
    assert included["attributes"]["definition"]["content"]["subject"] == "Summer sale"
    assert got["data"]["relationships"]["tags"]["data"] == []

    sms_audience = box.audience([{"phoneNumber": "+15005550006"}], sms_consent=True)
    sms = new_campaign(
        box,
        sms_audience,
        campaignName="Texts",
        campaignMessages=[{"channel": "sms", "content": {"body": "Hi"}}],
    )
    emails = box.run("listCampaigns", {})
    assert [c["id"] for c in emails["data"]] == [campaign["id"]]
    validate_response("GET", f"{box.url}/api/campaigns", 200, {k: emails[k] for k in ("data", "links")})
    texts = box.run("listCampaigns", {"channel": "sms", "filter": "contains(name,'Tex')"})
    assert [c["id"] for c in texts["data"]] == [sms["data"]["id"]]
    assert box.run("listCampaigns", {"filter": "equals(status,'Sent')"})["data"] == []

    updated = box.run(
        "updateCampaign",
        {
            "campaignId": campaign["id"],
            "campaignName": "Summer v2",
            "excludedAudiences": sms_audience,
            "sendStrategy": {"method": "smart_send_time", "date": "2026-08-01"},
        },
    )
    validate_response("PATCH", f"{box.url}/api/campaigns/{campaign['id']}", 200, updated)
    assert updated["data"]["attributes"]["name"] == "Summer v2"
    assert updated["data"]["attributes"]["audiences"] == {"included": [audience], "excluded": [sms_audience]}

    assert box.run("deleteCampaign", {"campaignId": campaign["id"]})["status"] == 204
    with pytest.raises(KlaviyoError) as info:
        box.run("getCampaign", {"campaignId": campaign["id"]})
    assert info.value.status == 404
    assert box.get(f"/api/campaign-messages/{message_ref['id']}").status_code == 404


def test_sandbox_list_requires_a_channel_filter(box):
    for query in ("", "?filter=equals(status,'Draft')"):
        response = box.get(f"/api/campaigns{query}")
        assert response.status_code == 400
        assert response.json()["errors"][0]["source"] == {"parameter": "filter"}
        validate_response("GET", f"{box.url}/api/campaigns", 400, response.json())


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"name": ""}, "/data/attributes/name"),
        ({"audiences": {"included": []}}, "/data/attributes/audiences/included"),
        ({"audiences": {"included": ["nope00"]}}, "/data/attributes/audiences/included"),
        ({"send_strategy": {"method": "later"}}, "/data/attributes/send_strategy/method"),
        (
            {
                "send_strategy": {
                    "method": "throttled",
                    "datetime": "2026-08-01T00:00:00Z",
                    "throttle_percentage": 3,
                }
            },
            "/data/attributes/send_strategy/throttle_percentage",
        ),
        ({"send_options": {"smart": True}}, "/data/attributes/send_options/smart"),
        (
            {
                "tracking_options": {
                    "custom_tracking_params": [{"type": "dynamic", "value": "x", "name": "n"}]
                }
            },
            "/data/attributes/tracking_options/custom_tracking_params/0/value",
        ),
        (
            {"campaign-messages": {"data": [{"type": "campaign-message", "attributes": {"definition": {}}}]}},
            "/data/attributes/campaign-messages/data/0/attributes/definition/channel",
        ),
        (
            {
                "campaign-messages": {
                    "data": [
                        {"type": "campaign-message", "attributes": {"definition": EMAIL}},
                        {"type": "campaign-message", "attributes": {"definition": {"channel": "sms"}}},
                    ]
                }
            },
            "/data/attributes/campaign-messages/data",
        ),
        (
            {
                "campaign-messages": {
                    "data": [
                        {"type": "campaign-message", "attributes": {"definition": {"channel": "mobile_push"}}}
                    ]
                }
            },
            "/data/attributes/campaign-messages/data/0/attributes/definition/content",
        ),
    ],
)
def test_sandbox_create_validation(box, change, pointer):
    audience = box.audience([])
    attributes = {
        "name": "x",
        "audiences": {"included": [audience]},
        "campaign-messages": {"data": [{"type": "campaign-message", "attributes": {"definition": EMAIL}}]},
        **change,
    }
    response = box.post("/api/campaigns", {"data": {"type": "campaign", "attributes": attributes}})
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["source"] == {"pointer": pointer}
    validate_response("POST", f"{box.url}/api/campaigns", 400, response.json())


def test_sandbox_send_moves_the_campaign_along_the_clock(box):
    audience = box.audience([{"email": "a@example.com"}, {"email": "b@example.com"}])
    template = box.run("createTemplate", {"templateName": "T", "templateHtml": HTML})["data"]
    campaign_id = new_campaign(box, audience)["data"]["id"]

    with pytest.raises(KlaviyoError) as info:
        box.run("sendCampaign", {"campaignId": campaign_id})
    assert info.value.status == 400 and "has no template" in str(info.value)

    assigned = box.run("assignCampaignTemplate", {"campaignId": campaign_id, "templateId": template["id"]})
    validate_response("POST", f"{box.url}/api/campaign-message-assign-template", 200, assigned)
    copy_id = assigned["data"]["relationships"]["template"]["data"]["id"]
    assert copy_id != template["id"]  # a non-reusable copy, as Klaviyo makes
    assert [t["id"] for t in box.run("listTemplates", {})["data"]] == [template["id"]]

    sent = box.run("sendCampaign", {"campaignId": campaign_id})
    assert sent["status"] == 202 and sent["job"]["attributes"]["status"] == "queued"
    validate_response("POST", f"{box.url}/api/campaign-send-jobs", 202, {"data": sent["job"]})

    def states() -> tuple[str, str]:
        job = box.get(f"/api/campaign-send-jobs/{campaign_id}")
        validate_response("GET", f"{box.url}/api/campaign-send-jobs/{campaign_id}", 200, job.json())
        campaign = box.run("getCampaign", {"campaignId": campaign_id})["data"]["attributes"]
        return campaign["status"], job.json()["data"]["attributes"]["status"]

    assert states() == ("Sending", "processing")
    box.clock.now += 5
    assert states() == ("Sent", "complete")
    assert box.run("listCampaigns", {"filter": "equals(status,'Sent')"})["data"][0]["id"] == campaign_id

    again = box.post("/api/campaign-send-jobs", {"data": {"type": "campaign-send-job", "id": campaign_id}})
    assert again.status_code == 400 and "already been sent" in again.json()["errors"][0]["detail"]
    with pytest.raises(KlaviyoError, match="only drafts can be changed"):
        box.run("updateCampaign", {"campaignId": campaign_id, "campaignName": "late"})
    with pytest.raises(KlaviyoError, match="only drafts can be changed"):
        box.run("assignCampaignTemplate", {"campaignId": campaign_id, "templateId": template["id"]})


def test_sandbox_scheduled_send_and_empty_audience(box):
    audience = box.audience([{"email": "a@example.com"}])
    template = box.run("createTemplate", {"templateName": "T", "templateHtml": HTML})["data"]
    later = {"method": "static", "datetime": "2026-07-15T01:00:00Z"}
    campaign_id = new_campaign(box, audience, sendStrategy=later)["data"]["id"]
    box.run("assignCampaignTemplate", {"campaignId": campaign_id, "templateId": template["id"]})
    box.run("sendCampaign", {"campaignId": campaign_id})
    status = box.run("getCampaign", {"campaignId": campaign_id})["data"]["attributes"]
    assert (status["status"], status["send_time"]) == ("Scheduled", "2026-07-15T01:00:00+00:00")
    box.clock.now += 3600
    assert box.run("getCampaign", {"campaignId": campaign_id})["data"]["attributes"]["status"] == "Sending"

    nobody = box.audience([{"phoneNumber": "+15005550007"}])  # no email address: unreachable
    empty_id = new_campaign(box, nobody)["data"]["id"]
    box.run("assignCampaignTemplate", {"campaignId": empty_id, "templateId": template["id"]})
    box.run("sendCampaign", {"campaignId": empty_id})
    assert box.run("getCampaign", {"campaignId": empty_id})["data"]["attributes"]["status"] == (
        "Cancelled: No Recipients"
    )

    past = new_campaign(box, audience, sendStrategy={"method": "static", "datetime": "2026-07-01T00:00:00Z"})
    box.run("assignCampaignTemplate", {"campaignId": past["data"]["id"], "templateId": template["id"]})
    with pytest.raises(KlaviyoError, match="send time is in the past"):
        box.run("sendCampaign", {"campaignId": past["data"]["id"]})


def test_sandbox_assign_template_refusals(box):
    audience = box.audience([])
    campaign_id = new_campaign(box, audience)["data"]["id"]
    with pytest.raises(KlaviyoError) as info:
        box.run("assignCampaignTemplate", {"campaignId": campaign_id, "templateId": "nope00"})
    assert info.value.status == 404
    with pytest.raises(KlaviyoError) as info:
        box.run("assignCampaignTemplate", {"campaignMessageId": "01NOPE", "templateId": "nope00"})
    assert info.value.status == 404
    messages = box.get(f"/api/campaigns/{campaign_id}/campaign-messages?include=campaign")
    assert messages.status_code == 200
    validate_response("GET", f"{box.url}/api/campaigns/{campaign_id}/campaign-messages", 200, messages.json())
    assert messages.json()["included"][0]["id"] == campaign_id
