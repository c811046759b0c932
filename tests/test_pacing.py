"""Client-side pacing: each request waits for a slot in its account's budget for its operation
(burst per second and steady per minute, from the catalog), locally or shared through Redis."""

from __future__ import annotations

import hashlib
import logging
import shutil
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from conftest import BASE
from klaviyo_connector import KlaviyoError, Runner
from klaviyo_connector.catalog import operation
from klaviyo_connector.http import KlaviyoClient, RetryWait
from klaviyo_connector.pacing import Pacing, account_key, shown_url
from klaviyo_connector.sandbox import Sandbox, SandboxOptions
from sandbox_helpers import T0

KEY_A = "pk_pacing_account_a_0123456789"
KEY_B = "pk_pacing_account_b_0123456789"
ACCOUNTS = {"data": [{"type": "account", "id": "AbC123", "attributes": {}}], "links": {}}
CAMPAIGNS = {"data": [], "links": {}}
EMAIL = {"filter": "equals(messages.channel,'email')"}  # get_campaigns requires a channel filter


class Clock:
    """Epoch seconds that move only when the client sleeps; every sleep is recorded."""

    def __init__(self, now: float = T0) -> None:
        self.now = now
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds


def connection(key: str = KEY_A, base_url: str = BASE) -> dict[str, Any]:
    return {"key": "apiKey", "fields": {"apiKey": key, "baseUrl": base_url}}


def stamping(klaviyo: responses.RequestsMock, clock: Clock, path: str, doc: dict[str, Any]) -> list[float]:
    """Answer GET ``path`` with ``doc``; the list gets the clock's time of each request."""
    seen: list[float] = []

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        seen.append(clock.now)
        import json

        return 200, {"Content-Type": "application/vnd.api+json"}, json.dumps(doc)

    klaviyo.add_callback("GET", f"{BASE}{path}", callback=answer)
    return seen


def client(clock: Clock, key: str = KEY_A, **options: Any) -> KlaviyoClient:
    from klaviyo_connector.connections.api_key import ApiKeyAuth

    return KlaviyoClient(ApiKeyAuth(key), sleep=clock.sleep, clock=clock, random=lambda: 0.0, **options)


@pytest.fixture
def clock() -> Clock:
    return Clock()


# -- one process ---------------------------------------------------------------------------------


def test_requests_are_spaced_to_the_burst_and_steady_limits_exactly(klaviyo, clock):
    # get_campaigns: 10/s and 150/m. Each window is paced 0.2 s longer than Klaviyo's (so a
    # request's trip cannot carry it into the server's next window); pyrate-limiter adds 1 ms.
    assert operation("get_campaigns").rate_limit.describe() == "10/s, 150/m"
    sent = stamping(klaviyo, clock, "/api/campaigns", CAMPAIGNS)
    c = client(clock)
    for _ in range(165):
        c.request("GET", "/api/campaigns", params=EMAIL, operation="get_campaigns")
    expected = [T0 + (i // 10) * 1.201 for i in range(150)]  # ten at once, every 1.201 s
    # The 151st waits for the first minute's first request to leave the 60.2 s window; the
    # window then holds 140, so ten more fit; the 161st waits for the burst window again.
    expected += [T0 + 60.201] * 10 + [T0 + 60.201 + 1.201] * 5
    assert sent == pytest.approx(expected, abs=1e-6)
    assert sum(clock.waits) == pytest.approx(expected[-1] - T0, abs=1e-6)


def test_a_one_per_second_operation_sends_one_request_a_window(klaviyo, clock):
    assert operation("get_accounts").rate_limit.describe() == "1/s, 15/m"
    sent = stamping(klaviyo, clock, "/api/accounts", ACCOUNTS)
    c = client(clock)
    for _ in range(16):
        c.request("GET", "/api/accounts", operation="get_accounts")
    assert sent == pytest.approx([T0 + i * 1.201 for i in range(15)] + [T0 + 60.201], abs=1e-6)


def test_operations_and_accounts_do_not_share_a_bucket(klaviyo, clock):
    accounts = stamping(klaviyo, clock, "/api/accounts", ACCOUNTS)
    campaigns = stamping(klaviyo, clock, "/api/campaigns", CAMPAIGNS)
    pacing = Pacing()  # one set of buckets for both clients, as a Runner has
    a, b = client(clock, KEY_A, pacing=pacing), client(clock, KEY_B, pacing=pacing)
    for c in (a, b):
        c.request("GET", "/api/accounts", operation="get_accounts")  # each account's first: no wait
        for _ in range(10):  # another operation's budget is untouched by get_accounts
            c.request("GET", "/api/campaigns", params=EMAIL, operation="get_campaigns")
    assert clock.waits == [] and accounts == [T0, T0] and len(campaigns) == 20
    a.request("GET", "/api/accounts", operation="get_accounts")  # account A's second: one window later
    assert clock.waits == pytest.approx([1.201]) and accounts[-1] == pytest.approx(T0 + 1.201)
    assert a.pacing_account == account_key(BASE, KEY_A) != b.pacing_account
    assert KEY_A not in a.pacing_account and len(a.pacing_account) == 64  # a SHA-256, not the key


def test_a_runner_paces_all_its_clients_and_scale_or_zero_turns_it(klaviyo, clock):
    sent = stamping(klaviyo, clock, "/api/accounts", ACCOUNTS)
    runner = Runner(client_options={"sleep": clock.sleep, "clock": clock, "pacing_scale": 2})
    # Two connection values for one key (another timeout) are one account: one budget.
    other = connection()
    other["fields"]["requestTimeout"] = 30
    for conn in (connection(), other, connection()):
        runner.run_action("klaviyo", "listAccounts", connection=conn)
    assert runner.client("klaviyo", connection()) is not runner.client("klaviyo", other)
    assert sent == pytest.approx([T0, T0, T0 + 1.201])  # scale 2: two a second
    off = Runner(client_options={"sleep": clock.sleep, "clock": clock, "pacing_scale": 0})
    for _ in range(5):
        off.run_action("klaviyo", "listAccounts", connection=connection(KEY_B))
    assert sent[3:] == [T0 + 1.201] * 5 and clock.waits == pytest.approx([1.201])
    runner.close()
    off.close()


@pytest.mark.parametrize("scale", [-1, "fast", float("nan"), float("inf"), True])
def test_a_bad_pacing_scale_is_refused(scale):
    runner = Runner(client_options={"pacing_scale": scale})
    with pytest.raises(KlaviyoError) as info:
        runner.run_action("klaviyo", "listAccounts", connection=connection())
    assert info.value.code == "invalid_connection"
    assert (
        str(info.value)
        == "The rate-limit pacing scale must be a number: 1 for Klaviyo's limits, 0 for no pacing."
    )


def test_a_pacing_wait_is_reported_through_on_wait(klaviyo, clock):
    stamping(klaviyo, clock, "/api/accounts", ACCOUNTS)
    heard: list[RetryWait] = []
    c = client(clock, on_wait=heard.append)
    c.request("GET", "/api/accounts", operation="get_accounts")
    c.request("GET", "/api/accounts", operation="get_accounts")
    assert len(heard) == 1 and heard[0].seconds == pytest.approx(1.201)
    assert heard[0].reason == "Klaviyo's rate limit (1/s, 15/m) — paced before sending"
    assert heard[0].error is None and heard[0].sent is False
    assert clock.waits == [heard[0].seconds]  # the hook hears it before the sleep


def test_a_wait_past_the_actions_time_limit_fails_at_once_and_sends_nothing(klaviyo, clock):
    sent = stamping(klaviyo, clock, "/api/accounts", ACCOUNTS)
    runner = Runner(client_options={"sleep": clock.sleep, "clock": clock})
    for _ in range(15):  # the steady budget (15/m) is spent
        runner.run_action("klaviyo", "listAccounts", connection=connection())
    waited = list(clock.waits)
    with pytest.raises(KlaviyoError) as info:
        runner.run_action("klaviyo", "listAccounts", connection=connection(), timeout=30)
    err = info.value
    assert err.code == "deadline_exceeded" and err.error_class == "retryable" and err.attempts == 0
    assert str(err) == (
        "The action ran out of time before GET /api/accounts could be sent: the wait (43.4 s) for "
        "Klaviyo's rate limit (1/s, 15/m) would pass the action's time limit."
    )
    assert len(sent) == 15 and clock.waits == waited  # nothing sent, nothing slept
    # With time enough, the same call waits for its slot and goes.
    runner.run_action("klaviyo", "listAccounts", connection=connection(), timeout=60)
    assert len(sent) == 16 and sent[-1] == pytest.approx(T0 + 60.201)
    runner.close()


def test_retries_keep_their_own_waits_and_are_not_paced(klaviyo, clock):
    klaviyo.add("GET", f"{BASE}/api/accounts", status=429, headers={"Retry-After": "3"}, json={"errors": []})
    sent = stamping(klaviyo, clock, "/api/accounts", ACCOUNTS)
    c = client(clock)
    c.request("GET", "/api/accounts", operation="get_accounts")
    assert clock.waits == [3.0] and sent == [T0 + 3.0]  # Retry-After, for what pacing can't foresee


def test_against_the_sandbox_with_klaviyos_limits_pacing_draws_no_429(clock):
    # The sandbox counts with the same clock: nothing really waits, and its fixed windows see
    # exactly what Klaviyo's would.
    with Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=1, clock=clock)) as box:
        heard: list[RetryWait] = []
        options = {"sleep": clock.sleep, "clock": clock, "on_wait": heard.append}
        paced = Runner(client_options=options)
        for _ in range(40):
            paced.run_action("klaviyo", "listAccounts", connection=connection(KEY_A, box.base_url))
        assert [w for w in heard if w.error is not None] == []  # not one 429
        assert len(heard) == 39 and clock.now == pytest.approx(T0 + 2 * 60.201 + 9 * 1.201)
        unpaced = Runner(client_options={**options, "pacing_scale": 0})
        heard.clear()
        unpaced.run_action("klaviyo", "listAccounts", connection=connection(KEY_B, box.base_url))
        unpaced.run_action("klaviyo", "listAccounts", connection=connection(KEY_B, box.base_url))
        assert [w.error.status for w in heard if w.error is not None] == [429]
        paced.close()
        unpaced.close()


# -- Redis ---------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_redis(workdir: Any) -> tuple[subprocess.Popen[str], str]:
    """A redis-server of our own on a free loopback port (.ci/run installs the binary)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    port = _free_port()
    server = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        + ["--dir", str(workdir), "--requirepass", "pacing-secret-pw", "--loglevel", "notice"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert server.stdout is not None
    said: list[str] = []
    for line in server.stdout:  # blocks until the server says it is ready (or exits)
        said.append(line)
        if "Ready to accept connections" in line:
            return server, f"redis://:pacing-secret-pw@127.0.0.1:{port}/0"
    pytest.fail("redis-server did not start: " + "".join(said[-5:]))


def _stop(server: subprocess.Popen[str]) -> None:
    server.terminate()
    server.wait(timeout=10)
    assert server.stdout is not None
    server.stdout.close()


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server, url = _start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    _stop(server)


@pytest.fixture
def redis_db(redis_url: str) -> Iterator[Any]:
    import redis

    db = redis.Redis.from_url(redis_url)
    db.flushdb()
    yield db
    db.close()


def test_two_runners_share_one_accounts_budget_through_redis(klaviyo, clock, redis_url, redis_db):
    sent = stamping(klaviyo, clock, "/api/accounts", ACCOUNTS)
    options = {"sleep": clock.sleep, "clock": clock}
    one = Runner(client_options=options, pacing_redis_url=redis_url)
    two = Runner(client_options=options, pacing_redis_url=redis_url)
    for runner in (one, two, one, two):
        runner.run_action("klaviyo", "listAccounts", connection=connection())
    # Four requests of one account, from two Runners (two Redis connections): one window each.
    assert sent == pytest.approx([T0 + i * 1.201 for i in range(4)])
    # Another account through the same Redis has its own budget.
    two.run_action("klaviyo", "listAccounts", connection=connection(KEY_B))
    assert sent[-1] == pytest.approx(T0 + 3 * 1.201)
    keys = sorted(k.decode() for k in redis_db.keys("*"))
    fingerprint = hashlib.sha256(f"{BASE}\n{KEY_A}".encode()).hexdigest()
    assert f"klaviyo-connector:pace:{fingerprint}:get_accounts:1/s:15/m" in keys and len(keys) == 2
    assert not any(KEY_A in k or KEY_B in k for k in keys)  # no key in Redis names a credential
    one.close()
    two.close()


def test_unreachable_redis_falls_back_to_local_pacing_with_one_warning(klaviyo, clock, caplog):
    sent = stamping(klaviyo, clock, "/api/accounts", ACCOUNTS)
    url = f"redis://:hunter2-redis-pw@127.0.0.1:{_free_port()}/0"  # nothing listens there
    runner = Runner(client_options={"sleep": clock.sleep, "clock": clock}, pacing_redis_url=url)
    with caplog.at_level(logging.WARNING, logger="klaviyo_connector.pacing"):
        for _ in range(3):
            out = runner.run_action("klaviyo", "listAccounts", connection=connection())
            assert out["data"] == ACCOUNTS  # the action never fails for Redis
    assert sent == pytest.approx([T0, T0 + 1.201, T0 + 2.402])  # still paced, in this process
    warnings = [r.getMessage() for r in caplog.records if r.name == "klaviyo_connector.pacing"]
    assert len(warnings) == 1 and caplog.records[0].levelno == logging.WARNING
    assert warnings[0].startswith(
        f"Redis for rate-limit pacing ({shown_url(url)}) cannot be used (ConnectionError"
    )
    assert "redis://:***@127.0.0.1:" in warnings[0] and "hunter2" not in caplog.text
    assert "pacing in this process only" in warnings[0]
    assert "hunter2" not in repr(runner._pacing)
    runner.close()


def test_redis_that_dies_mid_run_falls_back_and_the_actions_go_on(klaviyo, clock, caplog, tmp_path):
    sent = stamping(klaviyo, clock, "/api/accounts", ACCOUNTS)
    server, url = _start_redis(tmp_path)
    runner = Runner(client_options={"sleep": clock.sleep, "clock": clock}, pacing_redis_url=url)
    try:
        runner.run_action("klaviyo", "listAccounts", connection=connection())  # counted in Redis
        _stop(server)
        with caplog.at_level(logging.WARNING, logger="klaviyo_connector.pacing"):
            for _ in range(2):
                runner.run_action("klaviyo", "listAccounts", connection=connection())
    finally:
        if server.poll() is None:
            _stop(server)
    # The slot Redis held is not known locally: the first local request goes at once.
    assert sent == pytest.approx([T0, T0, T0 + 1.201])
    warnings = [r.getMessage() for r in caplog.records if r.name == "klaviyo_connector.pacing"]
    assert len(warnings) == 1 and "pacing in this process only" in warnings[0]
    assert "pacing-secret-pw" not in caplog.text and "redis://:***@127.0.0.1:" in warnings[0]
    runner.close()


def test_a_sleep_that_does_not_move_the_clock_still_counts_as_time_passed(klaviyo):
    # A host's (or a test's) sleep that only records: pacing moves on by what it slept, never spins.
    waits: list[float] = []
    sent: list[int] = []
    klaviyo.add_callback(
        "GET", f"{BASE}/api/accounts", callback=lambda r: (sent.append(1), (200, {}, '{"data": []}'))[1]
    )
    c = KlaviyoClient(None, sleep=waits.append, clock=lambda: T0)
    for _ in range(3):
        c.request("GET", "/api/accounts", operation="get_accounts")
    assert waits == pytest.approx([1.201, 1.201]) and len(sent) == 3


def test_a_host_names_the_account_so_oauth_workers_share_a_budget(klaviyo, clock):
    sent = stamping(klaviyo, clock, "/api/accounts", ACCOUNTS)
    names = {KEY_A: "acct-1", KEY_B: "acct-1"}  # two credentials the host knows reach one account
    runner = Runner(
        client_options={"sleep": clock.sleep, "clock": clock},
        pacing_account=lambda conn: names[conn["fields"]["apiKey"]],
    )
    runner.run_action("klaviyo", "listAccounts", connection=connection(KEY_A))
    runner.run_action("klaviyo", "listAccounts", connection=connection(KEY_B))
    assert sent == pytest.approx([T0, T0 + 1.201])
    assert runner.client("klaviyo", connection(KEY_A)).pacing_account == account_key(BASE, "host:acct-1")
    runner.close()


def test_the_cli_counts_a_long_pacing_wait_down(klaviyo, clock):
    import io

    from klaviyo_connector.cli import RunFeedback

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    stamping(klaviyo, clock, "/api/accounts", ACCOUNTS)
    screen = Terminal()
    feedback = RunFeedback(screen, sleep=clock.sleep)
    runner = Runner(client_options={**feedback.client_options, "clock": clock})
    for _ in range(16):  # the 16th waits for the steady window (15/m)
        runner.run_action("klaviyo", "listAccounts", connection=connection())
    feedback.close()
    text = screen.getvalue()
    assert "waiting 44 s for Klaviyo's rate limit (1/s, 15/m) — paced before sending" in text
    # Each wait is counted down a second at a time: 1.201 s as 1 + 0.201, 43.387 s as 43 x 1 + 0.387.
    assert clock.waits == pytest.approx([1.0, 0.201] * 14 + [1.0] * 43 + [0.387])
    assert clock.now == pytest.approx(T0 + 60.201)
    runner.close()


def test_shown_url_masks_only_the_password():
    assert shown_url("redis://user:pw@cache.internal:6380/2") == "redis://user:***@cache.internal:6380/2"
    assert shown_url("rediss://cache.internal") == "rediss://cache.internal"
