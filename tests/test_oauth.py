"""The OAuth2 connection against a mocked Klaviyo: PKCE, token requests, refresh, rotation, errors."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from contract import spec_path, validate_request
from klaviyo_connector import Runner
from klaviyo_connector.connections import CONNECTIONS, oauth2
from klaviyo_connector.errors import INTERNAL, REAUTH_REQUIRED, USER_FIXABLE, KlaviyoError

API = "https://a.klaviyo.com"
TOKEN_URL = f"{API}/oauth/token"
REVOKE_URL = f"{API}/oauth/revoke"
CLIENT_ID = "client-abc-123"
SECRET = "shh-client-secret-0123456789"
FIELDS = {"clientId": CLIENT_ID, "clientSecret": SECRET, "scopes": "accounts:read profiles:read"}
OLD_ACCESS = "access-old-AAAAAAAAAAAAAAAAAAAA"
OLD_REFRESH = "refresh-old-BBBBBBBBBBBBBBBBBBBB"
NEW_ACCESS = "access-new-CCCCCCCCCCCCCCCCCCCC"
NEW_REFRESH = "refresh-new-DDDDDDDDDDDDDDDDDDDD"
ACCOUNTS = {"data": [{"type": "account", "id": "AbC123", "attributes": {}, "links": {"self": "x"}}]}
NOW = 1_800_000_000.0


def basic() -> str:
    return "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()


def form(request: Any) -> dict[str, str]:
    body = request.body.decode() if isinstance(request.body, bytes) else request.body
    return {k: v[0] for k, v in parse_qs(body).items()}


def token_reply(access: str = NEW_ACCESS, refresh: str | None = NEW_REFRESH, expires_in: int = 3600) -> dict:
    body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": expires_in}
    if refresh:
        body["refresh_token"] = refresh
    return body


def connection(expires_at: float | None = NOW + 3600, **token: Any) -> dict[str, Any]:
    tok: dict[str, Any] = {"access_token": OLD_ACCESS, "refresh_token": OLD_REFRESH, "token_type": "Bearer"}
    if expires_at is not None:
        tok["expires_at"] = expires_at
    tok.update(token)
    return {"key": "oauth2", "fields": dict(FIELDS), "token": tok}


@pytest.fixture
def mock() -> Iterator[responses.RequestsMock]:
    """Mocked Klaviyo; every /api request is validated against the spec at teardown."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as m:
        yield m
        if spec_path() is not None:
            for call in m.calls:
                if urlsplit(call.request.url).path.startswith("/api/"):
                    validate_request(
                        call.request.method, call.request.url, call.request.headers, call.request.body
                    )


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oauth2, "now", lambda: NOW)


def make_runner(**kwargs: Any) -> Runner:
    """A runner that never sleeps (a retry would otherwise wait for real)."""
    return Runner(client_options={"sleep": lambda s: None, "random": lambda: 0.0}, **kwargs)


def api_calls(m: responses.RequestsMock) -> list[Any]:
    return [c for c in m.calls if "/api/" in c.request.url]


def token_calls(m: responses.RequestsMock) -> list[Any]:
    return [c for c in m.calls if "/oauth/" in c.request.url]


# -- declaration and configuration ------------------------------------------------------------


def test_connection_declares_the_reference_fields() -> None:
    conn = {c.key: c for c in CONNECTIONS}["oauth2"]
    fields = {f.key: f for f in conn.fields}
    assert [(f.key, f.label) for f in conn.fields] == [
        ("authorizeUrl", "Authorize URL"),
        ("tokenUrl", "Token URL"),
        ("clientId", "Client ID"),
        ("clientSecret", "Client secret"),
        ("scopes", "Scopes"),
        ("baseUrl", "Base URL"),
        ("requestTimeout", "Request Timeout (s)"),
        ("actionTimeout", "Action Timeout (s)"),
        ("maxResponseBytes", "Max Response Size (bytes)"),
    ]
    assert fields["authorizeUrl"].default == "https://www.klaviyo.com/oauth/authorize"
    assert fields["tokenUrl"].default == "https://a.klaviyo.com/oauth/token"
    assert fields["clientSecret"].secret and not fields["clientId"].secret
    assert conn.load() is oauth2


def test_default_scopes_are_every_scope_the_actions_need() -> None:
    from klaviyo_connector.catalog import scopes_for
    from klaviyo_connector.component import component

    scopes = oauth2.required_scopes()
    expected = set(scopes_for(op for a in component.actions.values() for op in a.operations))
    assert expected <= set(scopes)
    assert {"accounts:read", "profiles:read", "profiles:write"} <= set(scopes)
    assert list(scopes) == sorted(set(scopes))


@pytest.mark.parametrize(
    ("fields", "label", "says"),
    [
        ({"clientId": ""}, "Client ID", "is required"),
        ({"clientSecret": " "}, "Client secret", "is required"),
        (
            {"tokenUrl": "https://www.klaviyo.com/oauth/token"},
            "Token URL",
            "https://a.klaviyo.com/oauth/token",
        ),
        ({"tokenUrl": "https://evil.example.com/oauth/token"}, "Token URL", "refusing to send"),
        ({"tokenUrl": "http://a.klaviyo.com/oauth/token"}, "Token URL", "https URL on a Klaviyo host"),
        ({"tokenUrl": "https://a.klaviyo.com.evil.io/oauth/token"}, "Token URL", "refusing"),
        ({"tokenUrl": "http://127.0.0.1:9/oauth/token"}, "Token URL", "refusing"),
        ({"authorizeUrl": "https://phish.example/oauth/authorize"}, "Authorize URL", "refusing"),
        ({"scopes": "lists.read"}, "Scopes", "scopes look like lists:read"),
    ],
)
def test_bad_fields_are_named_by_label(fields: dict, label: str, says: str) -> None:
    with pytest.raises(KlaviyoError) as err:
        oauth2.config_from_fields({**FIELDS, **fields})
    assert err.value.field == label
    assert err.value.message.startswith(f"{label}: ")
    assert says in err.value.message
    assert SECRET not in err.value.message


def test_a_loopback_base_url_is_the_sandbox_and_its_origin_is_allowed() -> None:
    config = oauth2.config_from_fields({**FIELDS, "baseUrl": "http://127.0.0.1:8787"})
    assert config.authorize_url == "http://127.0.0.1:8787/oauth/authorize"
    assert config.token_url == "http://127.0.0.1:8787/oauth/token"
    assert config.revoke_url == "http://127.0.0.1:8787/oauth/revoke"
    with pytest.raises(KlaviyoError, match="Token URL"):  # another port is another origin
        oauth2.config_from_fields(
            {**FIELDS, "baseUrl": "http://127.0.0.1:8787", "tokenUrl": "http://127.0.0.1:9/oauth/token"}
        )
    with pytest.raises(KlaviyoError, match="Token URL"):  # a non-loopback base is not the sandbox
        oauth2.config_from_fields(
            {
                **FIELDS,
                "baseUrl": "http://proxy.example:8080",
                "tokenUrl": "http://proxy.example:8080/oauth/token",
            }
        )


def test_scopes_are_split_on_spaces_and_deduplicated() -> None:
    config = oauth2.config_from_fields({**FIELDS, "scopes": " lists:read  lists:write,lists:read "})
    assert config.scopes == ("lists:read", "lists:write")
    assert SECRET not in repr(config)


# -- PKCE and the authorization URL -----------------------------------------------------------


def test_verifiers_always_match_klaviyos_rule() -> None:
    rule = re.compile(r"^[a-zA-Z0-9\-._~]{43,128}$")
    seen = {oauth2.new_code_verifier() for _ in range(300)}
    assert len(seen) == 300
    assert all(rule.match(v) and len(v) == oauth2.VERIFIER_LENGTH for v in seen)
    assert rule.match(oauth2.new_code_verifier(43)) and rule.match(oauth2.new_code_verifier(128))
    for bad in (42, 129):
        with pytest.raises(ValueError):
            oauth2.new_code_verifier(bad)


def test_code_challenge_is_unpadded_base64url_of_sha256() -> None:
    verifier = "a" * 43 + "-._~"
    expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    assert oauth2.code_challenge(verifier) == expected
    assert len(expected) == 43 and "=" not in expected


def test_authorization_url_has_state_and_an_s256_challenge() -> None:
    req = oauth2.start_authorization(FIELDS, "http://127.0.0.1:8976/callback")
    parts = urlsplit(req.url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.klaviyo.com", "/oauth/authorize")
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    digest = hashlib.sha256(req.code_verifier.encode()).digest()
    assert q == {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": "http://127.0.0.1:8976/callback",
        "scope": "accounts:read profiles:read",
        "state": req.state,
        "code_challenge": base64.urlsafe_b64encode(digest).rstrip(b"=").decode(),
        "code_challenge_method": "S256",
    }
    assert len(req.state) >= 32
    assert req.code_verifier not in req.url and SECRET not in req.url
    assert req.code_verifier not in repr(req)
    other = oauth2.start_authorization(FIELDS, "http://127.0.0.1:8976/callback")
    assert other.state != req.state and other.code_verifier != req.code_verifier


def test_empty_scopes_request_every_scope_the_actions_need() -> None:
    req = oauth2.start_authorization({**FIELDS, "scopes": ""}, "http://127.0.0.1:1/callback")
    scope = parse_qs(urlsplit(req.url).query)["scope"][0]
    assert tuple(scope.split(" ")) == oauth2.required_scopes()


# -- code exchange -----------------------------------------------------------------------------


def test_code_exchange_uses_basic_auth_a_form_body_and_the_verifier(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json=token_reply())
    req = oauth2.start_authorization(FIELDS, "http://127.0.0.1:8976/callback")
    token = oauth2.exchange_code(FIELDS, req, code="the-code", state=req.state)
    (call,) = mock.calls
    assert call.request.headers["Authorization"] == basic()
    assert call.request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert form(call.request) == {
        "grant_type": "authorization_code",
        "code": "the-code",
        "code_verifier": req.code_verifier,
        "redirect_uri": "http://127.0.0.1:8976/callback",
    }
    assert token["access_token"] == NEW_ACCESS and token["refresh_token"] == NEW_REFRESH
    assert token["expires_at"] == int(NOW) + 3600


def test_a_state_mismatch_stops_before_any_request(mock: responses.RequestsMock) -> None:
    req = oauth2.start_authorization(FIELDS, "http://127.0.0.1:8976/callback")
    with pytest.raises(KlaviyoError, match="state does not match"):
        oauth2.exchange_code(FIELDS, req, code="the-code", state="forged")
    assert len(mock.calls) == 0


@pytest.mark.parametrize(
    ("error", "description", "klass", "says"),
    [
        ("invalid_grant", "Code challenge failed.", REAUTH_REQUIRED, "Start the login again"),
        (
            "invalid_client",
            "Client authentication failed.",
            USER_FIXABLE,
            "check Client ID and Client secret",
        ),
        ("invalid_request", "Invalid code_verifier.", USER_FIXABLE, "Invalid code_verifier."),
        ("invalid_scope", "Unknown scope.", USER_FIXABLE, "Scopes:"),
    ],
)
def test_token_endpoint_errors_say_what_to_fix(
    mock: responses.RequestsMock, error: str, description: str, klass: str, says: str
) -> None:
    mock.post(TOKEN_URL, status=400, json={"error": error, "error_description": description})
    req = oauth2.start_authorization(FIELDS, "http://127.0.0.1:8976/callback")
    with pytest.raises(KlaviyoError) as err:
        oauth2.exchange_code(FIELDS, req, code="the-code", state=req.state)
    assert err.value.error_class == klass
    assert err.value.code == error
    assert says in err.value.message and description in err.value.message
    assert SECRET not in str(err.value.to_dict()) and req.code_verifier not in str(err.value.to_dict())


def test_a_5xx_from_the_token_endpoint_is_retryable(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, status=503, body="<html>busy</html>")
    req = oauth2.start_authorization(FIELDS, "http://127.0.0.1:8976/callback")
    with pytest.raises(KlaviyoError) as err:
        oauth2.exchange_code(FIELDS, req, code="c", state=req.state)
    assert err.value.retryable and err.value.status == 503


def test_token_requests_do_not_follow_redirects(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, status=307, headers={"Location": "https://elsewhere.example/token"})
    req = oauth2.start_authorization(FIELDS, "http://127.0.0.1:8976/callback")
    with pytest.raises(KlaviyoError, match="check the Token URL"):
        oauth2.exchange_code(FIELDS, req, code="c", state=req.state)
    assert [c.request.url for c in mock.calls] == [TOKEN_URL]


# -- using, refreshing and rotating tokens -------------------------------------------------------


def test_actions_send_the_access_token_as_bearer(mock: responses.RequestsMock, runner: Runner) -> None:
    mock.get(f"{API}/api/accounts", json=ACCOUNTS)
    out = runner.run_action("klaviyo", "listAccounts", connection=connection(), inputs={})
    assert out["data"] == ACCOUNTS
    (call,) = mock.calls
    assert call.request.headers["Authorization"] == f"Bearer {OLD_ACCESS}"
    assert call.request.headers["revision"]


def test_a_token_near_expiry_is_refreshed_first_and_saved_before_use(mock: responses.RequestsMock) -> None:
    events: list[str] = []
    saved: list[dict] = []

    def on_update(conn: Any, token: dict) -> None:
        events.append("saved")
        saved.append(token)

    def api(request: Any) -> tuple[int, dict, str]:
        events.append(request.headers["Authorization"])
        return 200, {}, json.dumps(ACCOUNTS)

    mock.post(TOKEN_URL, json=token_reply())
    mock.add_callback("GET", f"{API}/api/accounts", callback=api)
    runner = make_runner(on_token_update=on_update)
    # 4 minutes left: inside the 5-minute margin.
    runner.run_action("klaviyo", "listAccounts", connection=connection(expires_at=NOW + 240), inputs={})
    (refresh,) = token_calls(mock)
    assert refresh.request.headers["Authorization"] == basic()
    assert form(refresh.request) == {"grant_type": "refresh_token", "refresh_token": OLD_REFRESH}
    assert events == ["saved", f"Bearer {NEW_ACCESS}"]
    assert saved[0]["refresh_token"] == NEW_REFRESH and saved[0]["expires_at"] == int(NOW) + 3600


def test_a_token_with_time_left_is_not_refreshed(mock: responses.RequestsMock, runner: Runner) -> None:
    mock.get(f"{API}/api/accounts", json=ACCOUNTS)
    runner.run_action("klaviyo", "listAccounts", connection=connection(expires_at=NOW + 600), inputs={})
    assert token_calls(mock) == []


def test_a_refresh_without_a_new_refresh_token_keeps_the_old_one(mock: responses.RequestsMock) -> None:
    saved: list[dict] = []
    mock.post(TOKEN_URL, json=token_reply(refresh=None))
    mock.get(f"{API}/api/accounts", json=ACCOUNTS)
    runner = make_runner(on_token_update=lambda c, t: saved.append(t))
    runner.run_action("klaviyo", "listAccounts", connection=connection(expires_at=NOW - 1), inputs={})
    assert saved[0]["refresh_token"] == OLD_REFRESH and saved[0]["access_token"] == NEW_ACCESS


def test_a_401_refreshes_once_and_retries(mock: responses.RequestsMock, runner: Runner) -> None:
    mock.get(f"{API}/api/accounts", status=401, json={"errors": [{"code": "authentication_failed"}]})
    mock.get(f"{API}/api/accounts", json=ACCOUNTS)
    mock.post(TOKEN_URL, json=token_reply())
    out = runner.run_action("klaviyo", "listAccounts", connection=connection(), inputs={})
    assert out["data"] == ACCOUNTS
    assert [c.request.headers["Authorization"] for c in api_calls(mock)] == [
        f"Bearer {OLD_ACCESS}",
        f"Bearer {NEW_ACCESS}",
    ]
    assert len(token_calls(mock)) == 1


def test_a_401_with_a_fresh_token_is_reauth_and_never_loops(
    mock: responses.RequestsMock, runner: Runner
) -> None:
    mock.get(f"{API}/api/accounts", status=401, json={"errors": [{"code": "authentication_failed"}]})
    mock.post(TOKEN_URL, json=token_reply())
    with pytest.raises(KlaviyoError) as err:
        runner.run_action("klaviyo", "listAccounts", connection=connection(), inputs={})
    assert err.value.error_class == REAUTH_REQUIRED
    assert "reconnect" in err.value.message.lower()
    assert len(api_calls(mock)) == 2 and len(token_calls(mock)) == 1


def test_invalid_grant_is_reauth_and_is_not_retried(mock: responses.RequestsMock, runner: Runner) -> None:
    mock.get(f"{API}/api/accounts", status=401, json={"errors": [{"code": "authentication_failed"}]})
    mock.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "Token revoked."})
    for _ in range(2):
        with pytest.raises(KlaviyoError) as err:
            runner.run_action("klaviyo", "listAccounts", connection=connection(), inputs={})
        assert err.value.error_class == REAUTH_REQUIRED
        assert "Reconnect the Klaviyo connection" in err.value.message
    # The dead grant is remembered: the second run sends nothing at all.
    assert len(token_calls(mock)) == 1 and len(api_calls(mock)) == 1


def test_no_token_at_all_asks_to_connect() -> None:
    with pytest.raises(KlaviyoError) as err:
        make_runner().run_action(
            "klaviyo", "listAccounts", connection={"key": "oauth2", "fields": FIELDS}, inputs={}
        )
    assert err.value.error_class == REAUTH_REQUIRED and "not been authorized" in err.value.message


def test_a_failing_save_is_reported_but_the_new_token_is_kept(mock: responses.RequestsMock) -> None:
    def broken(conn: Any, token: dict) -> None:
        raise OSError(f"disk full while writing {token['refresh_token']}")

    mock.post(TOKEN_URL, json=token_reply())
    mock.get(f"{API}/api/accounts", json=ACCOUNTS)
    runner = make_runner(on_token_update=broken)
    conn = connection(expires_at=NOW - 1)
    with pytest.raises(KlaviyoError) as err:
        runner.run_action("klaviyo", "listAccounts", connection=conn, inputs={})
    assert err.value.error_class == INTERNAL and err.value.code == "token_update_failed"
    assert NEW_REFRESH not in err.value.message and "disk full" in err.value.message
    runner.run_action("klaviyo", "listAccounts", connection=conn, inputs={})
    assert len(token_calls(mock)) == 1  # the old refresh token is not reused
    assert api_calls(mock)[-1].request.headers["Authorization"] == f"Bearer {NEW_ACCESS}"


def test_the_runner_keeps_one_client_per_grant_across_rotations(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json=token_reply())
    mock.get(f"{API}/api/accounts", json=ACCOUNTS)
    saved: list[dict] = []
    runner = make_runner(on_token_update=lambda c, t: saved.append(t))
    first = connection(expires_at=NOW - 1)
    client = runner.client("klaviyo", first)
    runner.run_action("klaviyo", "listAccounts", connection=first, inputs={})
    rotated = {**first, "token": saved[0]}
    assert runner.client("klaviyo", rotated) is client  # the host passes the saved token next time
    assert runner.client("klaviyo", first) is client  # or the stale one: still the current token
    # Another user of the same app (same fields, another grant) gets its own client and token.
    other = connection(
        access_token="access-other-EEEEEEEEEEEEEEEE", refresh_token="refresh-other-FFFFFFFFFFFF"
    )
    assert runner.client("klaviyo", other) is not client
    runner.run_action("klaviyo", "listAccounts", connection=other, inputs={})
    assert api_calls(mock)[-1].request.headers["Authorization"] == "Bearer access-other-EEEEEEEEEEEEEEEE"
    runner.close()


class CountingLock:
    """A lock that lets a test wait until a given number of threads want it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self.wanting = 0

    def __enter__(self) -> CountingLock:
        with self._cond:
            self.wanting += 1
            self._cond.notify_all()
        self._lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()

    def wait_for(self, count: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.wanting >= count, timeout=10)


def test_concurrent_refreshes_make_one_token_request(mock: responses.RequestsMock) -> None:
    entered = threading.Event()
    release = threading.Event()
    lock = CountingLock()

    def token_endpoint(request: Any) -> tuple[int, dict, str]:
        entered.set()
        assert release.wait(10)
        return 200, {}, json.dumps(token_reply())

    mock.add_callback("POST", TOKEN_URL, callback=token_endpoint)
    mock.get(f"{API}/api/accounts", json=ACCOUNTS)
    runner = make_runner()
    conn = connection(expires_at=NOW - 1)
    runner.client("klaviyo", conn).auth._lock = lock
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(runner.run_action("klaviyo", "listAccounts", connection=conn, inputs={}))
        except Exception as exc:  # pragma: no cover - reported by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    threads[0].start()
    assert entered.wait(10)  # thread 1 is inside the token request, holding the lock
    threads[1].start()
    lock.wait_for(2)  # thread 2 wants the lock while the refresh is in flight
    release.set()
    for t in threads:
        t.join(10)
    assert [r["data"] for r in results] == [ACCOUNTS, ACCOUNTS]
    assert len(token_calls(mock)) == 1
    assert {c.request.headers["Authorization"] for c in api_calls(mock)} == {f"Bearer {NEW_ACCESS}"}


def test_concurrent_401s_on_one_token_make_one_refresh(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json=token_reply())
    auth = oauth2.build_auth(FIELDS, connection=connection())
    headers: list[str] = []
    barrier = threading.Barrier(2)
    outcomes: list[bool] = []

    def worker() -> None:
        headers.append(auth.authorization())
        barrier.wait(10)  # both sent the old token and both got a 401
        outcomes.append(auth.refresh_after_unauthorized())

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert headers == [f"Bearer {OLD_ACCESS}"] * 2
    assert outcomes == [True, True]
    assert len(token_calls(mock)) == 1
    assert auth.authorization() == f"Bearer {NEW_ACCESS}"


# -- workers sharing one grant: load_token and refresh_lock -------------------------------------

NEWER_ACCESS = "access-newer-GGGGGGGGGGGGGGGGGGGG"
NEWER_REFRESH = "refresh-newer-HHHHHHHHHHHHHHHHHHHH"


class Store:
    """A host's token store shared by several workers (one Runner each), with the hooks they get."""

    def __init__(self, token: dict[str, Any]) -> None:
        self.token: dict[str, Any] | None = dict(token)
        self.saves: list[dict[str, Any]] = []
        self.events: list[str] = []
        self._lock = threading.Lock()

    def load(self, conn: Any) -> dict[str, Any] | None:
        self.events.append("load")
        return dict(self.token) if self.token is not None else None

    def save(self, conn: Any, token: dict[str, Any]) -> None:
        self.events.append("save")
        self.saves.append(token)
        self.token = dict(token)

    @contextmanager
    def locked(self, conn: Any) -> Iterator[None]:
        with self._lock:
            self.events.append("lock")
            try:
                yield
            finally:
                self.events.append("unlock")

    def runner(self, *, lock: bool = True) -> Runner:
        hooks: dict[str, Any] = {"on_token_update": self.save, "load_token": self.load}
        if lock:
            hooks["refresh_lock"] = self.locked
        return make_runner(**hooks)


def refreshing(replies: dict[str, tuple[int, dict]]) -> Any:
    """A token endpoint answering by the refresh token sent."""

    def endpoint(request: Any) -> tuple[int, dict, str]:
        status, body = replies[form(request)["refresh_token"]]
        return status, {}, json.dumps(body)

    return endpoint


DEAD_GRANT = (400, {"error": "invalid_grant", "error_description": "The refresh token is invalid."})


def test_a_worker_uses_the_token_another_worker_rotated_instead_of_refreshing(
    mock: responses.RequestsMock,
) -> None:
    mock.post(TOKEN_URL, json=token_reply())
    mock.get(f"{API}/api/accounts", json=ACCOUNTS)
    conn = connection(expires_at=NOW - 1)
    store = Store(conn["token"])
    first, second = store.runner(), store.runner()
    second.client("klaviyo", conn)  # holds the old token when the first worker rotates it
    first.run_action("klaviyo", "listAccounts", connection=conn, inputs={})
    assert store.token is not None and store.token["refresh_token"] == NEW_REFRESH

    assert second.run_action("klaviyo", "listAccounts", connection=conn, inputs={})["data"] == ACCOUNTS
    assert len(token_calls(mock)) == 1  # the rotated-away refresh token is never sent again
    assert api_calls(mock)[-1].request.headers["Authorization"] == f"Bearer {NEW_ACCESS}"
    assert len(store.saves) == 1
    # The host passes the saved token from now on: the same client serves it.
    assert second.client("klaviyo", {**conn, "token": store.token}) is second.client("klaviyo", conn)
    first.close()
    second.close()


def test_after_a_401_a_worker_retries_with_the_token_another_worker_saved(
    mock: responses.RequestsMock,
) -> None:
    def api(request: Any) -> tuple[int, dict, str]:
        if request.headers["Authorization"] == f"Bearer {OLD_ACCESS}":  # Klaviyo ended it early
            return 401, {}, json.dumps({"errors": [{"code": "authentication_failed"}]})
        return 200, {}, json.dumps(ACCOUNTS)

    mock.add_callback("GET", f"{API}/api/accounts", callback=api)
    mock.add_callback("POST", TOKEN_URL, callback=refreshing({OLD_REFRESH: (200, token_reply())}))
    conn = connection()  # an hour left by the clock
    store = Store(conn["token"])
    first, second = store.runner(), store.runner()
    second.client("klaviyo", conn)
    first.run_action("klaviyo", "listAccounts", connection=conn, inputs={})
    assert second.run_action("klaviyo", "listAccounts", connection=conn, inputs={})["data"] == ACCOUNTS
    assert [c.request.headers["Authorization"] for c in api_calls(mock)] == [
        f"Bearer {OLD_ACCESS}",
        f"Bearer {NEW_ACCESS}",  # the first worker, after its refresh
        f"Bearer {OLD_ACCESS}",
        f"Bearer {NEW_ACCESS}",  # the second worker, with the token it loaded
    ]
    assert len(token_calls(mock)) == 1


def test_invalid_grant_then_a_newer_saved_token_is_used(mock: responses.RequestsMock) -> None:
    # No refresh lock: the other worker's rotation is saved only after this worker's refresh started.
    mock.add_callback("POST", TOKEN_URL, callback=refreshing({OLD_REFRESH: DEAD_GRANT}))
    mock.get(f"{API}/api/accounts", json=ACCOUNTS)
    conn = connection(expires_at=NOW - 1)
    store = Store(conn["token"])
    real_load = store.load

    def load(c: Any) -> dict[str, Any] | None:
        token = real_load(c)
        store.token = {**token_reply(), "expires_at": NOW + 3600}  # the other worker saves now
        return token

    store.load = load  # type: ignore[method-assign]
    runner = store.runner(lock=False)
    assert runner.run_action("klaviyo", "listAccounts", connection=conn, inputs={})["data"] == ACCOUNTS
    assert len(token_calls(mock)) == 1
    assert api_calls(mock)[-1].request.headers["Authorization"] == f"Bearer {NEW_ACCESS}"
    assert store.events == ["load", "load"]  # before refreshing, after invalid_grant; nothing saved


def test_invalid_grant_then_a_stale_saved_token_is_refreshed_once_more(mock: responses.RequestsMock) -> None:
    replies = {
        OLD_REFRESH: DEAD_GRANT,
        NEW_REFRESH: (200, token_reply(NEWER_ACCESS, NEWER_REFRESH)),
    }
    mock.add_callback("POST", TOKEN_URL, callback=refreshing(replies))
    mock.get(f"{API}/api/accounts", json=ACCOUNTS)
    conn = connection(expires_at=NOW - 1)
    store = Store(conn["token"])
    real_refresh = oauth2.OAuth2Auth._refresh

    def rotated_elsewhere(auth: oauth2.OAuth2Auth) -> None:
        # Another worker rotates and saves while this one's refresh is in flight; its new access
        # token is already near expiry too.
        store.token = {**token_reply(), "expires_at": NOW - 1}
        real_refresh(auth)

    runner = store.runner(lock=False)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(oauth2.OAuth2Auth, "_refresh", rotated_elsewhere)
        runner.run_action("klaviyo", "listAccounts", connection=conn, inputs={})
    assert [form(c.request)["refresh_token"] for c in token_calls(mock)] == [OLD_REFRESH, NEW_REFRESH]
    assert api_calls(mock)[-1].request.headers["Authorization"] == f"Bearer {NEWER_ACCESS}"
    assert store.token is not None and store.token["refresh_token"] == NEWER_REFRESH


def test_invalid_grant_with_no_newer_token_is_reauth_and_never_loops(mock: responses.RequestsMock) -> None:
    mock.get(f"{API}/api/accounts", status=401, json={"errors": [{"code": "authentication_failed"}]})
    mock.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "Token revoked."})
    conn = connection()
    store = Store(conn["token"])  # holds only the token this worker already has
    runner = store.runner()
    for _ in range(2):
        with pytest.raises(KlaviyoError) as err:
            runner.run_action("klaviyo", "listAccounts", connection=conn, inputs={})
        assert err.value.error_class == REAUTH_REQUIRED
        assert "Reconnect the Klaviyo connection" in err.value.message
        text = json.dumps(err.value.to_dict())
        assert all(s not in text for s in (SECRET, OLD_ACCESS, OLD_REFRESH))
    # One token request in all; the second run only asked the store, and sent nothing.
    assert len(token_calls(mock)) == 1 and len(api_calls(mock)) == 1
    assert store.events == ["lock", "load", "load", "unlock", "load"]


def test_a_newer_token_refused_too_is_reauth_and_never_loops(mock: responses.RequestsMock) -> None:
    mock.add_callback(
        "POST", TOKEN_URL, callback=refreshing({OLD_REFRESH: DEAD_GRANT, NEW_REFRESH: DEAD_GRANT})
    )
    conn = connection(expires_at=NOW - 1)
    store = Store(conn["token"])
    real_load = store.load

    def load(c: Any) -> dict[str, Any] | None:
        token = real_load(c)
        store.token = {**token_reply(), "expires_at": NOW - 1}  # saved elsewhere, and revoked too
        return token

    store.load = load  # type: ignore[method-assign]
    runner = store.runner(lock=False)
    for _ in range(2):
        with pytest.raises(KlaviyoError) as err:
            runner.run_action("klaviyo", "listAccounts", connection=conn, inputs={})
        assert err.value.error_class == REAUTH_REQUIRED
    assert [form(c.request)["refresh_token"] for c in token_calls(mock)] == [OLD_REFRESH, NEW_REFRESH]
    assert api_calls(mock) == []


def test_the_refresh_lock_is_held_around_the_refresh_and_the_save(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json=token_reply())
    mock.get(f"{API}/api/accounts", json=ACCOUNTS)
    fresh = connection()
    store = Store(fresh["token"])
    runner = store.runner()
    runner.run_action("klaviyo", "listAccounts", connection=fresh, inputs={})
    assert store.events == []  # no refresh due: the store is not asked, nothing is locked
    stale = connection(expires_at=NOW - 1, access_token="access-stale-IIIIIIIIIIII")
    store = Store(stale["token"])
    store.runner().run_action("klaviyo", "listAccounts", connection=stale, inputs={})
    assert store.events == ["lock", "load", "save", "unlock"]


def test_a_reconnect_saved_by_the_host_revives_a_dead_grant(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "Revoked."})
    mock.get(f"{API}/api/accounts", json=ACCOUNTS)
    conn = connection(expires_at=NOW - 1)
    store = Store(conn["token"])
    runner = store.runner()
    with pytest.raises(KlaviyoError) as err:
        runner.run_action("klaviyo", "listAccounts", connection=conn, inputs={})
    assert err.value.error_class == REAUTH_REQUIRED
    store.token = {**token_reply(NEWER_ACCESS, NEWER_REFRESH), "expires_at": NOW + 3600}  # reconnected
    assert runner.run_action("klaviyo", "listAccounts", connection=conn, inputs={})["data"] == ACCOUNTS
    assert len(token_calls(mock)) == 1
    assert api_calls(mock)[-1].request.headers["Authorization"] == f"Bearer {NEWER_ACCESS}"


def test_a_failing_loader_is_reported_without_secrets(mock: responses.RequestsMock, caplog: Any) -> None:
    def broken(conn: Any) -> dict[str, Any]:
        raise OSError(f"store down (last token {OLD_REFRESH})")

    # Before a refresh, a broken store doesn't stop the refresh (the token may still be the latest).
    mock.add_callback("POST", TOKEN_URL, callback=refreshing({OLD_REFRESH: (200, token_reply())}))
    mock.get(f"{API}/api/accounts", json=ACCOUNTS)
    caplog.set_level(logging.DEBUG)
    runner = make_runner(load_token=broken)
    runner.run_action("klaviyo", "listAccounts", connection=connection(expires_at=NOW - 1), inputs={})
    assert "could not load the saved OAuth token (token_load_failed)" in caplog.text
    # After invalid_grant it is the answer: whether the grant is dead can't be known.
    other = connection(expires_at=NOW - 1, refresh_token="refresh-gone-JJJJJJJJJJJJ")
    mock.add_callback("POST", TOKEN_URL, callback=refreshing({"refresh-gone-JJJJJJJJJJJJ": DEAD_GRANT}))
    with pytest.raises(KlaviyoError) as err:
        make_runner(load_token=broken).run_action("klaviyo", "listAccounts", connection=other, inputs={})
    assert err.value.error_class == INTERNAL and err.value.code == "token_load_failed"
    assert "OSError" in err.value.message and "store down" not in err.value.message
    everything = json.dumps(err.value.to_dict()) + caplog.text
    assert all(s not in everything for s in (SECRET, OLD_ACCESS, OLD_REFRESH, NEW_ACCESS, NEW_REFRESH))


# -- revoke and secrets --------------------------------------------------------------------------


def test_revoke_revokes_the_refresh_then_the_access_token(mock: responses.RequestsMock) -> None:
    mock.post(REVOKE_URL, status=200)
    oauth2.revoke(FIELDS, connection()["token"])
    assert [form(c.request) for c in mock.calls] == [
        {"token": OLD_REFRESH, "token_type_hint": "refresh_token"},
        {"token": OLD_ACCESS, "token_type_hint": "access_token"},
    ]
    assert all(c.request.headers["Authorization"] == basic() for c in mock.calls)


def test_a_refused_revoke_says_why_without_secrets(mock: responses.RequestsMock) -> None:
    mock.post(REVOKE_URL, status=401, json={"error": "invalid_client", "error_description": f"bad {SECRET}"})
    with pytest.raises(KlaviyoError) as err:
        oauth2.revoke(FIELDS, connection()["token"])
    assert err.value.code == "invalid_client"
    assert SECRET not in json.dumps(err.value.to_dict())


def test_secrets_cover_the_client_secret_and_every_token_held(mock: responses.RequestsMock) -> None:
    mock.post(TOKEN_URL, json=token_reply())
    auth = oauth2.build_auth(FIELDS, connection=connection(expires_at=NOW - 1))
    assert auth.authorization() == f"Bearer {NEW_ACCESS}"
    assert set(auth.secrets()) == {
        SECRET,
        f"{CLIENT_ID}:{SECRET}",
        OLD_ACCESS,
        OLD_REFRESH,
        NEW_ACCESS,
        NEW_REFRESH,
    }
    assert all(s not in repr(auth) for s in auth.secrets())


def test_errors_echoing_a_token_are_scrubbed(mock: responses.RequestsMock, runner: Runner) -> None:
    mock.get(
        f"{API}/api/accounts",
        status=400,
        json={"errors": [{"code": "invalid", "detail": f"bad token {OLD_ACCESS} / {OLD_REFRESH}"}]},
    )
    with pytest.raises(KlaviyoError) as err:
        runner.run_action("klaviyo", "listAccounts", connection=connection(), inputs={})
    text = json.dumps(err.value.to_dict())
    assert OLD_ACCESS not in text and OLD_REFRESH not in text and "[REDACTED]" in text


def test_the_basic_client_credential_is_scrubbed_without_its_prefix(
    mock: responses.RequestsMock, runner: Runner
) -> None:
    import base64

    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    mock.get(
        f"{API}/api/accounts", status=400, json={"errors": [{"code": "invalid", "detail": f"saw {basic}"}]}
    )
    with pytest.raises(KlaviyoError) as err:
        runner.run_action("klaviyo", "listAccounts", connection=connection(), inputs={})
    text = json.dumps(err.value.to_dict())
    assert basic not in text and basic.rstrip("=") not in text and "saw [REDACTED]" in text


@pytest.mark.parametrize(
    "lock", [lambda conn: 42, lambda conn: (_ for _ in ()).throw(ConnectionError("redis down"))]
)
def test_a_broken_refresh_lock_is_a_retryable_error_not_a_defect(
    mock: responses.RequestsMock, lock: Any
) -> None:
    mock.post(TOKEN_URL, json=token_reply())
    stale = connection(expires_at=NOW - 1)
    runner = Runner(load_token=lambda conn: None, refresh_lock=lock)
    with pytest.raises(KlaviyoError) as err:
        runner.run_action("klaviyo", "listAccounts", connection=stale, inputs={})
    assert err.value.error_class == "retryable" and err.value.code == "refresh_lock_failed"
    assert len(token_calls(mock)) == 0  # nothing refreshed without the lock


@pytest.mark.parametrize("expires_at", [float("inf"), "nan", "1e999"])
def test_a_token_with_an_absurd_expiry_is_used_not_a_crash(
    mock: responses.RequestsMock, expires_at: Any
) -> None:
    mock.get(f"{API}/api/accounts", json=ACCOUNTS)
    conn = connection(expires_at=expires_at)
    assert Runner().run_action("klaviyo", "listAccounts", connection=conn, inputs={})["data"] == ACCOUNTS
