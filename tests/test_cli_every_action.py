"""Acceptance: every action runs through the CLI against the sandbox with a representative input,
one command per action, the way a person would try them (state persists between commands)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from klaviyo_connector.cli import main

# A 1x1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
HTML = "<html><body><p>Hello {{ first_name }}</p></body></html>"


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    ran: list[str] = []

    def call(action: str, inputs: dict[str, Any] | None = None) -> Any:
        code = main(["run", action, "--sandbox", "--inputs", json.dumps(inputs or {})])
        out, err = capsys.readouterr()
        assert code == 0, f"{action} failed: {err}"
        ran.append(action)
        return json.loads(out)

    call.ran = ran  # type: ignore[attr-defined]
    return call


def test_every_action_runs_against_the_sandbox_through_the_cli(cli):
    from klaviyo_connector.component import component

    account = cli("listAccounts")["data"][0]
    cli("getAccount", {"accountId": account["id"], "fields": "contact_information.organization_name"})

    # Profiles
    ann = cli(
        "createProfile",
        {
            "email": "ann@example.com",
            "firstName": "Ann",
            "phoneNumber": "+15005550006",
            "location": {"city": "Boston"},
            "properties": {"plan": "gold"},
        },
    )["data"]["id"]
    cli("getProfile", {"profileId": ann, "additionalFields": "subscriptions"})
    assert cli("findProfile", {"email": "ann@example.com"})["data"]["id"] == ann
    found = cli("findOrCreateProfile", {"phoneNumber": "+15005550006"})
    assert found["created"] is False and found["data"]["id"] == ann
    cli("updateProfile", {"profileId": ann, "lastName": "Lee", "title": None})
    upsert = cli("createOrUpdateProfile", {"email": "ben@example.com", "firstName": "Ben"})
    assert upsert["created"] is True
    listed = cli("listProfile", {"filter": "equals(email,'ann@example.com')", "fields": "email,last_name"})
    assert [p["attributes"]["last_name"] for p in listed["data"]] == ["Lee"]
    cli(
        "importProfiles",
        {
            "profiles": [{"email": "imp1@example.com"}, {"email": "imp2@example.com"}],
            "waitForCompletion": True,
        },
    )

    # Lists and segments
    vip = cli("createList", {"listName": "VIP"})["data"]["id"]
    cli("getList", {"listId": vip})
    cli("listLists", {"fetchAll": True})
    cli("updateList", {"listId": vip, "listName": "VIP customers"})
    cli("addProfilesToList", {"listId": vip, "emails": ["ann@example.com", "new@example.com"]})
    members = cli("listListProfiles", {"listId": vip})
    assert len(members["data"]) == 2
    assert cli("findListByName", {"listName": "VIP customers"})["match_ids"] == [vip]
    assert cli("isProfileInList", {"listId": vip, "profileId": ann})["is_member"] is True
    cli("removeProfilesFromList", {"listId": vip, "profileIds": [ann]})
    groups = [
        {
            "conditions": [
                {
                    "type": "profile-group-membership",
                    "is_member": True,
                    "group_ids": [vip],
                    "timeframe_filter": None,
                }
            ]
        }
    ]
    seg = cli("createSegment", {"segmentName": "VIP members", "conditionGroups": groups})["data"]["id"]
    cli("getSegment", {"segmentId": seg})
    cli("listSegments")
    cli("updateSegment", {"segmentId": seg, "isStarred": True})
    cli("listSegmentProfiles", {"segmentId": seg})
    assert cli("findSegmentByName", {"segmentName": "VIP members"})["data"]["id"] == seg
    assert cli("isProfileInSegment", {"segmentId": seg, "email": "new@example.com"})["is_member"] is True
    assert cli("findTagByName", {"tagName": "Summer"})["found"] is False

    # Consent
    cli("subscribeProfiles", {"listId": vip, "profiles": [{"email": "ann@example.com"}]})
    cli("unsubscribeProfiles", {"listId": vip, "profiles": [{"email": "ann@example.com"}]})
    cli("suppressProfiles", {"emails": ["spam@example.com"]})
    cli("unsuppressProfiles", {"emails": ["spam@example.com"]})

    # Templates, campaigns, images, reports
    tpl = cli("createTemplate", {"templateName": "Welcome", "templateHtml": HTML})["data"]["id"]
    cli("getTemplate", {"templateId": tpl})
    cli("listTemplates")
    cli("updateTemplate", {"templateId": tpl, "templateText": "Hello"})
    message = {
        "channel": "email",
        "label": "Hello",
        "content": {"subject": "Hi", "from_email": "s@example.com", "from_label": "Store"},
    }
    camp = cli(
        "createCampaign", {"campaignName": "Hello", "includedAudiences": [vip], "campaignMessages": [message]}
    )["data"]["id"]
    cli("getCampaign", {"campaignId": camp})
    cli("listCampaigns", {"channel": "email"})
    cli("updateCampaign", {"campaignId": camp, "campaignName": "Hello again"})
    message_id = cli("getCampaign", {"campaignId": camp, "include": "campaign-messages"})["included"][0]["id"]
    updated = cli(
        "updateCampaignMessage", {"campaignMessageId": message_id, "previewText": "Our summer sale"}
    )
    assert updated["data"]["attributes"]["definition"]["content"]["subject"] == "Hi"  # unchanged
    cli("assignCampaignTemplate", {"campaignId": camp, "templateId": tpl})
    cli("sendCampaign", {"campaignId": camp})
    image = cli("uploadImage", {"fileData": base64.b64encode(PNG).decode(), "imageName": "dot"})["data"]["id"]
    cli("uploadImage", {"imageUrl": "https://example.com/logo.png", "imageName": "logo"})
    cli("getImage", {"imageId": image})
    cli("updateImage", {"imageId": image, "imageHidden": True})
    cli("listImages")

    # Events, metrics, flows
    cli(
        "createEvent",
        {
            "eventName": "Viewed Product",
            "eventProfile": {"email": "ann@example.com"},
            "eventProperties": {"sku": "A1"},
            "eventValue": 9.99,
            "eventValueCurrency": "USD",
        },
    )
    cli(
        "bulkCreateEvents",
        {
            "eventsArray": [
                {
                    "metric": "Placed Order",
                    "profile": {"email": "ben@example.com"},
                    "properties": {"n": i},
                    "value": i,
                }
                for i in range(3)
            ]
        },
    )
    events = cli("listEvents", {"fetchAll": True})
    cli("getEvent", {"eventId": events["data"][0]["id"]})
    metrics = cli("listMetrics")
    metric = next(m["id"] for m in metrics["data"] if m["attributes"]["name"] == "Placed Order")
    totals = cli(
        "queryMetricAggregates",
        {
            "metricId": metric,
            "measurements": "count,sum_value",
            "startDate": "2020-01-01T00:00:00Z",
            "interval": "month",
        },
    )
    assert totals["data"]["attributes"]["data"]
    cli(
        "queryCampaignValues",
        {"statistics": "recipients,open_rate", "timeframe": "last_30_days", "conversionMetricId": metric},
    )
    flow = cli("listFlows")["data"][0]["id"]
    cli("updateFlowStatus", {"flowId": flow, "status": "manual"})

    # Raw request, then the deletions
    raw = cli("rawRequest", {"url": "/api/accounts", "method": "GET"})
    assert raw["status"] == 200 and raw["data"]["data"][0]["id"] == account["id"]
    cli("requestProfileDeletion", {"email": "imp2@example.com"})
    cli("deleteCampaign", {"campaignId": camp})
    cli("deleteTemplate", {"templateId": tpl})
    cli("deleteSegment", {"segmentId": seg})
    cli("deleteList", {"listId": vip})

    assert set(cli.ran) == set(component.actions), set(component.actions) - set(cli.ran)
