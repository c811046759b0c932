"""A whole email campaign through the Runner against the sandbox, as a workflow would build it:
list -> subscribers -> template -> campaign -> template on its message -> send -> daily roll-up."""

from __future__ import annotations

from typing import Any

from conftest import run
from contract import validate_response

HTML = "<html><body><h1>Summer sale</h1><p>Everything 20% off.</p></body></html>"
SUBSCRIBERS = ["ana@example.com", "ben@example.com", "cho@example.com"]


def test_campaign_workflow(runner, sandbox_connection):
    base = sandbox_connection["fields"]["baseUrl"]

    def step(action: str, inputs: dict[str, Any]) -> Any:
        return run(runner, action, inputs, connection=sandbox_connection)["data"]

    newsletter = step("createList", {"listName": "Newsletter"})
    list_id = newsletter["data"]["id"]

    subscribed = step(
        "subscribeProfiles",
        {
            "listId": list_id,
            "profiles": [{"email": email} for email in SUBSCRIBERS],
            "customSource": "Checkout",
        },
    )
    assert subscribed["status"] == 202

    template = step("createTemplate", {"templateName": "Summer sale", "templateHtml": HTML})
    validate_response("POST", f"{base}/api/templates", 201, template)

    campaign = step(
        "createCampaign",
        {
            "campaignName": "Summer sale",
            "includedAudiences": list_id,
            "campaignMessages": '{"channel": "email", "label": "Summer sale", "content": {"subject": "Summer sale", '
            '"preview_text": "20% off everything", "from_email": "store@example.com", "from_label": "My Store"}}',
            "sendStrategy": '{"method": "immediate"}',
            "trackingOptions": '{"is_tracking_opens": true, "is_tracking_clicks": true}',
        },
    )
    validate_response("POST", f"{base}/api/campaigns", 201, campaign)
    campaign_id = campaign["data"]["id"]
    assert campaign["data"]["attributes"]["status"] == "Draft"
    assert campaign["data"]["attributes"]["audiences"]["included"] == [list_id]

    assigned = step(
        "assignCampaignTemplate", {"campaignId": campaign_id, "templateId": template["data"]["id"]}
    )
    validate_response("POST", f"{base}/api/campaign-message-assign-template", 200, assigned)
    (message_id,) = [m["id"] for m in campaign["data"]["relationships"]["campaign-messages"]["data"]]
    assert assigned["data"]["id"] == message_id

    sent = step("sendCampaign", {"campaignId": campaign_id})
    assert (sent["status"], sent["asynchronous"], sent["job_id"]) == (202, True, campaign_id)
    assert sent["job"]["attributes"]["status"] == "queued"

    after = step("getCampaign", {"campaignId": campaign_id})
    assert after["data"]["attributes"]["status"] in ("Sending", "Sent")
    assert after["data"]["attributes"]["send_time"] is not None

    rollup = step(
        "queryCampaignValues",
        {
            "statistics": "recipients,delivered,open_rate,click_rate,conversion_value",
            "timeframe": "last_7_days",
            "conversionMetricId": "RESQ6t",
            "filter": "equals(send_channel,'email')",
        },
    )
    validate_response("POST", f"{base}/api/campaign-values-reports", 200, rollup)
    (row,) = rollup["data"]["attributes"]["results"]
    assert row["groupings"] == {
        "campaign_id": campaign_id,
        "campaign_message_id": message_id,
        "send_channel": "email",
    }
    assert row["statistics"]["recipients"] == len(SUBSCRIBERS)
    assert set(row["statistics"]) == {
        "recipients",
        "delivered",
        "open_rate",
        "click_rate",
        "conversion_value",
    }
