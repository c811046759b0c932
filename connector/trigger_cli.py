"""``klaviyo-connector trigger poll|listen``: run a trigger from the command line.

``trigger poll KEY --state-file FILE`` polls once, prints ``{"records": [...]}`` and saves the new
state in FILE (created on first use) only after the records are printed, so a poll that fails or
is interrupted is repeated from the old state. ``trigger listen KEY --port N`` serves a loopback
receiver, creates the Klaviyo webhook pointing at it (``--endpoint-url`` for a public https URL
that forwards to it), prints each verified record as one JSON line and deletes the webhook when it
stops (Ctrl-C, or after ``--count`` records).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .cli import (
    COMPONENT,
    PROG,
    UsageError,
    _connection_flags,
    _examples,
    _inputs,
    _session,
    find,
    port_number,
    timeout_seconds,
)
from .errors import KlaviyoError

# The receiver's clock (epoch seconds) for the replay window; tests give the sandbox's.
WALL_CLOCK: Callable[[], float] = time.time
# Called with the endpoint URL once the webhook exists and the receiver listens (tests wait on it).
ON_LISTENING: Callable[[str], None] | None = None
RECEIVER_PATH = "/klaviyo/webhook"
MAX_BODY = 10 * 1024 * 1024  # Klaviyo batches events in a delivery; far more than one carries


def _triggers_kind() -> Any:
    from .cli import KINDS

    return next(k for k in KINDS if k.name == "trigger")


def read_state(path: str) -> dict[str, Any]:
    """The state saved in ``path``; ``{}`` when the file doesn't exist yet."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UsageError(f"--state-file: cannot read {path!r}: {exc.strerror}") from None
    try:
        state = json.loads(text) if text.strip() else {}
    except ValueError:
        raise UsageError(f"--state-file: {path!r} is not JSON (delete it to start from now)") from None
    if not isinstance(state, dict):
        raise UsageError(f"--state-file: {path!r} does not hold a JSON object")
    return state


def write_state(path: str, state: dict[str, Any]) -> None:
    """Replace ``path`` with ``state`` at once (a crash leaves the old file or the new one, never half)."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".state-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(state, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def cmd_poll(args: argparse.Namespace) -> int:
    from .component import component

    find(component, args.key, [_triggers_kind()])
    if component.triggers[args.key].kind != "polling":
        raise UsageError(f"{args.key} is a webhook trigger: use `{PROG} trigger listen {args.key}`")
    inputs = _inputs(args.inputs)
    state = read_state(args.state_file)
    folder = os.path.dirname(os.path.abspath(args.state_file))
    if not os.access(folder, os.W_OK):  # found out before polling, not after printing records
        raise UsageError(f"--state-file: cannot write in {folder!r} (a folder that exists and is writable)")
    with _session(args) as (runner, conn, _feedback):
        result = runner.run_trigger(
            COMPONENT, args.key, connection=conn, inputs=inputs, state=state, timeout=args.timeout
        )
    sys.stdout.write(json.dumps({"records": result["records"]}, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    write_state(args.state_file, result["state"])
    return 0


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, handle: Callable[[bytes, dict[str, str]], tuple[int, bytes]]) -> None:
        self.handle_delivery = handle
        super().__init__(("127.0.0.1", port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length") or 0)
        if self.path.split("?", 1)[0] != RECEIVER_PATH or not 0 < length <= MAX_BODY:
            status, body = 404 if length else 400, b'{"error": "not a delivery"}'
        else:
            status, body = self.server.handle_delivery(self.rfile.read(length), dict(self.headers.items()))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        return None  # stdout holds records only; refusals are reported on stderr


def cmd_listen(args: argparse.Namespace) -> int:
    from .component import component

    find(component, args.key, [_triggers_kind()])
    if component.triggers[args.key].kind != "webhook":
        raise UsageError(f"{args.key} is a polling trigger: use `{PROG} trigger poll {args.key}`")
    if args.count is not None and args.count < 1:
        raise UsageError("--count must be 1 or more")
    inputs = _inputs(args.inputs)
    secret = secrets.token_urlsafe(32)  # this run's signing key: never printed
    done = threading.Event()
    printed = [0]
    lock = threading.Lock()

    with _session(args) as (runner, conn, _feedback):

        def handle(body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
            try:
                out = runner.handle_webhook(
                    COMPONENT,
                    args.key,
                    inputs=inputs,
                    body=body,
                    headers=headers,
                    secret=secret,
                    now=WALL_CLOCK(),
                )
            except KlaviyoError as exc:
                sys.stderr.write(f"{PROG}: {exc.message}\n")
                return 401, json.dumps({"error": exc.code}).encode()
            with lock:
                for record in out["records"]:
                    if done.is_set():
                        break
                    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
                    printed[0] += 1
                    if args.count is not None and printed[0] >= args.count:
                        done.set()
                sys.stdout.flush()
            return 200, b"{}"

        receiver = _Receiver(args.port, handle)
        serving = threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        serving.start()
        endpoint = args.endpoint_url or f"http://127.0.0.1:{receiver.server_address[1]}{RECEIVER_PATH}"
        # `kill`, `timeout`, systemd and `docker stop` send SIGTERM: stop as Ctrl-C does, deleting
        # the webhook on the way out, instead of dying and leaving it behind at Klaviyo.
        previous = _on_sigterm(done.set)
        try:
            made = runner.setup_trigger(
                COMPONENT, args.key, connection=conn, inputs=inputs, endpoint_url=endpoint, secret=secret
            )
            state = made["state"]
            try:
                sys.stderr.write(
                    f"{PROG}: listening on 127.0.0.1:{receiver.server_address[1]}; Klaviyo webhook "
                    f"{state.get('webhookId')} delivers to {endpoint} (Ctrl-C stops and deletes it)\n"
                )
                sys.stderr.flush()
                if ON_LISTENING is not None:
                    ON_LISTENING(endpoint)
                while not done.wait(0.2):
                    pass
            except KeyboardInterrupt:
                pass
            finally:
                runner.teardown_trigger(COMPONENT, args.key, connection=conn, inputs=inputs, state=state)
        finally:
            _restore_sigterm(previous)
            receiver.shutdown()
            receiver.server_close()
    return 0


def _on_sigterm(stop: Callable[[], None]) -> Any:
    """Call ``stop`` on SIGTERM (main thread only); the handler it replaces, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda signum, frame: stop())


def _restore_sigterm(previous: Any) -> None:
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)


def add_parser(sub: Any) -> None:
    """Register ``trigger poll|listen`` on the CLI's subparsers."""
    trigger = sub.add_parser(
        "trigger",
        help="poll a polling trigger, or listen for a webhook trigger's deliveries",
        description=(
            "Run a trigger: `poll` a polling trigger once (its state kept in a file between polls),\n"
            "or `listen` for a webhook trigger's deliveries on a loopback port."
        ),
        epilog=_examples(
            f"{PROG} trigger poll newProfile --sandbox --state-file new-profiles.json",
            f"{PROG} trigger listen instantEvent --port 8977 --count 1 "
            '--inputs \'{"topics": ["event:klaviyo.placed_order"]}\'',
        ),
    )
    commands = trigger.add_subparsers(dest="trigger_command", required=True, metavar="<command>")

    p = commands.add_parser(
        "poll",
        help="poll once: print the new records and save the state",
        description=(
            'Poll a polling trigger once and print {"records": [...]} (oldest first; each with a\n'
            "stable key). The state is read from --state-file (missing: the first poll, which starts\n"
            "from now unless the Start From input says otherwise) and saved back after printing."
        ),
        epilog=_examples(
            f"{PROG} trigger poll newProfile --sandbox --state-file new-profiles.json",
            f"{PROG} trigger poll profileAddedToList --state-file vip.json --inputs "
            '\'{"listId": "RE83th", "since": "2026-05-01T00:00:00Z"}\' --api-key pk_...',
        ),
    )
    p.add_argument("key", help=f"the trigger's key (see `{PROG} triggers`)")
    p.add_argument("--inputs", help="inputs as a JSON object, or @FILE to read them from a file")
    p.add_argument("--state-file", required=True, help="where the state is kept between polls (JSON)")
    p.add_argument(
        "--timeout",
        type=timeout_seconds,
        help="the most seconds the poll may take, retries and waits included",
    )
    _connection_flags(p)
    p.set_defaults(func=cmd_poll)

    p = commands.add_parser(
        "listen",
        help="create the webhook and print each verified delivery's records as JSON lines",
        description=(
            "Serve a receiver on 127.0.0.1:PORT, create the trigger's Klaviyo webhook delivering to it\n"
            "(signed with a fresh secret), print each record of each verified delivery as one JSON\n"
            "line, and delete the webhook on Ctrl-C or after --count records. Deliveries with a bad\n"
            "signature or a stale timestamp are refused (401). Klaviyo needs a public https URL:\n"
            "pass --endpoint-url for a tunnel that forwards to the port; the sandbox delivers to\n"
            "loopback directly."
        ),
        epilog=_examples(
            f"{PROG} trigger listen instantEvent --port 8977 --api-key pk_... "
            '--endpoint-url https://hooks.example.com/klaviyo --inputs \'{"topics": ["event:klaviyo.placed_order"]}\'',
        ),
    )
    p.add_argument("key", help=f"the trigger's key (see `{PROG} triggers`)")
    p.add_argument(
        "--port", type=port_number, required=True, help="loopback port to receive on (0: any free port)"
    )
    p.add_argument("--inputs", help="inputs as a JSON object, or @FILE to read them from a file")
    p.add_argument(
        "--endpoint-url", help="the public https URL Klaviyo should call (default: the loopback one)"
    )
    p.add_argument("--count", type=int, help="stop after printing this many records")
    _connection_flags(p)
    p.set_defaults(func=cmd_listen)
