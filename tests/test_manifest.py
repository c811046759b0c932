"""The host manifest: one JSON document for the whole component, valid against its own schema."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from typing import Any

import jsonschema
import pytest
from klaviyo_connector import manifest
from klaviyo_connector.catalog import operation
from klaviyo_connector.cli import main
from klaviyo_connector.component import component

VALIDATOR = jsonschema.Draft202012Validator


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    return manifest.build_manifest()


def by_key(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["key"]: e for e in entries}


def resolve(schema: Any, pointer: str) -> Any:
    for token in pointer.split("/")[1:]:
        token = token.replace("~1", "/").replace("~0", "~")
        schema = schema[int(token)] if isinstance(schema, list) else schema[token]
    return schema


def test_the_manifest_validates_against_its_schema(built):
    schema = manifest.manifest_schema()
    VALIDATOR.check_schema(schema)
    VALIDATOR(schema).validate(built)
    assert built["manifestVersion"] == manifest.MANIFEST_VERSION
    assert built["component"] == {
        "key": component.key,
        "label": component.label,
        "description": component.description,
        "version": component.version,
    }
    assert [t["key"] for t in built["triggers"]] == [t.key for t in manifest.plugins(component, "triggers")]


def test_the_schema_rejects_what_a_host_could_not_use(built):
    schema = manifest.manifest_schema()
    broken = json.loads(json.dumps(built))
    del broken["actions"][0]["inputSchema"]
    assert not VALIDATOR(schema).is_valid(broken)
    broken = json.loads(json.dumps(built))
    broken["connections"][0]["fields"][0]["secret"] = "yes"
    assert not VALIDATOR(schema).is_valid(broken)
    broken = json.loads(json.dumps(built))
    broken["actions"][0]["surprise"] = True
    assert not VALIDATOR(schema).is_valid(broken)


def test_every_action_data_source_and_connection_is_present_in_order(built):
    # The curated actions first, then the one generated for every operation.
    keys = [a["key"] for a in built["actions"]]
    assert keys == [*component.actions, *component.generated_actions]
    assert [a["generated"] for a in built["actions"]] == [False] * len(component.actions) + [True] * 345
    assert [d["key"] for d in built["dataSources"]] == list(component.data_sources)
    assert [c["key"] for c in built["connections"]] == [c.key for c in component.connections]
    for declared in component.connections:
        entry = by_key(built["connections"])[declared.key]
        assert entry["label"] == declared.label
        assert entry["fields"] == [
            {
                "key": f.key,
                "label": f.label,
                "description": f.description,
                "secret": f.secret,
                "required": f.required,
                "default": f.default,
            }
            for f in declared.fields
        ]


def test_secret_fields_are_flagged(built):
    secrets = {(c["key"], f["key"]) for c in built["connections"] for f in c["fields"] if f["secret"]}
    assert secrets == {("apiKey", "apiKey"), ("oauth2", "clientSecret")}


def test_oauth_endpoints_and_default_scopes(built):
    from klaviyo_connector.connections import oauth2

    connections = by_key(built["connections"])
    assert connections["apiKey"]["oauth2"] is None
    block = connections["oauth2"]["oauth2"]
    assert block["authorizeUrl"] == oauth2.AUTHORIZE_URL == "https://www.klaviyo.com/oauth/authorize"
    assert block["tokenUrl"] == oauth2.TOKEN_URL == "https://a.klaviyo.com/oauth/token"
    assert block["revokeUrl"] == "https://a.klaviyo.com/oauth/revoke"
    assert block["pkce"] == "S256" and block["clientAuthentication"] == "client_secret_basic"
    assert block["defaultScopes"] == list(oauth2.required_scopes())


def test_plugin_entries_carry_flags_scopes_and_rate_limits(built):
    actions = by_key(built["actions"])
    for key, action in component.actions.items():
        entry = actions[key]
        assert (entry["readOnly"], entry["idempotent"], entry["destructive"]) == (
            action.read_only,
            action.idempotent,
            action.destructive,
        )
        assert entry["label"] == action.label and entry["description"] == action.description
        assert entry["operations"] == list(action.operations)
        assert entry["scopes"] == list(action.scopes)
        limited = [op for op in action.operations if operation(op).rate_limit is not None]
        assert [r["operation"] for r in entry["rateLimits"]] == limited
        assert entry["group"]
    assert actions["createList"]["group"] == "Lists"
    assert actions["rawRequest"]["group"] == manifest.OTHER_GROUP
    assert actions["deleteList"]["rateLimits"][0]["text"] == operation("delete_list").rate_limit.describe()


def without(schema: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k not in keys}


def test_input_schemas_are_the_input_models_json_schemas(built):
    plugins = [
        *zip(built["actions"], manifest.listed_actions(component), strict=True),
        *zip(built["dataSources"], component.data_sources.values(), strict=True),
    ]
    for entry, plugin in plugins:
        schema = entry["inputSchema"]
        assert schema["$schema"] == manifest.DRAFT
        VALIDATOR.check_schema(schema)
        # The plugin may title its form with its own label; everything else is the model's schema.
        assert without(schema, "$schema", "title") == without(plugin.inputs.model_json_schema(), "title")


def test_picklist_references_resolve_to_declared_data_sources(built):
    declared = set(component.data_sources)
    seen = set()
    for entry in [*built["actions"], *built["dataSources"]]:
        for ref in entry["picklists"]:
            assert ref["dataSource"] in declared, (entry["key"], ref)
            assert resolve(entry["inputSchema"], ref["pointer"])["x-data-source"] == ref["dataSource"]
            seen.add(ref["dataSource"])
    actions = by_key(built["actions"])
    assert {"pointer": "/properties/listId", "dataSource": "selectList"} in actions["getList"]["picklists"]
    assert seen >= {"selectList", "selectProfile", "selectCampaign", "selectTemplate"}


def test_output_schemas_follow_the_catalog(built):
    actions = by_key(built["actions"])
    for entry in actions.values():
        VALIDATOR.check_schema(entry["outputSchema"])
    titles = {key: entry["outputSchema"]["properties"]["data"]["title"] for key, entry in actions.items()}
    assert titles["createList"] == "JSON:API document"
    assert titles["listLists"] == "JSON:API collection"
    assert titles["listAccounts"] == "JSON:API collection"
    assert titles["deleteList"] == "Acknowledgement"  # 204
    assert titles["sendCampaign"] == "Acknowledgement"  # 202 with a job body: still acknowledged
    assert titles["addProfilesToList"] == "Acknowledgement"  # the write after the lookups
    assert titles["assignCampaignTemplate"] == "JSON:API document"
    assert titles["rawRequest"] == "Raw response"  # declared by the action: its fixed envelope
    assert actions["rawRequest"]["outputSchema"]["properties"]["data"]["required"] == [
        "data",
        "status",
        "headers",
        "attempts",
    ]
    for source in built["dataSources"]:
        assert source["outputSchema"] == manifest.data_source_output_schema()


def test_an_action_may_declare_its_own_output_schema():
    declared = {"type": "object", "required": ["status"], "properties": {"status": {"type": "integer"}}}
    action = dataclasses.replace(component.actions["rawRequest"], output_schema=declared)
    schema = manifest.output_schema(action)
    assert schema["properties"]["data"] == declared
    assert manifest.action_entry(action)["outputSchema"] == schema
    VALIDATOR.check_schema(schema)


def test_declared_result_schemas_extend_the_derived_ones(built):
    """Actions whose results carry more than Klaviyo's answer declare it with the shared builders and
    keep the derived title, description, base members and open ``additionalProperties``."""
    actions = by_key(built["actions"])
    for key in ("importProfiles", "subscribeProfiles", "suppressProfiles", "sendCampaign", "createEvent"):
        result = actions[key]["outputSchema"]["properties"]["data"]
        assert result["title"] == "Acknowledgement"
        assert {"accepted", "status", "asynchronous"} <= set(result["properties"])
        assert "additionalProperties" not in result
    send = manifest.result_schema(component.actions["sendCampaign"])
    assert send["description"].startswith("send_campaign answers HTTP 202")
    assert send["required"] == ["accepted", "status", "asynchronous", "campaign_id"]
    assert "job" not in actions["importProfiles"]["outputSchema"]["properties"]["data"]["properties"]
    upsert = actions["createOrUpdateProfile"]["outputSchema"]["properties"]["data"]
    assert upsert["title"] == "JSON:API document"
    assert {"data", "links", "meta", "included", "created"} == set(upsert["properties"])
    assert upsert["description"].startswith("Klaviyo's document from create_or_update_profile")


def test_the_schema_builders():
    ack = manifest.acknowledgement_schema(
        required=["n"],
        omit=["job"],
        n=manifest.member("integer", "A count."),
        any=manifest.member(None, "Any."),
    )
    assert ack["required"] == ["accepted", "status", "asynchronous", "n"]
    assert "job" not in ack["properties"] and "job_id" in ack["properties"]
    assert ack["properties"]["n"] == {"type": "integer", "description": "A count."}
    assert ack["properties"]["any"] == {"description": "Any."}
    assert "description" not in ack
    many = manifest.document_schema(many=True, description="Pages.", extra=manifest.resources("More."))
    assert many["title"] == "JSON:API collection" and many["description"] == "Pages."
    assert many["properties"]["extra"]["items"] == {"$ref": "#/$defs/resource"}
    # A declared schema of another kind keeps its own (missing) description.
    action = dataclasses.replace(component.actions["rawRequest"], output_schema=ack)
    assert "description" not in manifest.result_schema(action)
    VALIDATOR.check_schema(manifest.output_schema(action))


def test_the_cli_prints_the_manifest(built, capsys):
    assert main(["manifest"]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(built))


def test_importing_the_component_builds_no_schema():
    code = (
        "import sys; from klaviyo_connector.component import component; "
        "print(','.join(m for m in ('jinja2', 'jsonschema', 'klaviyo_connector.manifest', "
        "'klaviyo_connector.docs') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == ""
