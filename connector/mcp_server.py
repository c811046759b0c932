"""The MCP server (``klaviyo-connector mcp``): the component's actions as MCP tools.

A thin adapter over the :class:`~.runner.Runner`, as the CLI is: every tool call is one
``run_action`` (or ``run_data_source``) on one connection, so inputs are coerced and checked,
requests retried and errors classified exactly as for a host.

What it serves (:class:`Selection`):

- by default the curated actions (the keys a host lists first), every picklist (``selectList``,
  ... : turn a name into an ID) and three discovery tools through which an agent reaches every
  action: ``searchActions`` (by words), ``describeAction`` (inputs, flags, scopes) and
  ``runAction`` (any action by key);
- ``--toolsets NAMES`` the actions of those resources instead (the catalog tags of their
  operations: ``profiles``, ``lists``, ``catalogs``, ...; ``curated`` names the curated set), and
  ``--all`` every action;
- ``--read-only`` no action that writes, and ``runAction`` refuses one.

Results are structured content: the Runner's ``{"data": ...}`` (``{"result": [...]}`` for a
picklist), also as JSON text. A failure is a tool error (``isError``) whose structured content is
``{"error": KlaviyoError.to_dict()}``: its ``class`` tells an agent to fix the input, retry later
or reconnect. An action's progress (pages read, batches, bulk jobs) goes to a client that asks
for it as MCP progress notifications. Credentials come from the connection the CLI built
(environment, token file or sandbox); no tool takes one and no output repeats one (the Runner
scrubs errors and results).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .cli import progress_line
from .errors import INTERNAL, USER_FIXABLE, KlaviyoError, input_error
from .tool_schemas import (
    annotations,
    is_generated,
    mcp_tool,
    resource_toolsets,
    tool_input_schema,
    tool_name,
    toolsets_of,
)

if TYPE_CHECKING:
    from mcp.server.lowlevel import Server

    from .context import Progress
    from .runner import Runner

COMPONENT = "klaviyo"
logger = logging.getLogger(__name__)
SERVER_NAME = "klaviyo-connector"
CURATED = "curated"  # the toolset of the curated actions
SEARCH, DESCRIBE, RUN = "searchActions", "describeAction", "runAction"
DEFAULT_LIMIT, MAX_LIMIT = 10, 50
DEFAULT_PORT = 8765

INSTRUCTIONS = (
    "Tools for one Klaviyo account. Each Klaviyo tool is a connector action; every action is "
    f"reachable: find one with {SEARCH}, read its inputs with {DESCRIBE}, run it with {RUN}. "
    "select* tools turn a name into an ID. A failed call returns an error object whose class says "
    "what to do: user_fixable (change the input), retryable (try again later), outcome_unknown "
    "(a write may have been applied: check before repeating), reauth_required (reconnect), "
    "quota_exhausted (wait until retry_after)."
)


def all_toolsets() -> tuple[str, ...]:
    """Every name ``--toolsets`` takes: ``curated`` and one per resource of the catalog."""
    return (CURATED, *resource_toolsets())


@dataclass(frozen=True)
class Entry:
    """An action as the server selects and searches it, before it is built: generated actions
    are built (with their input model) only when listed, described or run."""

    key: str
    label: str
    description: str
    operations: tuple[str, ...]
    generated: bool
    load: Callable[[], Any] = field(compare=False, repr=False)


def entries(component: Any) -> list[Entry]:
    """Every action of ``component``: the curated ones, then the generated ones (issue 11's
    ``component.generated_actions``, listed through its ``entries()`` without building them)."""
    found = [
        Entry(
            a.key, a.label, a.description, tuple(a.operations), is_generated(a), functools.partial(_same, a)
        )
        for a in component.actions.values()
    ]
    table = getattr(component, "generated_actions", None) or {}
    listing = table.entries() if callable(getattr(table, "entries", None)) else None
    if listing is None:  # a plain mapping of built actions
        listing = list(table.values())
    for item in listing:
        if item.key in component.actions:
            continue
        operations = tuple(getattr(item, "operations", ())) or (item.operation,)
        load = functools.partial(table.__getitem__, item.key)
        found.append(Entry(item.key, item.label, item.description, operations, True, load))
    return found


def _same(action: Any) -> Any:
    return action


@dataclass(frozen=True)
class Selection:
    """Which actions the server lists as tools, and whether it runs writes."""

    toolsets: frozenset[str] = frozenset({CURATED})
    all: bool = False
    read_only: bool = False

    def allows(self, action: Any) -> bool:
        """Whether the server runs this (built) action at all (``--read-only`` runs reads only)."""
        return bool(action.read_only) or not self.read_only

    def lists(self, entry: Entry) -> bool:
        """Whether the action is listed as a tool of its own (building it only to read its
        flags on a read-only server)."""
        chosen = (
            self.all
            or (CURATED in self.toolsets and not entry.generated)
            or not self.toolsets.isdisjoint(toolsets_of(entry))
        )
        return chosen and (not self.read_only or self.allows(entry.load()))


def _words(text: str) -> list[str]:
    """Lowercase words of ``text``, camelCase and snake_case split: ``getTags`` -> get, tags."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", text)
    return re.findall(r"[a-z0-9]+", spaced.lower())


def _stem(word: str) -> str:
    """A word without its plural ``s``, so "profile" finds "profiles"."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?[.!?])(\s|$)", text)
    return match.group(1) if match else text


@dataclass
class Toolbox:
    """The tools a server serves and how each call runs; MCP-free, so it is tested directly.

    ``tools()`` gives MCP ``Tool`` objects as JSON; ``call(name, arguments)`` returns a tool's
    structured result or raises :class:`~.errors.KlaviyoError`.
    """

    component: Any
    runner: Runner
    connection: Mapping[str, Any]
    selection: Selection = field(default_factory=Selection)

    def __post_init__(self) -> None:
        self._entries = entries(self.component)
        self._listed = {tool_name(e.key): e.load() for e in self._entries if self.selection.lists(e)}
        self._picklists = {tool_name(d.key): d for d in self.component.data_sources.values()}
        self._discovery = {SEARCH: self._search, DESCRIBE: self._describe, RUN: self._run}
        names = [*self._listed, *self._picklists, *self._discovery]
        clashes = sorted({n for n in names if names.count(n) > 1})
        if clashes:  # a defect of the component's keys, found before anything is served
            raise KlaviyoError(f"Two tools share the name(s) {', '.join(clashes)}.", error_class=INTERNAL)

    # -- listing --------------------------------------------------------------------------------

    def tools(self) -> list[dict[str, Any]]:
        """Every served tool as an MCP ``Tool`` (JSON): listed actions, picklists, discovery."""
        return (
            [mcp_tool(a) for a in self._listed.values()]
            + [mcp_tool(d) for d in self._picklists.values()]
            + self._discovery_tools()
        )

    def _discovery_tools(self) -> list[dict[str, Any]]:
        key = {"type": "string", "title": "Key", "description": "The action's key, e.g. getCatalogItems."}
        read_only = self.selection.read_only
        local = {
            "readOnlyHint": True,
            "destructiveHint": False,
            "idempotentHint": True,
            "openWorldHint": False,
        }
        return [
            {
                "name": SEARCH,
                "title": "Search Actions",
                "description": (
                    "Find Klaviyo actions by words (e.g. 'add profile to list', 'coupon codes'): their keys, "
                    "labels, what they do, whether they write and whether they are tools of their own. "
                    f"Every action can be run with {RUN}."
                ),
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "query": {"type": "string", "title": "Query", "minLength": 1},
                        "limit": {
                            "type": "integer",
                            "title": "Limit",
                            "minimum": 1,
                            "maximum": MAX_LIMIT,
                            "default": DEFAULT_LIMIT,
                        },
                    },
                    "required": ["query"],
                    "additionalProperties": False,
                },
                "annotations": {"title": "Search Actions", **local},
            },
            {
                "name": DESCRIBE,
                "title": "Describe Action",
                "description": (
                    "Describe one action by key: its input schema (labels, types, picklists), whether it "
                    f"reads, writes or deletes, its Klaviyo operations, scopes and rate limits. Then run it with {RUN}."
                ),
                "inputSchema": {
                    "type": "object",
                    "properties": {"key": key},
                    "required": ["key"],
                    "additionalProperties": False,
                },
                "annotations": {"title": "Describe Action", **local},
            },
            {
                "name": RUN,
                "title": "Run Action",
                "description": (
                    f"Run any action by key with its inputs (see {DESCRIBE}); returns what the action returns."
                    + (" This server is read-only: actions that write are refused." if read_only else "")
                ),
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "key": key,
                        "inputs": {
                            "type": "object",
                            "title": "Inputs",
                            "description": "The action's inputs by key, as its input schema describes them.",
                        },
                    },
                    "required": ["key"],
                    "additionalProperties": False,
                },
                "annotations": {
                    "title": "Run Action",
                    "readOnlyHint": read_only,
                    "destructiveHint": not read_only,
                    "idempotentHint": read_only,
                    "openWorldHint": True,
                },
            },
        ]

    # -- calls ----------------------------------------------------------------------------------

    def call(
        self, name: str, arguments: Mapping[str, Any] | None, progress: Progress | None = None
    ) -> dict[str, Any]:
        """Run one tool: an action's ``{"data": ...}``, a picklist's ``{"result": [...]}``, or a
        discovery tool's answer; a KlaviyoError for any failure. ``progress(event, info)`` hears
        an action's progress (pages read, batches, bulk jobs), as the Runner reports it."""
        arguments = dict(arguments or {})
        if name == RUN:
            return self._run(arguments, progress)
        if name in self._discovery:
            return self._discovery[name](arguments)
        if name in self._listed:
            return self._run_action(self._listed[name], arguments, progress)
        if name in self._picklists:
            source = self._picklists[name]
            return self.runner.run_data_source(
                COMPONENT, source.key, connection=self.connection, inputs=arguments
            )
        hint = (
            f"; a read-only server lists no action that may write and {RUN} refuses them, so find a "
            f"read action with {SEARCH}"
            if self.selection.read_only
            else f"; find the action with {SEARCH} and run it with {RUN}"
        )
        raise KlaviyoError(
            f"This server has no tool {name!r}{hint}.",
            error_class=USER_FIXABLE,
            code="unknown_tool",
        )

    def _run_action(
        self, action: Any, inputs: Mapping[str, Any], progress: Progress | None = None
    ) -> dict[str, Any]:
        if not self.selection.allows(action):
            raise KlaviyoError(
                f"This server is read-only and {action.key} ({action.label}) is not a read-only action "
                "(it may write to Klaviyo), so it was not run.",
                error_class=USER_FIXABLE,
                code="read_only_server",
            )
        heard = {"progress": progress} if progress is not None else {}  # else the Runner's quiet default
        return self.runner.run_action(
            COMPONENT, action.key, connection=self.connection, inputs=inputs, **heard
        )

    def _action(self, arguments: Mapping[str, Any]) -> Any:
        """The action ``arguments["key"]`` names: a key, or (where the component resolves them)
        an operationId, one of its aliases or a Composio slug."""
        key = arguments.get("key")
        if not isinstance(key, str) or not key.strip():
            raise input_error("Key", f"is required: an action's key, as {SEARCH} lists it")
        key = key.strip()
        find = getattr(self.component, "find_action", None)
        action = find(key) if callable(find) else self.component.actions.get(key)
        if action is None:
            from .cli import close_matches

            near = close_matches(key, [e.key for e in self._entries])
            hint = f"; did you mean {', '.join(near)}?" if near else f"; find one with {SEARCH}."
            raise KlaviyoError(
                f"No action {key!r}{hint}", error_class=USER_FIXABLE, code="unknown_action", field="Key"
            )
        return action

    def _search(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        query = arguments.get("query")
        if not isinstance(query, str) or not _words(query):
            raise input_error("Query", "is required: words that describe what to do, e.g. 'create coupon'")
        limit = arguments.get("limit", DEFAULT_LIMIT)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
            raise input_error("Limit", f"must be a whole number from 1 to {MAX_LIMIT}")
        wanted = list(dict.fromkeys(_words(query)))
        scored = [(*_score(wanted, e), e.generated, order, e) for order, e in enumerate(self._entries)]
        ranked = [row[-1] for row in sorted((r for r in scored if r[0] < 0), key=lambda r: r[:-1])]
        # A read-only server offers no write: each match is built (once) to read its flags.
        matches = [(e, e.load()) for e in ranked] if self.selection.read_only else [(e, None) for e in ranked]
        matches = [(e, a) for e, a in matches if a is None or self.selection.allows(a)]
        return {
            "actions": [self._summary(e, a) for e, a in matches[:limit]],
            "total": len(matches),
        }

    def _summary(self, entry: Entry, action: Any) -> dict[str, Any]:
        action = action or entry.load()
        return {
            "key": entry.key,
            "label": entry.label,
            "description": _first_sentence(entry.description),
            "read_only": bool(action.read_only),
            "destructive": bool(action.destructive),
            "generated": entry.generated,
            "toolsets": list(toolsets_of(entry)),
            "tool": tool_name(entry.key) if tool_name(entry.key) in self._listed else None,
        }

    def _describe(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        action = self._action(arguments)
        doc = action.describe()
        doc["inputs"] = tool_input_schema(action.input_schema())
        doc["toolsets"] = list(toolsets_of(action))
        doc["annotations"] = annotations(action)
        doc["tool"] = tool_name(action.key) if tool_name(action.key) in self._listed else None
        doc["runnable"] = self.selection.allows(action)
        return doc

    def _run(self, arguments: Mapping[str, Any], progress: Progress | None = None) -> dict[str, Any]:
        action = self._action(arguments)
        inputs = arguments.get("inputs")
        if isinstance(inputs, str):  # some agents send an object as JSON text
            try:
                inputs = json.loads(inputs) if inputs.strip() else {}
            except ValueError:
                raise input_error("Inputs", "must be an object of the action's inputs by key") from None
        if inputs is not None and not isinstance(inputs, Mapping):
            raise input_error("Inputs", "must be an object of the action's inputs by key")
        return self._run_action(action, inputs or {}, progress)


def _score(wanted: list[str], entry: Entry) -> tuple[int, int]:
    """How well an action matches the query's words, best first when sorted: per word 3 in its
    key or label (4 as spelled), 2 in its toolsets or operations, 1 in its description; then the
    fewest words of its key the query doesn't name (``getTags`` before ``getTagGroups``)."""
    name = _words(entry.key)
    named = {_stem(w) for w in name} | {_stem(w) for w in _words(entry.label)}
    where = {_stem(w) for w in _words(" ".join((*toolsets_of(entry), *entry.operations)))}
    text = {_stem(w) for w in _words(entry.description)}
    score = 0
    for word in wanted:
        stem = _stem(word)
        if stem in named:
            score += 4 if word in name else 3
        elif stem in where:
            score += 2
        elif stem in text:
            score += 1
    stems = {_stem(w) for w in wanted}
    return -score, sum(_stem(w) not in stems for w in name)


# -- the MCP server ---------------------------------------------------------------------------


def _text(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def build_server(toolbox: Toolbox) -> Server[Any]:
    """An MCP server (the SDK's low-level ``Server``) serving ``toolbox``'s tools."""
    import anyio
    import mcp_types as types
    from mcp.server.lowlevel import Server

    from .version import __version__

    listing = types.ListToolsResult(tools=[types.Tool.model_validate(t) for t in toolbox.tools()])

    async def list_tools(_ctx: Any, _params: Any) -> types.ListToolsResult:
        return listing

    async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        steps = 0

        def progress(event: str, info: Mapping[str, Any]) -> None:
            # An MCP progress notification per step (a no-op unless the client sent a token).
            nonlocal steps
            steps += 1
            try:
                anyio.from_thread.run(ctx.session.report_progress, steps, None, progress_line(event, info))
            except Exception:  # the client went away: the action goes on regardless
                logger.debug("progress notification not sent", exc_info=True)

        def run() -> tuple[dict[str, Any], bool]:
            try:
                return toolbox.call(params.name, params.arguments, progress), False
            except KlaviyoError as exc:
                return {"error": exc.to_dict()}, True
            except Exception as exc:  # a defect: still the connector's error shape, never a traceback
                error = KlaviyoError(
                    f"Internal error in {params.name}: {type(exc).__name__}: {exc}", error_class=INTERNAL
                )
                return {"error": error.to_dict()}, True

        result, failed = await anyio.to_thread.run_sync(run)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=_text(result))],
            structured_content=result,
            is_error=failed,
        )

    return Server(
        SERVER_NAME,
        version=__version__,
        title="Klaviyo",
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def serve_stdio(server: Server[Any]) -> None:
    """Serve on this process's stdin and stdout until the client closes them."""
    import anyio
    from mcp.server.stdio import stdio_server

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)


def serve_http(server: Server[Any], port: int, announce: Any = None) -> None:
    """Serve Streamable HTTP at ``http://127.0.0.1:PORT/mcp`` (loopback only; port 0: any free
    one) until interrupted, saying where on ``announce`` (stderr)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/mcp"
    app = server.streamable_http_app(host="127.0.0.1")  # Host/Origin checks against DNS rebinding
    (announce or sys.stderr).write(f"klaviyo-connector: MCP server at {url}\n")
    (announce or sys.stderr).flush()
    uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on")).run(sockets=[sock])


def serve(
    runner: Runner,
    connection: Mapping[str, Any],
    selection: Selection,
    *,
    transport: str = "stdio",
    port: int = DEFAULT_PORT,
) -> None:
    """Serve the component's tools on ``connection`` over ``transport`` (``stdio`` or ``http``)."""
    from .component import component

    server = build_server(Toolbox(component, runner, connection, selection))
    if transport == "http":
        serve_http(server, port)
    else:
        serve_stdio(server)
