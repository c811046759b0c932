"""The MCP server (`klaviyo-connector mcp`), driven by the MCP SDK's own client over stdio (and
once over Streamable HTTP) against the built-in sandbox: the tools it lists, results as
structured content, failures as tool errors carrying the connector's error object, read-only
serving, discovery of actions that are not listed, picklists, and secrecy. Selection and the
discovery tools are also tested directly on the Toolbox."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import uuid
from contextlib import ExitStack
from types import SimpleNamespace

import pytest

pytest.importorskip("mcp", reason="the mcp extra is not installed")

from anyio.from_thread import start_blocking_portal  # noqa: E402
from klaviyo_connector.cli import SANDBOX_API_KEY, main  # noqa: E402
from klaviyo_connector.component import component  # noqa: E402
from klaviyo_connector.errors import KlaviyoError  # noqa: E402
from klaviyo_connector.mcp_server import CURATED, DESCRIBE, RUN, SEARCH, Entry, Selection, Toolbox  # noqa: E402
from klaviyo_connector.tool_schemas import is_generated  # noqa: E402
from mcp import Client  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402

DISCOVERY = {SEARCH, DESCRIBE, RUN}
PICKLISTS = set(component.data_sources)
WRITES = {key for key, action in component.actions.items() if not action.read_only}


class Served:
    """One server subprocess and an MCP client session on it, called from sync tests."""

    def __init__(self, portal, client, errlog) -> None:
        self.portal, self.client, self.errlog = portal, client, errlog

    def tools(self) -> dict:
        return {tool.name: tool for tool in self.portal.call(self.client.list_tools).tools}

    def call(self, name: str, arguments: dict | None = None):
        result = self.portal.call(self.client.call_tool, name, arguments or {})
        text = result.content[0].text
        assert json.loads(text) == result.structured_content  # the same result, as JSON text
        assert SANDBOX_API_KEY not in text  # no output ever repeats the credential
        return result

    def ok(self, name: str, arguments: dict | None = None) -> dict:
        result = self.call(name, arguments)
        assert not result.is_error, result.structured_content
        return result.structured_content

    def error(self, name: str, arguments: dict | None = None) -> dict:
        result = self.call(name, arguments)
        assert result.is_error, result.structured_content
        return result.structured_content["error"]


def server_env(tmp) -> dict[str, str]:
    # Only what the SDK passes on plus an isolated sandbox state; never a Klaviyo key.
    return {"XDG_CACHE_HOME": str(tmp / "cache"), "XDG_CONFIG_HOME": str(tmp / "config")}


def serve(tmp_path_factory, *flags: str):
    tmp = tmp_path_factory.mktemp("mcp")
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "klaviyo_connector.cli", "mcp", "--sandbox", *flags],
        env=server_env(tmp),
    )
    with ExitStack() as stack:
        errlog = stack.enter_context(open(tmp / "stderr.txt", "w+", encoding="utf-8"))
        portal = stack.enter_context(start_blocking_portal())
        client = stack.enter_context(
            portal.wrap_async_context_manager(Client(stdio_client(params, errlog=errlog)))
        )
        yield Served(portal, client, errlog)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The default server (curated actions, picklists, discovery), with --debug request logs."""
    yield from serve(tmp_path_factory, "--debug")


@pytest.fixture(scope="module")
def read_only(tmp_path_factory):
    """A read-only server that lists the profiles toolset only."""
    yield from serve(tmp_path_factory, "--read-only", "--toolsets", "profiles")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- the default server ---------------------------------------------------------------------------


def test_lists_the_curated_actions_picklists_and_discovery_tools(server):
    tools = server.tools()
    curated = {key for key, action in component.actions.items() if not is_generated(action)}
    assert set(tools) == curated | PICKLISTS | DISCOVERY
    create = tools["createProfile"]
    assert create.title == "Create Profile"
    assert create.input_schema["type"] == "object" and "$defs" not in create.input_schema
    assert "email" in create.input_schema["properties"]
    flags = create.annotations
    assert (flags.read_only_hint, flags.destructive_hint, flags.idempotent_hint, flags.open_world_hint) == (
        False,
        False,
        False,
        True,
    )
    delete = tools["deleteList"].annotations
    assert (delete.read_only_hint, delete.destructive_hint, delete.idempotent_hint) == (False, True, True)
    assert tools["getProfile"].annotations.read_only_hint is True
    assert tools[RUN].annotations.read_only_hint is False
    assert tools[SEARCH].annotations.read_only_hint is True
    assert tools[SEARCH].annotations.open_world_hint is False


def test_no_tool_takes_a_credential(server):
    for tool in server.tools().values():
        inputs = {name.lower() for name in tool.input_schema.get("properties", {})}
        assert not inputs & {"apikey", "api_key", "token", "accesstoken", "clientsecret"}, tool.name


def test_create_profile_then_get_it(server):
    email = f"{unique('sarah')}@example.com"
    created = server.ok("createProfile", {"email": email, "firstName": "Sarah"})
    profile = created["data"]["data"]
    assert profile["type"] == "profile" and profile["attributes"]["email"] == email
    got = server.ok("getProfile", {"profileId": profile["id"]})
    assert got["data"]["data"]["id"] == profile["id"]
    assert got["data"]["data"]["attributes"]["first_name"] == "Sarah"


def test_bad_input_is_a_tool_error_naming_the_field(server):
    error = server.error("createProfile", {"email": "not-an-email"})
    assert error["class"] == "user_fixable"
    assert error["code"] == "invalid_input"
    assert error["field"] == "Email"
    assert error["message"].startswith("Invalid input. Email: is not a valid email address")


def test_unknown_input_is_refused_naming_it(server):
    error = server.error("getProfile", {"profileId": "01J0000000000000000000000", "apiKey": "pk_x"})
    assert error["class"] == "user_fixable" and "apiKey" in error["message"]


def test_klaviyo_errors_carry_status_and_class(server):
    error = server.error("getProfile", {"profileId": "01JNOPE0000000000000000000"})
    assert error["status"] == 404
    assert error["class"] == "user_fixable"
    assert error["method"] == "GET" and error["path"].startswith("/api/profiles/")


def test_progress_reaches_the_client_as_mcp_progress_notifications(server):
    emails = [f"{unique('paged')}@example.com" for _ in range(3)]
    for email in emails:
        server.ok("createProfile", {"email": email})
    heard = []

    async def hear(progress: float, total: float | None, message: str | None) -> None:
        heard.append((progress, total, message))

    call = functools.partial(server.client.call_tool, progress_callback=hear)
    inputs = {"fetchAll": True, "pageSize": 1, "filter": f"any(email,{json.dumps(emails)})"}
    result = server.portal.call(call, "listProfile", inputs)
    assert not result.is_error, result.structured_content
    assert len(result.structured_content["data"]["data"]) == 3
    assert heard == [
        (1, None, "pages: 1, records: 1"),
        (2, None, "pages: 2, records: 2"),
        (3, None, "pages: 3, records: 3"),
    ]


def test_a_picklist_turns_a_list_name_into_its_id(server):
    name = unique("VIP")
    list_id = server.ok("createList", {"listName": name})["data"]["data"]["id"]
    options = server.ok("selectList", {})["result"]
    assert {"key": list_id, "label": name} in options


def test_an_unserved_tool_name_points_to_the_discovery_tools(server):
    error = server.error("createProfil", {})
    assert error["code"] == "unknown_tool"
    assert error["message"] == (
        "This server has no tool 'createProfil'; find the action with searchActions and run it with runAction."
    )


def test_search_finds_actions_by_words(server):
    found = server.ok(SEARCH, {"query": "add profiles to a list", "limit": 3})
    assert found["actions"][0]["key"] == "addProfilesToList"
    assert found["actions"][0]["tool"] == "addProfilesToList"
    assert found["actions"][0]["toolsets"] == ["lists", "profiles"]
    assert len(found["actions"]) == 3 and found["total"] >= 3


def test_search_and_describe_check_their_inputs(server):
    assert server.error(SEARCH, {"query": "  "})["field"] == "Query"
    assert server.error(SEARCH, {"query": "list", "limit": 500})["message"] == (
        "Limit: must be a whole number from 1 to 50"
    )
    error = server.error(DESCRIBE, {"key": "creatList"})
    assert error["code"] == "unknown_action" and "did you mean createList" in error["message"]


def test_describe_gives_the_tool_schema_and_flags(server):
    doc = server.ok(DESCRIBE, {"key": "deleteList"})
    assert doc["key"] == "deleteList" and doc["tool"] == "deleteList" and doc["runnable"] is True
    assert doc["inputs"]["required"] == ["listId"] and "$defs" not in json.dumps(doc["inputs"])
    assert (doc["read_only"], doc["destructive"]) == (False, True)
    assert doc["operations"] == ["delete_list"] and "lists:write" in doc["scopes"]


def test_run_action_runs_any_action_by_key(server):
    name = unique("Run")
    made = server.ok(RUN, {"key": "createList", "inputs": {"listName": name}})
    got = server.ok(RUN, {"key": "getList", "inputs": json.dumps({"listId": made["data"]["data"]["id"]})})
    assert got["data"]["data"]["attributes"]["name"] == name
    error = server.error(RUN, {"key": "getList", "inputs": {}})
    assert error["field"] == "List ID"


def test_generated_actions_are_reached_through_discovery(server):
    if "getTags" not in getattr(component, "generated_actions", {}):
        pytest.skip("the component has no generated actions: discovery is tested on the read-only server")
    assert "getTags" not in server.tools()
    hit = next(a for a in server.ok(SEARCH, {"query": "get tags"})["actions"] if a["key"] == "getTags")
    assert (hit["tool"], hit["generated"], hit["read_only"], hit["toolsets"]) == (None, True, True, ["tags"])
    doc = server.ok(DESCRIBE, {"key": "get_tags"})  # an operationId names its generated action
    assert (doc["key"], doc["tool"], doc["runnable"]) == ("getTags", None, True)
    assert doc["operations"] == ["get_tags"]
    tags = server.ok(RUN, {"key": "getTags", "inputs": {}})
    assert isinstance(tags["data"]["data"], list)
    assert server.error(RUN, {"key": "getTags", "inputs": {"nope": 1}})["code"] == "invalid_input"
    # A tool schema cut for size (createFlow's is 1.4 MB whole) is given whole by describeAction.
    flow = server.ok(DESCRIBE, {"key": "createFlow"})["inputs"]["properties"]["definition"]
    assert {"triggers", "actions", "entry_action_id"} <= set(flow["properties"])


def test_debug_log_on_stderr_never_shows_the_key(server):
    server.ok("listAccounts")
    server.errlog.flush()
    server.errlog.seek(0)
    log = server.errlog.read()
    assert "/api/accounts" in log  # --debug logged the request
    assert SANDBOX_API_KEY not in log


# -- the read-only server --------------------------------------------------------------------------


def test_read_only_server_lists_no_write_tool(read_only):
    tools = read_only.tools()
    assert not set(tools) & WRITES
    assert {"getProfile", "listProfile"} <= set(tools)
    assert "listLists" not in tools  # not in the profiles toolset
    for name, tool in tools.items():
        assert tool.annotations.read_only_hint is True, name
    assert "read-only" in tools[RUN].description


def test_read_only_server_refuses_a_write_through_the_run_tool(read_only):
    before = read_only.ok(RUN, {"key": "listLists"})["data"]["data"]
    error = read_only.error(RUN, {"key": "createList", "inputs": {"listName": "Nope"}})
    assert error == {
        "message": "This server is read-only and createList (Create List) is not a read-only action "
        "(it may write to Klaviyo), so it was not run.",
        "class": "user_fixable",
        "code": "read_only_server",
    }
    assert read_only.ok(RUN, {"key": "listLists"})["data"]["data"] == before
    assert read_only.error("createProfile", {"email": "a@example.com"})["code"] == "unknown_tool"
    assert read_only.ok(DESCRIBE, {"key": "createList"})["runnable"] is False


def test_discovery_finds_and_runs_an_action_that_is_not_listed(read_only):
    assert "listLists" not in read_only.tools()
    found = read_only.ok(SEARCH, {"query": "lists"})["actions"]
    hit = next(a for a in found if a["key"] == "listLists")
    assert hit["tool"] is None and hit["read_only"] is True
    assert not {a["key"] for a in found} & WRITES  # a read-only server offers no write
    doc = read_only.ok(DESCRIBE, {"key": "listLists"})
    assert doc["tool"] is None and doc["runnable"] is True
    listed = read_only.ok(RUN, {"key": "listLists", "inputs": {"pageSize": 5}})
    assert isinstance(listed["data"]["data"], list)


# -- Streamable HTTP -------------------------------------------------------------------------------


def test_http_transport_serves_the_same_tools_on_loopback(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "klaviyo_connector.cli",
        "mcp",
        "--sandbox",
        "--transport",
        "http",
        "--port",
        "0",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLAVIYO_")} | server_env(tmp_path)
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)
    try:
        line = proc.stderr.readline()
        assert line.startswith("klaviyo-connector: MCP server at http://127.0.0.1:"), line
        url = line.rsplit(" ", 1)[1].strip()
        assert url.endswith("/mcp")

        async def session() -> tuple[set[str], dict]:
            async with Client(url) as client:
                names = {tool.name for tool in (await client.list_tools()).tools}
                result = await client.call_tool("listAccounts", {})
                return names, result.structured_content

        with start_blocking_portal() as portal:
            names, accounts = portal.call(session)
        assert {"createProfile", "selectList", SEARCH} <= names
        assert accounts["data"]["data"][0]["type"] == "account"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stderr.close()


# -- the command line ----------------------------------------------------------------------------


@pytest.fixture
def no_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv("KLAVIYO_API_KEY", raising=False)
    monkeypatch.delenv("KLAVIYO_BASE_URL", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["mcp", "--toolsets", "profles"], "--toolsets: no toolset 'profles'; did you mean profiles?"),
        (["mcp", "--toolsets", ","], "--toolsets needs at least one name"),
        (["mcp", "--all", "--toolsets", "lists"], "--all chooses every action already: leave out --toolsets"),
        (["mcp", "--sandbox", "--port", "9000"], "--port applies to --transport http only"),
        (["mcp"], "no Klaviyo credentials: pass --api-key pk_... or set KLAVIYO_API_KEY"),
    ],
)
def test_usage_errors(capsys, no_credentials, argv, message):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"klaviyo-connector: {message}"), err


def test_importing_the_component_and_building_the_cli_loads_nothing_heavy():
    code = (
        "import sys; from importlib.metadata import entry_points; "
        "entry_points(group='connector.components')['klaviyo'].load(); "
        "import klaviyo_connector, klaviyo_connector.tool_schemas, klaviyo_connector.mcp_server; "
        "from klaviyo_connector.cli import build_parser; build_parser(); "
        "heavy = ('mcp', 'mcp_types', 'starlette', 'uvicorn', 'anyio', 'requests', 'pydantic'); "
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == ""


# -- selection, on the Toolbox directly -----------------------------------------------------------


def fake(key: str, tags: tuple[str, ...], read_only: bool = True, generated: bool = False) -> Entry:
    action = SimpleNamespace(key=key, label=key, description="", operations=tags, read_only=read_only)
    return Entry(key, key, "", tags, generated, load=lambda: action)


@pytest.fixture
def operations(monkeypatch):
    """Fake actions name operations by tag: toolsets_of looks each one up in the catalog."""
    from klaviyo_connector import catalog

    monkeypatch.setattr(catalog, "operation", lambda op_id: SimpleNamespace(tag=op_id))


def test_selection_by_default_lists_curated_actions_only(operations):
    curated, generated = fake("getThing", ("Lists",)), fake("getCoupons", ("Coupons",), generated=True)
    default = Selection()
    assert default.lists(curated) and not default.lists(generated)
    assert default.allows(generated.load())  # reachable through runAction


def test_selection_by_toolset_lists_curated_and_generated_actions_of_that_resource(operations):
    lists = Selection(toolsets=frozenset({"lists"}))
    assert lists.lists(fake("getListTags", ("Lists",), generated=True))
    assert lists.lists(fake("addProfilesToList", ("Lists", "Profiles")))
    assert not lists.lists(fake("getProfile", ("Profiles",)))
    both = Selection(toolsets=frozenset({CURATED, "coupons"}))
    assert both.lists(fake("getProfile", ("Profiles",)))
    assert both.lists(fake("getCoupons", ("Coupons",), generated=True))


def test_selection_all_and_read_only(operations):
    write = fake("createCoupon", ("Coupons",), read_only=False, generated=True)
    assert Selection(all=True).lists(write)
    assert not Selection(all=True, read_only=True).lists(write)
    assert not Selection(read_only=True).allows(write.load())


def test_toolbox_refuses_two_tools_with_one_name():
    clash = SimpleNamespace(
        actions={"selectList": fake("selectList", ()).load()},
        data_sources={"selectList": component.data_sources["selectList"]},
    )
    with pytest.raises(KlaviyoError, match="Two tools share the name"):
        Toolbox(clash, runner=None, connection={})
