"""``klaviyo-connector mcp`` (serve the actions as MCP tools) and ``klaviyo-connector tools``
(print every action's tool definition for agent frameworks that take them directly).

The server is :mod:`.mcp_server`; it needs the ``mcp`` extra (``pip install
'klaviyo-connector[mcp]'``), imported only when ``mcp`` runs.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from typing import Any

from .cli import PROG, UsageError, _connection_flags, _or_list, _session, close_matches, port_number
from .tool_schemas import FORMATS, toolset


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _toolsets(text: str) -> frozenset[str]:
    """``--toolsets profiles,lists``: toolset names (any case; ``-`` or spaces for ``_``)."""
    from .mcp_server import all_toolsets

    names = [toolset(part) for part in text.split(",") if part.strip()]
    if not names:
        raise UsageError("--toolsets needs at least one name, e.g. --toolsets profiles,lists")
    known = all_toolsets()
    for name in names:
        if name not in known:
            near = close_matches(name, list(known))
            hint = f"; did you mean {_or_list(near)}?" if near else ""
            raise UsageError(f"--toolsets: no toolset {name!r}{hint} (there are: {', '.join(known)})")
    return frozenset(names)


def cmd_mcp(args: argparse.Namespace) -> int:
    if importlib.util.find_spec("mcp") is None:
        raise UsageError(
            f"`{PROG} mcp` needs the MCP SDK: pip install 'klaviyo-connector[mcp]'",
        )
    from .mcp_server import CURATED, DEFAULT_PORT, serve

    selection = _selection(args, frozenset({CURATED}))
    if args.transport == "stdio" and args.port is not None:
        raise UsageError("--port applies to --transport http only")
    with _session(args) as (runner, conn, _feedback):
        port = DEFAULT_PORT if args.port is None else args.port
        serve(runner, conn, selection, transport=args.transport, port=port)
    return 0


def _selection(args: argparse.Namespace, default: frozenset[str]) -> Any:
    """The actions ``--toolsets``, ``--all`` and ``--read-only`` choose (``mcp`` and ``tools`` alike)."""
    from .mcp_server import Selection

    if args.all and args.toolsets:
        raise UsageError("--all chooses every action already: leave out --toolsets")
    chosen = _toolsets(args.toolsets) if args.toolsets else default
    return Selection(toolsets=chosen, all=args.all or not chosen, read_only=args.read_only)


def cmd_tools(args: argparse.Namespace) -> int:
    from .component import component
    from .mcp_server import entries
    from .tool_schemas import tool_definitions

    # Every action (curated, then generated) unless --toolsets or --read-only narrow it.
    selection = _selection(args, frozenset())
    chosen = [entry.load() for entry in entries(component) if selection.lists(entry)]
    definitions = tool_definitions(chosen, args.format)
    sys.stdout.write(json.dumps(definitions, indent=2, ensure_ascii=False) + "\n")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``mcp`` and ``tools`` on the CLI's subparsers."""
    from .mcp_server import DEFAULT_PORT

    p = sub.add_parser(
        "mcp",
        help="serve the actions as tools to an MCP client (Claude Desktop, Cursor, ...)",
        description=(
            "Serve the actions as MCP tools, on stdin/stdout (what MCP clients launch) or over\n"
            "Streamable HTTP on loopback. By default: the curated actions, every picklist\n"
            "(select*) and three discovery tools (searchActions, describeAction, runAction)\n"
            "through which an agent reaches every action. Credentials come from --sandbox,\n"
            "$KLAVIYO_API_KEY (and $KLAVIYO_BASE_URL) or --token-file; no tool takes or shows them."
        ),
        epilog=_examples(
            f"{PROG} mcp --sandbox",
            f"{PROG} mcp --sandbox --read-only --toolsets profiles,lists",
            f"KLAVIYO_API_KEY=pk_... {PROG} mcp --all",
            f"{PROG} mcp --sandbox --transport http --port {DEFAULT_PORT}",
        ),
    )
    p.add_argument(
        "--read-only", action="store_true", help="serve no action that writes; runAction refuses writes"
    )
    p.add_argument(
        "--toolsets",
        metavar="NAMES",
        help="serve the actions of these resources (comma-separated: profiles,lists,catalogs,...; "
        "curated for the curated actions) instead of the curated ones",
    )
    p.add_argument("--all", action="store_true", help="serve every action as a tool of its own")
    p.add_argument("--transport", choices=("stdio", "http"), default="stdio", help="how clients connect")
    p.add_argument(
        "--port",
        type=port_number,
        help=f"with --transport http: the loopback port (0: any free one; default {DEFAULT_PORT})",
    )
    _connection_flags(p)
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser(
        "tools",
        help="print every action's tool definition (MCP, OpenAI or Anthropic format)",
        description=(
            "Print every action as a tool definition, a JSON array, for agent frameworks that take\n"
            "tool definitions directly: mcp (MCP Tool objects), openai (Chat Completions function\n"
            "tools) or anthropic (Messages API tools). Input schemas have no $ref and no top-level\n"
            "combinators; names are the action keys."
        ),
        epilog=_examples(
            f"{PROG} tools",
            f"{PROG} tools --format openai --toolsets curated --read-only > tools.json",
            f"{PROG} tools --format anthropic --toolsets profiles,lists",
        ),
    )
    p.add_argument("--format", choices=FORMATS, default="mcp", help="the tool definition format")
    p.add_argument("--read-only", action="store_true", help="only actions that do not write")
    p.add_argument(
        "--toolsets",
        metavar="NAMES",
        help="only these resources' actions (comma-separated: profiles,lists,...; curated for the curated ones)",
    )
    p.add_argument("--all", action="store_true", help="every action (the default without --toolsets)")
    p.set_defaults(func=cmd_tools)
