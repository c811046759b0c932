"""Hardening: bounded calls, only KlaviyoErrors, honest error classes, no secret in any output.

Each test here is one example the hardening issue found, kept as a regression test.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import API_KEY, BASE, CONNECTION
from klaviyo_connector import Runner
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.inputs import MAX_INPUT_DEPTH

PROFILE = {"data": {"type": "profile", "id": "01P", "attributes": {"email": "a@example.com"}}}


def run(runner: Runner, action: str, inputs: dict[str, Any], connection: Any = CONNECTION, **kw: Any) -> Any:
    return runner.run_action("klaviyo", action, connection=connection, inputs=inputs, **kw)["data"]


# -- a loopback server that answers slowly ----------------------------------------------------------


class DripServer:
    """Sends a 200's headers at once, then its body one byte every ``interval`` seconds.
    ``framing`` is how the body's end is told: "length" (Content-Length, kept alive), "close"
    (Content-Length and Connection: close) or "until-close" (neither)."""

    FRAMING = {
        "length": b"Content-Length: 1000\r\n",
        "close": b"Content-Length: 1000\r\nConnection: close\r\n",
        "until-close": b"",
    }

    def __init__(self, interval: float, hold_headers: bool = False, framing: str = "length") -> None:
        self.interval = interval
        self.hold_headers = hold_headers
        self.framing = self.FRAMING[framing]
        self.requests: list[bytes] = []  # each request's first line
        self.stop = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            self.requests.append(conn.recv(65536).split(b"\r\n", 1)[0])
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.api+json\r\n" + self.framing
            try:
                if self.hold_headers:  # the headers themselves drip
                    for byte in head:
                        if self.stop.wait(self.interval):
                            return
                        conn.sendall(bytes([byte]))
                else:
                    conn.sendall(head + b"\r\n")
                while not self.stop.wait(self.interval):
                    conn.sendall(b" ")
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def drip() -> Iterator[Any]:
    servers: list[DripServer] = []

    def start(interval: float, hold_headers: bool = False, framing: str = "length") -> DripServer:
        servers.append(DripServer(interval, hold_headers, framing))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def local(server: DripServer) -> dict[str, Any]:
    return {"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": f"http://127.0.0.1:{server.port}"}}


# -- 2. every call is bounded in time and size ------------------------------------------------------


@pytest.mark.parametrize(
    "hold_headers,framing",
    [(False, "length"), (True, "length"), (False, "close"), (False, "until-close")],
    ids=["body-drips", "headers-drip", "body-drips-then-close", "body-drips-until-close"],
)
def test_a_dripping_server_cannot_outlast_the_raw_request_timeout(drip, hold_headers, framing):
    # The issue: one byte every 2 s kept a Raw Request with Timeout 3000 ms alive for 120 s.
    # When the server will close after its answer, http.client hands the socket from the
    # connection to the response: the deadline must still find it.
    server = drip(0.1, hold_headers, framing)
    runner = Runner(client_options={"sleep": lambda _s: None})
    started = time.monotonic()
    with pytest.raises(KlaviyoError) as caught:
        run(
            runner,
            "rawRequest",
            {"url": "/api/accounts", "method": "GET", "timeout": 600, "maxRetries": 0},
            local(server),
        )
    took = time.monotonic() - started
    assert caught.value.code == "timeout" and "did not finish within 0.6 s" in caught.value.message
    assert 0.5 < took < 2.0


def test_the_whole_exchange_deadline_applies_to_every_action(drip):
    server = drip(0.1)
    runner = Runner(client_options={"sleep": lambda _s: None, "request_deadline": 0.5})
    started = time.monotonic()
    with pytest.raises(KlaviyoError) as caught:
        run(runner, "getProfile", {"profileId": "01P"}, local(server), timeout=1.2)
    # Retried (a GET is safe to repeat) until the action's own limit stopped it.
    assert caught.value.code in ("timeout", "deadline_exceeded")
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("framing", ["length", "close"])
def test_the_exchange_deadline_holds_through_a_proxy_from_the_environment(drip, monkeypatch, framing):
    # Through a proxy requests uses urllib3's own pools: they must be watched as well.
    proxy = drip(0.1, framing=framing)  # answers the proxied request itself, dripping
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{proxy.port}")
    runner = Runner(client_options={"sleep": lambda _s: None, "request_deadline": 0.5, "pacing_scale": 0})
    connection = {"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": "http://klaviyo.invalid"}}
    started = time.monotonic()
    with pytest.raises(KlaviyoError) as caught:
        run(runner, "rawRequest", {"url": "/api/accounts", "method": "GET", "maxRetries": 0}, connection)
    assert caught.value.code == "timeout" and "did not finish within 0.5 s" in caught.value.message
    assert time.monotonic() - started < 1.5


def test_the_action_deadline_covers_retry_waits(klaviyo, sleeps):
    klaviyo.add(
        "GET", f"{BASE}/api/profiles/01P", status=503, headers={"Retry-After": "30"}, json={"errors": []}
    )
    runner = Runner(client_options={"sleep": sleeps})
    with pytest.raises(KlaviyoError) as caught:
        run(runner, "getProfile", {"profileId": "01P"}, timeout=10)
    assert sleeps.waits == [] and len(klaviyo.calls) == 1
    assert "would pass the action's time limit" in caught.value.message


def test_the_action_deadline_comes_from_the_connection(klaviyo, sleeps):
    klaviyo.add(
        "GET", f"{BASE}/api/profiles/01P", status=503, headers={"Retry-After": "30"}, json={"errors": []}
    )
    runner = Runner(client_options={"sleep": sleeps})
    conn = {"key": "apiKey", "fields": {"apiKey": API_KEY, "actionTimeout": "20"}}
    with pytest.raises(KlaviyoError, match="would pass the action's time limit"):
        run(runner, "getProfile", {"profileId": "01P"}, conn)
    assert sleeps.waits == []


@pytest.mark.parametrize("timeout", [0, -1, "soon", float("inf"), 1e300])
def test_a_bad_run_timeout_is_a_klaviyo_error(timeout):
    with pytest.raises(KlaviyoError, match="timeout must be a number of seconds"):
        run(Runner(), "getProfile", {"profileId": "01P"}, timeout=timeout)


def test_a_response_over_the_size_cap_is_refused(klaviyo):
    klaviyo.add(
        "GET",
        f"{BASE}/api/profiles/01P",
        json={"data": {"type": "profile", "id": "01P", "attributes": {"x": "y" * 5000}}},
    )
    runner = Runner(client_options={"max_response_bytes": 4096})
    with pytest.raises(KlaviyoError) as caught:
        run(runner, "getProfile", {"profileId": "01P"})
    assert caught.value.code == "response_too_large" and "4,096 byte limit" in caught.value.message


def test_a_gzip_bomb_is_stopped_at_the_cap(klaviyo):
    import gzip

    bomb = gzip.compress(b'{"data":' + b" " * 10_000_000 + b"null}")
    klaviyo.add(
        "GET",
        f"{BASE}/api/profiles/01P",
        body=bomb,
        headers={"Content-Encoding": "gzip"},
        content_type="application/vnd.api+json",
    )
    runner = Runner(client_options={"max_response_bytes": 1_000_000})
    with pytest.raises(KlaviyoError) as caught:
        run(runner, "getProfile", {"profileId": "01P"})
    assert caught.value.code == "response_too_large"


# -- 3. every failure is a KlaviyoError ---------------------------------------------------------------


@pytest.mark.parametrize(
    "properties",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 70 + "1" + "}" * 70, json.loads("[" * 70 + "]" * 70)],
    ids=["text-100000", "text-70", "object-70"],
)
def test_deep_input_is_refused_naming_the_field_and_the_limit(klaviyo, properties):
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(), "createProfile", {"email": "a@example.com", "properties": properties})
    assert caught.value.code == "invalid_input" and caught.value.field == "Properties"
    assert f"more than {MAX_INPUT_DEPTH} levels deep" in caught.value.message
    assert len(klaviyo.calls) == 0


def test_input_at_the_depth_limit_is_sent(klaviyo):
    klaviyo.add("POST", f"{BASE}/api/profiles", json=PROFILE, status=201)
    nested: Any = 1
    for _ in range(MAX_INPUT_DEPTH - 1):
        nested = {"a": nested}
    run(Runner(), "createProfile", {"email": "a@example.com", "properties": nested})
    assert len(klaviyo.calls) == 1


@pytest.mark.parametrize(
    ("connection", "says"),
    [
        (
            {"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": "https://a.klaviyo.com:99999"}},
            "Base URL is not a valid URL",
        ),
        ({"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": 443}}, "Base URL must be text"),
        ({"key": "apiKey", "fields": "pk_abc"}, "A connection is an object"),
        ({"key": 7, "fields": {}}, "A connection is an object"),
        ({"key": "apiKey", "fields": {"apiKey": API_KEY}, "token": "abc"}, "A connection is an object"),
        (
            {"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": "https://user:pw@a.klaviyo.com"}},
            "user name or password",
        ),
        (
            {"key": "apiKey", "fields": {"apiKey": API_KEY, "actionTimeout": "forever"}},
            "action deadline must be",
        ),
    ],
)
def test_malformed_connections_are_klaviyo_errors(connection, says):
    with pytest.raises(KlaviyoError, match=says):
        run(Runner(), "getProfile", {"profileId": "01P"}, connection)


def test_a_key_pasted_into_base_url_is_not_echoed():
    conn = {"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": API_KEY}}
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(), "getProfile", {"profileId": "01P"}, conn)
    assert API_KEY not in json.dumps(caught.value.to_dict()) and API_KEY not in str(caught.value)


@pytest.mark.parametrize("status", [429, 503])
def test_an_infinite_retry_after_is_ignored_and_the_error_is_strict_json(klaviyo, sleeps, status):
    for _ in range(4):
        klaviyo.add(
            "GET",
            f"{BASE}/api/profiles/01P",
            status=status,
            headers={"Retry-After": "inf"},
            json={"errors": []},
        )
    runner = Runner(client_options={"sleep": sleeps, "random": lambda: 0.0})
    with pytest.raises(KlaviyoError) as caught:
        run(runner, "getProfile", {"profileId": "01P"})
    json.dumps(caught.value.to_dict(), allow_nan=False)
    assert caught.value.retry_after is None and sleeps.waits == [1.0, 2.0, 4.0]


def test_raw_request_timeout_past_ten_minutes_is_refused(klaviyo):
    with pytest.raises(KlaviyoError, match="Timeout: Input should be less than or equal to 600000"):
        run(Runner(), "rawRequest", {"url": "/api/accounts", "method": "GET", "timeout": 1e300})
    assert len(klaviyo.calls) == 0


# -- 4. errors tell the truth about what happened -----------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        requests.exceptions.ChunkedEncodingError("truncated"),
        requests.exceptions.ContentDecodingError("bad gzip"),
        "<html>not json</html>",
        json.dumps(["not", "a", "document"]),
        json.dumps({"data": "oops"}),
    ],
    ids=["truncated", "bad-gzip", "not-json", "not-an-object", "bad-data"],
)
def test_broken_responses_to_a_get_are_network_failures_retried(klaviyo, sleeps, body):
    klaviyo.add("GET", f"{BASE}/api/profiles/01P", body=body, content_type="application/vnd.api+json")
    klaviyo.add("GET", f"{BASE}/api/profiles/01P", json=PROFILE)
    runner = Runner(client_options={"sleep": sleeps, "random": lambda: 0.0})
    assert run(runner, "getProfile", {"profileId": "01P"}) == PROFILE
    assert len(klaviyo.calls) == 2 and sleeps.waits == [1.0]


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 503, "json": {"errors": []}},
        {"body": requests.ReadTimeout("slow")},
        {"body": requests.ConnectionError("reset by peer")},
        {"body": "<html>proxy</html>", "status": 200},
    ],
    ids=["503", "timeout", "dropped", "garbled-2xx"],
)
def test_a_failed_write_that_may_have_happened_says_so(klaviyo, sleeps, failure):
    # An image upload has no natural key to check: the host is told the outcome is unknown.
    klaviyo.add("POST", f"{BASE}/api/images", **failure)
    runner = Runner(client_options={"sleep": sleeps})
    with pytest.raises(KlaviyoError) as caught:
        run(runner, "uploadImage", {"imageUrl": "https://example.com/a.png", "imageName": "a"})
    assert caught.value.error_class == "outcome_unknown" and not caught.value.retryable
    assert "may have applied it" in caught.value.message
    assert len(klaviyo.calls) == 1 and sleeps.waits == []


def _lists(*created: str) -> dict[str, Any]:
    return {
        "data": [
            {"type": "list", "id": f"L{i}", "attributes": {"name": "VIP", "created": c}}
            for i, c in enumerate(created)
        ]
    }


def test_a_lost_create_answer_is_settled_by_the_natural_key(klaviyo, sleeps):
    from datetime import datetime, timezone

    now = datetime.now(timezone.utc).isoformat()
    klaviyo.add("POST", f"{BASE}/api/lists", status=503, json={"errors": []})
    klaviyo.add("GET", f"{BASE}/api/lists", json=_lists("2020-01-01T00:00:00+00:00", now))
    out = run(Runner(client_options={"sleep": sleeps}), "createList", {"listName": "VIP"})
    assert out["data"]["id"] == "L1" and "was found and is returned" in out["meta"]["recovered"]
    lookup = klaviyo.calls[1].request
    assert lookup.method == "GET" and "filter=equals%28name%2C%5B%27VIP%27%5D%29" in lookup.url
    assert len(klaviyo.calls) == 2 and sleeps.waits == []


def test_a_lost_create_that_made_nothing_is_retryable(klaviyo, sleeps):
    klaviyo.add("POST", f"{BASE}/api/lists", status=503, json={"errors": []})
    klaviyo.add("GET", f"{BASE}/api/lists", json={"data": []})
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(client_options={"sleep": sleeps}), "createList", {"listName": "VIP"})
    assert caught.value.error_class == "retryable"
    assert "Checked: no list with name 'VIP' exists, so nothing was created and repeating it is safe." in (
        caught.value.message
    )


def test_a_lost_create_with_only_an_older_namesake_stays_unknown(klaviyo, sleeps):
    # The older one could be this call's if the clocks disagree: no promise that a repeat is safe.
    klaviyo.add("POST", f"{BASE}/api/lists", status=503, json={"errors": []})
    klaviyo.add("GET", f"{BASE}/api/lists", json=_lists("2020-01-01T00:00:00+00:00"))
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(client_options={"sleep": sleeps}), "createList", {"listName": "VIP"})
    assert caught.value.error_class == "outcome_unknown"
    assert "A list with name 'VIP' made earlier exists; check whether this call made another." in (
        caught.value.message
    )


def test_an_unanswered_create_not_found_yet_stays_unknown(klaviyo, sleeps):
    klaviyo.add("POST", f"{BASE}/api/lists", body=requests.ReadTimeout("slow"))
    klaviyo.add("GET", f"{BASE}/api/lists", json={"data": []})
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(client_options={"sleep": sleeps}), "createList", {"listName": "VIP"})
    assert caught.value.error_class == "outcome_unknown"
    assert "A check found no list with name 'VIP' yet; it may still appear." in caught.value.message


def test_a_write_that_never_left_is_retried_and_retryable(klaviyo, sleeps):
    from urllib3.exceptions import NewConnectionError

    refused = requests.ConnectionError(type("E", (), {"reason": NewConnectionError(None, "refused")})())
    klaviyo.add("POST", f"{BASE}/api/lists", body=refused)
    klaviyo.add("POST", f"{BASE}/api/lists", json={"data": {"type": "list", "id": "L1"}}, status=201)
    runner = Runner(client_options={"sleep": sleeps, "random": lambda: 0.0})
    assert run(runner, "createList", {"listName": "VIP"})["data"]["id"] == "L1"
    assert sleeps.waits == [1.0]


def test_empty_pages_with_changing_cursors_stop(klaviyo):
    for n in range(30):
        klaviyo.add(
            "GET",
            f"{BASE}/api/lists",
            json={"data": [], "links": {"next": f"{BASE}/api/lists?page%5Bcursor%5D=c{n}"}},
        )
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(), "listLists", {"fetchAll": True})
    assert caught.value.code == "empty_pages" and "10 empty pages in a row" in caught.value.message
    assert len(klaviyo.calls) == 10


# -- 5. no secret in any output ------------------------------------------------------------------------


def test_a_key_echoed_in_an_error_source_never_reaches_to_dict(klaviyo):
    error = {
        "id": "e1",
        "status": 400,
        "code": "invalid",
        "title": "Bad",
        "detail": "no",
        "source": {"pointer": f"/data/attributes/{API_KEY}"},
        "meta": {"echo": API_KEY},
    }
    klaviyo.add("GET", f"{BASE}/api/profiles/01P", status=400, json={"errors": [error, error]})
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(), "getProfile", {"profileId": "01P"})
    dumped = json.dumps(caught.value.to_dict())
    assert API_KEY not in dumped and "[REDACTED]" in dumped


def test_base64_and_url_encoded_credentials_are_scrubbed(klaviyo):
    import base64
    from urllib.parse import quote

    echoed = f"{base64.b64encode(API_KEY.encode()).decode()} {quote(API_KEY, safe='')}"
    klaviyo.add("GET", f"{BASE}/api/profiles/01P", status=400, json={"errors": [{"detail": echoed}]})
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(), "getProfile", {"profileId": "01P"})
    assert base64.b64encode(API_KEY.encode()).decode() not in json.dumps(caught.value.to_dict())


def test_curated_action_output_never_repeats_the_key(klaviyo):
    echoed = {"data": {"type": "profile", "id": "01P", "attributes": {"note": f"key={API_KEY}", "x": 1}}}
    klaviyo.add("GET", f"{BASE}/api/profiles/01P", json=echoed)
    out = run(Runner(), "getProfile", {"profileId": "01P"})
    assert API_KEY not in json.dumps(out) and out["data"]["attributes"]["x"] == 1


def test_debug_logging_of_urllib3_never_shows_the_key(caplog):
    # A real loopback exchange, so the connection pool logs its request line (with the query) at
    # DEBUG, as urllib3 does.
    server = DripServer(0.01)
    try:
        with caplog.at_level(logging.DEBUG):
            with pytest.raises(KlaviyoError):
                run(
                    Runner(),
                    "rawRequest",
                    {
                        "url": f"/api/accounts?echo={API_KEY}",
                        "method": "GET",
                        "timeout": 300,
                        "maxRetries": 0,
                    },
                    local(server),
                )
    finally:
        server.close()
    assert any(r.name == "klaviyo_connector.pool" for r in caplog.records)
    assert "/api/accounts?echo=" in caplog.text and API_KEY not in caplog.text


# -- 7. a plus typed into a raw URL is a plus -------------------------------------------------------------


def test_a_plus_in_a_raw_url_query_reaches_klaviyo_as_a_plus(klaviyo):
    from urllib.parse import parse_qs, urlsplit

    klaviyo.add("GET", f"{BASE}/api/profiles", json={"data": []})
    run(
        Runner(),
        "rawRequest",
        {"url": '/api/profiles?filter=equals(email,"jo+shop@example.com")', "method": "GET"},
    )
    sent = klaviyo.calls[0].request.url
    # Decoded as Klaviyo decodes a query (a form), the plus is still a plus.
    assert parse_qs(urlsplit(sent).query)["filter"] == ['equals(email,"jo+shop@example.com")']


def test_a_multi_request_action_failing_part_way_says_what_was_done(klaviyo, sleeps):
    members = f"{BASE}/api/lists/L1/relationships/profiles"
    klaviyo.add("POST", members, status=204)
    klaviyo.add("POST", members, status=400, json={"errors": [{"code": "invalid", "detail": "bad id"}]})
    ids = [f"P{i}" for i in range(2500)]
    with pytest.raises(KlaviyoError) as caught:
        run(
            Runner(client_options={"sleep": sleeps}), "addProfilesToList", {"listId": "L1", "profileIds": ids}
        )
    assert len(klaviyo.calls) == 2
    assert "Done before this failure: batches: batch 1 of 3, profiles 1000." in caught.value.message
    assert caught.value.meta["done_before_failure"] == {
        "event": "batches",
        "info": {"batch": 1, "of": 3, "profiles": 1000},
    }


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "outcome_unknown"),
        ({"eventTime": "2026-05-01T09:00:00Z"}, "retryable"),
        ({"eventUniqueId": "u1"}, "retryable"),
    ],
    ids=["time-now", "time-given", "unique-id-given"],
)
def test_an_event_rerun_is_safe_only_when_its_unique_id_is_stable(klaviyo, sleeps, extra, expected):
    # Retries inside one run resend the same unique_id; a re-run without a time stamps a new one.
    for _ in range(4):
        klaviyo.add("POST", f"{BASE}/api/events", status=503, json={"errors": []})
    inputs = {"eventName": "Viewed", "eventProfile": {"email": "a@example.com"}, **extra}
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(client_options={"sleep": sleeps, "random": lambda: 0.0}), "createEvent", inputs)
    assert len(klaviyo.calls) == 4 and caught.value.error_class == expected
    assert ("Give an event time (or unique ID)" in caught.value.message) == (expected == "outcome_unknown")


def test_scrubbing_leaves_prose_alone_and_masks_a_keys_head_or_tail(klaviyo):
    from klaviyo_connector.redact import redact

    prose = "the client ID and secret are sent with HTTP Basic auth)."
    assert redact(prose, ["shh-client-secret-0123456789"]) == prose
    klaviyo.add(
        "GET", f"{BASE}/api/profiles/01P", status=400, json={"errors": [{"detail": f"key …{API_KEY[-14:]}"}]}
    )
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(), "getProfile", {"profileId": "01P"})
    assert API_KEY[-12:] not in json.dumps(caught.value.to_dict())


@pytest.mark.parametrize(
    ("key", "says"), [(12345, "must be text"), (["pk_x"], "must be text"), ("pk_abc", "at least 10")]
)
def test_a_malformed_api_key_says_what_is_wrong(key, says):
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(), "getProfile", {"profileId": "01P"}, {"key": "apiKey", "fields": {"apiKey": key}})
    assert caught.value.error_class == "user_fixable" and says in caught.value.message


@pytest.mark.parametrize("data", ["[" * 5000 + "]" * 5000, "[" * 65 + "]" * 65])
def test_raw_request_data_follows_the_depth_limit(klaviyo, data):
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(), "rawRequest", {"url": "/api/lists", "method": "POST", "data": data})
    assert caught.value.field == "Data" and f"more than {MAX_INPUT_DEPTH} levels deep" in caught.value.message
    assert len(klaviyo.calls) == 0


def test_a_revision_typed_into_raw_request_that_klaviyo_refuses_is_the_users_to_fix(klaviyo):
    error = {"errors": [{"status": 400, "code": "invalid_revision", "detail": "No valid revision."}]}
    klaviyo.add("GET", f"{BASE}/api/accounts", status=400, json=error)
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(), "rawRequest", {"url": "/api/accounts", "method": "GET", "revision": "2020-01-01"})
    assert caught.value.error_class == "user_fixable"
    assert "does not accept revision 2020-01-01 (the Revision input)" in caught.value.message


def test_input_at_the_depth_limit_is_accepted_by_the_sandbox_too():
    # What the connector accepts must not be refused for depth once wrapped in a request body.
    import secrets

    from klaviyo_connector.sandbox import Sandbox, SandboxOptions

    def deep(levels: int) -> Any:
        nested: Any = 1
        for _ in range(levels):
            nested = {"a": nested}
        return nested

    with Sandbox(SandboxOptions(rate_limit_scale=0)) as box:
        conn = {"key": "apiKey", "fields": {"apiKey": "pk_" + secrets.token_hex(16), "baseUrl": box.base_url}}
        runner = Runner(client_options={"sleep": lambda _s: None})
        made = run(
            runner,
            "createProfile",
            {"email": "deep@example.com", "properties": deep(MAX_INPUT_DEPTH - 1)},
            conn,
        )
        # Events Array -> an event -> its properties: three levels of the input before the nesting.
        events = [
            {
                "metric": "Deep",
                "profile": {"email": "deep@example.com"},
                "properties": deep(MAX_INPUT_DEPTH - 3),
            }
        ]
        run(runner, "bulkCreateEvents", {"eventsArray": events}, conn)
    assert made["data"]["attributes"]["email"] == "deep@example.com"


@pytest.mark.parametrize("timeout", [10**400, True, float("nan")])
def test_absurd_run_timeouts_are_klaviyo_errors(timeout):
    with pytest.raises(KlaviyoError, match="timeout must be a number of seconds"):
        run(Runner(), "getProfile", {"profileId": "01P"}, timeout=timeout)


@pytest.mark.parametrize(
    "properties", [{"x": float("nan")}, {"x": float("inf")}, {"x": 10**5000}], ids=["nan", "inf", "huge-int"]
)
def test_numbers_json_cannot_carry_are_refused_before_sending(klaviyo, properties):
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(), "createProfile", {"email": "a@example.com", "properties": properties})
    assert caught.value.code == "invalid_input" and caught.value.error_class == "user_fixable"
    assert len(klaviyo.calls) == 0


def test_nan_in_an_answer_is_a_garbled_answer_not_output(klaviyo, sleeps):
    klaviyo.add(
        "GET", f"{BASE}/api/profiles/01P", body='{"data": {"type": "profile", "id": "01P", "n": NaN}}'
    )
    klaviyo.add("GET", f"{BASE}/api/profiles/01P", json=PROFILE)
    out = run(Runner(client_options={"sleep": sleeps}), "getProfile", {"profileId": "01P"})
    assert out == PROFILE and len(klaviyo.calls) == 2  # retried: a GET is safe to repeat


def test_an_accepted_write_whose_answer_is_too_large_is_outcome_unknown(klaviyo):
    big = {"data": {"type": "image", "id": "I1", "attributes": {"x": "y" * 5000}}}
    klaviyo.add("POST", f"{BASE}/api/images", json=big, status=201)
    runner = Runner(client_options={"max_response_bytes": 1000})
    with pytest.raises(KlaviyoError) as caught:
        run(runner, "uploadImage", {"imageUrl": "https://example.com/a.png", "imageName": "a"})
    assert caught.value.code == "response_too_large" and caught.value.error_class == "outcome_unknown"
    assert "The write was accepted" in caught.value.message


@pytest.mark.parametrize(
    ("base_url", "says"),
    [
        ("https://" + "a" * 64 + ".klaviyo.com", "host name that is not valid"),
        ("https://" + "a." * 200 + "com", "host name that is not valid"),
        ("http://\u2603.com", "in ASCII"),
    ],
    ids=["long-label", "long-host", "non-ascii"],
)
def test_a_base_url_with_a_bad_host_is_refused_at_once(base_url, says):
    conn = {"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": base_url}}
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(), "getProfile", {"profileId": "01P"}, conn)
    assert caught.value.error_class == "user_fixable" and says in caught.value.message
    assert len(caught.value.message) < 400


def test_a_read_timeout_is_named_in_its_error(klaviyo, sleeps):
    for _ in range(4):
        klaviyo.add("GET", f"{BASE}/api/profiles/01P", body=requests.ReadTimeout("slow"))
    with pytest.raises(KlaviyoError) as caught:
        run(
            Runner(client_options={"sleep": sleeps, "timeout": (5.0, 42.5)}),
            "getProfile",
            {"profileId": "01P"},
        )
    assert "Klaviyo sent nothing for 42.5 s (the read timeout)" in caught.value.message


def test_a_run_timeout_shorter_than_the_read_timeout_is_named(drip):
    # Headers never come: the read timeout (60 s) is clamped to the run's 0.5 s, which is what ran out.
    server = drip(5.0, hold_headers=True)
    with pytest.raises(KlaviyoError) as caught:
        run(
            Runner(client_options={"sleep": lambda _s: None}),
            "getProfile",
            {"profileId": "01P"},
            local(server),
            timeout=0.5,
        )
    assert "what was left of the action's time limit" in caught.value.message


def test_a_dripping_token_endpoint_cannot_hold_a_refresh(drip, monkeypatch):
    from klaviyo_connector.connections import oauth2

    monkeypatch.setattr(oauth2, "TOKEN_DEADLINE", 0.5)
    server = drip(0.1)
    base = f"http://127.0.0.1:{server.port}"
    fields = {"clientId": "c1", "clientSecret": "s" * 20, "tokenUrl": f"{base}/oauth/token", "baseUrl": base}
    token = {"access_token": "a" * 20, "refresh_token": "r" * 20, "expires_at": 1}  # long expired
    started = time.monotonic()
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(), "listAccounts", {}, {"key": "oauth2", "fields": fields, "token": token})
    assert time.monotonic() - started < 3 and caught.value.error_class == "retryable"


def test_a_token_refresh_is_not_cut_short_by_the_run_and_nothing_is_sent_after_it(drip, monkeypatch):
    # A refresh may spend the old refresh token at once: cutting it short at the run's limit
    # could lose the new one. It keeps its own bound (here 0.5 s), and once the run's time
    # (0.3 s) is up no API request goes out.
    from klaviyo_connector.connections import oauth2

    monkeypatch.setattr(oauth2, "TOKEN_DEADLINE", 0.5)
    server = drip(0.1)
    base = f"http://127.0.0.1:{server.port}"
    fields = {"clientId": "c1", "clientSecret": "s" * 20, "tokenUrl": f"{base}/oauth/token", "baseUrl": base}
    token = {"access_token": "a" * 20, "refresh_token": "r" * 20, "expires_at": 1}  # long expired
    started = time.monotonic()
    with pytest.raises(KlaviyoError) as caught:
        run(Runner(), "listAccounts", {}, {"key": "oauth2", "fields": fields, "token": token}, timeout=0.3)
    assert 0.45 < time.monotonic() - started < 2 and caught.value.code == "timeout"
    assert server.requests == [b"POST /oauth/token HTTP/1.1"]


@pytest.mark.parametrize("framing", ["length", "close"])
def test_a_proxy_that_drips_its_connect_answer_cannot_outlast_the_deadline(drip, monkeypatch, framing):
    # The CONNECT exchange and the TLS handshake through the tunnel come before the request.
    proxy = drip(0.05, hold_headers=True, framing=framing)
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{proxy.port}")
    runner = Runner(client_options={"sleep": lambda _s: None, "request_deadline": 0.5, "pacing_scale": 0})
    connection = {"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": "https://klaviyo.invalid"}}
    started = time.monotonic()
    with pytest.raises(KlaviyoError) as caught:
        run(runner, "rawRequest", {"url": "/api/accounts", "method": "GET", "maxRetries": 0}, connection)
    assert caught.value.code == "timeout" and "did not finish within 0.5 s" in caught.value.message
    assert time.monotonic() - started < 1.5
    assert len(proxy.requests) == 1  # one CONNECT (HTTP/1.0 or 1.1, by Python version), cut off
    assert proxy.requests[0].startswith(b"CONNECT klaviyo.invalid:443 HTTP/1.")


def test_a_base_url_with_a_proxy_prefix_keeps_the_path_guard():
    # The operation's path is checked below the Base URL's own path (the contract validator of
    # the klaviyo fixture knows no prefix, so a plain mock serves here).
    import responses

    with responses.RequestsMock() as mock:
        mock.add("GET", "https://proxy.example/klaviyo/api/profiles/01P", json=PROFILE)
        conn = {"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": "https://proxy.example/klaviyo"}}
        assert run(Runner(), "getProfile", {"profileId": "01P"}, conn) == PROFILE


def test_a_credential_name_followed_by_prose_is_not_masked():
    """The safety net masks "apiKey: <value>" shapes, not the message about an input named apiKey."""
    from klaviyo_connector.redact import redact

    assert redact("apiKey: is not an input of this action") == "apiKey: is not an input of this action"
    assert redact("password: too short") == "password: too short"
    assert redact("access_token=abcdefghijklmnopqrstuvwxyz&x=1") == "access_token=[REDACTED]&x=1"
    assert redact('client_secret: "s3cr3t-value-123456"') == 'client_secret: "[REDACTED]"'


# -- TLS inside a TLS proxy's tunnel (urllib3's SSLTransport) --------------------------------------


class _Tunnelled:
    """Stands in for urllib3's SSLTransport: no ``shutdown``; ``socket`` carries the tunnel and
    ``sslobj`` holds the TLS state."""

    def __init__(self, carrier: socket.socket) -> None:
        import ssl

        self.socket = carrier
        self.sslobj = ssl.create_default_context().wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO())

    def fileno(self) -> int:
        return self.socket.fileno()


def test_a_deadline_shuts_down_the_socket_under_a_tls_tunnel_and_the_watchdog_lives_on():
    from klaviyo_connector.deadline import ExchangeWatch, _shutdown, _Watchdog

    class Conn:
        pass

    mine, theirs = socket.socketpair()
    with mine, theirs:
        conn = Conn()
        conn.sock = _Tunnelled(mine)  # type: ignore[attr-defined]
        assert _shutdown(conn) is True
        assert mine.recv(1) == b""  # shut down: a blocked read would have woken

    class Broken(ExchangeWatch):
        def fire(self) -> bool:
            raise AttributeError("a socket type the watch does not know")

    assert _Watchdog._fire(Broken(0.0)) is False  # logged, never raised into the thread


def test_an_idle_tunnelled_tls_connection_is_judged_by_its_tls_state():
    from klaviyo_connector.deadline import has_unread_data

    mine, theirs = socket.socketpair()
    with mine, theirs:
        tunnelled = _Tunnelled(mine)
        assert has_unread_data(tunnelled) is False  # nothing on the socket, nothing decrypted
        theirs.sendall(b"x")
        assert has_unread_data(tunnelled) is True
