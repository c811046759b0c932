"""Instant (webhook) triggers: Klaviyo's signature scheme, the sandbox's webhooks API and its signed
deliveries (retried with backoff on a clock the test moves), and `trigger listen` end to end."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from klaviyo_connector import trigger_cli, webhooks
from klaviyo_connector.cli import main
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.sandbox.webhook_delivery import BACKOFF, MAX_ATTEMPTS, deliveries, topic_for
from sandbox_helpers import KEY, T0, Box

SECRET = "whsec-test-0123456789abcdef"
TOPIC = "event:klaviyo.placed_order"


@pytest.fixture
def box() -> Iterator[Box]:
    yield from Box.serve()


class Receiver:
    """A loopback endpoint answering each delivery with the next scripted status (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((dict(self.headers.items()), body))
                self.send_response(receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def signed(body: bytes, moment: float = T0, webhook_id: str = "01WEBHOOK") -> dict[str, str]:
    return webhooks.signed_headers(SECRET, body, webhook_id, moment)


def delivery(webhook_id: str = "01WEBHOOK", topic: str = TOPIC) -> bytes:
    event = {"type": "event", "id": "4vRpBT", "attributes": {"datetime": "2026-07-15T00:00:00+00:00"}}
    doc = {
        "data": [{"topic": topic, "external_id": "4vRpBT", "payload": {"data": event}}],
        "meta": {
            "klaviyo_account_id": "AbC123",
            "klaviyo_webhook_id": webhook_id,
            "timestamp": "2026-07-15T00:00:00+00:00",
        },
    }
    return json.dumps(doc).encode()


def handle(
    runner: Any, body: bytes, headers: dict[str, str], now: float = T0, topics: list[str] | None = None
) -> Any:
    return runner.handle_webhook(
        "klaviyo",
        "instantEvent",
        inputs={"topics": topics or [TOPIC]},
        body=body,
        headers=headers,
        secret=SECRET,
        now=now,
    )


# -- the signature scheme -------------------------------------------------------------------------


def test_a_signed_delivery_becomes_records(runner):
    body = delivery()
    headers = signed(body)
    assert headers["Klaviyo-Timestamp"] == "Wed, 15 Jul 2026 00:00:00 GMT"
    import hashlib
    import hmac

    expected = hmac.new(SECRET.encode(), body + b"Wed, 15 Jul 2026 00:00:00 GMT", hashlib.sha256).hexdigest()
    assert headers["Klaviyo-Signature"] == expected
    out = handle(runner, body, headers, now=T0 + 60)
    assert out == {
        "records": [
            {
                "key": "4vRpBT",
                "occurred_at": "2026-07-15T00:00:00+00:00",
                "topic": TOPIC,
                "data": {
                    "type": "event",
                    "id": "4vRpBT",
                    "attributes": {"datetime": "2026-07-15T00:00:00+00:00"},
                },
            }
        ]
    }
    assert handle(runner, body, headers, topics=["event:klaviyo.sent_sms"]) == {
        "records": []
    }  # another topic


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda b, h, n: (b.replace(b"4vRpBT", b"XXXXXX"), h, n), "the signature does not match"),
        (
            lambda b, h, n: (b, {**h, "Klaviyo-Timestamp": webhooks.http_date(T0 + 1)}, n),
            "the signature does not match",
        ),
        (lambda b, h, n: (b, {**h, "Klaviyo-Signature": "0" * 64}, n), "the signature does not match"),
        (lambda b, h, n: (b, h, n + webhooks.REPLAY_WINDOW + 1), "outside the 300 s replay window"),
        (lambda b, h, n: (b, h, n - webhooks.REPLAY_WINDOW - 1), "outside the 300 s replay window"),
        (
            lambda b, h, n: (b, {k: v for k, v in h.items() if k != "Klaviyo-Signature"}, n),
            "Klaviyo-Signature header is missing",
        ),
        (
            lambda b, h, n: (b, {**h, "Klaviyo-Webhook-Id": "01OTHER"}, n),
            "differs from the Klaviyo-Webhook-Id header",
        ),
    ],
    ids=["body", "timestamp", "signature", "replayed", "future", "unsigned", "webhook-id"],
)
def test_a_tampered_or_replayed_delivery_is_refused(runner, change, reason):
    body = delivery()
    sent_body, headers, now = change(body, signed(body), T0)
    with pytest.raises(KlaviyoError) as info:
        handle(runner, sent_body, headers, now=now)
    assert info.value.code == "webhook_refused" and info.value.status == 401
    assert reason in info.value.message
    assert SECRET not in info.value.message and SECRET not in json.dumps(info.value.to_dict())


def test_a_delivery_signed_with_another_secret_is_refused(runner):
    body = delivery()
    headers = webhooks.signed_headers("another-secret-0123456789", body, "01WEBHOOK", T0)
    with pytest.raises(KlaviyoError, match="tampered, or another secret"):
        handle(runner, body, headers)


def test_polling_and_webhook_triggers_are_run_their_own_way(runner, connection, klaviyo):
    with pytest.raises(KlaviyoError, match="instantEvent is a webhook trigger: use setup_trigger"):
        runner.run_trigger("klaviyo", "instantEvent", connection=connection, inputs={"topics": [TOPIC]})
    with pytest.raises(KlaviyoError, match="newProfile is a polling trigger: use run_trigger"):
        runner.setup_trigger(
            "klaviyo", "newProfile", connection=connection, endpoint_url="https://x.example", secret=SECRET
        )
    with pytest.raises(KlaviyoError, match=r"Topics\[0\]: String should match pattern"):
        runner.setup_trigger(
            "klaviyo",
            "instantEvent",
            connection=connection,
            inputs={"topics": ["placed order"]},
            endpoint_url="https://hooks.example.com/k",
            secret=SECRET,
        )
    with pytest.raises(KlaviyoError, match="Secret: must be at least 16 characters"):
        runner.setup_trigger(
            "klaviyo",
            "instantEvent",
            connection=connection,
            inputs={"topics": [TOPIC]},
            endpoint_url="https://hooks.example.com/k",
            secret="short",
        )
    with pytest.raises(KlaviyoError, match="Endpoint URL: must be an absolute https:// URL"):
        runner.setup_trigger(
            "klaviyo",
            "instantEvent",
            connection=connection,
            inputs={"topics": [TOPIC]},
            endpoint_url="hooks.example.com/k",
            secret=SECRET,
        )
    assert not klaviyo.calls


def test_setup_and_teardown_send_what_klaviyo_documents(runner, connection, klaviyo):
    made = {
        "data": {
            "type": "webhook",
            "id": "01HF7AYTK76RHR4F17G6DGTRGF",
            "attributes": {"name": "Orders", "endpoint_url": "https://hooks.example.com/k", "enabled": True},
            "links": {"self": "https://a.klaviyo.com/api/webhooks/01HF7AYTK76RHR4F17G6DGTRGF/"},
        }
    }
    klaviyo.post("https://a.klaviyo.com/api/webhooks", json=made, status=201)
    klaviyo.delete("https://a.klaviyo.com/api/webhooks/01HF7AYTK76RHR4F17G6DGTRGF", status=204)
    inputs = {"topics": [TOPIC, "event:klaviyo.sent_sms"], "webhookName": "Orders"}
    out = runner.setup_trigger(
        "klaviyo",
        "instantEvent",
        connection=connection,
        inputs=inputs,
        endpoint_url="https://hooks.example.com/k",
        secret=SECRET,
    )
    assert out == {
        "state": {"webhookId": "01HF7AYTK76RHR4F17G6DGTRGF", "endpointUrl": "https://hooks.example.com/k"}
    }
    sent = json.loads(klaviyo.calls[0].request.body)
    assert sent == {
        "data": {
            "type": "webhook",
            "attributes": {
                "name": "Orders",
                "endpoint_url": "https://hooks.example.com/k",
                "secret_key": SECRET,
            },
            "relationships": {
                "webhook-topics": {
                    "data": [
                        {"type": "webhook-topic", "id": TOPIC},
                        {"type": "webhook-topic", "id": "event:klaviyo.sent_sms"},
                    ]
                }
            },
        }
    }
    gone = runner.teardown_trigger(
        "klaviyo", "instantEvent", connection=connection, inputs=inputs, state=out["state"]
    )
    assert gone == {"deleted": True}
    assert (klaviyo.calls[1].request.method, klaviyo.calls[1].request.url) == (
        "DELETE",
        "https://a.klaviyo.com/api/webhooks/01HF7AYTK76RHR4F17G6DGTRGF",
    )


def test_a_failed_setup_never_repeats_the_secret(runner, connection, klaviyo):
    echo = {
        "errors": [
            {
                "id": "e",
                "status": 400,
                "code": "invalid",
                "title": "Invalid input.",
                "detail": f"bad secret_key {SECRET}",
                "source": {"pointer": "/data/attributes/secret_key"},
            }
        ]
    }
    klaviyo.post("https://a.klaviyo.com/api/webhooks", json=echo, status=400)
    with pytest.raises(KlaviyoError) as info:
        runner.setup_trigger(
            "klaviyo",
            "instantEvent",
            connection=connection,
            inputs={"topics": [TOPIC]},
            endpoint_url="https://hooks.example.com/k",
            secret=SECRET,
        )
    assert SECRET not in json.dumps(info.value.to_dict()) and SECRET not in str(info.value)


# -- the sandbox's webhooks API and deliveries -------------------------------------------------------


def create_webhook(box: Box, url: str, topics: list[str], secret: str = SECRET) -> Any:
    body = {
        "data": {
            "type": "webhook",
            "attributes": {"name": "Test", "endpoint_url": url, "secret_key": secret},
            "relationships": {
                "webhook-topics": {"data": [{"type": "webhook-topic", "id": t} for t in topics]}
            },
        }
    }
    return box.api("POST", "/api/webhooks", body)


def record_event(box: Box, name: str = "Placed Order", email: str = "sarah@example.com") -> None:
    box.run(
        "createEvent", {"eventName": name, "eventProfile": {"email": email}, "eventProperties": {"total": 42}}
    )


def test_the_sandbox_webhooks_api(box):
    made = create_webhook(box, "https://hooks.example.com/k", [TOPIC])
    assert made.status_code == 201
    webhook = made.json()["data"]
    assert webhook["attributes"]["endpoint_url"] == "https://hooks.example.com/k"
    assert "secret_key" not in json.dumps(made.json()) and SECRET not in made.text
    listed = box.api("GET", "/api/webhooks", params={"include": "webhook-topics"}).json()
    assert [w["id"] for w in listed["data"]] == [webhook["id"]]
    assert listed["included"][0]["id"] == TOPIC
    renamed = box.api(
        "PATCH",
        f"/api/webhooks/{webhook['id']}",
        {
            "data": {
                "type": "webhook",
                "id": webhook["id"],
                "attributes": {"name": "Renamed", "enabled": False},
            }
        },
    ).json()["data"]
    assert (renamed["attributes"]["name"], renamed["attributes"]["enabled"]) == ("Renamed", False)
    record_event(box)
    topics = [t["id"] for t in box.api("GET", "/api/webhook-topics").json()["data"]]
    assert topic_for("Placed Order") == TOPIC and TOPIC in topics
    assert box.api("GET", f"/api/webhook-topics/{TOPIC}").json()["data"]["id"] == TOPIC
    assert box.api("DELETE", f"/api/webhooks/{webhook['id']}").status_code == 204
    assert box.api("GET", f"/api/webhooks/{webhook['id']}", check=False).status_code == 404


@pytest.mark.parametrize(
    ("url", "topics", "secret", "pointer"),
    [
        ("http://hooks.example.com/k", [TOPIC], SECRET, "/data/attributes/endpoint_url"),  # http off loopback
        ("https://hooks.example.com/k", [TOPIC], "short", "/data/attributes/secret_key"),
        ("https://hooks.example.com/k", [], SECRET, "/data/relationships/webhook-topics/data"),
        (
            "https://hooks.example.com/k",
            ["placed order"],
            SECRET,
            "/data/relationships/webhook-topics/data/0",
        ),
    ],
)
def test_the_sandbox_refuses_a_bad_webhook(box, url, topics, secret, pointer):
    answer = (
        create_webhook(box, url, topics, secret)
        if topics
        else box.post(
            "/api/webhooks",
            {
                "data": {
                    "type": "webhook",
                    "attributes": {"name": "T", "endpoint_url": url, "secret_key": secret},
                    "relationships": {"webhook-topics": {"data": []}},
                }
            },
        )
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["source"]["pointer"] == pointer


def test_the_sandbox_delivers_signed_events_of_the_subscribed_topics(box, receiver):
    record_event(box, email="before@example.com")  # before the webhook: never delivered
    webhook_id = create_webhook(box, receiver.url, [TOPIC]).json()["data"]["id"]
    record_event(box)
    record_event(box, name="Viewed Product")
    worker = deliveries(box.sandbox.store, box.clock)
    worker.run_due()
    ((headers, body),) = receiver.requests
    doc = webhooks.verify(body, headers, SECRET, now=box.clock())
    assert headers["Klaviyo-Webhook-Id"] == webhook_id == doc["meta"]["klaviyo_webhook_id"]
    assert headers["Klaviyo-Timestamp"] == webhooks.http_date(box.clock())
    (item,) = doc["data"]
    assert item["topic"] == TOPIC
    event = item["payload"]["data"]
    assert item["external_id"] == event["id"] and event["type"] == "event"
    assert event["attributes"]["event_properties"]["total"] == 42
    got = box.run("getEvent", {"eventId": event["id"]})["data"]  # the payload is what Get Event gives
    assert event["attributes"] == got["attributes"]
    worker.run_due()
    assert len(receiver.requests) == 1  # each event once


def test_a_failed_delivery_is_retried_with_backoff_and_re_signed(box):
    receiver = Receiver([500, 503])
    try:
        create_webhook(box, receiver.url, [TOPIC])
        record_event(box)
        worker = deliveries(box.sandbox.store, box.clock)
        assert worker.run_due() == 1 and len(receiver.requests) == 1
        assert worker.run_due() == 0  # not due yet: nothing waits for real, the clock decides
        box.clock.advance(BACKOFF[0])
        assert worker.run_due() == 1 and len(receiver.requests) == 2
        box.clock.advance(BACKOFF[1] - 0.5)
        assert worker.run_due() == 0
        box.clock.advance(0.5)
        assert worker.run_due() == 1 and len(receiver.requests) == 3
        (done,) = worker.delivered
        assert done.statuses == [500, 503, 200]
        stamps = [h["Klaviyo-Timestamp"] for h, _ in receiver.requests]
        assert stamps == [webhooks.http_date(T0), webhooks.http_date(T0 + 1), webhooks.http_date(T0 + 6)]
        for headers, body in receiver.requests:  # each attempt verifies at the time it was sent
            webhooks.verify(body, headers, SECRET, now=webhooks._sent_at(headers["Klaviyo-Timestamp"]))
    finally:
        receiver.close()


def test_a_delivery_that_keeps_failing_is_given_up(box):
    receiver = Receiver([500] * MAX_ATTEMPTS)
    try:
        create_webhook(box, receiver.url, [TOPIC])
        record_event(box)
        worker = deliveries(box.sandbox.store, box.clock)
        for wait in (0.0, *BACKOFF):
            box.clock.advance(wait)
            assert worker.run_due() == 1
        assert len(receiver.requests) == MAX_ATTEMPTS and worker.queue == []
        assert worker.failed[0].statuses == [500] * MAX_ATTEMPTS
    finally:
        receiver.close()


# -- trigger listen ---------------------------------------------------------------------------


def test_a_webhook_delivered_by_the_sandbox_arrives_at_trigger_listen(box, capsys, monkeypatch):
    listening = threading.Event()
    monkeypatch.setattr(trigger_cli, "ON_LISTENING", lambda url: listening.set())
    monkeypatch.setattr(trigger_cli, "WALL_CLOCK", box.clock)  # the sandbox signs on its own clock
    argv = ["trigger", "listen", "instantEvent", "--port", "0", "--count", "1"]
    argv += ["--api-key", KEY, "--base-url", box.url, "--inputs", json.dumps({"topics": [TOPIC]})]
    codes: list[int] = []
    listener = threading.Thread(target=lambda: codes.append(main(argv)))
    listener.start()
    assert listening.wait(10)
    (webhook,) = box.api("GET", "/api/webhooks").json()["data"]
    assert webhook["attributes"]["endpoint_url"].startswith("http://127.0.0.1:")
    record_event(box)
    deliveries(box.sandbox.store, box.clock).run_due()
    listener.join(10)
    assert codes == [0]
    out, err = capsys.readouterr()
    (line,) = out.splitlines()
    record = json.loads(line)
    assert record["topic"] == TOPIC and record["data"]["type"] == "event"
    assert record["data"]["attributes"]["event_properties"]["total"] == 42
    assert f"Klaviyo webhook {webhook['id']} delivers to" in err
    assert box.api("GET", "/api/webhooks").json()["data"] == []  # torn down on the way out


def test_trigger_listen_refuses_a_forged_delivery(box, capsys, monkeypatch):
    import urllib.error
    import urllib.request

    endpoint: list[str] = []
    listening = threading.Event()
    monkeypatch.setattr(trigger_cli, "ON_LISTENING", lambda url: (endpoint.append(url), listening.set()))
    monkeypatch.setattr(trigger_cli, "WALL_CLOCK", box.clock)
    argv = ["trigger", "listen", "instantEvent", "--port", "0", "--count", "1"]
    argv += ["--api-key", KEY, "--base-url", box.url, "--inputs", json.dumps({"topics": [TOPIC]})]
    listener = threading.Thread(target=main, args=(argv,))
    listener.start()
    assert listening.wait(10)
    (webhook,) = box.api("GET", "/api/webhooks").json()["data"]
    body = delivery(webhook["id"])
    forged = webhooks.signed_headers("not-the-listeners-secret", body, webhook["id"], box.clock())
    request = urllib.request.Request(endpoint[0], data=body, headers=forged, method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 401
    record_event(box)  # then a real one ends the run
    deliveries(box.sandbox.store, box.clock).run_due()
    listener.join(10)
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1 and "signature does not match" in err


def test_trigger_listen_stopped_with_sigterm_deletes_its_webhook(box, tmp_path):
    """kill, timeout, systemd and docker stop send SIGTERM: the webhook must not be left behind."""
    import os
    import signal
    import subprocess
    import sys
    import time

    argv = [sys.executable, "-m", "klaviyo_connector.cli", "trigger", "listen", "instantEvent", "--port", "0"]
    argv += ["--api-key", KEY, "--base-url", box.url, "--inputs", json.dumps({"topics": [TOPIC]})]
    log = tmp_path / "listen.log"
    with open(log, "w") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        try:
            deadline = time.monotonic() + 30
            while "listening" not in log.read_text() and time.monotonic() < deadline:
                assert proc.poll() is None, log.read_text()
                time.sleep(0.05)
            assert len(box.api("GET", "/api/webhooks").json()["data"]) == 1
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
    assert box.api("GET", "/api/webhooks").json()["data"] == []


@pytest.mark.parametrize(
    "shape",
    [
        lambda b, h: (b.decode(), h),  # a framework that gives text
        lambda b, h: (memoryview(b), h),
        lambda b, h: (bytearray(b), list(h.items())),  # pairs
        lambda b, h: (b, [(k.lower().encode(), v.encode()) for k, v in h.items()]),  # ASGI raw headers
    ],
    ids=["str-body", "memoryview", "pairs", "asgi-bytes"],
)
def test_a_delivery_is_verified_whatever_shape_the_host_framework_gives(runner, shape):
    body = delivery()
    sent_body, headers = shape(body, signed(body))
    assert len(handle(runner, sent_body, headers, now=T0 + 60)["records"]) == 1


def test_a_body_or_headers_of_another_type_is_a_user_fixable_error(runner):
    body = delivery()
    with pytest.raises(KlaviyoError) as info:
        handle(runner, {"not": "bytes"}, signed(body), now=T0)
    assert (
        info.value.error_class == "user_fixable"
        and "raw request body (bytes), not dict" in info.value.message
    )
    with pytest.raises(KlaviyoError) as info:
        handle(runner, body, [("Klaviyo-Signature",)], now=T0)
    assert info.value.error_class == "user_fixable" and "(name, value) pairs" in info.value.message
