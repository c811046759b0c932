"""Reference docs: generated from the component with Jinja2, examples run against the sandbox, and
the committed copy under docs/ kept current."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from klaviyo_connector import docs, manifest
from klaviyo_connector.catalog import operation
from klaviyo_connector.cli import main
from klaviyo_connector.component import component
from klaviyo_connector.inputs import Inputs
from pydantic import Field

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs"
REGENERATE = "run `klaviyo-connector docs --out docs` and commit the result"


@pytest.fixture(scope="module")
def examples() -> docs.Examples:
    return docs.run_examples()


@pytest.fixture(scope="module")
def pages(examples: docs.Examples) -> dict[str, str]:
    return docs.generate(component, examples)


def committed_pages() -> dict[str, str]:
    found = {}
    for name in docs.MANAGED:
        path = COMMITTED / name
        files = [path] if path.is_file() else sorted(path.glob("*.md"))
        for file in files:
            found[file.relative_to(COMMITTED).as_posix()] = file.read_text(encoding="utf-8")
    return found


def section(page: str, heading: str) -> str:
    """The text under ``## heading`` up to the next ``## ``."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", page, re.M | re.S)
    assert match, f"no section {heading!r}"
    return match.group(1)


def test_committed_docs_are_current(pages):
    committed = committed_pages()
    missing = sorted(set(pages) - set(committed))
    extra = sorted(set(committed) - set(pages))
    stale = sorted(p for p in set(pages) & set(committed) if pages[p] != committed[p])
    assert not (missing or extra or stale), (
        f"docs/ is stale ({REGENERATE}): missing {missing}, no longer generated {extra}, changed {stale}"
    )


def test_every_plugin_and_connection_has_a_page(pages):
    expected = {"index.md"}
    expected |= {f"connections/{c.key}.md" for c in component.connections}
    expected |= {f"actions/{key}.md" for key in component.actions}
    expected |= {f"data-sources/{key}.md" for key in component.data_sources}
    triggers = manifest.plugins(component, "triggers")
    expected |= {f"triggers/{t.key}.md" for t in triggers}
    # Generated actions: one page per catalog tag, each listing its actions by key.
    tags = {operation(e.operation).tag for e in component.generated_actions.entries()}
    expected |= {f"operations/{docs.slug(tag)}.md" for tag in tags}
    assert set(pages) == expected
    for entry in component.generated_actions.entries():
        tag = operation(entry.operation).tag
        assert f"`{entry.key}` · `{entry.operation}`" in pages[f"operations/{docs.slug(tag)}.md"]
    index = pages["index.md"]
    for key in [*component.actions, *component.data_sources, *(t.key for t in triggers)]:
        assert f"`{key}`" in index
    if not triggers:
        assert "This version has no triggers." in index


def table_row(prop: dict, key: str) -> str:
    return f"| {docs._cell(prop.get('title') or key)} | `{key}` |"


@pytest.mark.parametrize("key", list(component.actions))
def test_action_page_has_a_row_for_every_input_and_nested_field(pages, key):
    action = component.actions[key]
    page = pages[f"actions/{key}.md"]
    inputs = section(page, "Inputs")
    schema = manifest.input_schema(action)
    for name, prop in schema["properties"].items():
        row = table_row(prop, name)
        assert row in inputs, f"{key}: no row {row!r}"
        line = next(line for line in inputs.splitlines() if line.startswith(row))
        required = "yes" if name in schema.get("required", ()) else "no"
        assert line.split(" | ")[3] == required, line
    for definition in schema.get("$defs", {}).values():
        for name, prop in definition.get("properties", {}).items():
            assert table_row(prop, name) in inputs, f"{key}: nested field {name} has no row"


@pytest.mark.parametrize("key", list(component.actions))
def test_action_page_shows_scopes_rate_limits_and_flags_from_the_catalog(pages, key):
    action = component.actions[key]
    page = pages[f"actions/{key}.md"]
    scopes = section(page, "Scopes")
    assert re.findall(r"^- `([^`]+)`$", scopes, re.M) == list(action.scopes)
    limits = section(page, "Rate limits")
    for op_id in action.operations:
        rl = operation(op_id).rate_limit
        if rl is not None:
            daily = f"{rl.daily}/d" if rl.daily else "—"
            assert (
                f"| `{op_id}` | `{operation(op_id).method} {operation(op_id).path}` | {rl.burst}/s | {rl.steady}/m | {daily} |"
                in limits
            )
    flags = " | ".join(
        "yes" if f else "no" for f in (action.read_only, action.idempotent, action.destructive)
    )
    assert f"| {flags} |" in page
    assert f"**{manifest.result_schema(action)['title']}.**" in section(page, "Output")


def test_data_source_pages_list_the_actions_that_use_them(pages):
    page = pages["data-sources/selectList.md"]
    used_by = section(page, "Used by")
    assert "[Add Profiles To List](../actions/addProfilesToList.md)" in used_by
    assert "[Create Profile]" not in used_by
    assert re.findall(r"^- `([^`]+)`$", section(page, "Scopes"), re.M) == ["lists:read"]


def test_input_picklists_link_to_their_data_source_pages(pages):
    inputs = section(pages["actions/getList.md"], "Inputs")
    assert "[Select List](../data-sources/selectList.md)" in inputs
    for link in re.findall(r"\]\(\.\./data-sources/([^)]+)\.md\)", "".join(pages.values())):
        assert link in component.data_sources


def test_connection_pages_show_fields_secrets_and_how_to_get_credentials(pages):
    api_key = pages["connections/apiKey.md"]
    assert "| API Key | `apiKey` | yes | yes |" in api_key
    assert "Settings > API keys" in section(api_key, "How to get credentials")
    oauth = pages["connections/oauth2.md"]
    assert "| Client secret | `clientSecret` | yes | yes |" in oauth
    assert "| Client ID | `clientId` | no | yes |" in oauth
    endpoints = section(oauth, "OAuth endpoints")
    assert "https://a.klaviyo.com/oauth/revoke" in endpoints
    assert "PKCE `S256`" in endpoints
    assert "OAuth endpoints" not in api_key


def test_every_action_and_data_source_has_an_example_from_the_sandbox(examples, pages):
    assert set(examples.actions) == set(component.actions)
    assert set(examples.data_sources) == set(component.data_sources)
    for key, example in examples.actions.items():
        shown = section(pages[f"actions/{key}.md"], "Example")
        assert json.dumps(example.inputs, indent=2, ensure_ascii=False) in shown
        assert json.dumps(example.output, indent=2, ensure_ascii=False) in shown


def test_example_outputs_validate_against_the_output_schemas(examples):
    for key, example in examples.actions.items():
        schema = manifest.output_schema(component.actions[key])
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.validate(example.output, schema, cls=jsonschema.Draft202012Validator)
    for example in examples.data_sources.values():
        jsonschema.validate(example.output, manifest.data_source_output_schema())


def _unlisted(value: Any, schema: dict[str, Any], defs: dict[str, Any], where: str) -> list[str]:
    """The members of ``value`` (an object, or the objects in an array) that ``schema`` doesn't list;
    an object schema whose ``additionalProperties`` is a schema is a map, so any key is listed."""
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    if isinstance(value, list):
        items = schema.get("items")
        found = [_unlisted(v, items, defs, f"{where}[]") for v in value if isinstance(items, dict)]
        return sorted({name for names in found for name in names})
    if not isinstance(value, dict) or isinstance(schema.get("additionalProperties"), dict):
        return []
    listed = schema.get("properties") or {}
    return [f"{where}.{name}" for name in value if name not in listed]


def test_every_member_of_each_example_result_is_in_the_output_schema(examples):
    """A builder offers what the output schema lists as mappable fields: every member an action's
    result has (and, for an acknowledgement, every member of its members) must be there."""
    problems = {}
    for key, example in examples.actions.items():
        schema = manifest.output_schema(component.actions[key])
        jsonschema.validate(example.output, schema, cls=jsonschema.Draft202012Validator)
        result, result_schema = example.output["data"], schema["properties"]["data"]
        if not isinstance(result, dict):
            continue
        assert result_schema.get("properties"), (
            f"{key}: its result is an object but its schema lists no members"
        )
        unlisted = _unlisted(result, result_schema, schema["$defs"], "data")
        if result_schema["title"] == "Acknowledgement":
            for name, value in result.items():
                if name in result_schema["properties"]:
                    unlisted += _unlisted(
                        value, result_schema["properties"][name], schema["$defs"], f"data.{name}"
                    )
        if unlisted:
            problems[key] = unlisted
        for name, member in result_schema["properties"].items():
            if result_schema["title"] == "Acknowledgement" or name not in (
                "data",
                "links",
                "meta",
                "included",
            ):
                assert member.get("description"), f"{key}: member {name} has no description"
    assert not problems, f"members the output schemas don't list: {problems}"


def test_examples_show_placeholders_not_the_sandbox_run(examples):
    text = json.dumps(
        [(e.inputs, e.output) for e in [*examples.actions.values(), *examples.data_sources.values()]]
    )
    assert "127.0.0.1" not in text and "localhost" not in text
    assert docs.SHOWN_BASE_URL in text
    # Every profile ID shown is a placeholder; list IDs too.
    assert re.findall(r"\b[0-9A-HJKMNP-TV-Z]{26}\b", text)
    assert all(i.startswith("01EXAMP") for i in re.findall(r"\b[0-9A-HJKMNP-TV-Z]{26}\b", text))
    list_id = examples.actions["createList"].output["data"]["data"]["id"]
    assert re.fullmatch(r"Ex\d{4}", list_id)
    assert examples.actions["getList"].inputs["listId"] == list_id
    headers = examples.actions["rawRequest"].output["data"]["headers"]
    assert not {h.lower() for h in headers} & docs.TRANSPORT_HEADERS


def test_examples_are_repeatable(examples):
    assert docs.run_examples() == examples


@pytest.mark.parametrize(
    ("original", "expected"),
    [
        ("01KXHH5F005214N57587QK3AHT", "01EXAMP0000000000000000007"),
        ("7pNE4w", "Ex0007"),
        ("6e57lSDUISb", "Ex000000007"),
        ("947180610", "100000007"),
        ("37a1bbb6-fbc8-453a-8c33-49da81cc412f", "00000000-0000-4000-8000-000000000007"),
        ("af9a605aae5b4a81541802844f7b683d", "00000000000000000000000000000007"),
        ("email", None),
        ("campaign-values-report", None),
    ],
)
def test_placeholders_keep_the_shape_of_the_id(original, expected):
    assert docs.placeholder(original, 7) == expected


def test_stabilize_uses_one_placeholder_per_id_everywhere():
    base = "http://127.0.0.1:54321"
    doc = {"data": {"type": "list", "id": "Ab12Cd", "links": {"self": f"{base}/api/lists/Ab12Cd/"}}}
    transcript = [
        ("action", "createList", {"listName": "VIP"}, {"data": doc}),
        ("action", "getList", {"listId": "Ab12Cd"}, {"data": doc}),
        ("data_source", "selectList", {}, {"result": [{"key": "Ab12Cd", "label": "VIP"}]}),
    ]
    out = docs.stabilize(transcript, base)
    assert out.actions["getList"].inputs == {"listId": "Ex0001"}
    assert out.actions["createList"].output["data"]["data"]["links"]["self"] == (
        "https://a.klaviyo.com/api/lists/Ex0001/"
    )
    assert out.data_sources["selectList"].output == {"result": [{"key": "Ex0001", "label": "VIP"}]}


class WatchInputs(Inputs):
    listId: str = Field(title="List ID", json_schema_extra={"x-data-source": "selectList"})


def test_triggers_slot_in_when_a_component_declares_them():
    trigger = SimpleNamespace(
        key="newListMember",
        label="New List Member",
        description="Fires for each profile added to a list.",
        inputs=WatchInputs,
        operations=("get_profiles_for_list",),
        scopes=("lists:read", "profiles:read"),
    )
    fake = SimpleNamespace(
        key="klaviyo",
        label="Klaviyo",
        description="Test component.",
        version="0.0.1",
        connections=component.connections,
        actions={"getList": component.actions["getList"]},
        data_sources={"selectList": component.data_sources["selectList"]},
        triggers={"newListMember": trigger},
    )
    pages = docs.generate(fake)  # type: ignore[arg-type]
    page = pages["triggers/newListMember.md"]
    assert "| List ID | `listId` | string | yes |" in page
    assert "[Select List](../data-sources/selectList.md)" in page
    assert "| `get_profiles_for_list` |" in section(page, "Rate limits")
    assert "[New List Member](triggers/newListMember.md)" in pages["index.md"]
    assert "No example yet." in pages["actions/getList.md"]  # no examples unless given
    built = manifest.build_manifest(fake)  # type: ignore[arg-type]
    jsonschema.validate(built, manifest.manifest_schema(), cls=jsonschema.Draft202012Validator)
    (entry,) = built["triggers"]
    assert entry["key"] == "newListMember"
    assert entry["picklists"] == [{"pointer": "/properties/listId", "dataSource": "selectList"}]


def test_cli_writes_the_docs_and_removes_pages_of_plugins_that_are_gone(tmp_path, monkeypatch, capsys):
    fixed = {"index.md": "# Index\n", "actions/getList.md": "# Get List\n"}
    monkeypatch.setattr(docs, "generate", lambda component=None: fixed)
    (tmp_path / "actions").mkdir()
    (tmp_path / "actions" / "retiredAction.md").write_text("old\n")
    (tmp_path / "design.md").write_text("not the generator's\n")
    assert main(["docs", "--out", str(tmp_path)]) == 0
    assert "wrote 2 pages" in capsys.readouterr().err
    assert (tmp_path / "actions" / "getList.md").read_text() == "# Get List\n"
    assert not (tmp_path / "actions" / "retiredAction.md").exists()
    assert (tmp_path / "design.md").read_text() == "not the generator's\n"


def test_templates_ship_in_the_package():
    env = docs.environment()
    names = set(env.list_templates())
    assert {"index.md.j2", "action.md.j2", "data_source.md.j2", "connection.md.j2", "trigger.md.j2"} <= names
    assert {f"credentials/{c.key}.md.j2" for c in component.connections} <= names
