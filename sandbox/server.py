"""Serve the sandbox over real HTTP on loopback: :class:`Sandbox` and :class:`SandboxOptions`.

::

    with Sandbox(SandboxOptions(rate_limit_scale=0)) as base_url:   # serves on 127.0.0.1:<free port>
        requests.get(base_url + "/api/accounts", headers={...})    # and stops at the end

    Sandbox(SandboxOptions(state_path=str(default_state_path()))).serve_forever("127.0.0.1", 8765)

werkzeug and sqlite are imported only when a sandbox is built, so importing this module
(and ``klaviyo_connector.sandbox``) stays cheap.

What the HTTP layer answers itself, before the WSGI app sees a request, is in Klaviyo's error
shape too (``{"errors": [...]}``, ``application/vnd.api+json``): a malformed request line (400),
a request line over 64 KB (414), a header line over 64 KB or more than 100 headers (431). Every
socket read waits at most ``SandboxOptions.read_timeout`` seconds: a client that stalls while
sending its headers is disconnected without an answer, one that stalls in its body gets 408;
either way the server thread is freed.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from werkzeug.serving import BaseWSGIServer

    from .app import SandboxApp
    from .store import Store

APP_NAME = "klaviyo-connector"
# The account `klaviyo-connector ... --sandbox` runs use, and the one the standalone server's
# banner offers: both reach the same data in the default state file. Not a secret: any key of
# the form pk_... opens an account of its own in the sandbox.
DEFAULT_API_KEY = "pk_sandbox_default_account_0001"


def default_state_path() -> Path:
    """Where the CLI keeps sandbox state: ``<user cache dir>/klaviyo-connector/sandbox.sqlite3``.

    On Linux that is ``$XDG_CACHE_HOME/klaviyo-connector`` (``~/.cache/...`` when unset).
    """
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME, appauthor=False)) / "sandbox.sqlite3"


FAULT_MODES = ("error", "drop")


@dataclass
class SandboxOptions:
    """How the sandbox behaves.

    ``state_path``: SQLite file (None = a fresh temporary file removed on ``stop()``;
    ``":memory:"`` = in memory). ``rate_limit_scale``: 1.0 = Klaviyo's limits, 10 = ten
    times looser, 0 = off. ``latency_ms`` is added to every response; ``fail_rate`` and
    ``throttle_rate`` are the fractions of requests answered 503 and 429 before their handler
    runs (nothing changes). ``fail_after_commit_rate`` is the fraction of successful writes
    (POST, PUT, PATCH, DELETE) that fail after their changes are committed: the change is
    saved, yet the client gets a 503 (``fail_after_commit_mode="error"``) or the connection is
    closed with no answer at all (``"drop"``), as when a proxy or the network fails between
    Klaviyo and the client. ``seed`` makes all these draws repeatable. ``clock`` (epoch
    seconds) drives rate-limit windows and timestamps; tests inject one so nothing waits.
    ``read_timeout`` (seconds, None = wait forever) bounds each read from a client's socket,
    so a client that sends half a request and stalls can't hold a server thread.
    """

    state_path: str | None = None
    rate_limit_scale: float = 1.0
    latency_ms: int = 0
    fail_rate: float = 0.0
    throttle_rate: float = 0.0
    fail_after_commit_rate: float = 0.0
    fail_after_commit_mode: str = "error"
    seed: int | None = None
    clock: Callable[[], float] | None = None
    read_timeout: float | None = 30.0

    def __post_init__(self) -> None:
        for name in ("fail_rate", "throttle_rate", "fail_after_commit_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        if self.fail_after_commit_mode not in FAULT_MODES:
            raise ValueError(
                f"fail_after_commit_mode must be one of {', '.join(FAULT_MODES)}, "
                f"got {self.fail_after_commit_mode!r}"
            )
        if not self.rate_limit_scale >= 0:  # also refuses nan
            raise ValueError(f"rate_limit_scale must be 0 (off) or more, got {self.rate_limit_scale}")
        if not self.latency_ms >= 0:
            raise ValueError(f"latency_ms must be 0 or more, got {self.latency_ms}")
        if self.read_timeout is not None and not self.read_timeout > 0:
            raise ValueError(
                f"read_timeout must be a positive number of seconds or None, got {self.read_timeout}"
            )


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an IP address, IPv6 with or without brackets) is this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class ServedURL(str):
    """The base URL of a running sandbox (``http://127.0.0.1:PORT``), what ``with Sandbox() as
    base_url:`` gives: a plain string for any HTTP client.

    The sandbox behind it stays reachable as ``.sandbox``, and its members through the URL
    (``base_url.store``, ``base_url.reset()``), so code written when ``with`` gave the
    :class:`Sandbox` itself keeps working.
    """

    sandbox: Sandbox

    def __new__(cls, url: str, sandbox: Sandbox) -> ServedURL:
        served = super().__new__(cls, url)
        served.sandbox = sandbox
        return served

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sandbox, name)


class Sandbox:
    """A local, stateful Klaviyo API emulator served on loopback."""

    def __init__(self, options: SandboxOptions | None = None, **overrides: Any) -> None:
        self.options = dataclasses.replace(options or SandboxOptions(), **overrides)
        self._tempdir: str | None = None
        self._store: Store | None = None
        self._app: SandboxApp | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._loop_thread: threading.Thread | None = None
        self._stop_lock = threading.RLock()
        self.base_url: str | None = None

    # -- state -------------------------------------------------------------------------

    @property
    def state_path(self) -> str:
        return self.store.path

    @property
    def store(self) -> Store:
        if self._store is None:
            from .store import Store

            path = self.options.state_path
            if path is None:
                self._tempdir = tempfile.mkdtemp(prefix="klaviyo-sandbox-")
                path = os.path.join(self._tempdir, "sandbox.sqlite3")
            self._store = Store(path)
        return self._store

    @property
    def app(self) -> SandboxApp:
        """The WSGI application (usable without a server, e.g. with werkzeug's test Client)."""
        if self._app is None:
            from .app import SandboxApp

            self._app = SandboxApp(self.store, self.options)
        return self._app

    def reset(self) -> None:
        """Empty every account (each API key keeps its account id) and the rate-limit counters."""
        self.app.reset()

    # -- serving -----------------------------------------------------------------------

    def _bind(self, host: str, port: int, allow_remote: bool) -> BaseWSGIServer:
        if not allow_remote and not is_loopback(host):
            raise ValueError(
                f"refusing to serve the sandbox on {host!r}: it has no real security and is meant for "
                "loopback only (127.0.0.1, ::1, localhost); pass allow_remote=True to override"
            )
        if self._server is not None:
            raise RuntimeError(f"the sandbox is already running at {self.base_url}")
        from werkzeug.serving import make_server

        from .handler import handler_class

        server = make_server(
            host, port, self.app, threaded=True, request_handler=handler_class(self.options.read_timeout)
        )
        server.daemon_threads = True
        bound_host, bound_port = server.server_address[:2]
        shown = f"[{bound_host}]" if ":" in str(bound_host) else str(bound_host)
        self.base_url = f"http://{shown}:{bound_port}"
        self._server = server
        return server

    def start(self, host: str = "127.0.0.1", port: int = 0, *, allow_remote: bool = False) -> str:
        """Serve in a daemon thread; returns the base URL (``http://127.0.0.1:54321``)."""
        server = self._bind(host, port, allow_remote)
        self._thread = threading.Thread(
            target=self._loop, args=(server,), name="klaviyo-sandbox", daemon=True
        )
        self._loop_thread = self._thread
        self._thread.start()
        assert self.base_url is not None
        return self.base_url

    @staticmethod
    def _loop(server: BaseWSGIServer) -> None:
        # A short poll interval lets stop() return promptly (shutdown waits for the next poll).
        server.serve_forever(poll_interval=0.05)

    def serve_forever(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_remote: bool = False,
        ready: Callable[[str], None] | None = None,
        announce: TextIO | None = None,
    ) -> None:
        """Serve in this thread until interrupted or until ``stop()`` from another thread (the CLI).

        Once listening, calls ``ready(base_url)`` and/or writes a banner to ``announce`` (e.g.
        ``sys.stderr``): the URL, the state file, and the default account's API key with a
        command that uses both.
        """
        server = self._bind(host, port, allow_remote)
        self._loop_thread = threading.current_thread()
        assert self.base_url is not None
        if announce is not None:
            announce.write(
                f"Klaviyo sandbox listening on {self.base_url} (state: {self.state_path})\n"
                f"  Base URL: {self.base_url}\n"
                f"  API key:  {DEFAULT_API_KEY} (the account --sandbox runs use; any other pk_... key "
                "is an account of its own)\n"
                f"  Try:      KLAVIYO_API_KEY={DEFAULT_API_KEY} KLAVIYO_BASE_URL={self.base_url} "
                "klaviyo-connector run listAccounts\n"
                "  Stop it with Ctrl+C; the state stays in the file.\n"
            )
            announce.flush()
        if ready is not None:
            ready(self.base_url)
        try:
            self._loop(server)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop serving, close the database and remove a temporary state file (idempotent)."""
        with self._stop_lock:
            server, self._server = self._server, None
            loop, self._loop_thread = self._loop_thread, None
            if server is not None:
                if loop is not None and loop is not threading.current_thread():
                    server.shutdown()
                if self._thread is not None and self._thread is not threading.current_thread():
                    self._thread.join(timeout=5)
                self._thread = None
                server.server_close()
            self.base_url = None
            if self._store is not None:
                self._store.close()
                self._store = None
                self._app = None
            if self._tempdir is not None:
                shutil.rmtree(self._tempdir, ignore_errors=True)
                self._tempdir = None

    def __enter__(self) -> ServedURL:
        """Serve on a free loopback port (unless already serving); the base URL to call."""
        if self._server is None:
            self.start()
        assert self.base_url is not None
        return ServedURL(self.base_url, self)

    def __exit__(self, *exc: object) -> None:
        self.stop()
