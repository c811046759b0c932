"""The ``klaviyo-connector`` command: list, describe and run actions against Klaviyo or the sandbox."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .errors import REAUTH_REQUIRED, KlaviyoError
from .redact import redact

COMPONENT = "klaviyo"
# The sandbox gives every key its own account; this one is the CLI's default account there.
SANDBOX_API_KEY = "pk_sandbox_default_account_0001"
EXIT_FAILURE = 1
EXIT_USAGE = 2


class UsageError(Exception):
    pass


def _print_json(value: Any, stream: Any = None) -> None:
    stream = stream or sys.stdout
    stream.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def _inputs(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    if text.startswith("@"):
        try:
            with open(text[1:], encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise UsageError(f"--inputs: cannot read {text[1:]!r}: {exc.strerror}") from None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"--inputs: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise UsageError("--inputs: must be a JSON object of input keys to values")
    return value


@contextmanager
def _connection(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """The connection the flags and environment describe; starts the sandbox for --sandbox."""
    if getattr(args, "token_file", None):
        from .auth_cli import token_file_connection

        with token_file_connection(args) as conn:
            yield conn
        return
    if getattr(args, "sandbox", False):
        from .sandbox import Sandbox, SandboxOptions
        from .sandbox.server import default_state_path

        box = Sandbox(SandboxOptions(state_path=str(default_state_path())))
        base_url = box.start()
        try:
            yield {
                "key": "apiKey",
                "fields": {"apiKey": args.api_key or SANDBOX_API_KEY, "baseUrl": base_url},
            }
        finally:
            box.stop()
        return
    key = args.api_key or os.environ.get("KLAVIYO_API_KEY")
    if not key:
        raise UsageError(
            "No Klaviyo credentials: pass --api-key pk_... or set KLAVIYO_API_KEY "
            "(or add --sandbox to try it against the built-in sandbox)."
        )
    fields: dict[str, Any] = {"apiKey": key}
    base_url = args.base_url or os.environ.get("KLAVIYO_BASE_URL")
    if base_url:
        fields["baseUrl"] = base_url
    yield {"key": "apiKey", "fields": fields}


def _progress_printer() -> Any:
    if not sys.stderr.isatty():
        return lambda event, info: None

    def show(event: str, info: Any) -> None:
        parts = ", ".join(f"{k} {v}" for k, v in info.items())
        sys.stderr.write(f"\r{event}: {parts}   ")
        sys.stderr.flush()

    return show


def _runner(args: argparse.Namespace) -> Any:
    from .runner import Runner

    if getattr(args, "token_file", None):  # the file is the token store, shared with other processes
        from .auth_cli import token_file_hooks

        return Runner(**token_file_hooks(args.token_file))
    return Runner()


def cmd_actions(args: argparse.Namespace) -> int:
    from .component import component

    rows = [{"key": a.key, "label": a.label} for a in component.actions.values()]
    if args.json:
        _print_json(rows)
    else:
        width = max(len(r["key"]) for r in rows)
        for r in rows:
            sys.stdout.write(f"{r['key']:<{width}}  {r['label']}\n")
    return 0


def cmd_datasources(args: argparse.Namespace) -> int:
    from .component import component

    _print_json([{"key": d.key, "label": d.label} for d in component.data_sources.values()])
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    from .component import component

    action = component.actions.get(args.key)
    if action is None:
        raise UsageError(f"no action {args.key!r}; see `klaviyo-connector actions`")
    _print_json(action.describe())
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    inputs = _inputs(args.inputs)
    with _connection(args) as conn:
        result = _runner(args).run_action(
            COMPONENT,
            args.key,
            connection=conn,
            inputs=inputs,
            progress=_progress_printer(),
            timeout=args.timeout,
        )
    _print_json(result)
    return 0


def cmd_datasource(args: argparse.Namespace) -> int:
    inputs = _inputs(args.inputs)
    with _connection(args) as conn:
        result = _runner(args).run_data_source(
            COMPONENT, args.key, connection=conn, inputs=inputs, timeout=args.timeout
        )
    _print_json(result)
    return 0


def cmd_test_connection(args: argparse.Namespace) -> int:
    with _connection(args) as conn:
        result = _runner(args).test_connection(COMPONENT, connection=conn)
    _print_json(result)
    return 0


def cmd_sandbox(args: argparse.Namespace) -> int:
    from .sandbox import Sandbox, SandboxOptions
    from .sandbox.server import default_state_path

    state = args.state or str(default_state_path())
    if args.expire_tokens:
        from .sandbox.resources.oauth import expire_access_tokens
        from .sandbox.store import Store

        with Store(state) as store:
            _print_json({"expired_access_tokens": expire_access_tokens(store, time.time())})
        return 0
    box = Sandbox(
        SandboxOptions(
            state_path=state,
            rate_limit_scale=args.rate_limit_scale,
            latency_ms=args.latency_ms,
            fail_rate=args.fail_rate,
            throttle_rate=args.throttle_rate,
            fail_after_commit_rate=args.fail_after_commit_rate,
        )
    )
    if args.reset:
        box.reset()
    try:
        box.serve_forever(args.host, args.port, allow_remote=args.allow_remote, announce=sys.stderr)
    except ValueError as exc:  # a non-loopback host without --allow-remote
        raise UsageError(f"{exc} (on the command line: --allow-remote)") from None
    except KeyboardInterrupt:
        pass
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from .docs import write

    written = write(args.out)
    sys.stderr.write(f"klaviyo-connector: wrote {len(written)} pages under {args.out}\n")
    return 0


def cmd_manifest(args: argparse.Namespace) -> int:
    from .manifest import build_manifest

    _print_json(build_manifest())
    return 0


def _connection_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--api-key", help="private API key (default: $KLAVIYO_API_KEY)")
    p.add_argument("--base-url", help="API host (default: $KLAVIYO_BASE_URL or https://a.klaviyo.com)")
    p.add_argument("--sandbox", action="store_true", help="run against the built-in local sandbox")
    p.add_argument(
        "--token-file", help="use the OAuth token saved by `auth login` (refreshed tokens are saved)"
    )


def build_parser() -> argparse.ArgumentParser:
    from .version import __version__

    parser = argparse.ArgumentParser(prog="klaviyo-connector", description="Run Klaviyo connector actions.")
    parser.add_argument("--version", action="version", version=f"klaviyo-connector {__version__}")
    parser.add_argument("--debug", action="store_true", help="log requests (redacted) to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("actions", help="list every action's key and label")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_actions)

    p = sub.add_parser("datasources", help="list every data source's key and label")
    p.set_defaults(func=cmd_datasources)

    p = sub.add_parser("describe", help="an action's inputs (JSON Schema), flags and scopes")
    p.add_argument("key")
    p.set_defaults(func=cmd_describe)

    for name, func, helptext in (
        ("run", cmd_run, "run an action; the result is printed as JSON"),
        ("datasource", cmd_datasource, "run a picklist data source"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("key")
        p.add_argument("--inputs", help="inputs as JSON, or @FILE to read them from a file")
        p.add_argument(
            "--timeout",
            type=float,
            help="the most seconds the whole run may take, retries and waits included (default 300)",
        )
        _connection_flags(p)
        p.set_defaults(func=func)

    p = sub.add_parser("test-connection", help="check the credentials with GET /api/accounts")
    _connection_flags(p)
    p.set_defaults(func=cmd_test_connection)

    p = sub.add_parser("sandbox", help="serve the local Klaviyo sandbox until interrupted")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8787)
    p.add_argument("--state", help="SQLite state file (default: in the user cache directory)")
    p.add_argument("--reset", action="store_true", help="start from an empty state")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    p.add_argument("--rate-limit-scale", type=float, default=1.0, help="multiply rate limits (0 = off)")
    p.add_argument("--latency-ms", type=int, default=0, help="added latency per response")
    p.add_argument("--fail-rate", type=float, default=0.0, help="fraction of requests answered 503")
    p.add_argument("--throttle-rate", type=float, default=0.0, help="fraction of requests answered 429")
    p.add_argument(
        "--fail-after-commit-rate",
        type=float,
        default=0.0,
        help="fraction of successful writes answered 503 after their change is saved",
    )
    p.add_argument(
        "--expire-tokens", action="store_true", help="expire every OAuth access token in the state and exit"
    )
    p.set_defaults(func=cmd_sandbox)

    p = sub.add_parser("docs", help="write the reference docs (Markdown) generated from the component")
    p.add_argument("--out", required=True, help="directory to write into, e.g. docs")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("manifest", help="print the host manifest: the whole component as one JSON document")
    p.set_defaults(func=cmd_manifest)

    from .auth_cli import add_parser as add_auth_parser

    add_auth_parser(sub)
    return parser


class _RedactingFilter(logging.Filter):
    def __init__(self, secrets: Sequence[str]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self.secrets)
        record.args = ()
        return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    secrets = [
        getattr(args, "api_key", None) or "",
        os.environ.get("KLAVIYO_API_KEY", ""),
        getattr(args, "client_secret", None) or "",
        os.environ.get("KLAVIYO_CLIENT_SECRET", ""),
    ]
    if args.debug:
        handler = logging.StreamHandler(sys.stderr)
        handler.addFilter(_RedactingFilter(secrets))
        logging.basicConfig(level=logging.DEBUG, handlers=[handler], format="%(name)s: %(message)s")
    try:
        return int(args.func(args))
    except UsageError as exc:
        sys.stderr.write(f"klaviyo-connector: {redact(str(exc), secrets)}\n")
        return EXIT_USAGE
    except KlaviyoError as exc:
        if exc.error_class == REAUTH_REQUIRED and getattr(args, "token_file", None):
            exc.message += " With the CLI: run `klaviyo-connector auth login`."
        _print_json({"error": exc.scrubbed(secrets).to_dict()}, sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
