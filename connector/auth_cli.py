"""``klaviyo-connector auth login|refresh|revoke`` and the token file behind ``--token-file``.

A token file is a whole OAuth connection value, ``{"key": "oauth2", "fields": {...}, "token":
{...}}``, written atomically with mode 0600 (it holds the client secret and the tokens). A
login made with ``--sandbox`` also records ``"sandbox": {"state": FILE}``: later commands
start the local sandbox on that state file and point the connection at it.

Several processes may use one token file at once. The CLI gives the Runner the same hooks a host
gives it for its own store (:func:`token_file_hooks`): each refresh holds ``FILE.lock`` (an empty
file beside it), re-reads the file first and after an ``invalid_grant``, and saves the rotated
token before releasing the lock, so no process spends a refresh token another one rotated.

``auth login`` prints the authorization URL on stderr, waits for the browser's redirect on a
loopback port (``http://127.0.0.1:PORT/callback``), exchanges the code with the PKCE verifier
and writes the token file. Nothing secret is printed.
"""

from __future__ import annotations

import argparse
import getpass
import hmac
import json
import os
import shlex
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from .cli import COMPONENT, UsageError
from .errors import REAUTH_REQUIRED, RETRYABLE, USER_FIXABLE, KlaviyoError

if TYPE_CHECKING:
    from filelock import FileLock

SANDBOX_CLIENT_ID = "sandbox-cli"
SANDBOX_CLIENT_SECRET = "sandbox-cli-secret"
CALLBACK_PATH = "/callback"
DEFAULT_PORT = 8976  # register http://127.0.0.1:8976/callback as the app's redirect URL
DEFAULT_WAIT = 300.0
APP_NAME = "klaviyo-connector"
# How long a process waits for another one's refresh: longer than a refresh and its one retry
# after invalid_grant can take (two token requests, each with oauth2.TOKEN_TIMEOUT).
LOCK_TIMEOUT = 120.0


def default_token_file(sandbox: bool) -> Path:
    from platformdirs import user_config_dir

    name = "sandbox-oauth-token.json" if sandbox else "oauth-token.json"
    return Path(user_config_dir(APP_NAME, appauthor=False)) / name


def login_command(path: str | os.PathLike[str] | None, sandbox: bool) -> str:
    """The ``auth login`` command that (re)creates this token file, to quote in hints."""
    words = ["klaviyo-connector", "auth", "login"] + (["--sandbox"] if sandbox else [])
    if path is not None and os.path.abspath(path) != os.path.abspath(default_token_file(sandbox)):
        words += ["--token-file", shlex.quote(str(path))]
    return " ".join(words)


# -- the token file -------------------------------------------------------------------------

_write_lock = threading.Lock()


def write_token_file(path: str | os.PathLike[str], doc: Mapping[str, Any]) -> None:
    """Replace the file atomically; it is created 0600 and never exists with other permissions."""
    target = os.path.abspath(path)
    directory = os.path.dirname(target)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    with _write_lock:
        fd, tmp = tempfile.mkstemp(prefix=".oauth-token-", suffix=".tmp", dir=directory)  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=2)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, target)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise


_file_locks: dict[str, FileLock] = {}
_file_locks_guard = threading.Lock()


def _file_lock(path: str | os.PathLike[str]) -> FileLock:
    """One lock object per token file in this process: re-entrant in the thread that holds it (the
    save inside a refresh), exclusive between threads and between processes."""
    from filelock import FileLock

    lock_path = os.path.abspath(path) + ".lock"
    with _file_locks_guard:
        lock = _file_locks.get(lock_path)
        if lock is None:
            lock = _file_locks[lock_path] = FileLock(lock_path, timeout=LOCK_TIMEOUT, mode=0o600)
        return lock


@contextmanager
def locked_token_file(path: str | os.PathLike[str], timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the token file's cross-process lock (``FILE.lock``, empty: it holds no secret)."""
    from filelock import Timeout

    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    lock = _file_lock(path)
    try:
        lock.acquire(timeout=timeout)
    except Timeout:
        raise KlaviyoError(
            f"Another klaviyo-connector process has held the lock on {path} for {timeout:g} s while "
            "refreshing its token; try again.",
            error_class=RETRYABLE,
            code="token_file_busy",
        ) from None
    try:
        yield
    finally:
        lock.release()


def read_token_file(path: str | os.PathLike[str], *, sandbox: bool | None = None) -> dict[str, Any]:
    """The token file's connection value. ``sandbox``: whether the file is meant to be a sandbox
    login (None: unknown), which the hint for a missing file follows."""
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if sandbox is None:
            how = f"`{login_command(path, False)}` (or `{login_command(path, True)}` for the sandbox)"
        else:
            how = f"`{login_command(path, sandbox)}`"
        raise KlaviyoError(
            f"No token file at {path}: log in first with {how}.",
            error_class=REAUTH_REQUIRED,
            code="no_token_file",
        ) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"--token-file: cannot read {path}: {exc}") from None
    if not isinstance(doc, dict) or doc.get("key") != "oauth2" or not isinstance(doc.get("fields"), dict):
        raise UsageError(f"--token-file: {path} is not a token file written by `auth login`")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        sys.stderr.write(f"klaviyo-connector: warning: {path} is readable by other users; chmod 600 it\n")
    return doc


def token_writer(path: str) -> Callable[[Mapping[str, Any], dict[str, Any]], None]:
    """The runner's ``on_token_update``: save each refreshed (rotated) token into the file."""

    def save(_connection: Mapping[str, Any], token: dict[str, Any]) -> None:
        with locked_token_file(path):  # already held during a refresh: re-entrant
            doc = read_token_file(path)
            doc["token"] = token
            write_token_file(path, doc)

    return save


def token_reader(path: str) -> Callable[[Mapping[str, Any]], dict[str, Any] | None]:
    """The runner's ``load_token``: the token in the file now, which another process may have
    rotated since this one read it; None if the file is gone, unreadable or now for another app."""

    def load(connection: Mapping[str, Any]) -> dict[str, Any] | None:
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or not isinstance(doc.get("fields"), dict):
            return None
        if doc["fields"].get("clientId") != (connection.get("fields") or {}).get("clientId"):
            return None  # a later `auth login` with another app: not this connection's grant
        token = doc.get("token")
        return token if isinstance(token, dict) else None

    return load


def token_file_hooks(path: str) -> dict[str, Any]:
    """The Runner's OAuth token hooks for a token file (``Runner(**token_file_hooks(path))``): save
    rotations into it, load the latest token from it, and lock it around each refresh."""
    return {
        "on_token_update": token_writer(path),
        "load_token": token_reader(path),
        "refresh_lock": lambda _connection: locked_token_file(path),
    }


def sandbox_urls(base_url: str) -> dict[str, str]:
    return {
        "baseUrl": base_url,
        "authorizeUrl": f"{base_url}/oauth/authorize",
        "tokenUrl": f"{base_url}/oauth/token",
    }


@contextmanager
def _sandbox(state: str | None) -> Iterator[str]:
    """A local sandbox on the given (default: the CLI's) state file, for the command's duration."""
    from .sandbox import Sandbox, SandboxOptions
    from .sandbox.server import default_state_path

    box = Sandbox(SandboxOptions(state_path=state or str(default_state_path())))
    try:
        yield box.start()
    finally:
        box.stop()


@contextmanager
def token_file_connection(args: argparse.Namespace) -> Iterator[dict[str, Any]]:
    """The OAuth connection a token file describes (``run ... --token-file FILE``)."""
    if getattr(args, "api_key", None) or getattr(args, "base_url", None):
        raise UsageError(
            "--token-file can't be combined with --api-key or --base-url (the file has its URLs)"
        )
    sandbox: bool | None = None  # unknown: a hint for a missing file names both logins
    for flavour in (True, False):
        if os.path.abspath(args.token_file) == os.path.abspath(default_token_file(flavour)):
            sandbox = flavour
    if getattr(args, "sandbox", False):
        sandbox = True
    doc = read_token_file(args.token_file, sandbox=sandbox)
    fields = dict(doc["fields"])
    marker = doc.get("sandbox")
    if marker is None and not getattr(args, "sandbox", False):
        yield {"key": "oauth2", "fields": fields, "token": doc.get("token")}
        return
    state = marker.get("state") if isinstance(marker, dict) else None
    with _sandbox(state) as base_url:
        fields.update(sandbox_urls(base_url))
        yield {"key": "oauth2", "fields": fields, "token": doc.get("token")}


# -- the loopback redirect listener ---------------------------------------------------------

_PAGE = "<!doctype html><title>Klaviyo connector</title><p>{}</p>"


class _Callback(HTTPServer):
    """Serves ``GET /callback`` on loopback until a redirect with this login's state arrives."""

    def __init__(self, port: int, state: str | None = None) -> None:
        super().__init__(("127.0.0.1", port), _CallbackHandler)
        self.expected_state = state
        self.result: dict[str, str] | None = None

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{CALLBACK_PATH}"

    def wait(self, seconds: float, again: str = "klaviyo-connector auth login") -> dict[str, str]:
        """The redirect's query; a KlaviyoError after ``seconds`` naming ``again`` to retry."""
        deadline = time.monotonic() + seconds
        while self.result is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise KlaviyoError(
                    f"No authorization arrived within {int(seconds)} s; run `{again}` again.",
                    error_class=USER_FIXABLE,
                    code="login_timeout",
                )
            self.timeout = remaining
            self.handle_request()
        return self.result


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _Callback

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        parts = urlsplit(self.path)
        if parts.path != CALLBACK_PATH:
            self._answer(404, "Not found.")
            return
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        state = query.get("state", "")
        expected = self.server.expected_state or ""
        if not hmac.compare_digest(state.encode(), expected.encode()):
            self._answer(400, "This redirect is not for the login in progress (state mismatch).")
            return
        self.server.result = query
        if "error" in query:
            self._answer(400, "Authorization was refused. You can close this window.")
        else:
            self._answer(200, "Authorized. You can close this window and return to the terminal.")

    def _answer(self, status: int, text: str) -> None:
        body = _PAGE.format(text).encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the request line holds the code
        pass


# -- commands ------------------------------------------------------------------------------


def _summary(path: str, token: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"ok": True, "token_file": path}
    for key in ("scope", "expires_at"):
        if token.get(key) is not None:
            out[key] = token[key]
    out.update(extra)
    return out


def _client_secret(args: argparse.Namespace) -> str | None:
    secret = args.client_secret or os.environ.get("KLAVIYO_CLIENT_SECRET")
    if not secret and not args.sandbox and sys.stdin.isatty():
        secret = getpass.getpass("Client secret: ")
    return secret or None


def cmd_login(args: argparse.Namespace) -> int:
    from klaviyo_connector.connections import oauth2

    client_id = args.client_id or os.environ.get("KLAVIYO_CLIENT_ID")
    secret = _client_secret(args)
    if args.sandbox:
        client_id, secret = client_id or SANDBOX_CLIENT_ID, secret or SANDBOX_CLIENT_SECRET
    if not client_id or not secret:
        raise UsageError("auth login needs --client-id and --client-secret (or $KLAVIYO_CLIENT_SECRET)")
    fields: dict[str, Any] = {"clientId": client_id, "clientSecret": secret}
    if args.scopes:
        fields["scopes"] = args.scopes
    path = str(args.token_file or default_token_file(args.sandbox))
    port = args.port if args.port is not None else (0 if args.sandbox else DEFAULT_PORT)
    try:
        listener = _Callback(port)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on 127.0.0.1:{port} for the redirect ({exc.strerror}); pass --port"
        ) from None
    with listener, _sandbox(args.state) if args.sandbox else _nothing() as sandbox_base:
        if sandbox_base:
            fields.update(sandbox_urls(sandbox_base))
        else:
            for key, value in (
                ("baseUrl", args.base_url),
                ("authorizeUrl", args.authorize_url),
                ("tokenUrl", args.token_url),
            ):
                if value:
                    fields[key] = value
        request = oauth2.start_authorization(fields, listener.redirect_uri)
        listener.expected_state = request.state
        sys.stderr.write(
            f"Open this URL in a browser to authorize the app (waiting {int(args.wait)} s for the redirect "
            f"to {listener.redirect_uri}):\n{request.url}\n"
        )
        sys.stderr.flush()
        answer = listener.wait(args.wait, again=login_command(args.token_file, args.sandbox))
        if "error" in answer:
            raise KlaviyoError(
                f"Klaviyo did not authorize the app: {answer['error']} ({answer.get('error_description', '')}).",
                error_class=USER_FIXABLE,
                code=answer["error"],
            )
        token = oauth2.exchange_code(
            fields, request, code=answer.get("code", ""), state=answer.get("state", "")
        )
    doc: dict[str, Any] = {"key": "oauth2", "fields": fields, "token": token}
    if args.sandbox:
        from .sandbox.server import default_state_path

        doc["fields"] = {k: v for k, v in fields.items() if k not in sandbox_urls("")}
        doc["sandbox"] = {"state": args.state or str(default_state_path())}
    with locked_token_file(path):  # not in the middle of another process's refresh and save
        write_token_file(path, doc)
    json.dump(_summary(path, token), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def _file_args(args: argparse.Namespace) -> argparse.Namespace:
    args.token_file = str(args.token_file or default_token_file(args.sandbox))
    return args


def cmd_refresh(args: argparse.Namespace) -> int:
    from .runner import Runner

    args = _file_args(args)
    runner = Runner(**token_file_hooks(args.token_file))
    try:
        with token_file_connection(args) as conn:
            token = runner.client(COMPONENT, conn).auth.refresh()
    finally:
        runner.close()
    json.dump(_summary(args.token_file, token, refreshed=True), sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from klaviyo_connector.connections import oauth2

    args = _file_args(args)
    with token_file_connection(args) as conn, locked_token_file(args.token_file):
        # The token as it is now: another process may have rotated it since the file was read.
        token = token_reader(args.token_file)(conn) or conn.get("token") or {}
        oauth2.revoke(conn["fields"], token)
    # The file is kept: its tokens are dead now, and any use of it says to reconnect.
    json.dump({"ok": True, "token_file": args.token_file, "revoked": True}, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  klaviyo-connector auth {line}" for line in lines)


def add_parser(sub: Any) -> None:
    """Register ``auth login|refresh|revoke`` on the CLI's subparsers."""
    auth = sub.add_parser(
        "auth",
        help="OAuth: log in (authorization code + PKCE), refresh or revoke tokens",
        description=(
            "OAuth 2.0 for the CLI: log in once with a browser (authorization code with PKCE), then\n"
            "use the saved token with `run ... --token-file FILE`; it refreshes itself and is saved\n"
            "back. --sandbox does it all against the built-in sandbox."
        ),
        epilog=_examples(
            "login --sandbox --token-file tok.json",
            "login --client-id ID --client-secret SECRET --token-file tok.json",
            "refresh --token-file tok.json",
            "revoke --token-file tok.json",
        ),
    )
    actions = auth.add_subparsers(dest="auth_command", required=True, metavar="<command>")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--token-file",
            help="where the token is kept (mode 0600; default: in the user config directory)",
        )
        p.add_argument("--sandbox", action="store_true", help="use the built-in local sandbox")

    p = actions.add_parser(
        "login",
        help="authorize the app in a browser and save the token",
        description=(
            "Authorize the app: prints the URL to open on stderr, waits for the browser's redirect\n"
            f"to http://127.0.0.1:PORT{CALLBACK_PATH}, exchanges the code (with the PKCE verifier) and\n"
            "saves the connection and its token to the token file (mode 0600). Register\n"
            f"http://127.0.0.1:{DEFAULT_PORT}{CALLBACK_PATH} as your Klaviyo app's redirect URL. With --sandbox\n"
            "the sandbox's authorize page approves at once (open the URL with curl -L)."
        ),
        epilog=_examples(
            "login --sandbox --token-file tok.json",
            'login --client-id ID --client-secret SECRET --scopes "lists:read lists:write"',
        ),
    )
    p.add_argument("--client-id", help="the app's Client ID (default: $KLAVIYO_CLIENT_ID)")
    p.add_argument("--client-secret", help="the app's Client secret (default: $KLAVIYO_CLIENT_SECRET)")
    p.add_argument("--scopes", help="space-separated scopes (default: every scope the actions need)")
    p.add_argument("--base-url", help="API host (a loopback URL for a sandbox you run yourself)")
    p.add_argument("--authorize-url", help="default https://www.klaviyo.com/oauth/authorize")
    p.add_argument("--token-url", help="default https://a.klaviyo.com/oauth/token")
    p.add_argument(
        "--port",
        type=int,
        help=f"loopback port for the redirect (default {DEFAULT_PORT}; any free one with --sandbox)",
    )
    p.add_argument("--wait", type=float, default=DEFAULT_WAIT, help="seconds to wait for the redirect")
    p.add_argument("--state", help="sandbox state file (with --sandbox; default: the CLI's)")
    common(p)
    p.set_defaults(func=cmd_login)

    p = actions.add_parser(
        "refresh",
        help="refresh the saved token now (the refresh token rotates)",
        description="Refresh the saved token now and save the new one (the refresh token rotates).",
        epilog=_examples("refresh --token-file tok.json", "refresh --sandbox"),
    )
    common(p)
    p.set_defaults(func=cmd_refresh)

    p = actions.add_parser(
        "revoke",
        help="revoke the saved token at Klaviyo",
        description=(
            "Revoke the saved token at Klaviyo. The file is kept: its tokens are dead, and any use\n"
            "of it says to log in again."
        ),
        epilog=_examples("revoke --token-file tok.json", "revoke --sandbox"),
    )
    common(p)
    p.set_defaults(func=cmd_revoke)
