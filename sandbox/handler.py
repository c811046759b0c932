"""The sandbox's HTTP request handler: werkzeug's, with keep-alive, Klaviyo-shaped errors and read timeouts.

werkzeug's own ``run_wsgi`` closes every connection (and then waits up to 10 ms draining the
socket), so each request paid a new TCP connection. :meth:`SandboxRequestHandler.run_wsgi`
keeps HTTP/1.1 connections alive instead: the app reads the body through a stream limited to
``Content-Length``, whatever it leaves unread is drained before the answer is written (so the
next request starts where it should, and a client still sending never meets a closed socket), or
the connection is closed after the answer when that would mean reading more than
:data:`MAX_DRAIN` bytes or a chunked body; the answer goes out in one write with its
``Content-Length``.

Python's ``http.server`` answers what it can't parse (a garbled request line, a request line
over 64 KB, a header line over 64 KB, more than 100 headers) with an HTML page before the WSGI
app sees anything. :meth:`SandboxRequestHandler.send_error` answers those in the JSON:API error
shape every other sandbox answer has. ``timeout`` (the server's ``read_timeout``) is set on each
connection's socket, so every read gives up after that long: ``http.server`` then drops a
client stalled in its headers, and the app answers 408 to one stalled in its body
(:mod:`.app`). A request the app chose to drop (:class:`DroppedConnection`) closes the
connection with no answer.
"""

from __future__ import annotations

import io
import json
import re
import socket
import time
from email.errors import MissingHeaderBodySeparatorDefect
from http import HTTPStatus
from typing import Any

from werkzeug.serving import WSGIRequestHandler
from werkzeug.wsgi import LimitedStream

from .errors import JSONAPI, ApiError


class DroppedConnection(ConnectionAbortedError):
    """Raised by the WSGI app to close the connection without answering (an injected fault).

    werkzeug treats connection errors as the client having gone away: it writes nothing.
    """


# Error codes in Klaviyo's style for what http.server refuses itself.
_CODES = {
    400: "bad_request",
    408: "request_timeout",
    414: "uri_too_long",
    431: "request_header_fields_too_large",
    501: "not_implemented",
    505: "http_version_not_supported",
}
# Our own words for http.server's terse reasons (its 400 and 505 reasons quote the request).
_DETAILS = {
    (414, None): "The request line (method, path and query) is longer than 65,536 bytes.",
    (431, "Line too long"): "A request header line is longer than 65,536 bytes.",
    (431, "Too many headers"): "The request has more than 100 header lines.",
}
_MAX_DETAIL = 300  # a garbled request line is quoted back, up to this much


def error_document(status: int, message: str | None) -> bytes:
    """The JSON:API error body for a status http.server raised; ``message`` is its reason."""
    status = int(status)  # http.server passes HTTPStatus members
    try:
        title = HTTPStatus(status).phrase + "."
    except ValueError:
        title = "Error."
    detail = _DETAILS.get((status, message)) or (f"{message}." if message else title)
    if len(detail) > _MAX_DETAIL:
        detail = detail[:_MAX_DETAIL] + "..."
    error = ApiError(status, _CODES.get(status, "error"), title, detail)
    return json.dumps(error.document(), separators=(",", ":"), ensure_ascii=True).encode("ascii")


_METHOD = re.compile(r"^[A-Z]+$")


def _framing_problem(method: str, headers: Any) -> str | None:
    """What http.server lets through that would make the request ambiguous, or None."""
    if not _METHOD.match(method or ""):
        return f"The method must be upper case letters (got {method[:20]!r})"
    # A header line without a colon ends the headers for the parser: the rest would be lost.
    if any(isinstance(defect, MissingHeaderBodySeparatorDefect) for defect in headers.defects):
        return "A header line is malformed (each needs a name, a colon and a value)"
    lengths = {value.strip() for value in headers.get_all("Content-Length") or ()}
    if len(lengths) > 1:
        return "The request has conflicting Content-Length headers"
    if lengths and headers.get("Transfer-Encoding"):
        return "The request has both Content-Length and Transfer-Encoding"
    return None


class _DeadlineReader(io.RawIOBase):
    """The connection's socket, read with at most the time left before the request deadline."""

    def __init__(self, sock: socket.socket, handler: SandboxRequestHandler) -> None:
        self._sock = sock
        self._handler = handler

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        deadline = self._handler.request_deadline
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("the request did not arrive in time")
            self._sock.settimeout(min(self._handler.timeout or left, left))
        return self._sock.recv_into(buffer)


RAW_TARGET = "klaviyo_sandbox.raw_target"  # environ key: the request target as the client sent it


# Unread body bytes read and dropped before answering, so the client, still sending, never meets a
# closed socket (a 401 to a 5 MB bulk body must arrive as a 401, not a reset); past this the
# connection is closed after the answer.
MAX_DRAIN = 64 << 20
_NO_BODY = frozenset({204, 304})


class SandboxRequestHandler(WSGIRequestHandler):
    """werkzeug's handler, quiet, with JSON:API error pages (see the module docstring)."""

    request_deadline: float | None = None  # by when the current request must have arrived

    def setup(self) -> None:
        super().setup()
        # Reads go through a raw reader that gives each recv only the time left for the request:
        # a client dripping one byte at a time can't hold the thread past the deadline.
        self.rfile = io.BufferedReader(_DeadlineReader(self.connection, self))

    def handle_one_request(self) -> None:
        # The idle wait for a request line counts too; it is at most one read_timeout (a longer
        # one ends the connection), so a request itself always has at least one read_timeout.
        self.request_deadline = time.monotonic() + 2 * self.timeout if self.timeout else None
        super().handle_one_request()

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        problem = _framing_problem(self.command, self.headers)
        if problem:
            self.send_error(400, problem)
            return False
        return True

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        self.environ = environ = self.make_environ()
        body_stream: LimitedStream | None = None
        if not environ.get("wsgi.input_terminated"):  # chunked bodies come dechunked, terminated
            length = environ.get("CONTENT_LENGTH", "")
            size = int(length) if length.isdigit() else 0  # _framing_problem refused bad lengths
            body_stream = LimitedStream(environ["wsgi.input"], size)
            environ["wsgi.input"] = body_stream
            environ["wsgi.input_terminated"] = True
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return self._refuse_write

        try:
            result = self.server.app(environ, start_response)  # type: ignore[attr-defined]
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except (ConnectionError, TimeoutError) as exc:  # DroppedConnection, or the client went away
            self.connection_dropped(exc, environ)
            return
        status, headers = started
        code = int(status.split(None, 1)[0])
        if body_stream is None or not self._drained(body_stream):
            self.close_connection = True
        if self.request_version != "HTTP/1.1":
            self.close_connection = True
        lines = [f"{self.protocol_version} {status}", f"Server: {self.version_string()}"]
        lines.append(f"Date: {self.date_time_string()}")
        names = set()
        for name, value in headers:
            names.add(name.lower())
            lines.append(f"{name}: {value}")
        if "content-length" not in names and code >= 200 and code not in _NO_BODY:
            lines.append(f"Content-Length: {len(body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else body))

    @staticmethod
    def _refuse_write(data: bytes) -> None:
        raise AssertionError("the sandbox app returns its body; write() is not supported")

    @staticmethod
    def _drained(stream: LimitedStream) -> bool:
        """Skip what the app left of the body, so the next request starts where it should;
        False (close the connection) when that is more than MAX_DRAIN bytes or it fails."""
        left = stream.limit - stream.tell()
        if left <= 0:
            return True
        if left > MAX_DRAIN:
            return False
        try:
            stream.exhaust()
        except Exception:  # a short or stalled body: the connection can't be reused
            return False
        return True

    def make_environ(self) -> Any:
        environ = super().make_environ()
        # http.server turns a leading "//" into "/" (against open redirects) before werkzeug
        # sees the path; the app's routing wants what was sent (see app._route_path).
        words = self.requestline.split()
        if len(words) >= 2:
            environ[RAW_TARGET] = words[1]
        return environ

    # No per-request log lines on stderr; no Nagle delay on small replies.
    disable_nagle_algorithm = True

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
        pass

    def log_error(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        body = error_document(code, message)
        self.close_connection = True
        if self.request_version == "HTTP/0.9":
            # http.server's default before it could read a version: it would send the body alone,
            # with no status line. Clients sending garbage speak HTTP/1.x; give them a status.
            self.request_version = "HTTP/1.0"
        try:
            # The status line carries the standard phrase: ``message`` may hold the client's
            # own bytes, which don't belong (or even encode) there.
            self.send_response(code)
            self.send_header("Content-Type", JSONAPI)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD" and code >= 200 and code not in (204, 304):
                self.wfile.write(body)
        except OSError:  # the client is already gone
            pass

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        # Whether the client went away or the app dropped the request on purpose, this
        # connection carries nothing more: don't wait on it for a next request.
        self.close_connection = True


def handler_class(read_timeout: float | None) -> type[SandboxRequestHandler]:
    """A handler class whose sockets time out each read after ``read_timeout`` seconds."""
    return type("SandboxRequestHandler", (SandboxRequestHandler,), {"timeout": read_timeout})
