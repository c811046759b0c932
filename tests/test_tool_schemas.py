"""Tool definitions for agents (klaviyo_connector.tool_schemas): names every client accepts,
input schemas without references or unsupported keywords that still take every valid input,
annotations from the action flags, the three formats, and `klaviyo-connector tools`."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from jsonschema import Draft202012Validator
from klaviyo_connector import tool_schemas as ts
from klaviyo_connector.cli import main
from klaviyo_connector.component import component

ACTIONS = list(component.actions.values())
PICKLISTS = list(component.data_sources.values())
# Keywords whose value is a map of names to schemas, a schema, or a list of schemas.
SCHEMA_MAPS = ("properties",)
SCHEMA_VALUES = ("items", "additionalProperties")
SCHEMA_LISTS = ("anyOf", "allOf")


def walk(schema, path="#"):
    """(path, schema) of every schema inside ``schema``, itself included."""
    yield path, schema
    for key in SCHEMA_MAPS:
        for name, sub in (schema.get(key) or {}).items():
            yield from walk(sub, f"{path}/{key}/{name}")
    for key in SCHEMA_VALUES:
        if isinstance(schema.get(key), dict):
            yield from walk(schema[key], f"{path}/{key}")
    for key in SCHEMA_LISTS:
        for i, sub in enumerate(schema.get(key) or ()):
            yield from walk(sub, f"{path}/{key}/{i}")


@pytest.fixture(scope="module")
def tools():
    return {plugin.key: ts.mcp_tool(plugin) for plugin in ACTIONS + PICKLISTS}


def test_every_tool_name_fits_every_client_and_is_the_key(tools):
    names = [tool["name"] for tool in tools.values()]
    assert len(set(names)) == len(names)
    for key, tool in tools.items():
        assert ts.TOOL_NAME.match(tool["name"]), key
        assert tool["name"] == key  # today's keys all fit: no renaming


@pytest.mark.parametrize("plugin", ACTIONS + PICKLISTS, ids=lambda p: p.key)
def test_input_schema_is_plain_json_schema_clients_accept(plugin, tools):
    schema = tools[plugin.key]["inputSchema"]
    Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert not {"anyOf", "oneOf", "allOf", "$defs", "if", "not"} & set(schema)
    text = json.dumps(schema)
    assert "$ref" not in text and "$defs" not in text
    for path, sub in walk(schema):
        assert set(sub) <= ts.KEPT, (path, set(sub) - ts.KEPT)


@pytest.mark.parametrize("plugin", ACTIONS + PICKLISTS, ids=lambda p: p.key)
def test_input_schema_keeps_the_inputs_and_takes_the_forms_own_examples(plugin, tools):
    form = plugin.input_schema()
    schema = tools[plugin.key]["inputSchema"]
    assert list(schema["properties"]) == list(form.get("properties", {}))
    assert schema.get("required", []) == form.get("required", [])
    assert schema.get("additionalProperties") is False
    for example in form.get("examples", []):
        errors = [e.message for e in Draft202012Validator(schema).iter_errors(example)]
        assert errors == [], example


def test_references_are_inlined_with_their_members(tools):
    location = tools["createProfile"]["inputSchema"]["properties"]["location"]
    assert location["title"] == "Location"  # the input's label wins over the model's title
    assert location["type"] == "object"
    assert location["additionalProperties"] is False
    assert {"address1", "city", "country", "zip", "timezone"} <= set(location["properties"])


def test_discriminated_unions_become_anyof_with_one_value_enums(tools):
    items = tools["createCampaign"]["inputSchema"]["properties"]["campaignMessages"]["items"]
    channels = [branch["properties"]["channel"]["enum"] for branch in items["anyOf"]]
    assert channels == [["email"], ["sms"], ["mobile_push"]]


def test_cross_field_rules_are_said_in_the_description(tools):
    tool = tools["createProfile"]
    assert "Give at least one of Email, Phone Number or External ID" in tool["description"]
    assert "anyOf" not in tool["inputSchema"]
    assert tool["description"].endswith("Writes to Klaviyo.")


def test_picklist_inputs_name_the_picklist_tool(tools):
    list_id = tools["getList"]["inputSchema"]["properties"]["listId"]
    assert list_id["description"].endswith("Find one with the selectList tool.")
    assert "x-data-source" not in list_id


def test_recursive_definitions_stop_one_level_down():
    form = {
        "type": "object",
        "properties": {"group": {"$ref": "#/$defs/Group"}},
        "$defs": {
            "Group": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "groups": {"type": "array", "items": {"$ref": "#/$defs/Group"}},
                },
            }
        },
    }
    schema = ts.tool_input_schema(form)
    group = schema["properties"]["group"]
    assert group["properties"]["name"] == {"type": "string"}
    assert group["properties"]["groups"]["items"] == {
        "type": "object",
        "description": "Another Group, with the same members.",
    }


def test_rule_combinators_go_and_type_choices_stay():
    form = {
        "type": "object",
        "properties": {
            "when": {"anyOf": [{"type": "string"}, {"oneOf": [{"type": "integer"}, {"const": "now"}]}]},
            "tags": {"type": "array", "items": {"type": "string"}, "allOf": [{"contains": {"const": "a"}}]},
        },
        "anyOf": [{"required": ["when"]}, {"required": ["tags"]}],
        "if": {"required": ["when"]},
        "then": {"not": {"required": ["tags"]}},
        "dependentRequired": {"tags": ["when"]},
        "x-rules": ["Give When or Tags, not both."],
    }
    schema = ts.tool_input_schema(form)
    assert schema == {
        "type": "object",
        "properties": {
            "when": {"anyOf": [{"type": "string"}, {"anyOf": [{"type": "integer"}, {"enum": ["now"]}]}]},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "description": "Give When or Tags, not both.",
    }


def test_oversized_schemas_list_each_input_by_its_own_shape():
    member = {
        "type": "object",
        "properties": {f"m{i}": {"type": "string", "title": "x" * 40} for i in range(50)},
    }
    schema = {
        "type": "object",
        "properties": {
            "definition": {
                **member,
                "title": "Definition",
                "required": ["m1"],
                "additionalProperties": False,
            },
            "steps": {"type": "array", "title": "Steps", "items": member, "maxItems": 5},
            "either": {"anyOf": [member, {"type": "null"}], "title": "Either"},
            "name": {"type": "string", "title": "Name", "minLength": 1},
        },
        "required": ["definition", "name"],
        "additionalProperties": False,
    }
    assert ts.compact(schema, "createThing", limit=100_000) is schema  # small enough: as it is
    small = ts.compact(schema, "createThing", limit=1000)
    note = "Members left out here for size: describeAction (or `klaviyo-connector describe createThing`) lists them."
    assert small == {
        "type": "object",
        "properties": {
            "definition": {"type": "object", "title": "Definition", "required": ["m1"], "description": note},
            "steps": {
                "type": "array",
                "title": "Steps",
                "items": {"type": "object"},
                "maxItems": 5,
                "description": note,
            },
            "either": {
                "anyOf": [{"type": "object"}, {"type": "null"}],
                "title": "Either",
                "description": note,
            },
            "name": {"type": "string", "title": "Name", "minLength": 1},
        },
        "required": ["definition", "name"],
        "additionalProperties": False,
    }


def test_tool_names_for_keys_that_do_not_fit():
    assert ts.tool_name("getCatalogItems") == "getCatalogItems"
    assert (
        ts.tool_name("get catalog/items")
        == "get_catalog_items_" + ts.hashlib.sha1(b"get catalog/items").hexdigest()[:8]
    )
    long_a, long_b = "x" * 70 + "A", "x" * 70 + "B"
    name_a, name_b = ts.tool_name(long_a), ts.tool_name(long_b)
    assert ts.TOOL_NAME.match(name_a) and ts.TOOL_NAME.match(name_b)
    assert len(name_a) == 64 and name_a != name_b
    assert ts.tool_name(long_a) == name_a  # the same name every time


@pytest.mark.parametrize(
    ("key", "read_only", "destructive", "idempotent"),
    [
        ("getList", True, False, True),
        ("deleteList", False, True, True),
        ("createList", False, False, False),
        ("updateList", False, False, True),
    ],
)
def test_annotations_follow_the_action_flags(tools, key, read_only, destructive, idempotent):
    action = component.actions[key]
    assert (action.read_only, action.destructive, action.idempotent) == (read_only, destructive, idempotent)
    assert tools[key]["annotations"] == {
        "title": action.label,
        "readOnlyHint": read_only,
        "destructiveHint": destructive,
        "idempotentHint": idempotent,
        "openWorldHint": True,
    }
    assert tools[key]["title"] == action.label


def test_picklists_are_read_only_tools(tools):
    annotations = tools["selectList"]["annotations"]
    assert annotations["readOnlyHint"] is True and annotations["destructiveHint"] is False
    assert tools["selectList"]["description"].endswith("Reads only.")


def test_destructive_actions_say_so(tools):
    assert tools["deleteList"]["description"].endswith("Writes to Klaviyo and may delete or overwrite data.")


def test_descriptions_fit_openais_limit_and_are_cut_after_a_sentence(tools):
    assert all(len(tool["description"]) <= ts.MAX_DESCRIPTION for tool in tools.values())
    long = SimpleNamespace(description="A sentence that says a thing. " * 60, read_only=True)
    text = ts.tool_description(long)
    assert len(text) <= ts.MAX_DESCRIPTION and text.endswith("thing.")


def test_formats(tools):
    tool = tools["getList"]
    assert ts.convert(tool, "mcp") == tool
    assert ts.convert(tool, "openai") == {
        "type": "function",
        "function": {
            "name": "getList",
            "description": tool["description"],
            "parameters": tool["inputSchema"],
        },
    }
    assert ts.convert(tool, "anthropic") == {
        "name": "getList",
        "description": tool["description"],
        "input_schema": tool["inputSchema"],
    }
    with pytest.raises(ValueError, match="unknown tool format 'gemini'"):
        ts.convert(tool, "gemini")


def test_generated_actions_are_told_from_curated_ones():
    assert not ts.is_generated(component.actions["createProfile"])
    assert ts.is_generated(SimpleNamespace(generated=True))
    assert ts.is_generated(SimpleNamespace(group="all operations"))
    assert not ts.is_generated(SimpleNamespace(group="curated"))
    assert not ts.is_generated(SimpleNamespace(generated=False, group=None))


def test_toolsets_are_the_catalog_tags_of_the_operations():
    assert ts.toolsets_of(component.actions["addProfilesToList"]) == ("lists", "profiles")
    assert ts.toolsets_of(component.actions["requestProfileDeletion"]) == ("data_privacy",)
    assert ts.toolsets_of(component.actions["rawRequest"]) == ()
    assert ts.toolset("Custom Objects") == "custom_objects"
    assert {"catalogs", "profiles", "lists", "custom_objects", "web_feeds"} <= set(ts.resource_toolsets())


def every_action() -> dict:
    every = getattr(component, "all_actions", None)
    return every() if callable(every) else dict(component.actions)


def test_tools_command_prints_every_action_in_a_form_clients_accept(capsys):
    """Every action, the generated ones too where the component has them: one tool each, named
    by its key, whose input schema is plain JSON Schema that takes the form's own examples."""
    actions = every_action()
    assert main(["tools"]) == 0
    out, err = capsys.readouterr()
    printed = json.loads(out)
    assert err == ""
    assert [t["name"] for t in printed] == [ts.tool_name(key) for key in actions]
    assert len({t["name"] for t in printed}) == len(printed)
    for tool, action in zip(printed, actions.values(), strict=True):
        assert ts.TOOL_NAME.match(tool["name"]) and len(tool["description"]) <= ts.MAX_DESCRIPTION
        schema = tool[
            "inputSchema"
        ]  # (checked against the metaschema for the curated ones above: 11 s for all)
        assert schema["type"] == "object" and "$ref" not in json.dumps(schema)
        assert len(json.dumps(schema)) <= ts.MAX_SCHEMA_CHARS, tool["name"]
        for path, sub in walk(schema):
            assert set(sub) <= ts.KEPT, (tool["name"], path, set(sub) - ts.KEPT)
        form = action.input_schema()
        assert schema.get("required", []) == form.get("required", []), tool["name"]
        for example in form.get("examples", []):
            assert not list(Draft202012Validator(schema).iter_errors(example)), (tool["name"], example)


@pytest.mark.parametrize("fmt", ts.FORMATS)
def test_tools_command_formats(capsys, monkeypatch, fmt):
    from klaviyo_connector import mcp_server

    few = {key: action for key, action in component.actions.items() if key in ("getList", "createProfile")}
    every = mcp_server.entries
    monkeypatch.setattr(mcp_server, "entries", lambda comp: [e for e in every(comp) if e.key in few])
    assert main(["tools", "--format", fmt]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == [ts.convert(ts.mcp_tool(action), fmt) for action in few.values()]
    assert printed == ts.tool_definitions(few.values(), fmt)


def test_tools_command_refuses_other_formats(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tools", "--format", "gemini"])
    assert exc.value.code == 2
    assert "invalid choice: 'gemini'" in capsys.readouterr().err


def test_tools_command_narrows_like_the_mcp_server(capsys):
    assert main(["tools", "--toolsets", "curated", "--read-only"]) == 0
    names = {tool["name"] for tool in json.loads(capsys.readouterr().out)}
    assert "getList" in names and "listAccounts" in names
    assert "createProfile" not in names and "rawRequest" not in names  # they may write
    assert not any(component.find_action(name).generated for name in names if name not in component.actions)
    assert main(["tools", "--toolsets", "coupons"]) == 0
    coupons = {tool["name"] for tool in json.loads(capsys.readouterr().out)}
    assert {"getCoupons", "createCoupon"} <= coupons and "getList" not in coupons


def test_a_long_enum_is_said_in_words_and_the_action_still_refuses_other_values():
    tool = ts.mcp_tool(component.actions["getProfile"])
    items = tool["inputSchema"]["properties"]["fields"]["items"]
    assert "enum" not in items and items["type"] == "string"
    assert "describeAction lists them all" in items["description"] and "email" in items["description"]
    form_items = component.actions["getProfile"].input_schema()["properties"]["fields"]["items"]
    assert len(form_items["enum"]) > ts.MAX_ENUM  # the form (and the run's check) keep the whole list
    short = ts.mcp_tool(component.actions["subscribeProfiles"])
    assert '"enum"' in json.dumps(short["inputSchema"])  # short enums stay listed
