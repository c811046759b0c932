"""Raw Request against a real, scripted, flaky HTTP flaky_server on loopback.

The flaky_server answers each request with the next scripted step (a status with headers, a dropped
connection, or a hang) and records what it received. The runner's injected sleep records every
wait, so retry counts and waits are checked exactly and nothing really waits between attempts.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import API_KEY, SleepRecorder
from flaky_server import OK, FlakyServer, Step, fail, throttle
from klaviyo_connector import Runner
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.revision import REVISION


@pytest.fixture
def flaky_runner(sleeps: SleepRecorder) -> Iterator[Runner]:
    r = Runner(client_options={"sleep": sleeps, "random": lambda: 0.0})
    yield r
    r.close()


def call(runner: Runner, flaky_server: FlakyServer, **inputs: Any) -> dict[str, Any]:
    connection = {"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": flaky_server.url}}
    return runner.run_action("klaviyo", "rawRequest", connection=connection, inputs=inputs)["data"]


def test_429_with_retry_after_then_200(flaky_runner, flaky_server, sleeps):
    flaky_server.then(throttle("2"), Step(200, {"RateLimit-Remaining": "74"}, OK))
    out = call(flaky_runner, flaky_server, url="/api/accounts", method="GET")
    assert out["status"] == 200 and out["attempts"] == 2 and out["data"] == OK
    assert out["headers"]["RateLimit-Limit"] == "75" and out["headers"]["RateLimit-Remaining"] == "74"
    assert sleeps.waits == [2.0] and len(flaky_server.seen) == 2
    # Slept for real, the gap would be at least the 2 s Retry-After.
    assert flaky_server.seen[-1].at - flaky_server.seen[0].at < 2.0


def test_503_then_200_on_get(flaky_runner, flaky_server, sleeps):
    flaky_server.then(fail(503), fail(503), Step(200, {}, OK))
    assert call(flaky_runner, flaky_server, url="/api/accounts", method="GET")["attempts"] == 3
    assert sleeps.waits == [1.0, 2.0] and [s.method for s in flaky_server.seen] == ["GET"] * 3


def test_503_on_post_without_retry_on_all_errors_is_returned(flaky_runner, flaky_server, sleeps):
    flaky_server.then(fail(503), Step(201, {}, OK))
    with pytest.raises(KlaviyoError) as info:
        call(flaky_runner, flaky_server, url="/api/lists", method="POST", data={"data": {"type": "list"}})
    err = info.value.to_dict()
    assert err["status"] == 503 and err["attempts"] == 1 and err["data"]["errors"][0]["detail"] == "Scripted."
    assert err["headers"]["RateLimit-Limit"] == "75"
    assert sleeps.waits == [] and len(flaky_server.seen) == 1


def test_503_on_post_with_retry_on_all_errors_is_retried(flaky_runner, flaky_server, sleeps):
    flaky_server.then(fail(503), fail(500), Step(201, {}, OK))
    body = {"data": {"type": "list", "attributes": {"name": "VIP"}}}
    out = call(flaky_runner, flaky_server, url="/api/lists", method="POST", data=body, retryAllErrors=True)
    assert out["status"] == 201 and out["attempts"] == 3 and sleeps.waits == [1.0, 2.0]
    assert [json.loads(s.body) for s in flaky_server.seen] == [body] * 3  # the same body every time


def test_dropped_connection_is_retried_on_get_but_not_on_post(flaky_runner, flaky_server, sleeps):
    flaky_server.then(Step(action="drop"), Step(200, {}, OK))
    assert call(flaky_runner, flaky_server, url="/api/accounts", method="GET")["attempts"] == 2
    assert sleeps.waits == [1.0]
    flaky_server.then(Step(action="drop"), Step(201, {}, OK))
    with pytest.raises(KlaviyoError) as info:
        call(flaky_runner, flaky_server, url="/api/lists", method="POST", data={"data": {}})
    assert info.value.code == "connection_error" and info.value.attempts == 1
    assert sleeps.waits == [1.0] and len(flaky_server.seen) == 3


def test_real_timeout_is_retried_on_get(flaky_runner, flaky_server, sleeps):
    flaky_server.then(Step(action="hang"), Step(200, {}, OK))
    out = call(flaky_runner, flaky_server, url="/api/accounts", method="GET", timeout=200)
    assert out["attempts"] == 2 and sleeps.waits == [1.0]


def test_real_timeout_on_post_is_not_retried(flaky_runner, flaky_server, sleeps):
    flaky_server.then(Step(action="hang"), Step(201, {}, OK))
    with pytest.raises(KlaviyoError) as info:
        call(flaky_runner, flaky_server, url="/api/lists", method="POST", data={"data": {}}, timeout=200)
    assert info.value.code == "timeout" and info.value.attempts == 1 and sleeps.waits == []


def test_400_is_never_retried_unless_asked(flaky_runner, flaky_server, sleeps):
    flaky_server.then(fail(400))
    with pytest.raises(KlaviyoError) as info:
        call(flaky_runner, flaky_server, url="/api/accounts", method="GET")
    assert info.value.attempts == 1 and sleeps.waits == [] and len(flaky_server.seen) == 1
    flaky_server.then(fail(400), fail(400), fail(400), fail(400))
    with pytest.raises(KlaviyoError) as info:
        call(flaky_runner, flaky_server, url="/api/accounts", method="GET", retryAllErrors=True)
    assert info.value.attempts == 4 and info.value.status == 400
    # Before it, the second call waits what is left (by the real clock) of the 1/s operation's
    # burst window, which the first call used (tests/test_pacing.py pins pacing exactly).
    assert sleeps.waits[-3:] == [1.0, 2.0, 4.0] and all(0 < w <= 1.201 for w in sleeps.waits[:-3])
    assert len(sleeps.waits) <= 4
    assert len(flaky_server.seen) == 5


def test_fixed_delay_with_retry_after_as_floor(flaky_runner, flaky_server, sleeps):
    flaky_server.then(fail(502), throttle("3"), fail(504), Step(200, {}, OK))
    out = call(
        flaky_runner,
        flaky_server,
        url="/api/accounts",
        method="GET",
        useExponentialBackoff=False,
        retryDelayMS=400,
    )
    assert out["attempts"] == 4 and sleeps.waits == [0.4, 3.0, 0.4]


def test_exponential_backoff_from_retry_delay_with_retry_after_floor(flaky_runner, flaky_server, sleeps):
    flaky_server.then(fail(503), fail(503), throttle("5"), Step(200, {}, OK))
    out = call(flaky_runner, flaky_server, url="/api/accounts", method="GET", retryDelayMS=250)
    assert out["attempts"] == 4 and sleeps.waits == [0.25, 0.5, 5.0]


def test_max_total_wait_returns_the_last_error(flaky_runner, flaky_server, sleeps):
    flaky_server.then(throttle("3"), throttle("3"), throttle("3"), Step(200, {}, OK))
    with pytest.raises(KlaviyoError) as info:
        call(flaky_runner, flaky_server, url="/api/accounts", method="GET", maxTotalWait=6.5)
    assert sleeps.waits == [3.0, 3.0] and len(flaky_server.seen) == 3
    assert info.value.status == 429 and info.value.attempts == 3 and info.value.headers["Retry-After"] == "3"


def test_max_retry_count_caps_attempts(flaky_runner, flaky_server, sleeps):
    flaky_server.then(fail(503), fail(503), fail(503), Step(200, {}, OK))
    with pytest.raises(KlaviyoError) as info:
        call(flaky_runner, flaky_server, url="/api/accounts", method="GET", maxRetries=2)
    assert info.value.attempts == 3 and sleeps.waits == [1.0, 2.0] and len(flaky_server.seen) == 3
    flaky_server.script.clear()
    flaky_server.then(throttle("1"))
    with pytest.raises(KlaviyoError) as info:
        call(flaky_runner, flaky_server, url="/api/accounts", method="GET", maxRetries=0)
    assert info.value.attempts == 1 and sleeps.waits == [1.0, 2.0] and len(flaky_server.seen) == 4


def test_headers_sent_and_authorization_excluded_on_request(flaky_runner, flaky_server):
    flaky_server.then(Step(200, {}, OK), Step(200, {}, OK))
    call(flaky_runner, flaky_server, url="/api/accounts", method="GET", headers={"X-Flow": "nightly"})
    call(flaky_runner, flaky_server, url="/client/geofences?company_id=AbC123", method="GET", excludeAuthorization=True,
         revision="2025-10-15")  # fmt: skip
    first, second = flaky_server.seen
    assert (
        first.headers["Authorization"] == f"Klaviyo-API-Key {API_KEY}"
        and first.headers["X-Flow"] == "nightly"
    )
    assert first.headers["revision"] == REVISION and first.headers["Accept"] == "application/vnd.api+json"
    assert "Authorization" not in second.headers and second.headers["revision"] == "2025-10-15"
    assert second.path == "/client/geofences?company_id=AbC123"


def test_redirect_to_another_host_is_not_followed(flaky_runner, flaky_server):
    flaky_server.then(Step(302, {"Location": "http://127.0.0.2:9/steal"}, None))
    with pytest.raises(KlaviyoError) as info:
        call(flaky_runner, flaky_server, url="/api/accounts", method="GET")
    assert info.value.code == "redirect_refused" and len(flaky_server.seen) == 1


def test_same_host_redirect_keeps_credentials(flaky_runner, flaky_server):
    flaky_server.then(Step(307, {"Location": "/api/accounts/AbC123"}, None), Step(200, {}, OK))
    assert call(flaky_runner, flaky_server, url="/api/accounts", method="GET")["status"] == 200
    assert [s.path for s in flaky_server.seen] == ["/api/accounts", "/api/accounts/AbC123"]
    assert flaky_server.seen[1].headers["Authorization"] == f"Klaviyo-API-Key {API_KEY}"


def test_a_final_429_names_the_endpoints_tier(flaky_runner, flaky_server, sleeps):
    flaky_server.then(throttle("1"))
    with pytest.raises(KlaviyoError) as info:
        call(flaky_runner, flaky_server, url="/api/accounts", method="GET", maxRetries=0)
    assert info.value.status == 429 and "This endpoint allows 1/s, 15/m per account." in info.value.message
    assert sleeps.waits == [] and len(flaky_server.seen) == 1
