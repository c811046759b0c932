"""The generated actions: one per catalog operation, typed from the spec, sending what the spec takes.

The contract test builds inputs for every generated action from its own input schema, runs it
against a mocked Klaviyo (``responses``: nothing leaves the process) and validates each request it
sends against the OpenAPI spec (tests/contract.py), and the output against the action's own output
schema.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest
import responses
from conftest import CONNECTION, body, refused, run
from contract import spec_path, validate_request
from klaviyo_connector import catalog, naming, schemas
from klaviyo_connector.actions import generated
from klaviyo_connector.actions.descriptions import DESCRIPTIONS
from klaviyo_connector.component import component
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.manifest import output_schema
from klaviyo_connector.operation_inputs import example_value, plan

BASE = "https://a.klaviyo.com"
OPERATIONS = [op.id for op in catalog.operations()]
ID = "01J18FVB5H8XR1X9AXEQFVRW7A"
# A 1x1 GIF, for the one multipart operation (image upload).
GIF = "R0lGODlhAQABAAAAACw="


def _action(op_id: str) -> Any:
    action = component.find_action(op_id)
    assert action is not None, op_id
    return action


# -- keys, labels, descriptions ---------------------------------------------------------------------


def test_every_operation_has_one_generated_action():
    table = component.generated_actions
    assert len(table) == len(OPERATIONS) == 345
    assert sorted(e.operation for e in table.entries()) == sorted(OPERATIONS)
    assert len(set(table)) == len(OPERATIONS)  # keys are unique


def test_key_is_the_lower_camel_operation_id_unless_a_curated_action_has_it():
    curated = set(component.actions)
    for entry in component.generated_actions.entries():
        camel = naming.lower_camel(entry.operation)
        if camel in curated:
            assert entry.key == f"{camel}Operation"  # the twin; its operationId reaches it too
        else:
            assert entry.key == camel
        assert entry.key not in curated
    table = component.generated_actions
    assert table["getCatalogItems"].operations == ("get_catalog_items",)
    assert table["createCoupon"].operations == ("create_coupon",)
    # getProfile is curated: it keeps the key; the generated twin is get_profile.
    assert component.find_action("getProfile") is component.actions["getProfile"]
    assert component.find_action("get_profile").generated
    assert component.find_action("get_profile").key == "getProfileOperation"
    assert component.find_action("getProfileOperation") is component.find_action("get_profile")


def test_labels_are_the_operation_ids_words():
    assert _action("get_catalog_items").label == "Get Catalog Items"
    assert _action("get_profiles_for_list").label == "Get Profiles For List"
    assert _action("bulk_create_client_events").label == "Bulk Create Client Events"
    assert naming.label("get_sms_settings_by_id") == "Get SMS Settings By ID"
    for entry in component.generated_actions.entries():
        assert entry.label.replace(" ", "").lower() == entry.operation.replace("_", "").lower()


def test_description_is_the_sentence_then_catalog_facts():
    action = _action("get_catalog_items")
    assert action.description == (
        f"{DESCRIPTIONS['get_catalog_items']} (GET /api/catalog-items; scopes: catalogs:read; "
        "rate limit: 350/s, 3500/m.)"
    )
    client = _action("create_client_subscription")
    assert "a public client endpoint: it takes a company ID and is sent no API key" in client.description
    assert "POST /client/subscriptions" in client.description


def test_flags_group_and_truthful_behaviour():
    got = _action("get_coupons")
    assert (got.generated, got.group, got.read_only, got.idempotent, got.destructive) == (
        True,
        generated.GROUP,
        True,
        True,
        False,
    )
    deleted = _action("delete_coupon")
    assert deleted.destructive and deleted.idempotent and not deleted.read_only
    created = _action("create_coupon")
    assert not (created.read_only or created.idempotent or created.destructive)
    assert not component.actions["getProfile"].generated


# -- inputs ----------------------------------------------------------------------------------------


def _props(op_id: str) -> dict[str, Any]:
    return _action(op_id).input_schema()["properties"]


def test_path_parameter_is_a_required_id_input_wired_to_its_picklist():
    schema = _action("get_profiles_for_list").input_schema()
    assert "listId" in schema["required"]
    assert schema["properties"]["listId"]["title"] == "List ID"
    assert schema["properties"]["listId"]["x-data-source"] == "selectList"
    item = _action("get_catalog_item").input_schema()
    assert item["properties"]["catalogItemId"]["title"] == "Catalog Item ID"
    assert "x-data-source" not in item["properties"]["catalogItemId"]  # no such picklist


def test_every_generated_id_input_with_a_picklist_names_it():
    """Where the component declares select<Resource>, the generated ID input uses it."""
    declared = set(component.data_sources)
    missing = []
    for op_id in OPERATIONS:
        for key, prop in _props(op_id).items():
            title = prop.get("title", "")
            if not (title.endswith(" ID") or title.endswith(" IDs")):
                continue
            words = title.removesuffix(" IDs").removesuffix(" ID").replace(" ", "")
            wanted = f"select{words}"
            source = prop.get("x-data-source") or (prop.get("items") or {}).get("x-data-source")
            if wanted in declared and source != wanted:
                missing.append(f"{op_id}.{key}: {source!r} != {wanted!r}")
            if source is not None:
                assert source in declared
    assert not missing


def test_query_parameters_are_typed_inputs_with_their_enums():
    props = _props("get_catalog_items")
    assert props["sort"]["enum"] == ["created", "-created"]
    assert props["catalogItemFields"]["items"]["enum"] == list(
        catalog.operation("get_catalog_items").fields["catalog-item"]
    )
    assert props["include"]["items"]["enum"] == ["variants"]
    assert props["pageSize"]["maximum"] == 100
    assert {"filter", "pageCursor", "fetchAll", "maxRecords"} <= set(props)
    profile = _props("update_profile")
    assert profile["additionalProfileFields"]["items"]["enum"] == ["subscriptions", "predictive_analytics"]


def test_body_is_flattened_attributes_relationships_and_meta():
    schema = _action("update_profile").input_schema()
    props = schema["properties"]
    assert props["firstName"]["title"] == "First Name" and props["firstName"]["type"] == "string"
    assert props["patchProperties"]["properties"]["unset"]  # meta member, the spec's shape kept
    assert props["patchProperties"]["additionalProperties"] is False
    assert schema["required"] == ["profileId"]
    coupon = _action("create_coupon").input_schema()
    assert coupon["required"] == ["externalId"]
    merged = _props("merge_profiles")
    assert merged["profileIds"]["type"] == "array" and merged["profileIds"]["title"] == "Profile IDs"
    sub = _props("create_client_subscription")
    assert sub["listId"]["x-data-source"] == "selectList"
    assert "companyId" in _action("create_client_subscription").input_schema()["required"]


def test_enum_and_limits_come_from_the_schema():
    props = _props("create_webhook")
    assert props["endpointUrl"]["title"] == "Endpoint URL"
    assert _props("cancel_campaign_send")["action"]["enum"] == ["cancel", "revert"]
    limited = _props("create_client_review")
    assert limited["reviewType"]["enum"] == ["question", "rating", "review", "store"]


def test_bad_inputs_are_refused_before_sending_naming_the_label(runner, klaviyo):
    err = refused(runner, klaviyo, "createCoupon", {})
    assert "External ID: is required" in str(err)
    err = refused(runner, klaviyo, "cancelCampaignSend", {"campaignSendJobId": "C1", "action": "pause"})
    assert err.field == "Action" and "'cancel' or 'revert'" in str(err)
    err = refused(runner, klaviyo, "update_profile", {"profileId": ID, "patchProperties": {"remove": ["x"]}})
    assert "Patch Properties" in str(err) and "'remove' was unexpected" in str(err)
    err = refused(runner, klaviyo, "getCatalogItems", {"filter": "equals(nope,'x')"})
    assert err.field == "Filter" and "nope" in str(err)
    err = refused(runner, klaviyo, "getCatalogItems", {"catalogItemFields": ["title", "colour"]})
    assert err.field == "Catalog Item Fields" and "colour" in str(err)
    err = refused(runner, klaviyo, "getCatalogItem", {"catalogItemId": ".."})
    assert err.field == "Catalog Item ID"
    err = refused(runner, klaviyo, "createCoupon", {"externalId": "X", "bogus": 1})
    assert "not an input of this action" in str(err)


def test_a_nested_date_time_without_offset_is_refused(runner, klaviyo):
    inputs = {"profile": {"data": {"type": "profile", "attributes": {"email": "a@example.com"}}}}
    inputs.update(metric={"data": {"type": "metric", "attributes": {"name": "Viewed"}}}, properties={})
    inputs["time"] = "2026-05-01T09:00:00"
    err = refused(runner, klaviyo, "create_event", inputs)
    assert err.field == "Time" and "UTC offset" in str(err)


# -- requests --------------------------------------------------------------------------------------


def test_create_sends_the_json_api_document(runner, klaviyo):
    klaviyo.post(f"{BASE}/api/coupons", json={"data": {"type": "coupon", "id": "SUMMER"}}, status=201)
    out = run(runner, "KLAVIYO_CREATE_COUPON", {"externalId": "SUMMER", "description": "Summer sale"})
    assert out == {"data": {"data": {"type": "coupon", "id": "SUMMER"}}}
    call = klaviyo.calls[0]
    assert call.request.method == "POST"
    assert body(call) == {
        "data": {"type": "coupon", "attributes": {"external_id": "SUMMER", "description": "Summer sale"}}
    }
    assert call.request.headers["Authorization"] == f"Klaviyo-API-Key {CONNECTION['fields']['apiKey']}"


def test_update_sends_the_path_id_as_data_id_and_meta(runner, klaviyo):
    klaviyo.patch(f"{BASE}/api/profiles/{ID}", json={"data": {"type": "profile", "id": ID, "attributes": {}}})
    run(
        runner,
        "update_profile",
        {
            "profileId": ID,
            "title": None,
            "patchProperties": '{"unset": ["plan"]}',
            "additionalProfileFields": "subscriptions",
        },
    )
    call = klaviyo.calls[0]
    assert call.request.url == f"{BASE}/api/profiles/{ID}?additional-fields%5Bprofile%5D=subscriptions"
    assert body(call) == {
        "data": {
            "type": "profile",
            "id": ID,
            "attributes": {"title": None},  # null clears: sent
            "meta": {"patch_properties": {"unset": ["plan"]}},
        }
    }


def test_relationship_list_body_and_acknowledgement(runner, klaviyo):
    klaviyo.post(f"{BASE}/api/lists/L1/relationships/profiles", status=204)
    out = run(runner, "add_profiles_to_list", {"listId": "L1", "profileIds": "01A,01B"})
    assert body(klaviyo.calls[0]) == {
        "data": [{"type": "profile", "id": "01A"}, {"type": "profile", "id": "01B"}]
    }
    assert out["data"]["status"] == 204 and out["data"]["asynchronous"] is False
    assert "POST /api/lists/L1/relationships/profiles" in out["data"]["accepted"]


def test_client_endpoint_sends_no_private_key(runner, klaviyo):
    klaviyo.post(f"{BASE}/client/subscriptions", status=202)
    profile = {"data": {"type": "profile", "attributes": {"email": "sarah@example.com"}}}
    run(runner, "createClientSubscription", {"companyId": "AbC123", "listId": "L1", "profile": profile})
    call = klaviyo.calls[0]
    assert "Authorization" not in call.request.headers
    assert call.request.url == f"{BASE}/client/subscriptions?company_id=AbC123"
    assert body(call)["data"]["relationships"] == {"list": {"data": {"type": "list", "id": "L1"}}}


def test_multipart_upload_sends_the_file_and_parts(runner, klaviyo):
    klaviyo.post(f"{BASE}/api/image-upload", json={"data": {"type": "image", "id": "1"}}, status=201)
    run(runner, "uploadImageFromFile", {"file": GIF, "name": "Pixel", "hidden": "true"})
    request = klaviyo.calls[0].request
    assert request.headers["Content-Type"].startswith("multipart/form-data")
    text = request.body.decode("latin-1")
    assert 'name="file"; filename="file.gif"' in text and "Content-Type: image/gif" in text
    assert 'name="hidden"\r\n\r\ntrue' in text and 'name="name"\r\n\r\nPixel' in text
    klaviyo.calls.reset()
    err = refused(runner, klaviyo, "uploadImageFromFile", {"file": "not base64!"})
    assert err.field == "File"


def test_list_operation_pages_like_the_curated_ones(runner, klaviyo):
    first = {
        "data": [{"type": "coupon", "id": "A"}],
        "links": {"next": f"{BASE}/api/coupons?page%5Bcursor%5D=c2"},
    }
    second = {"data": [{"type": "coupon", "id": "B"}], "links": {"next": None}}
    cursor = responses.matchers.query_param_matcher({"page[cursor]": "c2"})
    klaviyo.get(f"{BASE}/api/coupons", json=second, match=[cursor])
    klaviyo.get(f"{BASE}/api/coupons", json=first)
    out = run(runner, "getCoupons", {"fetchAll": True})["data"]
    assert [r["id"] for r in out["data"]] == ["A", "B"]
    assert out["meta"]["pages"] == 2 and out["meta"]["next_cursor"] is None
    klaviyo.calls.reset()
    one = run(runner, "getCoupons", {})["data"]
    assert one["meta"]["next_cursor"] == "c2" and len(klaviyo.calls) == 1


def test_a_generated_list_action_streams_by_any_name(runner, klaviyo):
    first = {
        "data": [{"type": "coupon", "id": "A"}],
        "links": {"next": f"{BASE}/api/coupons?page%5Bcursor%5D=c2"},
    }
    second = {"data": [{"type": "coupon", "id": "B"}], "links": {}}
    klaviyo.get(
        f"{BASE}/api/coupons",
        json=second,
        match=[responses.matchers.query_param_matcher({"page[cursor]": "c2"})],
    )
    klaviyo.get(f"{BASE}/api/coupons", json=first)
    stream = runner.stream_action(
        "klaviyo", "KLAVIYO_GET_COUPONS", connection=CONNECTION, inputs={"fetchAll": True}
    )
    assert [record["id"] for record in stream] == ["A", "B"]


# -- the contract: every generated action, every request validated ---------------------------------


def _value(prop: dict[str, Any], required: bool) -> Any:
    title = prop.get("title", "")
    if prop.get("enum"):
        return prop["enum"][0]
    if title.endswith(" IDs"):
        return [ID]
    if title.endswith(" ID") and prop.get("type") == "string":
        return ID
    if prop.get("examples"):
        return prop["examples"][0]
    return example_value(prop)


def _inputs(action: Any, everything: bool) -> dict[str, Any]:
    schema = action.input_schema()
    required = set(schema.get("required", ()))
    out: dict[str, Any] = {}
    for key, prop in schema["properties"].items():
        if key == "filter" and not prop.get("examples") and key not in required:
            continue  # an endpoint with no filter example to give
        if key in required or (everything and key not in ("pageCursor", "fetchAll", "maxRecords")):
            out[key] = _value(prop, key in required)
    if action.operations == ("upload_image_from_file",):
        out["file"] = GIF
    return out


def _reply(op_id: str) -> tuple[int, Any]:
    op = catalog.operation(op_id)
    status = op.success[0]
    found = schemas.response_schema(op_id, status)
    if found is None:
        return status, None
    reply = example_value(found, found.get("$defs"))
    if "links" in (
        found.get("$defs", {}).get(found.get("$ref", "").rsplit("/", 1)[-1], {}).get("properties") or {}
    ):
        reply["links"] = {"self": f"{BASE}{op.path}"}  # Klaviyo always links a document to itself
    return status, reply


@pytest.mark.skipif(spec_path() is None, reason="Klaviyo OpenAPI spec not found")
@pytest.mark.parametrize("everything", [False, True], ids=["required", "every-input"])
def test_every_generated_action_sends_what_the_spec_takes(runner, everything):
    import jsonschema

    failures: list[str] = []
    for op_id in OPERATIONS:
        action = _action(op_id)
        inputs = _inputs(action, everything)
        status, reply = _reply(op_id)
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            pattern = re.compile(re.escape(BASE) + r"/.*")
            for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
                mock.add(method, pattern, status=status, json=reply) if reply is not None else mock.add(
                    method, pattern, status=status
                )
            try:
                out = runner.run_action("klaviyo", action.key, connection=CONNECTION, inputs=inputs)
            except KlaviyoError as exc:
                failures.append(f"{op_id}: {exc} with {json.dumps(inputs, default=str)[:300]}")
                continue
            if len(mock.calls) != 1:
                failures.append(f"{op_id}: sent {len(mock.calls)} requests")
                continue
            request = mock.calls[0].request
            try:
                assert validate_request(request.method, request.url, request.headers, request.body) == op_id
                jsonschema.validate(out, output_schema(action))
            except (AssertionError, jsonschema.ValidationError) as exc:
                failures.append(f"{op_id}: {str(exc)[:400]}")
    assert not failures, f"{len(failures)} failing:\n" + "\n".join(failures)


# -- output schemas --------------------------------------------------------------------------------


def test_every_generated_action_declares_its_output():
    for op_id in ("get_catalog_items", "create_coupon", "delete_coupon", "bulk_create_events"):
        action = _action(op_id)
        described = action.describe()
        assert described["output"] == output_schema(action)
        assert described["generated"] is True and described["group"] == generated.GROUP
    listed = output_schema(_action("get_catalog_items"))
    assert listed["properties"]["data"]["title"] == "JSON:API collection"
    assert listed["$defs"]["CatalogItemResponseObjectResource"]  # the spec's shape, not a generic one
    assert "next_cursor" in listed["properties"]["data"]["description"]
    assert output_schema(_action("delete_coupon"))["properties"]["data"]["title"] == "Acknowledgement"


# -- cheap loading ---------------------------------------------------------------------------------

_PROBE = """
import json, sys
from klaviyo_connector.component import component
listed = component.generated_actions.entries()
heavy = sorted(m for m in ("pydantic", "requests", "klaviyo_connector.operation_inputs") if m in sys.modules)
component.find_action("getCatalogItems").describe()
from klaviyo_connector import operation_inputs
print(json.dumps({"listed": len(listed), "heavy": heavy, "built": operation_inputs.plan.cache_info().currsize}))
"""


def test_listing_builds_no_input_model_and_describing_builds_one():
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["listed"] == 345
    assert got["heavy"] == []  # listing keys and labels imports neither pydantic nor the model builder
    assert got["built"] == 1


def test_plans_are_built_once_and_shared():
    assert plan("get_catalog_items") is plan("get_catalog_items")
    table = component.generated_actions
    assert table["getCatalogItems"] is table["getCatalogItems"]
