"""Template actions: requests against a mocked Klaviyo, then the sandbox through the Runner."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from conftest import BASE, body, document, run
from contract import validate_response
from klaviyo_connector.errors import KlaviyoError

HTML = "<html><body><p>Hello, world!</p></body></html>"


def template_doc(template_id: str = "RipRmi", **attributes: Any) -> dict[str, Any]:
    attrs = {"name": "Newsletter", "editor_type": "CODE", "html": HTML, "text": None, "amp": None}
    return document("template", template_id, {**attrs, **attributes})


# -- mocked Klaviyo ------------------------------------------------------------------------------


def test_create_template_sends_html_and_default_editor_type(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/templates", status=201, json=template_doc())
    out = run(
        runner,
        "createTemplate",
        {"templateName": "Newsletter", "templateHtml": HTML, "templateText": "Hello, world!"},
    )
    assert out == {"data": template_doc()}
    request = klaviyo.calls[0].request
    assert request.headers["Content-Type"] == "application/vnd.api+json"
    assert body(klaviyo.calls[0]) == {
        "data": {
            "type": "template",
            "attributes": {
                "name": "Newsletter",
                "editor_type": "CODE",
                "html": HTML,
                "text": "Hello, world!",
            },
        }
    }


def test_create_template_user_draggable(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/templates", status=201, json=template_doc(editor_type="USER_DRAGGABLE"))
    run(runner, "createTemplate", {"templateName": "N", "editorType": "USER_DRAGGABLE", "templateHtml": HTML})
    assert body(klaviyo.calls[0])["data"]["attributes"] == {
        "name": "N",
        "editor_type": "USER_DRAGGABLE",
        "html": HTML,
    }


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"templateName": "N"}, "Template HTML: is required"),
        (
            {"templateName": "N", "templateHtml": "  "},
            "Template HTML: String should have at least 1 character",
        ),
        ({"templateName": "N", "templateHtml": HTML, "editorType": "SYSTEM_DRAGGABLE"}, "Editor Type: "),
        ({"templateHtml": HTML}, "Template Name: is required"),
    ],
)
def test_create_template_input_errors_name_the_field(runner, klaviyo, inputs, message):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "createTemplate", inputs)
    assert message in str(info.value)
    assert len(klaviyo.calls) == 0


def test_get_template_with_fields(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/templates/RipRmi", json=template_doc())
    out = run(runner, "getTemplate", {"templateId": "RipRmi", "fields": "name,html"})
    assert out["data"]["data"]["id"] == "RipRmi"
    assert klaviyo.calls[0].request.params == {"fields[template]": "name,html"}


def test_get_template_rejects_unknown_field(runner, klaviyo):
    with pytest.raises(KlaviyoError, match="Fields: nope not allowed"):
        run(runner, "getTemplate", {"templateId": "RipRmi", "fields": "nope"})
    assert len(klaviyo.calls) == 0


def test_update_template_sends_only_given_fields(runner, klaviyo):
    klaviyo.add("PATCH", f"{BASE}/api/templates/RipRmi", json=template_doc(name="Renamed"))
    out = run(
        runner, "updateTemplate", {"templateId": "RipRmi", "templateName": "Renamed", "templateText": "null"}
    )
    assert out["data"]["data"]["attributes"]["name"] == "Renamed"
    assert body(klaviyo.calls[0]) == {
        "data": {"type": "template", "id": "RipRmi", "attributes": {"name": "Renamed", "text": None}}
    }


def test_update_template_needs_a_change_and_a_name(runner, klaviyo):
    with pytest.raises(KlaviyoError, match="give at least one of Template Name"):
        run(runner, "updateTemplate", {"templateId": "RipRmi"})
    with pytest.raises(KlaviyoError, match="Template Name: cannot be cleared"):
        run(runner, "updateTemplate", {"templateId": "RipRmi", "templateName": "null"})
    assert len(klaviyo.calls) == 0


def test_delete_template_acknowledges_204(runner, klaviyo):
    klaviyo.add("DELETE", f"{BASE}/api/templates/RipRmi", status=204)
    out = run(runner, "deleteTemplate", {"templateId": "RipRmi"})
    assert out["data"] == {
        "accepted": "Template deleted.",
        "status": 204,
        "asynchronous": False,
        "template_id": "RipRmi",
    }
    assert klaviyo.calls[0].request.body is None


def test_list_templates_clamps_page_size_to_ten(runner, klaviyo):
    page = {"data": [template_doc()["data"]], "links": {"self": f"{BASE}/api/templates"}}
    klaviyo.add("GET", f"{BASE}/api/templates", json=page)
    out = run(
        runner, "listTemplates", {"pageSize": 50, "filter": "contains(name,'News')", "sort": "-updated"}
    )
    assert out["data"]["data"] == page["data"]
    assert klaviyo.calls[0].request.params == {
        "page[size]": "10",
        "filter": "contains(name,'News')",
        "sort": "-updated",
    }


def test_template_action_flags():
    from klaviyo_connector.actions import templates

    flags = {a.key: (a.read_only, a.idempotent, a.destructive) for a in templates.ACTIONS}
    assert flags == {
        "createTemplate": (False, False, False),
        "getTemplate": (True, True, False),
        "updateTemplate": (False, True, False),
        "deleteTemplate": (False, True, True),
        "listTemplates": (True, True, False),
    }


# -- sandbox -------------------------------------------------------------------------------------


def test_sandbox_template_lifecycle(runner, sandbox_connection):
    base = sandbox_connection["fields"]["baseUrl"]

    def go(action: str, inputs: dict[str, Any]) -> Any:
        return run(runner, action, inputs, connection=sandbox_connection)["data"]

    created = go("createTemplate", {"templateName": "Welcome", "templateHtml": HTML, "templateText": "Hi"})
    validate_response("POST", f"{base}/api/templates", 201, created)
    template_id = created["data"]["id"]
    assert created["data"]["attributes"]["editor_type"] == "CODE"
    assert created["data"]["attributes"]["text"] == "Hi"

    got = go("getTemplate", {"templateId": template_id})
    validate_response("GET", f"{base}/api/templates/{template_id}", 200, got)
    assert "definition" not in got["data"]["attributes"]  # only drag-and-drop templates have one
    sparse = go("getTemplate", {"templateId": template_id, "fields": "name,html"})
    assert sparse["data"]["attributes"] == {"name": "Welcome", "html": HTML}

    updated = go("updateTemplate", {"templateId": template_id, "templateName": "Welcome v2"})
    validate_response("PATCH", f"{base}/api/templates/{template_id}", 200, updated)
    assert updated["data"]["attributes"]["name"] == "Welcome v2"
    assert updated["data"]["attributes"]["html"] == HTML

    for n in range(11):
        go("createTemplate", {"templateName": f"Bulk {n:02d}", "templateHtml": HTML})
    first = go("listTemplates", {"sort": "name"})
    assert len(first["data"]) == 10  # the endpoint's maximum page size
    assert first["meta"]["next_cursor"]
    everything = go("listTemplates", {"fetchAll": True})
    assert len(everything["data"]) == 12
    assert {
        t["attributes"]["name"] for t in go("listTemplates", {"filter": "equals(name,'Welcome v2')"})["data"]
    } == {"Welcome v2"}

    assert go("deleteTemplate", {"templateId": template_id})["status"] == 204
    with pytest.raises(KlaviyoError) as info:
        go("getTemplate", {"templateId": template_id})
    assert info.value.status == 404


def sandbox_post(base: str, key: str, attributes: dict[str, Any]) -> requests.Response:
    return requests.post(
        f"{base}/api/templates",
        json={"data": {"type": "template", "attributes": attributes}},
        headers={
            "Authorization": f"Klaviyo-API-Key {key}",
            "revision": "2026-07-15",
            "Content-Type": "application/vnd.api+json",
        },
        timeout=10,
    )


@pytest.mark.parametrize(
    ("attributes", "pointer"),
    [
        ({"editor_type": "CODE", "html": HTML}, "/data/attributes/name"),
        ({"name": "x", "editor_type": "MJML", "html": HTML}, "/data/attributes/editor_type"),
        ({"name": "x", "editor_type": "CODE"}, "/data/attributes/html"),
        ({"name": "x", "editor_type": "USER_DRAGGABLE", "html": ""}, "/data/attributes/html"),
        ({"name": "x", "editor_type": "SYSTEM_DRAGGABLE", "html": HTML}, "/data/attributes/html"),
        ({"name": "x", "editor_type": "SYSTEM_DRAGGABLE"}, "/data/attributes/definition"),
        ({"name": "x", "editor_type": "CODE", "html": HTML, "subject": "s"}, "/data/attributes/subject"),
    ],
)
def test_sandbox_enforces_editor_type_rules(sandbox_connection, attributes, pointer):
    fields = sandbox_connection["fields"]
    response = sandbox_post(fields["baseUrl"], fields["apiKey"], attributes)
    assert response.status_code == 400, response.text
    error = response.json()["errors"][0]
    assert error["source"]["pointer"] == pointer
    validate_response("POST", f"{fields['baseUrl']}/api/templates", 400, response.json())


def test_sandbox_system_draggable_definition(sandbox_connection):
    fields = sandbox_connection["fields"]
    definition = {"body": {"properties": {}, "styles": {"width": 600}, "sections": []}, "styles": []}
    response = sandbox_post(
        fields["baseUrl"],
        fields["apiKey"],
        {"name": "DnD", "editor_type": "SYSTEM_DRAGGABLE", "definition": definition},
    )
    assert response.status_code == 201, response.text
    assert response.json()["data"]["attributes"]["definition"] == definition
    headers = {"Authorization": f"Klaviyo-API-Key {fields['apiKey']}", "revision": "2026-07-15"}
    url = f"{fields['baseUrl']}/api/templates"
    listed = requests.get(url, headers=headers, timeout=10).json()
    assert "definition" not in listed["data"][0]["attributes"]
    validate_response("GET", url, 200, listed)
    url += "?additional-fields[template]=definition"
    listed = requests.get(url, headers=headers, timeout=10).json()
    assert listed["data"][0]["attributes"]["definition"] == definition
    validate_response("GET", url, 200, listed)
    broken = sandbox_post(
        fields["baseUrl"],
        fields["apiKey"],
        {"name": "DnD", "editor_type": "SYSTEM_DRAGGABLE", "definition": {}},
    )
    assert broken.status_code == 400
    assert broken.json()["errors"][0]["source"]["pointer"] == "/data/attributes/definition/body"


def test_sandbox_caps_templates_at_one_thousand():
    from klaviyo_connector.sandbox import Sandbox, SandboxOptions
    from klaviyo_connector.sandbox.resources import templates

    with Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=0)) as box:
        key = "pk_templatecap0123456789abcdef"
        first = sandbox_post(box.base_url, key, {"name": "t0", "editor_type": "CODE", "html": HTML})
        assert first.status_code == 201
        # Fill the account up to the cap through the store: 999 HTTP round trips would add nothing.
        (account_id,) = box.store.account_ids()
        for n in range(1, templates.MAX_TEMPLATES):
            box.store.create(
                account_id,
                "template",
                f"T{n:05d}",
                {"name": f"t{n}", "editor_type": "CODE", "html": HTML},
                now="2026-01-01T00:00:00+00:00",
            )
        refused = sandbox_post(
            box.base_url, key, {"name": "one too many", "editor_type": "CODE", "html": HTML}
        )
        assert refused.status_code == 400
        assert "fewer than 1000" in refused.json()["errors"][0]["detail"]
