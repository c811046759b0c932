"""A real, scripted, flaky HTTP server on loopback for retry tests.

It answers each request with the next scripted step (a status with headers, a dropped
connection, or a hang) and records what it received, so retry counts and waits are checked
exactly against a real socket while the runner's injected sleep keeps anything from waiting.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OK = {"data": [{"type": "account", "id": "AbC123", "attributes": {}}]}


@dataclass
class Step:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    action: str = "respond"  # or "drop" (close without answering) or "hang" (never answer in time)


def throttle(retry_after: str) -> Step:
    return Step(
        429, {"Retry-After": retry_after}, {"errors": [{"id": "t", "status": 429, "code": "throttled"}]}
    )


def fail(status: int) -> Step:
    return Step(
        status, {}, {"errors": [{"id": "e", "status": status, "code": "error", "detail": "Scripted."}]}
    )


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class FlakyServer:
    def __init__(self) -> None:
        self.script: list[Step] = []
        self.seen: list[Seen] = []
        self.release = threading.Event()  # ends hangs at teardown
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with server._lock:
                    server.seen.append(
                        Seen(self.command, self.path, dict(self.headers), body, time.monotonic())
                    )
                    step = server.script.pop(0) if server.script else Step(500, {}, {"errors": [{"id": "x"}]})
                if step.action == "drop":
                    self.close_connection = True
                    return
                if step.action == "hang":
                    server.release.wait(5)
                    self.close_connection = True
                    return
                payload = json.dumps(step.body).encode() if step.body is not None else b""
                self.send_response(step.status)
                self.send_header("Content-Type", "application/vnd.api+json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("RateLimit-Limit", "75")
                for name, value in step.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def then(self, *steps: Step) -> FlakyServer:
        self.script.extend(steps)
        return self

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
