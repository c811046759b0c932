"""Shared fixtures: a runner that never sleeps, a mocked Klaviyo that checks every request
against the OpenAPI spec, and a sandbox served over real HTTP on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from contract import spec_path, validate_request

API_KEY = "pk_test_0123456789abcdefghijklmnop"
BASE = "https://a.klaviyo.com"
CONNECTION = {"key": "apiKey", "fields": {"apiKey": API_KEY}}


class SleepRecorder:
    """Stands in for time.sleep: records each wait, never waits."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def runner(sleeps: SleepRecorder) -> Iterator[Any]:
    from klaviyo_connector import Runner

    r = Runner(client_options={"sleep": sleeps, "random": lambda: 0.0})
    yield r
    r.close()


@pytest.fixture
def connection() -> dict[str, Any]:
    return {"key": "apiKey", "fields": dict(CONNECTION["fields"])}


@pytest.fixture
def klaviyo() -> Iterator[responses.RequestsMock]:
    """A mocked https://a.klaviyo.com. Every request made is validated against the spec
    (method, path, query, revision header, body schema) when the spec is present."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock
        if spec_path() is not None:
            for call in mock.calls:
                req = call.request
                validate_request(req.method or "", req.url or "", req.headers, req.body)


def body(call: Any) -> Any:
    """The JSON body of a request the mocked Klaviyo received (``klaviyo.calls[i]``)."""
    return json.loads(call.request.body)


def document(rtype: str, rid: str, attributes: dict[str, Any]) -> dict[str, Any]:
    """Klaviyo's document for one resource, with its self links."""
    link = f"{BASE}/api/{rtype}s/{rid}/"
    return {
        "data": {"type": rtype, "id": rid, "attributes": attributes, "links": {"self": link}},
        "links": {"self": link},
    }


def invalid(detail: str, pointer: str, **members: Any) -> dict[str, Any]:
    """Klaviyo's 400 document for one bad request member (``members`` adds e.g. ``title``)."""
    return {
        "errors": [
            {"status": 400, "code": "invalid", **members, "detail": detail, "source": {"pointer": pointer}}
        ]
    }


def run(runner: Any, action: str, inputs: dict[str, Any] | None = None, connection: Any = None) -> Any:
    return runner.run_action("klaviyo", action, connection=connection or CONNECTION, inputs=inputs or {})


def refused(runner: Any, klaviyo: responses.RequestsMock, key: str, inputs: dict[str, Any]) -> Any:
    """The KlaviyoError an action raises for bad inputs, after checking nothing was sent."""
    from klaviyo_connector.errors import KlaviyoError

    with pytest.raises(KlaviyoError) as info:
        run(runner, key, inputs)
    assert not klaviyo.calls, "nothing may be sent when the input is bad"
    return info.value


@pytest.fixture
def flaky_server() -> Iterator[Any]:
    """A scripted loopback server (tests/flaky_server.py) for retry tests over real sockets."""
    from flaky_server import FlakyServer

    server = FlakyServer()
    yield server
    server.close()


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    """A sandbox on an ephemeral loopback port with rate limits off, fresh state per session."""
    from klaviyo_connector.sandbox import Sandbox, SandboxOptions

    box = Sandbox(SandboxOptions(state_path=None, rate_limit_scale=0))
    url = box.start()
    yield url
    box.stop()


@pytest.fixture
def sandbox_connection(sandbox_url: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """A connection to its own sandbox account (each key is its own account)."""
    import hashlib

    suffix = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:24]
    return {"key": "apiKey", "fields": {"apiKey": f"pk_{suffix}", "baseUrl": sandbox_url}}
