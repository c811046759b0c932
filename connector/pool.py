"""Keep-alive connections to one origin over the standard library's http.client.

:class:`OriginPool` is what a :class:`~klaviyo_connector.http.KlaviyoClient`'s requests adapter
sends through when no proxy applies. It keeps urllib3's connection-pool contract (the
``urlopen`` call requests' ``HTTPAdapter.send`` makes, the exceptions it maps to requests'
own, a response with ``stream``), so requests prepares every request and shapes every error as
before, and test doubles that patch ``HTTPAdapter.send`` still stand in for the network.

Why not urllib3's pool: one call on a kept-alive connection costs about 140 µs of client CPU
through urllib3's pool and 80 µs through http.client alone (``benchmarks/getprofile.py``); the
connector's lead over Klaviyo's SDK, itself on urllib3, comes from that difference. What
urllib3's pool adds that a client bound to one origin, with retries and redirects of its own,
does not use (per-request Retry and Timeout objects, host checks, proxy handling) is left out;
what it does that matters is kept: a dropped keep-alive connection is noticed before reuse,
TLS verifies the certificate and host name against certifi's bundle, connections beyond
``maxsize`` are closed instead of kept, and every connection in use is attached to the current
exchange's deadline watch (deadline.py).

The response head is read by :class:`_HeadResponse`, not by http.client's email parser, which
costs about 13 µs for four header fields (more than the rest of reading the response).
"""

from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import zlib
from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    MaxRetryError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import SSLError as Urllib3SSLError
from urllib3.response import ContentDecoder, DeflateDecoder, GzipDecoder, MultiDecoder

from .deadline import WatchedConnectionMixin, attach_to_watch, detach_from_watch, has_unread_data

log = logging.getLogger("klaviyo_connector.pool")


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """Certificate and host-name verification against certifi's CA bundle (as requests does)."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class OriginPool:
    """Up to ``maxsize`` idle keep-alive connections to ``scheme://host:port``. Thread-safe."""

    def __init__(self, scheme: str, host: str, port: int, maxsize: int) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.maxsize = maxsize
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"OriginPool({self.scheme}://{self.host}:{self.port})"

    def urlopen(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        timeout: Any = None,
        chunked: bool = False,
        **_: Any,
    ) -> OriginResponse:
        """Send ``method url`` (a path and query) and read the status line and headers.

        ``timeout`` is urllib3's Timeout (connect and read seconds). Failures are urllib3's
        exceptions as its pool raises them with retries off: connecting (nothing sent) is a
        MaxRetryError whose reason is a NewConnectionError, ConnectTimeoutError or SSLError; a
        read timeout a ReadTimeoutError; a connection lost after sending a ProtocolError."""
        connect_timeout = getattr(timeout, "connect_timeout", None)
        read_timeout = getattr(timeout, "read_timeout", None)
        conn = self._checkout()
        attach_to_watch(conn)
        try:
            if conn.sock is None:
                self._connect(conn, url, connect_timeout)
            sock = conn.sock
            if sock.gettimeout() != read_timeout:  # type: ignore[union-attr]  # a syscall or two: skip if same
                sock.settimeout(read_timeout)  # type: ignore[union-attr]
            # A plain dict: http.client walks the headers twice, a CaseInsensitiveDict slowly.
            conn.request(method, url, body, dict(headers.items()) if headers else {}, encode_chunked=chunked)
            raw = conn.getresponse()
            if log.isEnabledFor(logging.DEBUG):  # as urllib3 logs it (secrets scrubbed: redact.py)
                log.debug(
                    '%s://%s:%s "%s %s HTTP/1.1" %s',
                    self.scheme,
                    self.host,
                    self.port,
                    method,
                    url,
                    raw.status,
                )
        except BaseException as exc:
            self._discard(conn)
            if isinstance(exc, MaxRetryError):
                raise
            if isinstance(exc, (socket.timeout, TimeoutError)):
                raise ReadTimeoutError(self, url, f"Read timed out. (read timeout={read_timeout})") from exc
            if isinstance(exc, (OSError, http.client.HTTPException)):
                raise ProtocolError("Connection aborted.", exc) from exc
            raise
        return OriginResponse(self, conn, raw, url)

    def _connect(self, conn: http.client.HTTPConnection, url: str, seconds: float | None) -> None:
        conn.timeout = seconds
        try:
            conn.connect()
        except ssl.SSLError as exc:  # includes a certificate that does not verify
            raise MaxRetryError(self, url, Urllib3SSLError(exc)) from exc  # type: ignore[arg-type]
        except TimeoutError as exc:
            reason = ConnectTimeoutError(
                conn, f"Connection to {self.host} timed out. (connect timeout={seconds})"
            )
            raise MaxRetryError(self, url, reason) from exc  # type: ignore[arg-type]
        except OSError as exc:
            reason = NewConnectionError(conn, f"Failed to establish a new connection: {exc}")  # type: ignore[arg-type]
            raise MaxRetryError(self, url, reason) from exc  # type: ignore[arg-type]

    def _checkout(self) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                if self.scheme == "https":
                    return _HTTPSConnection(self.host, self.port, context=tls_context())
                return _HTTPConnection(self.host, self.port)
            if conn.sock is not None and not has_unread_data(conn.sock):
                return conn
            conn.close()

    def checkin(self, conn: http.client.HTTPConnection) -> None:
        """Back to the idle list after a response was read to its end."""
        detach_from_watch(conn)
        with self._lock:
            if not self._closed and conn.sock is not None and len(self._idle) < self.maxsize:
                self._idle.append(conn)
                return
        conn.close()

    def _discard(self, conn: http.client.HTTPConnection) -> None:
        detach_from_watch(conn)
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


class OriginResponse:
    """A response whose body is read once through :meth:`stream` (urllib3's response contract
    as requests reads it). The connection goes back to its pool when the body was read to its
    end and the server keeps it open; otherwise it is closed."""

    def __init__(
        self, pool: OriginPool, conn: http.client.HTTPConnection, raw: http.client.HTTPResponse, url: str
    ) -> None:
        self._pool = pool
        self._conn: http.client.HTTPConnection | None = conn
        self._raw = raw
        self._url = url
        self._complete = False  # the body was read to its end: the connection may be reused
        self.status = raw.status
        self.reason = raw.reason
        self.headers: CaseInsensitiveDict[str] = raw.headers

    def stream(self, amt: int = 65536, decode_content: bool = True) -> Iterator[bytes]:
        """The body in pieces of at most ``amt`` bytes, decoded (gzip, deflate, or a chain of
        them): a small compressed read cannot swell into a large piece before the reader's size
        cap sees it. A body cut off before its Content-Length, or mid-chunk, is a
        ProtocolError; one that cannot be decoded a DecodeError. A coding the client never
        asks for (br, zstd) comes as it was sent."""
        raw = self._raw
        try:
            decoder = _decoder(self.headers.get("content-encoding", "")) if decode_content else None
            while True:
                chunk = raw.read(amt)
                if not chunk:
                    if raw.length:  # http.client returns what came and leaves the check to us
                        raise http.client.IncompleteRead(b"", raw.length)
                    break
                if decoder is None:
                    yield chunk
                    continue
                piece = decoder.decompress(chunk, max_length=amt)
                while piece:
                    yield piece
                    piece = decoder.decompress(b"", max_length=amt) if decoder.has_unconsumed_tail else b""
            if decoder is not None:
                rest = decoder.flush()
                if rest:
                    yield rest
            self._complete = True
        except TimeoutError as exc:
            self.close()
            raise ReadTimeoutError(self._pool, self._url, "Read timed out.") from exc  # type: ignore[arg-type]
        except (OSError, http.client.HTTPException) as exc:  # IncompleteRead: cut off mid-body
            self.close()
            raise ProtocolError("Response ended prematurely", exc) from exc
        except zlib.error as exc:
            self.close()
            raise DecodeError(f"The body's Content-Encoding could not be decoded: {exc}", exc) from exc
        except BaseException:
            self.close()
            raise
        self.release_conn()

    def release_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._complete and self._raw.isclosed() and not self._raw.will_close:
            self._pool.checkin(conn)
        else:  # the body was not read to its end (what is left of it would be read as the next
            self._pool._discard(conn)  # answer), or the server closes the connection

    def close(self) -> None:
        self._raw.close()
        self.release_conn()


# http.client's limits on a response head, the same here.
MAX_LINE = 65536
MAX_FIELDS = 100


class _HeadResponse(http.client.HTTPResponse):
    """http.client's response with its head read by :func:`read_head` into a
    CaseInsensitiveDict instead of an email message, and the body's framing settled as RFC 9112
    6.3 says a user agent must: every interim (1xx) answer skipped, not only 100 Continue; a
    101 (never asked for) refused; Transfer-Encoding other than one ``chunked`` refused, and
    when both Transfer-Encoding and Content-Length came, chunked wins and the connection is not
    reused; a Content-Length that is not one decimal number refused rather than guessed. A
    refusal is http.client's HTTPException, which closes the connection. The rest follows
    http.client's own ``begin`` (the same in Python 3.10 to 3.13)."""

    headers: Any  # a CaseInsensitiveDict once begin() ran

    def begin(self) -> None:
        if self.headers is not None:
            return
        while True:
            version, status, reason = self._read_status()  # type: ignore[attr-defined]
            if status == 101 or status > 599:
                raise http.client.BadStatusLine(f"{version} {status} {reason}".strip())
            if status >= 200:
                break
            read_head(self.fp)  # 100 Continue, 103 Early Hints...: the final answer follows
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif len(version) == 8 and version.startswith("HTTP/1.") and version[7].isdigit():
            self.version = 11  # HTTP/1.1, or a later 1.x read as 1.1 (RFC 9110 2.5)
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = headers = read_head(self.fp)  # type: ignore[assignment]
        self.will_close = self._check_close()  # type: ignore[attr-defined]
        self.chunked = _chunked(headers.get("transfer-encoding"))  # type: ignore[assignment]
        self.chunk_left = None
        self.length = None
        length = headers.get("content-length")
        if self.chunked:
            if length is not None:  # a sign of response splitting: trust chunked, then close
                self.will_close = True
        elif length is not None:
            self.length = _content_length(length)
            if "," in length:  # one value, though repeated
                headers["Content-Length"] = str(self.length)
        if status in (204, 304) or self._method == "HEAD":  # type: ignore[attr-defined]
            self.length = 0
            self.chunked = False  # type: ignore[assignment]
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True  # the body ends when the server closes the connection

    def _read_next_chunk_size(self) -> int:
        # http.client reads the size with int(line, 16), which takes "-1" (a negative size
        # reads the rest of the stream, past any size cap), "0x3f", "+3f" and "3_f". RFC 9112
        # 7.1: chunk-size is hex digits, then optional extensions after ";". A ValueError here
        # is http.client's IncompleteRead.
        line = self.fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("chunk size")
        size = line.split(b";", 1)[0].strip()
        if not size or size.strip(b"0123456789abcdefABCDEF"):
            self._close_conn()  # type: ignore[attr-defined]
            raise ValueError(f"invalid chunk size {size[:20]!r}")
        return int(size, 16)


class _HTTPConnection(WatchedConnectionMixin, http.client.HTTPConnection):
    response_class = _HeadResponse


class _HTTPSConnection(WatchedConnectionMixin, http.client.HTTPSConnection):
    response_class = _HeadResponse


def read_head(fp: Any) -> CaseInsensitiveDict[str]:
    """The header fields of a response head read from ``fp`` up to its blank line: found in any
    case; a repeated field once, its values joined with ", " (RFC 9110 5.3, as urllib3 joins
    them); an obs-fold continuation joined to its field with a space (RFC 9112 5.2); whitespace
    before a colon removed (as RFC 9112 5.1 has a proxy do); a line that is not ``name: value``
    skipped. Raises http.client's LineTooLong for a line over MAX_LINE bytes, and
    HTTPException for more than MAX_FIELDS lines (its own limits) or a head cut off before its
    blank line."""
    headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    name = None
    for _ in range(MAX_FIELDS + 1):
        line = fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in (b"\r\n", b"\n"):
            return headers
        if not line.endswith(b"\n"):  # RFC 9112 8: an incomplete message is not a complete one
            raise http.client.HTTPException("the connection closed before the end of the head")
        text = line.decode("iso-8859-1")
        if text[0] in " \t":
            if name is not None:
                headers[name] = f"{headers[name]} {text.strip()}"
            continue
        name, colon, value = text.partition(":")
        name = name.rstrip(" \t")
        if not colon or not name or not name.isprintable() or " " in name:
            name = None
            continue
        value = value.strip()
        old = headers.get(name)
        headers[name] = value if old is None else f"{old}, {value}"
    raise http.client.HTTPException(f"got more than {MAX_FIELDS} headers")


def _chunked(value: str | None) -> bool:
    """Whether a Transfer-Encoding field says chunked. The client asks for no transfer coding
    (no TE field), so any other, or chunked twice, is refused (HTTPException): the body's end
    could not be found, or its bytes not decoded."""
    codings = [c.strip().lower() for c in value.split(",")] if value else []
    if not codings:
        return False
    if codings != ["chunked"]:
        raise http.client.HTTPException(f"unsupported Transfer-Encoding {value!r}: only chunked, once")
    return True


def _content_length(value: str) -> int:
    """The body's length from a Content-Length field. One decimal number, or one repeated
    (RFC 9112 6.3); anything else leaves the body's end unknown and is refused (HTTPException)."""
    values = {v.strip() for v in value.split(",")}
    digits = values.pop()
    if values or not (digits.isascii() and digits.isdigit()):
        raise http.client.HTTPException(f"invalid Content-Length {value!r}")
    return int(digits)


def _decoder(encoding: str) -> ContentDecoder | None:
    """urllib3's decoder for the response's Content-Encoding: gzip, deflate, or a chain of them
    (at most five, urllib3's limit, else a DecodeError); None for identity or any other coding."""
    codings = [c.strip().lower() for c in encoding.split(",") if c.strip()]
    if not codings or any(c not in _CODINGS for c in codings):
        return None
    if len(codings) > 1:
        return MultiDecoder(",".join(codings))
    return DeflateDecoder() if codings[0] == "deflate" else GzipDecoder()


_CODINGS = frozenset({"gzip", "x-gzip", "deflate"})  # what the client's Accept-Encoding names
