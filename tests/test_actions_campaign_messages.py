"""Update Campaign Message and the Select Campaign Message picklist, against a mocked Klaviyo
(every request validated against the spec at teardown) and the picklist against the sandbox."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from conftest import BASE, CONNECTION, body, document, refused, run
from klaviyo_connector.errors import KlaviyoError

MESSAGE = "01J2DNH8D3DS2Z1NRGKMEWS1T2"
URL = f"{BASE}/api/campaign-messages/{MESSAGE}"


def query(call: Any) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(call.request.url).query, keep_blank_values=True))


def message(channel: str, **definition: Any) -> dict[str, Any]:
    return document("campaign-message", MESSAGE, {"definition": {"channel": channel, **definition}})


def test_email_subject_preview_and_sender_are_patched_into_the_definition(runner, klaviyo):
    klaviyo.add("GET", URL, json=message("email"))
    updated = message("email", content={"subject": "Summer sale"})
    klaviyo.add("PATCH", URL, json=updated)
    out = run(
        runner,
        "updateCampaignMessage",
        {
            "campaignMessageId": MESSAGE,
            "label": "Main",
            "subject": "Summer sale",
            "previewText": None,
            "fromEmail": "store@example.com",
            "fromLabel": "My Store",
            "replyToEmail": "help@example.com",
        },
    )["data"]
    read, patch = klaviyo.calls
    assert read.request.method == "GET" and query(read) == {"fields[campaign-message]": "definition"}
    assert patch.request.method == "PATCH" and query(patch) == {}
    assert body(patch) == {
        "data": {
            "type": "campaign-message",
            "id": MESSAGE,
            "attributes": {
                "definition": {
                    "channel": "email",
                    "label": "Main",
                    "content": {
                        "subject": "Summer sale",
                        "preview_text": None,  # null clears it
                        "from_email": "store@example.com",
                        "from_label": "My Store",
                        "reply_to_email": "help@example.com",
                    },
                }
            },
        }
    }
    assert out == updated


def test_sms_body_and_image_with_a_sparse_answer(runner, klaviyo):
    klaviyo.add("GET", URL, json=message("sms"))
    klaviyo.add("PATCH", URL, json=message("sms", content={"body": "Hi"}))
    run(
        runner,
        "updateCampaignMessage",
        {"campaignMessageId": MESSAGE, "body": "Hi", "imageId": "7", "fields": "definition.content.body"},
    )
    patch = klaviyo.calls[1]
    assert query(patch) == {"fields[campaign-message]": "definition.content.body"}
    assert body(patch) == {
        "data": {
            "type": "campaign-message",
            "id": MESSAGE,
            "attributes": {"definition": {"channel": "sms", "content": {"body": "Hi"}}},
            "relationships": {"image": {"data": {"type": "image", "id": "7"}}},
        }
    }


def test_the_current_definition_is_carried_with_the_changes_over_it(runner, klaviyo):
    current = message(
        "sms",
        content={"body": "Old", "media_url": "https://example.com/m.png"},
        render_options={"shorten_links": False},
    )
    klaviyo.add("GET", URL, json=current)
    klaviyo.add("PATCH", URL, json=current)
    run(runner, "updateCampaignMessage", {"campaignMessageId": MESSAGE, "body": "New"})
    # media_url is not a member the update takes (read-only): it is not sent back
    assert body(klaviyo.calls[1])["data"]["attributes"]["definition"] == {
        "channel": "sms",
        "content": {"body": "New"},
        "render_options": {"shorten_links": False},
    }


def test_a_push_message_keeps_its_options_and_other_content(runner, klaviyo):
    current = message(
        "mobile_push",
        notification_type="standard",
        content={"title": "Old", "body": "Sale", "dynamic_image": "https://example.com/i.png"},
        options={"on_open": {"type": "open_app"}},
    )
    klaviyo.add("GET", URL, json=current)
    klaviyo.add("PATCH", URL, json=current)
    run(runner, "updateCampaignMessage", {"campaignMessageId": MESSAGE, "title": "New"})
    assert body(klaviyo.calls[1])["data"]["attributes"]["definition"] == {
        "channel": "mobile_push",
        "notification_type": "standard",
        "content": {"title": "New", "body": "Sale", "dynamic_image": "https://example.com/i.png"},
        "options": {"on_open": {"type": "open_app"}},
    }


def test_only_the_image_sends_no_definition(runner, klaviyo):
    klaviyo.add("GET", URL, json=message("mobile_push"))
    klaviyo.add("PATCH", URL, json=message("mobile_push"))
    run(runner, "updateCampaignMessage", {"campaignMessageId": MESSAGE, "imageId": "7"})
    assert body(klaviyo.calls[1])["data"]["attributes"] == {}


@pytest.mark.parametrize(
    ("channel", "inputs", "label"),
    [
        ("sms", {"subject": "Hi"}, "Subject"),
        ("mobile_push", {"fromEmail": "a@example.com"}, "From Email"),
        ("email", {"body": "Hi"}, "Message Body"),
        ("email", {"imageId": "7"}, "Image ID"),
        ("sms", {"title": "Hi"}, "Push Title"),
    ],
)
def test_an_input_the_messages_channel_lacks_is_refused_before_the_update(
    runner, klaviyo, channel, inputs, label
):
    from klaviyo_connector.errors import KlaviyoError

    klaviyo.add("GET", URL, json=message(channel))
    with pytest.raises(KlaviyoError) as info:
        run(runner, "updateCampaignMessage", {"campaignMessageId": MESSAGE, **inputs})
    assert info.value.code == "invalid_input" and label in info.value.message
    assert f"is {'an' if channel == 'email' else 'a'} {channel} message" in info.value.message
    assert [c.request.method for c in klaviyo.calls] == ["GET"]  # nothing was changed


def test_a_whole_definition_is_sent_as_given_without_a_read(runner, klaviyo):
    klaviyo.add("PATCH", URL, json=message("sms"))
    definition = {"channel": "sms", "content": {"body": "Hi"}, "render_options": {"shorten_links": False}}
    run(runner, "updateCampaignMessage", {"campaignMessageId": MESSAGE, "definition": definition})
    (patch,) = klaviyo.calls
    assert body(patch)["data"]["attributes"] == {
        "definition": {
            "channel": "sms",
            "content": {"body": "Hi"},
            "render_options": {"shorten_links": False},
        }
    }


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        ({}, "nothing to change"),
        ({"definition": {"channel": "email"}, "subject": "Hi"}, "give the members of Subject inside it"),
        ({"definition": {"channel": "fax"}}, "Message Definition"),
        ({"fromEmail": "not-an-email"}, "From Email"),
        ({"subject": "Hi", "fields": "colour"}, "Fields: colour not allowed"),
    ],
)
def test_bad_inputs_are_refused_before_anything_is_sent(runner, klaviyo, inputs, fragment):
    err = refused(runner, klaviyo, "updateCampaignMessage", {"campaignMessageId": MESSAGE, **inputs})
    assert fragment in err.message


def test_the_action_is_declared_with_both_operations():
    from klaviyo_connector.component import component

    action = component.actions["updateCampaignMessage"]
    assert action.operations == ("get_campaign_message", "update_campaign_message")
    assert action.idempotent and not action.destructive and not action.read_only
    schema = action.input_schema()
    assert schema["properties"]["campaignMessageId"]["x-data-source"] == "selectCampaignMessage"
    assert schema["properties"]["imageId"]["x-data-source"] == "selectImage"
    assert schema["required"] == ["campaignMessageId"]


# -- Select Campaign Message ------------------------------------------------------------------------


def campaign(cid: str, name: str, status: str, messages: list[str]) -> dict[str, Any]:
    refs = [{"type": "campaign-message", "id": m} for m in messages]
    return {
        "type": "campaign",
        "id": cid,
        "attributes": {"name": name, "status": status},
        "relationships": {"campaign-messages": {"data": refs}},
    }


def included(mid: str, label: str | None) -> dict[str, Any]:
    return {"type": "campaign-message", "id": mid, "attributes": {"definition": {"label": label}}}


def test_select_campaign_message_lists_the_messages_of_every_channel(runner, klaviyo):
    pages = {
        "email": {
            "data": [campaign("C1", "Summer", "Draft", ["M1", "M2"])],
            "included": [included("M1", "Main"), included("M2", None)],
        },
        "sms": {"data": [campaign("C2", "Flash", "Sent", ["M3"])], "included": [included("M3", "Text")]},
        "mobile_push": {"data": []},
    }
    for channel, doc in pages.items():
        klaviyo.add(
            "GET",
            f"{BASE}/api/campaigns",
            json={**doc, "links": {"self": f"{BASE}/api/campaigns"}},
            match=[_channel_is(channel)],
        )
    out = runner.run_data_source("klaviyo", "selectCampaignMessage", connection=CONNECTION)["result"]
    assert out == [
        {"key": "M3", "label": "Flash: Text (SMS, Sent)"},
        {"key": "M2", "label": "Summer: M2 (email, Draft)"},  # a message without a label shows its ID
        {"key": "M1", "label": "Summer: Main (email, Draft)"},
    ]
    first = query(klaviyo.calls[0])
    assert first == {
        "filter": "equals(messages.channel,'email')",
        "fields[campaign]": "name,status",
        "fields[campaign-message]": "definition.label",
        "include": "campaign-messages",
        "sort": "name",
        "page[size]": "100",
    }


def _channel_is(channel: str) -> Any:
    def match(request: Any) -> tuple[bool, str]:
        flt = query(type("Call", (), {"request": request})).get("filter", "")
        return flt.startswith(f"equals(messages.channel,'{channel}')"), flt

    return match


def test_select_campaign_message_against_the_sandbox(runner, sandbox_connection):
    def act(key: str, inputs: dict[str, Any]) -> Any:
        return run(runner, key, inputs, sandbox_connection)["data"]

    audience = act("createList", {"listName": "Everyone"})["data"]["id"]
    email = {"channel": "email", "label": "Main", "content": {"subject": "Hi", "from_email": "s@example.com"}}
    made = act(
        "createCampaign",
        {"campaignName": "Hello", "includedAudiences": [audience], "campaignMessages": [email]},
    )
    message_id = made["data"]["relationships"]["campaign-messages"]["data"][0]["id"]
    options = runner.run_data_source("klaviyo", "selectCampaignMessage", connection=sandbox_connection)[
        "result"
    ]
    assert options == [{"key": message_id, "label": "Hello: Main (email, Draft)"}]


def test_update_campaign_message_against_the_sandbox(runner, sandbox_connection):
    def act(key: str, inputs: dict[str, Any]) -> Any:
        return run(runner, key, inputs, sandbox_connection)["data"]

    audience = act("createList", {"listName": "Everyone"})["data"]["id"]
    email = {
        "channel": "email",
        "label": "Main",
        "content": {"from_email": "s@example.com", "from_label": "Shop"},
    }
    made = act(
        "createCampaign",
        {"campaignName": "Hello", "includedAudiences": [audience], "campaignMessages": [email]},
    )
    message_id = made["data"]["relationships"]["campaign-messages"]["data"][0]["id"]
    act(
        "updateCampaignMessage",
        {"campaignMessageId": message_id, "subject": "Summer sale", "previewText": "20% off"},
    )
    read = act("getCampaign", {"campaignId": made["data"]["id"], "include": "campaign-messages"})["included"][
        0
    ]
    definition = read["attributes"]["definition"]
    assert definition["label"] == "Main"
    content = {k: v for k, v in definition["content"].items() if v is not None}
    assert content == {
        "subject": "Summer sale",
        "preview_text": "20% off",
        "from_email": "s@example.com",  # left out of the update, so unchanged
        "from_label": "Shop",
    }
    with pytest.raises(KlaviyoError) as info:
        act("updateCampaignMessage", {"campaignMessageId": message_id, "body": "Hi"})
    assert "is an email message" in info.value.message
