"""The connection pool under every API request (connector/pool.py), over real loopback sockets:
keep-alive reuse, connections the server closed, response framing and encoding, TLS
verification, the pool's size, and the URL shortcut the client takes past requests' parser."""

from __future__ import annotations

import contextlib
import gzip
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
import trustme
from hypothesis import given, settings
from hypothesis import strategies as st
from klaviyo_connector import pool as pool_module
from klaviyo_connector.connections.api_key import ApiKeyAuth
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.http import KlaviyoClient, plain_url
from klaviyo_connector.retry import RetryPolicy

KEY = "pk_pooltest_0123456789"
DOC = {"data": {"type": "account", "id": "AbC123", "attributes": {}}}


class RawServer:
    """A loopback server that reads each request's head and body, then lets ``answer(request)``
    write the raw response bytes; ``answer`` returns False to close the connection after it.
    Counts connections and records request lines."""

    def __init__(
        self, answer: Callable[[bytes], tuple[bytes, bool]], tls: ssl.SSLContext | None = None
    ) -> None:
        self.answer = answer
        self.connections = 0
        self.closed = threading.Semaphore(0)  # released as each connection closes
        self.requests: list[bytes] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._tls = tls
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
            reader = conn.makefile("rb")
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = reader.read(length) if length else b""
                self.requests.append(head.split(b"\r\n", 1)[0])
                data, keep = self.answer(head + body)
                conn.sendall(data)
                if not keep:
                    return
        except (OSError, ssl.SSLError):
            return
        finally:
            # shutdown first: close() alone leaves the socket open while the reader made by
            # makefile() still refers to it, and the client must see the FIN before "closed".
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()
            self.closed.release()

    def close(self) -> None:
        self._stop = True
        self._listener.close()


def response(
    body: bytes = json.dumps(DOC).encode(), *, status: str = "200 OK", headers: tuple[str, ...] = ()
) -> bytes:
    head = [f"HTTP/1.1 {status}", "Content-Type: application/vnd.api+json", *headers]
    if not any(h.lower().startswith(("content-length", "transfer-encoding")) for h in headers):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(answer: Callable[[bytes], tuple[bytes, bool]], tls: ssl.SSLContext | None = None) -> RawServer:
        servers.append(RawServer(answer, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def client(base_url: str, **options: Any) -> KlaviyoClient:
    options.setdefault("retry", RetryPolicy(max_retries=0))
    return KlaviyoClient(ApiKeyAuth(KEY), base_url=base_url, pacing_scale=0, **options)


def test_requests_share_one_kept_alive_connection(serve):
    server = serve(lambda request: (response(), True))
    api = client(f"http://127.0.0.1:{server.port}")
    for _ in range(5):
        assert api.request("GET", "/api/accounts").json() == DOC
    assert server.connections == 1 and len(server.requests) == 5
    assert server.requests[0] == b"GET /api/accounts HTTP/1.1"
    api.close()


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_connection_the_server_closed_while_idle_is_replaced_before_sending(serve, method):
    # HTTP/1.1 without "Connection: close"; the server closes the connection once it is idle
    # (as at the end of a keep-alive timeout), and the client learns of it only by looking.
    server = serve(lambda request: (response(), False))
    api = client(f"http://127.0.0.1:{server.port}")
    for _ in range(3):  # never a failure, and never a write sent on a dead connection
        assert api.request(method, "/api/accounts", json_body={} if method == "POST" else None).status == 200
        assert server.closed.acquire(timeout=5)
    assert server.connections == 3
    api.close()


def test_connection_close_is_honoured(serve):
    # The server says so; the client closes its end at once, without waiting to notice.
    server = serve(lambda request: (response(headers=("Connection: close",)), False))
    api = client(f"http://127.0.0.1:{server.port}")
    assert api.request("GET", "/api/accounts").json() == DOC
    assert api.request("GET", "/api/accounts").json() == DOC
    assert server.connections == 2
    api.close()


def test_repeated_header_fields_are_joined_and_found_in_any_case(serve):
    server = serve(lambda request: (response(headers=("X-Trace: a", "x-trace: b", "Retry-After: 3")), True))
    got = client(f"http://127.0.0.1:{server.port}").request("GET", "/api/accounts")
    assert got.headers["X-TRACE"] == "a, b" and got.headers["retry-after"] == "3"
    assert "Retry-After" in dict(got.headers)  # the server's spelling is kept for output


def test_a_folded_field_is_unfolded_and_a_line_that_is_no_field_is_skipped(serve):
    server = serve(
        lambda request: (
            response(headers=("X-Note: one", "\ttwo", "Not a field", "X Y: spaced", "X-After: 1")),
            True,
        )
    )
    got = client(f"http://127.0.0.1:{server.port}").request("GET", "/api/accounts")
    assert got.headers["x-note"] == "one two" and got.headers["x-after"] == "1"
    assert "X Y" not in got.headers and "Not a field" not in got.headers and got.json() == DOC


def test_interim_answers_are_skipped_until_the_final_one(serve):
    # 103 Early Hints (RFC 8297) and 102 Processing come before the real answer, on the same
    # connection; http.client alone skips only 100 Continue and would take 103 as the answer.
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
    server = serve(lambda request: (interim + response(), True))
    api = client(f"http://127.0.0.1:{server.port}")
    for _ in range(2):
        got = api.request("GET", "/api/accounts")
        assert got.status == 200 and got.json() == DOC and "link" not in got.headers
    assert server.connections == 1  # nothing was left unread on the kept-alive connection
    api.close()


def test_a_repeated_content_length_must_repeat_one_value(serve):
    body = json.dumps(DOC).encode()
    same = response(body, headers=(f"Content-Length: {len(body)}", f"Content-Length: {len(body)}"))
    server = serve(lambda request: (same, True))
    api = client(f"http://127.0.0.1:{server.port}")
    assert api.request("GET", "/api/accounts").json() == DOC
    assert api.request("GET", "/api/accounts").json() == DOC
    assert server.connections == 1
    # Two lengths leave the body's end unknown (RFC 9112 6.3): refused, never guessed.
    conflicting = response(body, headers=(f"Content-Length: {len(body)}", "Content-Length: 3"))
    server = serve(lambda request: (conflicting, True))
    with pytest.raises(KlaviyoError) as caught:
        client(f"http://127.0.0.1:{server.port}").request("GET", "/api/accounts")
    assert caught.value.code == "transport_error" and caught.value.status is None
    assert f"malformed head (HTTPException: invalid Content-Length '{len(body)}, 3')" in caught.value.message


@pytest.mark.parametrize(
    "head,said",
    [
        pytest.param(
            ("X-Big: " + "a" * pool_module.MAX_LINE,),
            "LineTooLong: got more than 65536 bytes when reading header line",
            id="long line",
        ),
        pytest.param(
            tuple(f"X-{n}: {n}" for n in range(pool_module.MAX_FIELDS + 1)),
            "HTTPException: got more than 100 headers",
            id="too many fields",
        ),
    ],
)
def test_a_response_head_over_http_clients_limits_is_refused(serve, head, said):
    server = serve(lambda request: (response(headers=head), True))
    with pytest.raises(KlaviyoError) as caught:
        client(f"http://127.0.0.1:{server.port}").request("POST", "/api/lists", json_body={})
    assert caught.value.code == "transport_error" and caught.value.status is None
    assert f"Klaviyo's response to POST /api/lists had a malformed head ({said})" in caught.value.message
    assert caught.value.error_class == "outcome_unknown"  # the write was sent; its answer is unreadable


@pytest.mark.parametrize(
    "method,status,headers",
    [
        ("DELETE", "204 No Content", ()),  # no Content-Length: a 204 has no body all the same
        ("HEAD", "200 OK", ("Content-Length: 63",)),  # the length of the body a GET would get
        # Lengths over the size cap, of bodies that are not sent: nothing is too large.
        ("HEAD", "200 OK", ("Content-Length: 64000000",)),
        ("GET", "304 Not Modified", ("Content-Length: 64000000",)),
    ],
)
def test_answers_without_a_body_keep_the_connection(serve, method, status, headers):
    server = serve(lambda request: (response(b"", status=status, headers=headers), True))
    api = client(f"http://127.0.0.1:{server.port}")
    for _ in range(2):
        got = api.request(method, "/api/lists/L1", expect_json=False, raise_for_status=False)
        assert got.status == int(status[:3]) and got.content == b""
    assert server.connections == 1
    api.close()


@pytest.mark.parametrize(
    "framing,said",
    [
        ("Content-Length: 1_0", "invalid Content-Length '1_0'"),  # int() would read 10
        ("Content-Length: abc", "invalid Content-Length 'abc'"),
        ("Transfer-Encoding: gzip, chunked", "unsupported Transfer-Encoding 'gzip, chunked'"),
        ("Transfer-Encoding: chunked, chunked", "unsupported Transfer-Encoding 'chunked, chunked'"),
    ],
)
def test_a_body_whose_end_cannot_be_found_is_refused_at_once(serve, framing, said):
    # RFC 9112 6.3: an invalid framing is an unrecoverable error; waiting for the server to
    # close the kept-alive connection would hang until the read timeout, on every retry.
    server = serve(lambda request: (response(json.dumps(DOC).encode(), headers=(framing,)), True))
    with pytest.raises(KlaviyoError) as caught:
        client(f"http://127.0.0.1:{server.port}").request("GET", "/api/accounts")
    assert (
        caught.value.code == "transport_error"
        and f"malformed head (HTTPException: {said}" in caught.value.message
    )


def test_chunked_wins_over_a_content_length_and_the_connection_is_not_reused(serve):
    body = json.dumps(DOC).encode()
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    server = serve(
        lambda request: (response(chunked, headers=("Transfer-Encoding: chunked", "Content-Length: 5")), True)
    )
    api = client(f"http://127.0.0.1:{server.port}")
    assert api.request("GET", "/api/accounts").json() == DOC
    assert api.request("GET", "/api/accounts").json() == DOC
    assert server.connections == 2  # both framings came: a sign of response splitting
    api.close()


def test_whitespace_before_a_colon_is_removed_and_a_repeated_length_shown_once(serve):
    body = json.dumps(DOC).encode()
    server = serve(
        lambda request: (
            response(body, headers=(f"Content-Length : {len(body)}", f"content-length: {len(body)}")),
            True,
        )
    )
    api = client(f"http://127.0.0.1:{server.port}")
    got = api.request("GET", "/api/accounts")
    assert got.json() == DOC and got.headers["content-length"] == str(len(body))
    assert api.request("GET", "/api/accounts").json() == DOC
    assert server.connections == 1
    api.close()


@pytest.mark.parametrize(
    "sent,said",
    [
        (b"HTTP/1.1 201 Created\r\n", "HTTPException: the connection closed before the end of the head"),
        (
            b"HTTP/1.1 201 Created\r\nContent-Typ",
            "HTTPException: the connection closed before the end of the head",
        ),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
            "BadStatusLine: HTTP/1.1 101 Switching Protocols",
        ),
        (b"HTTP/1.1 999 Odd\r\nContent-Length: 0\r\n\r\n", "BadStatusLine: HTTP/1.1 999 Odd"),
        (b"HTTP/1.10 200 OK\r\nContent-Length: 0\r\n\r\n", "UnknownProtocol: HTTP/1.10"),
    ],
    ids=["after the status line", "mid-field", "101 never asked for", "status over 599", "HTTP/1.10"],
)
def test_a_write_whose_answer_is_incomplete_or_not_http_has_an_unknown_outcome(serve, sent, said):
    # RFC 9112 8: a message cut off is not a complete one; a 201 with no end is no success.
    server = serve(lambda request: (sent, False))
    with pytest.raises(KlaviyoError) as caught:
        client(f"http://127.0.0.1:{server.port}").request("POST", "/api/lists", json_body={})
    assert caught.value.error_class == "outcome_unknown" and caught.value.status is None
    assert f"Klaviyo's response to POST /api/lists had a malformed head ({said})" in caught.value.message


@pytest.mark.parametrize(
    "first,options,code",
    [
        pytest.param(response()[:-10], {"timeout": (5.0, 0.2)}, "timeout", id="body stops coming"),
        pytest.param(
            response(b"zz\r\n", headers=("Transfer-Encoding: chunked",)),
            {},
            "transport_error",
            id="bad chunk",
        ),
        pytest.param(
            response(b"x" * 100), {"max_response_bytes": 80}, "response_too_large", id="over the cap"
        ),
    ],
)
def test_a_connection_whose_body_was_not_read_to_its_end_is_not_reused(serve, first, options, code):
    # Whatever of the failed answer is still to come would be read as the next request's answer.
    answers = iter([first])
    server = serve(lambda request: (next(answers, response()), True))
    api = client(f"http://127.0.0.1:{server.port}", **options)
    with pytest.raises(KlaviyoError) as caught:
        api.request("GET", "/api/accounts")
    assert caught.value.code == code
    assert api.request("GET", "/api/accounts").json() == DOC
    assert server.connections == 2
    api.close()


@pytest.mark.parametrize("size", [b"-1", b"0x3f", b"+3f", b"3_f", b"zz", b""])
def test_a_chunk_size_that_is_not_hex_digits_is_refused_at_once(serve, size):
    # int(line, 16) takes all of these; "-1" then reads until the server closes, past any cap
    # (here it stays open, so that would wait for the read timeout).
    server = serve(
        lambda request: (response(size + b"\r\n" + b"y" * 100, headers=("Transfer-Encoding: chunked",)), True)
    )
    api = client(f"http://127.0.0.1:{server.port}", timeout=(5.0, 5.0))
    with pytest.raises(KlaviyoError) as caught:
        api.request("GET", "/api/accounts")
    assert caught.value.code == "transport_error" and "cut off or garbled" in caught.value.message
    api.close()


def test_chunk_extensions_and_trailers_are_read_past(serve):
    body = json.dumps(DOC).encode()
    chunked = b'%x;name="a;b"\r\n%s\r\n0;last\r\nX-Trailer: 1\r\n\r\n' % (len(body), body)
    server = serve(lambda request: (response(chunked, headers=("Transfer-Encoding: chunked",)), True))
    api = client(f"http://127.0.0.1:{server.port}")
    assert api.request("GET", "/api/accounts").json() == DOC
    assert api.request("GET", "/api/accounts").json() == DOC
    assert server.connections == 1
    api.close()


def test_a_body_that_stops_coming_is_a_read_timeout(serve):
    # The head and part of the body come; the server then keeps the connection open, silent.
    server = serve(lambda request: (response(json.dumps(DOC).encode())[:-10], True))
    api = client(f"http://127.0.0.1:{server.port}", timeout=(5.0, 0.2))
    with pytest.raises(KlaviyoError) as caught:
        api.request("GET", "/api/accounts")
    assert caught.value.code == "timeout"
    assert (
        "Klaviyo sent nothing for 0.2 s (the read timeout) during GET /api/accounts" in caught.value.message
    )
    api.close()


def test_gzip_and_chunked_bodies_are_decoded(serve):
    body = gzip.compress(json.dumps(DOC).encode())
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:10], body[10:])) + b"0\r\n\r\n"
    server = serve(
        lambda request: (
            response(chunked, headers=("Content-Encoding: gzip", "Transfer-Encoding: chunked")),
            True,
        )
    )
    api = client(f"http://127.0.0.1:{server.port}")
    assert api.request("GET", "/api/accounts").json() == DOC
    assert api.request("GET", "/api/accounts").json() == DOC
    assert server.connections == 1  # the chunked body was read to its end, so the connection stays


def test_a_chain_of_codings_is_decoded_and_an_unknown_one_left_alone(serve):
    twice = gzip.compress(gzip.compress(json.dumps(DOC).encode()))
    answers = iter(
        [
            response(twice, headers=("Content-Encoding: gzip, gzip",)),
            response(b"opaque", headers=("Content-Encoding: br",)),
        ]
    )
    server = serve(lambda request: (next(answers), True))
    api = client(f"http://127.0.0.1:{server.port}")
    assert api.request("GET", "/api/accounts").json() == DOC
    assert api.request("GET", "/api/accounts", expect_json=False).content == b"opaque"


def test_a_small_compressed_body_cannot_swell_past_the_size_cap_in_memory(serve):
    # 50 MB of one byte is about 50 KB gzip-compressed: one read once decoded into one piece.
    bomb = gzip.compress(b"A" * 50_000_000, compresslevel=9)
    server = serve(lambda request: (response(bomb, headers=("Content-Encoding: gzip",)), True))
    pool = pool_module.OriginPool("http", "127.0.0.1", server.port, maxsize=1)
    answer = pool.urlopen("GET", "/api/accounts", headers={"Host": "x"})
    sizes = [len(piece) for piece in answer.stream(65536)]
    assert sum(sizes) == 50_000_000 and max(sizes) <= 65536
    with pytest.raises(KlaviyoError) as caught:
        client(f"http://127.0.0.1:{server.port}", max_response_bytes=1_000_000).request(
            "GET", "/api/accounts"
        )
    assert caught.value.code == "response_too_large"


def test_a_body_that_cannot_be_decoded_is_a_garbled_answer(serve):
    server = serve(lambda request: (response(b"not gzip at all", headers=("Content-Encoding: gzip",)), True))
    with pytest.raises(KlaviyoError) as caught:
        client(f"http://127.0.0.1:{server.port}").request("GET", "/api/accounts")
    assert caught.value.code == "transport_error" and "garbled" in caught.value.message


def test_a_body_shorter_than_its_content_length_is_cut_off(serve):
    whole = response()
    server = serve(lambda request: (whole[:-5], False))  # the last 5 bytes never come
    with pytest.raises(KlaviyoError) as caught:
        client(f"http://127.0.0.1:{server.port}").request("GET", "/api/accounts")
    assert caught.value.code == "transport_error" and "cut off" in caught.value.message


def test_a_post_whose_connection_drops_before_the_answer_has_an_unknown_outcome(serve):
    server = serve(lambda request: (b"", False))
    with pytest.raises(KlaviyoError) as caught:
        client(f"http://127.0.0.1:{server.port}").request("POST", "/api/lists", json_body={})
    assert caught.value.error_class == "outcome_unknown"


def test_a_refused_connection_sent_nothing():
    spare = socket.create_server(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()
    with pytest.raises(KlaviyoError) as caught:
        client(f"http://127.0.0.1:{port}").request("POST", "/api/lists", json_body={})
    assert caught.value.code == "connection_error" and "nothing was sent" in caught.value.message
    assert caught.value.error_class == "retryable"


def test_idle_connections_beyond_the_pool_size_are_closed(serve):
    server = serve(lambda request: (response(), True))
    pool = pool_module.OriginPool("http", "127.0.0.1", server.port, maxsize=1)
    first = pool.urlopen("GET", "/api/accounts", headers={"Host": "x"})
    second = pool.urlopen("GET", "/api/accounts", headers={"Host": "x"})  # the first is busy
    for answer in (first, second):
        assert json.loads(b"".join(answer.stream())) == DOC
    assert server.connections == 2 and len(pool._idle) == 1
    third = pool.urlopen("GET", "/api/accounts", headers={"Host": "x"})
    assert json.loads(b"".join(third.stream())) == DOC and server.connections == 2
    pool.close()
    assert pool._idle == []


def test_a_proxy_from_the_environment_still_carries_the_requests(serve, monkeypatch):
    proxy = serve(lambda request: (response(), True))
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
    api = client("http://klaviyo.invalid")  # never resolved: the proxy is asked for it
    assert api.request("GET", "/api/accounts").json() == DOC
    assert proxy.requests == [b"GET http://klaviyo.invalid/api/accounts HTTP/1.1"]
    assert not isinstance(api._adapter._pool, pool_module.OriginPool)


# -- TLS ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def tls_server(serve, authority: trustme.CA, *names: str) -> RawServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert(*names).configure_cert(context)
    return serve(lambda request: (response(), True), tls=context)


def trusting(authority: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    authority.configure_trust(context)
    return context


def test_tls_verifies_the_certificate_against_certifi(serve, authority):
    server = tls_server(serve, authority, "127.0.0.1")
    with pytest.raises(KlaviyoError) as caught:  # a CA certifi does not know
        client(f"https://127.0.0.1:{server.port}", retry=RetryPolicy(max_retries=3)).request(
            "POST", "/api/lists", json_body={}
        )
    error = caught.value
    assert error.code == "tls_error" and error.error_class == "user_fixable" and error.attempts == 1
    assert "certificate was refused" in error.message and "nothing was sent" in error.message
    assert server.requests == [] and server.connections == 1  # not retried: it cannot work


def test_https_to_a_server_without_tls_says_so():
    # A plain HTTP server answers the TLS greeting with an HTTP error, as http.server does.
    listener = socket.create_server(("127.0.0.1", 0))

    def answer_plainly() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    threading.Thread(target=answer_plainly, daemon=True).start()
    with pytest.raises(KlaviyoError) as caught:
        client(f"https://127.0.0.1:{listener.getsockname()[1]}").request("GET", "/api/accounts")
    listener.close()
    assert caught.value.code == "tls_error" and caught.value.error_class == "user_fixable"
    assert "does not speak TLS" in caught.value.message and "http://" in caught.value.message


def test_tls_with_a_trusted_certificate_keeps_the_connection(serve, authority, monkeypatch):
    server = tls_server(serve, authority, "127.0.0.1")
    monkeypatch.setattr(pool_module, "tls_context", lambda: trusting(authority))
    api = client(f"https://127.0.0.1:{server.port}")
    assert api.request("GET", "/api/accounts").json() == DOC
    assert api.request("GET", "/api/accounts").json() == DOC
    assert server.connections == 1


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_bytes_a_server_sends_past_its_answer_are_never_read_as_the_next_answer(
    serve, authority, monkeypatch, scheme
):
    # A body sent with the answer to a HEAD (which has none) carries a forged answer far enough
    # in (past the reader's 8 KiB buffer) that it is still unread when the next request goes.
    forged = response(json.dumps({"data": {"type": "account", "id": "FORGED"}}).encode())
    tail = b"x" * 9000 + forged
    answers = iter([response(tail, headers=(f"Content-Length: {len(tail)}",))])
    tls = None
    if scheme == "https":
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        authority.issue_cert("127.0.0.1").configure_cert(tls)
        monkeypatch.setattr(pool_module, "tls_context", lambda: trusting(authority))
    server = serve(lambda request: (next(answers, response()), True), tls=tls)
    api = client(f"{scheme}://127.0.0.1:{server.port}")
    assert api.request("HEAD", "/api/accounts", expect_json=False).content == b""
    assert api.request("GET", "/api/accounts").json() == DOC
    assert server.connections == 2  # the first connection, with bytes left on it, was dropped
    api.close()


class TunnelProxy:
    """A CONNECT proxy that tunnels every connection to 127.0.0.1:``port``, whatever host the
    client names; counts the tunnels."""

    def __init__(self, port: int) -> None:
        self.port_to = port
        self.tunnels = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client_side, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client_side,), daemon=True).start()

    def _tunnel(self, client_side: socket.socket) -> None:
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            byte = client_side.recv(1)
            if not byte:
                return
            head += byte
        self.tunnels += 1
        upstream = socket.create_connection(("127.0.0.1", self.port_to))
        client_side.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        for source, sink in ((client_side, upstream), (upstream, client_side)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()


def test_bytes_past_an_answer_are_not_read_as_the_next_one_through_a_tls_tunnel(
    serve, authority, monkeypatch, tmp_path
):
    # Through HTTPS_PROXY urllib3's pools carry the requests; they must look in the TLS layer too.
    forged = response(json.dumps({"data": {"type": "account", "id": "FORGED"}}).encode())
    tail = b"x" * 9000 + forged
    answers = iter([response(tail, headers=(f"Content-Length: {len(tail)}",))])
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    authority.issue_cert("klaviyo.invalid").configure_cert(tls)
    server = serve(lambda request: (next(answers, response()), True), tls=tls)
    proxy = TunnelProxy(server.port)
    bundle = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(bundle))
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", str(bundle))
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.port}")
    api = client("https://klaviyo.invalid")
    assert api.request("HEAD", "/api/accounts", expect_json=False).content == b""
    assert api.request("GET", "/api/accounts").json() == DOC
    assert proxy.tunnels == 2 and server.connections == 2
    api.close()
    proxy.close()


def test_tls_refuses_a_certificate_for_another_host(serve, authority, monkeypatch):
    server = tls_server(serve, authority, "a.klaviyo.example")
    monkeypatch.setattr(pool_module, "tls_context", lambda: trusting(authority))
    with pytest.raises(KlaviyoError) as caught:
        client(f"https://127.0.0.1:{server.port}").request("GET", "/api/accounts")
    assert caught.value.code == "tls_error" and "certificate was refused" in caught.value.message
    assert server.requests == []


# -- the URL shortcut -------------------------------------------------------------------------------

PATH_TEXT = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=126, blacklist_characters="\\?"), max_size=30
)
VALUES = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.integers(),
    st.lists(st.text(max_size=8), max_size=3),
)


@settings(max_examples=1000)
@given(
    path=PATH_TEXT,
    query=st.one_of(st.none(), PATH_TEXT),
    params=st.dictionaries(st.text(min_size=1, max_size=10), VALUES, max_size=4),
)
def test_the_url_shortcut_writes_what_requests_writes(path, query, params):
    api = KlaviyoClient(ApiKeyAuth(KEY), base_url="https://a.klaviyo.com", pacing_scale=0)
    url = f"{api.base_url}/api/{path}" + (f"?{query}" if query is not None else "")
    if api._plain(url):
        expected = requests.PreparedRequest()
        expected.prepare_url(url, params or None)
        assert plain_url(url, params) == expected.url


def test_the_url_shortcut_is_not_taken_for_urls_requests_would_rewrite():
    api = KlaviyoClient(ApiKeyAuth(KEY), base_url="https://a.klaviyo.com", pacing_scale=0)
    for url in (
        "https://a.klaviyo.com/api/profiles/%2f",  # requests upper-cases the escape
        "https://a.klaviyo.com/api/[x]",  # and escapes brackets in a path
        "https://a.klaviyo.com/api/x#frag",  # the query goes before a fragment
        "https://a.klaviyo.com/api/./x",  # it removes dot segments
        "https://a.klaviyo.com/api/x?",  # and an empty query
        "https://a.klaviyo.com/api/é",
    ):
        assert not api._plain(url)
    shouting = KlaviyoClient(ApiKeyAuth(KEY), base_url="HTTPS://A.Klaviyo.com", pacing_scale=0)
    assert not shouting._plain("HTTPS://A.Klaviyo.com/api/x")  # requests lower-cases scheme and host
