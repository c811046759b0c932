"""The sandbox keeps HTTP/1.1 connections alive, and never lets one request's body leak into the next."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from klaviyo_connector.sandbox import Sandbox, SandboxOptions
from sandbox_helpers import FakeClock, headers


@pytest.fixture
def box() -> Iterator[Sandbox]:
    with Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=0, clock=FakeClock())) as sandbox:
        yield sandbox


def connect(box: Sandbox) -> http.client.HTTPConnection:
    parts = urlsplit(box.base_url or "")
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=5)


def exchange(
    conn: http.client.HTTPConnection, method: str, path: str, body: bytes | None = None, **extra: str
):
    conn.request(method, path, body=body, headers={**headers(), **extra})
    response = conn.getresponse()
    return response, response.read()


def test_many_requests_share_one_connection(box: Sandbox) -> None:
    conn = connect(box)
    body = json.dumps({"data": {"type": "list", "attributes": {"name": "Keep"}}}).encode()
    response, data = exchange(conn, "POST", "/api/lists", body)
    assert response.status == 201
    assert response.getheader("Connection") is None
    assert int(response.getheader("Content-Length")) == len(data)
    sock = conn.sock
    for _ in range(5):
        response, data = exchange(conn, "GET", "/api/lists")
        assert response.status == 200
        assert [item["attributes"]["name"] for item in json.loads(data)["data"]] == ["Keep"]
        assert conn.sock is sock  # the same TCP connection every time
    conn.close()


def test_a_body_the_handler_never_read_does_not_become_the_next_request(box: Sandbox) -> None:
    """A request refused before its body is read (401 here) leaves the body unread; the handler
    skips it, so the next request on the connection is parsed from its own first byte."""
    conn = connect(box)
    body = b'{"data": {"type": "list", "attributes": {"name": "GET /api/accounts HTTP/1.1"}}}'
    response, _ = exchange(conn, "POST", "/api/lists", body, Authorization="Klaviyo-API-Key nope")
    assert response.status == 401
    assert response.getheader("Connection") is None
    sock = conn.sock
    response, data = exchange(conn, "GET", "/api/lists")
    assert response.status == 200, data
    assert json.loads(data)["data"] == []  # the refused list was never made
    assert conn.sock is sock
    conn.close()


def test_an_unread_body_past_the_drain_limit_closes_the_connection(box: Sandbox, monkeypatch) -> None:
    from klaviyo_connector.sandbox import handler

    monkeypatch.setattr(handler, "MAX_DRAIN", 1000)  # the real limit is 64 MiB
    conn = connect(box)
    response, _ = exchange(conn, "POST", "/api/lists", b"x" * 4000, Authorization="Klaviyo-API-Key nope")
    assert response.status == 401
    assert response.getheader("Connection") == "close"
    conn.close()


def test_a_large_body_refused_unread_still_gets_its_answer(box: Sandbox) -> None:
    """A 5 MB body refused before it is read: the client, still sending, gets the 401, not a reset."""
    conn = connect(box)
    body = b"x" * (5 << 20)
    response, _ = exchange(conn, "POST", "/api/lists", body, Authorization="Klaviyo-API-Key nope")
    assert response.status == 401 and response.getheader("Connection") is None
    response, data = exchange(conn, "GET", "/api/lists")  # and the connection goes on
    assert response.status == 200, data
    conn.close()


def test_connection_close_and_http_1_0_end_the_connection(box: Sandbox) -> None:
    conn = connect(box)
    response, _ = exchange(conn, "GET", "/api/lists", Connection="close")
    assert response.status == 200
    assert response.getheader("Connection") == "close"
    conn.close()
    parts = urlsplit(box.base_url or "")
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        lines = ["GET /api/lists HTTP/1.0", *(f"{k}: {v}" for k, v in headers().items()), "", ""]
        sock.sendall("\r\n".join(lines).encode())
        received = b""
        while chunk := sock.recv(65536):  # the server closes: recv returns b"" at the end
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Connection: close" in head
    assert json.loads(rest)["data"] == []


def test_head_answers_headers_only_and_keeps_the_connection(box: Sandbox) -> None:
    conn = connect(box)
    response, data = exchange(conn, "HEAD", "/api/lists")
    assert data == b""
    response, data = exchange(conn, "GET", "/api/lists")
    assert response.status == 200 and json.loads(data)["data"] == []
    conn.close()


def test_with_sandbox_gives_the_base_url_and_stops_at_the_end() -> None:
    import requests

    with Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=0)) as base_url:
        assert isinstance(base_url, str) and base_url.startswith("http://127.0.0.1:")
        assert requests.get(base_url + "/api/lists", headers=headers(), timeout=5).status_code == 200
        assert base_url.sandbox.base_url == base_url  # the sandbox behind it, while it serves
    assert base_url.sandbox.base_url is None  # stopped on exit
    with pytest.raises(requests.ConnectionError):
        requests.get(base_url + "/api/lists", headers=headers(), timeout=5)


def test_links_percent_encode_raw_ids(box: Sandbox) -> None:
    conn = connect(box)
    body = json.dumps({"data": {"type": "coupon", "attributes": {"external_id": "SPRING SALE#1"}}}).encode()
    response, data = exchange(conn, "POST", "/api/coupons", body)
    assert response.status == 201, data
    link = json.loads(data)["data"]["links"]["self"]
    assert link == f"{box.base_url}/api/coupons/SPRING%20SALE%231/"
    response, data = exchange(conn, "GET", urlsplit(link).path)
    assert response.status == 200 and json.loads(data)["data"]["id"] == "SPRING SALE#1"
    conn.close()


def test_debug_logging_gives_one_line_a_request_without_the_query(box: Sandbox, caplog) -> None:
    import logging

    conn = connect(box)
    with caplog.at_level(logging.DEBUG, logger="klaviyo_connector.sandbox"):
        exchange(conn, "GET", "/api/profiles?filter=equals(email,%22mia@example.com%22)")
        exchange(conn, "GET", "/api/nowhere")
    conn.close()
    lines = [r.getMessage() for r in caplog.records if r.name == "klaviyo_connector.sandbox"]
    assert [line.rsplit(" (", 1)[0] for line in lines] == [
        "GET /api/profiles -> 200",
        "GET /api/nowhere -> 404",
    ]
    assert all(line.endswith(" ms)") for line in lines)
    assert not any("mia@example.com" in line or "Klaviyo-API-Key" in line for line in lines)
