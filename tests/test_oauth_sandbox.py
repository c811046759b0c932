"""OAuth end to end over HTTP against the sandbox: authorize, exchange, use, expire, refresh,
rotate, revoke and re-auth; the sandbox's own OAuth rules; and the CLI flow."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import logging
import os
import stat
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from contract import spec_path, validate_response
from klaviyo_connector import Runner
from klaviyo_connector.auth_cli import (
    locked_token_file,
    read_token_file,
    token_file_hooks,
    token_reader,
    write_token_file,
)
from klaviyo_connector.cli import main
from klaviyo_connector.connections import oauth2
from klaviyo_connector.errors import REAUTH_REQUIRED, USER_FIXABLE, KlaviyoError
from klaviyo_connector.revision import REVISION
from klaviyo_connector.sandbox import Sandbox, SandboxOptions
from klaviyo_connector.sandbox.resources.oauth import expire_access_tokens
from sandbox_helpers import FakeClock

REDIRECT = "http://127.0.0.1:1/callback"  # never contacted: the tests read the 302's Location


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture(scope="module")
def box(clock: FakeClock) -> Iterator[Sandbox]:
    sandbox = Sandbox(SandboxOptions(rate_limit_scale=0, clock=clock))
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def fields(box: Sandbox, request: pytest.FixtureRequest) -> dict[str, str]:
    """A sandbox client of its own (so its own account) for each test."""
    suffix = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]
    assert box.base_url is not None
    return {
        "clientId": f"sandbox-{suffix}",
        "clientSecret": f"secret-{suffix}-0123456789",
        "baseUrl": box.base_url,
        "scopes": "accounts:read profiles:read profiles:write",
    }


def make_runner(**kwargs: Any) -> Runner:
    return Runner(client_options={"sleep": lambda s: None, "random": lambda: 0.0}, **kwargs)


def authorize(fields: dict[str, str]) -> tuple[oauth2.AuthorizationRequest, dict[str, str]]:
    """Open the authorization URL like a browser; return the request and the redirect's query."""
    req = oauth2.start_authorization(fields, REDIRECT)
    r = requests.get(req.url, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    location = r.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return req, {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def login(fields: dict[str, str]) -> dict[str, Any]:
    req, query = authorize(fields)
    return oauth2.exchange_code(fields, req, code=query["code"], state=query["state"])


def basic(fields: dict[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{fields['clientId']}:{fields['clientSecret']}".encode()).decode()


def post_token(fields: dict[str, str], data: dict[str, str], **kwargs: Any) -> requests.Response:
    headers = {"Authorization": basic(fields), **kwargs.pop("headers", {})}
    return requests.post(f"{fields['baseUrl']}/oauth/token", data=data, headers=headers, timeout=10, **kwargs)


def list_accounts(runner: Runner, fields: dict[str, str], token: dict[str, Any]) -> str:
    out = runner.run_action(
        "klaviyo", "listAccounts", connection={"key": "oauth2", "fields": fields, "token": token}, inputs={}
    )
    return str(out["data"]["data"][0]["id"])


# -- the whole flow through the runner ------------------------------------------------------------


def test_login_use_expire_refresh_rotate_revoke_reauth(box: Sandbox, fields: dict[str, str]) -> None:
    token = login(fields)
    assert token["token_type"] == "Bearer" and token["scope"] == fields["scopes"]
    saved: list[dict[str, Any]] = []
    runner = make_runner(on_token_update=lambda conn, t: saved.append(t))
    account = list_accounts(runner, fields, token)
    assert saved == []

    assert expire_access_tokens(box.store, time.time()) >= 1
    assert list_accounts(runner, fields, token) == account  # 401 -> refresh -> retry
    (rotated,) = saved
    assert rotated["access_token"] != token["access_token"]
    assert rotated["refresh_token"] != token["refresh_token"]

    # The old refresh token was rotated away.
    r = post_token(fields, {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    # The host hands back what it saved: no further refresh.
    assert list_accounts(runner, fields, rotated) == account
    assert len(saved) == 1

    oauth2.revoke(fields, rotated)
    fresh = make_runner(on_token_update=lambda conn, t: saved.append(t))
    with pytest.raises(KlaviyoError) as err:
        list_accounts(fresh, fields, rotated)
    assert err.value.error_class == REAUTH_REQUIRED
    assert "Reconnect the Klaviyo connection" in err.value.message
    assert len(saved) == 1
    for secret in (fields["clientSecret"], rotated["access_token"], rotated["refresh_token"]):
        assert secret not in json.dumps(err.value.to_dict())
    runner.close()
    fresh.close()


def test_data_sources_raw_request_and_test_connection_use_the_token(
    fields: dict[str, str], caplog: Any
) -> None:
    token = login(fields)
    conn = {"key": "oauth2", "fields": fields, "token": token}
    runner = make_runner()
    account = list_accounts(runner, fields, token)
    assert runner.run_data_source("klaviyo", "selectAccount", connection=conn)["result"][0]["key"] == account
    assert runner.test_connection("klaviyo", connection=conn) == {
        "ok": True,
        "account_id": account,
        "organization": "Sandbox Account",
    }
    caplog.set_level(logging.DEBUG)
    out = runner.run_action(
        "klaviyo",
        "rawRequest",
        connection=conn,
        inputs={"method": "GET", "url": "/api/accounts", "debugRequest": True},
    )
    assert account in json.dumps(out)
    assert token["access_token"] not in caplog.text + json.dumps(out)
    runner.close()


def test_access_tokens_expire_after_an_hour_and_refresh_ahead_of_time(
    box: Sandbox, clock: FakeClock, fields: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = login(fields)
    assert token["expires_in"] == 3600
    start = clock.now
    try:
        clock.now = start + 3601  # the sandbox says the token is dead; the client doesn't know yet
        r = requests.get(
            f"{fields['baseUrl']}/api/accounts",
            headers={"Authorization": f"Bearer {token['access_token']}", "revision": REVISION},
            timeout=10,
        )
        assert r.status_code == 401
        # The client's clock nears expires_at: it refreshes before sending anything.
        monkeypatch.setattr(oauth2, "now", lambda: token["expires_at"] - 60)
        saved: list[dict[str, Any]] = []
        runner = make_runner(on_token_update=lambda conn, t: saved.append(t))
        list_accounts(runner, fields, token)
        assert len(saved) == 1
        runner.close()
    finally:
        clock.now = start


def test_refresh_tokens_expire_after_90_idle_days(
    box: Sandbox, clock: FakeClock, fields: dict[str, str]
) -> None:
    token = login(fields)
    start = clock.now
    try:
        clock.now = start + 91 * 24 * 3600
        r = post_token(fields, {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    finally:
        clock.now = start
    assert r.status_code == 400
    assert r.json() == {
        "error": "invalid_grant",
        "error_description": "The refresh token expired after 90 days without use.",
    }


def test_concurrent_refresh_from_two_threads_makes_one_token_request(
    box: Sandbox, fields: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = login(fields)
    runner = make_runner()
    conn = {"key": "oauth2", "fields": fields, "token": {**token, "expires_at": int(time.time()) - 1}}
    auth = runner.client("klaviyo", conn).auth
    waiting = threading.Condition()
    state = {"wanting": 0}
    real_lock = auth._lock

    class Watched:
        def __enter__(self) -> None:
            with waiting:
                state["wanting"] += 1
                waiting.notify_all()
            real_lock.acquire()

        def __exit__(self, *exc: object) -> None:
            real_lock.release()

    auth._lock = Watched()
    refreshes: list[int] = []
    real_session = oauth2._session

    def counting_session(config: Any, redirect_uri: str | None = None) -> Any:
        session = real_session(config, redirect_uri)
        refresh = session.refresh_token

        def refresh_token(*args: Any, **kwargs: Any) -> Any:
            refreshes.append(1)
            with waiting:  # hold the refresh until the other thread waits for the lock
                assert waiting.wait_for(lambda: state["wanting"] >= 2, timeout=10)
            return refresh(*args, **kwargs)

        session.refresh_token = refresh_token
        return session

    monkeypatch.setattr(oauth2, "_session", counting_session)
    results: list[Any] = []

    def run() -> None:
        try:
            results.append(list_accounts(runner, fields, conn["token"]))
        except Exception as exc:  # pragma: no cover - shown by the assertion below
            results.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert len(results) == 2 and all(isinstance(r, str) for r in results), results
    assert refreshes == [1]
    runner.close()


def test_two_workers_sharing_a_store_both_survive_a_rotation(
    box: Sandbox, clock: FakeClock, fields: dict[str, str]
) -> None:
    token = login(fields)
    store: dict[str, Any] = {"token": token}
    lock = threading.Lock()

    def worker() -> Runner:
        return make_runner(
            on_token_update=lambda conn, t: store.update(token=t),
            load_token=lambda conn: store["token"],
            refresh_lock=lambda conn: lock,
        )

    first, second = worker(), worker()
    account = list_accounts(first, fields, token)
    assert list_accounts(second, fields, token) == account  # both hold the first token
    for _ in range(2):
        assert expire_access_tokens(box.store, clock()) >= 1
        before = store["token"]
        # The first worker gets a 401 and rotates; the second one, still holding the token it had,
        # gets a 401 too and picks up the rotation from the store instead of refreshing.
        assert list_accounts(first, fields, token) == account
        assert store["token"]["refresh_token"] != before["refresh_token"]
        assert list_accounts(second, fields, token) == account
        assert (
            second.client("klaviyo", {"key": "oauth2", "fields": fields, "token": token}).auth.token
            == (store["token"])
        )
    # The store's refresh token is the live one (the grant was not spent twice).
    r = post_token(fields, {"grant_type": "refresh_token", "refresh_token": store["token"]["refresh_token"]})
    assert r.status_code == 200
    first.close()
    second.close()


def test_two_runners_on_one_token_file_reread_it(
    box: Sandbox, clock: FakeClock, fields: dict[str, str], tmp_path: Any
) -> None:
    path = str(tmp_path / "token.json")
    write_token_file(path, {"key": "oauth2", "fields": fields, "token": login(fields)})
    conn = {"key": "oauth2", "fields": fields, "token": read_token_file(path)["token"]}
    first, second = make_runner(**token_file_hooks(path)), make_runner(**token_file_hooks(path))
    second.client("klaviyo", conn)  # read the file before the first runner rotates the token
    assert expire_access_tokens(box.store, clock()) >= 1
    account = list_accounts(first, fields, conn["token"])
    rotated = read_token_file(path)["token"]
    assert rotated["refresh_token"] != conn["token"]["refresh_token"]
    assert list_accounts(second, fields, conn["token"]) == account
    assert read_token_file(path)["token"] == rotated  # re-read, not refreshed again
    # `auth refresh` in a process that read the file before a rotation uses the rotated token.
    stale_reader = make_runner(**token_file_hooks(path))
    auth = stale_reader.client("klaviyo", conn).auth
    refreshed = auth.refresh()
    assert refreshed["refresh_token"] not in (conn["token"]["refresh_token"], rotated["refresh_token"])
    assert read_token_file(path)["token"]["refresh_token"] == refreshed["refresh_token"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    lock_file = path + ".lock"
    assert stat.S_IMODE(os.stat(lock_file).st_mode) & 0o077 == 0
    assert open(lock_file).read() == ""  # the lock file holds nothing, no secret
    for runner in (first, second, stale_reader):
        runner.close()


def test_a_token_file_locked_too_long_is_a_retryable_error(tmp_path: Any) -> None:
    from filelock import FileLock

    path = str(tmp_path / "token.json")
    holder = FileLock(path + ".lock")  # another process refreshing (a lock of its own)
    with holder:
        with pytest.raises(KlaviyoError) as err:
            with locked_token_file(path, timeout=0):
                pass  # pragma: no cover - never entered
    assert err.value.retryable and err.value.code == "token_file_busy"
    assert path in err.value.message
    with locked_token_file(path, timeout=0), locked_token_file(path, timeout=0):
        pass  # free again, and re-entrant in the thread holding it (the save inside a refresh)


def test_the_token_file_loader_only_returns_this_apps_token(fields: dict[str, str], tmp_path: Any) -> None:
    path = str(tmp_path / "token.json")
    conn = {"key": "oauth2", "fields": fields}
    load = token_reader(path)
    assert load(conn) is None  # no file (yet, or any more)
    token = {"access_token": "a" * 20, "refresh_token": "r" * 20}
    write_token_file(path, {"key": "oauth2", "fields": fields, "token": token})
    assert load(conn) == token
    # A later `auth login` with another app: its grant is not this connection's.
    write_token_file(
        path, {"key": "oauth2", "fields": {**fields, "clientId": "sandbox-other"}, "token": token}
    )
    assert load(conn) is None


# -- the sandbox's OAuth rules -------------------------------------------------------------------


def test_a_wrong_verifier_fails_the_code_challenge(fields: dict[str, str]) -> None:
    req, query = authorize(fields)
    wrong = dataclasses.replace(req, code_verifier=oauth2.new_code_verifier())
    with pytest.raises(KlaviyoError) as err:
        oauth2.exchange_code(fields, wrong, code=query["code"], state=query["state"])
    assert err.value.code == "invalid_grant" and "Code challenge failed." in err.value.message
    assert wrong.code_verifier not in err.value.message and req.code_verifier not in err.value.message
    # Codes are single use, even after a failed attempt.
    with pytest.raises(KlaviyoError, match="already used"):
        oauth2.exchange_code(fields, req, code=query["code"], state=query["state"])


def test_a_verifier_outside_klaviyos_alphabet_is_invalid(fields: dict[str, str]) -> None:
    _, query = authorize(fields)
    r = post_token(
        fields,
        {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": REDIRECT,
            "code_verifier": "x" * 42,
        },
    )
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_request", "error_description": "Invalid code_verifier."}
    assert r.headers["Cache-Control"] == "no-store" and r.headers["Content-Type"] == "application/json"


def test_the_redirect_uri_must_match(fields: dict[str, str]) -> None:
    req, query = authorize(fields)
    r = post_token(
        fields,
        {
            "grant_type": "authorization_code",
            "code": query["code"],
            "redirect_uri": "http://127.0.0.1:2/other",
            "code_verifier": req.code_verifier,
        },
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_the_client_secret_is_fixed_at_first_use(fields: dict[str, str]) -> None:
    login(fields)
    other = {**fields, "clientSecret": "another-secret-9876543210"}
    with pytest.raises(KlaviyoError) as err:
        login(other)
    assert err.value.error_class == USER_FIXABLE and err.value.code == "invalid_client"
    assert "Client ID and Client secret" in err.value.message
    assert other["clientSecret"] not in err.value.message


def test_the_token_endpoint_wants_basic_auth_and_a_form_body(fields: dict[str, str]) -> None:
    url = f"{fields['baseUrl']}/oauth/token"
    r = requests.post(
        url,
        data={"grant_type": "refresh_token", "refresh_token": "x", "client_id": fields["clientId"]},
        timeout=10,
    )
    assert r.status_code == 401 and r.json()["error"] == "invalid_client"
    assert "HTTP Basic" in r.json()["error_description"] and r.headers["WWW-Authenticate"].startswith("Basic")
    r = requests.post(
        url, json={"grant_type": "refresh_token"}, headers={"Authorization": basic(fields)}, timeout=10
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert "application/x-www-form-urlencoded" in r.json()["error_description"]
    r = post_token(fields, {"grant_type": "password"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


@pytest.mark.parametrize(
    ("change", "says"),
    [({"client_id": "acme-app"}, "sandbox-"), ({"redirect_uri": "https://attacker.example/cb"}, "loopback")],
)
def test_authorize_shows_errors_it_must_not_redirect(fields: dict[str, str], change: dict, says: str) -> None:
    req = oauth2.start_authorization(fields, REDIRECT)
    query = {k: v[0] for k, v in parse_qs(urlsplit(req.url).query).items()}
    r = requests.get(req.url.split("?")[0], params={**query, **change}, allow_redirects=False, timeout=10)
    assert r.status_code == 400 and "Location" not in r.headers
    assert says in r.json()["error_description"]


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"scope": "lists:read nonsense:read"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_authorize_redirects_other_errors_back_with_the_state(
    fields: dict[str, str], change: dict, error: str
) -> None:
    req = oauth2.start_authorization(fields, REDIRECT)
    query = {k: v[0] for k, v in parse_qs(urlsplit(req.url).query).items()}
    params = {k: v for k, v in {**query, **change}.items() if v is not None}
    r = requests.get(req.url.split("?")[0], params=params, allow_redirects=False, timeout=10)
    assert r.status_code == 302
    back = {k: v[0] for k, v in parse_qs(urlsplit(r.headers["Location"]).query).items()}
    assert back["error"] == error and back["state"] == req.state and "code" not in back


def test_a_missing_scope_is_a_403_naming_it(fields: dict[str, str]) -> None:
    narrow = {**fields, "scopes": "accounts:read"}
    token = login(narrow)
    r = requests.get(
        f"{fields['baseUrl']}/api/profiles",
        headers={"Authorization": f"Bearer {token['access_token']}", "revision": REVISION},
        timeout=10,
    )
    assert r.status_code == 403
    error = r.json()["errors"][0]
    assert error["code"] == "permission_denied" and "profiles:read" in error["detail"]
    if spec_path() is not None:
        validate_response("GET", r.url, r.status_code, r.content)
    runner = make_runner()
    with pytest.raises(KlaviyoError) as err:
        runner.run_action(
            "klaviyo",
            "listProfile",
            connection={"key": "oauth2", "fields": narrow, "token": token},
            inputs={},
        )
    assert err.value.status == 403 and "profiles:read" in err.value.message
    runner.close()


def test_unknown_and_revoked_bearer_tokens_are_401(fields: dict[str, str]) -> None:
    token = login(fields)
    url = f"{fields['baseUrl']}/api/accounts"

    def status(access: str) -> int:
        return requests.get(
            url, headers={"Authorization": f"Bearer {access}", "revision": REVISION}, timeout=10
        ).status_code

    assert status(token["access_token"]) == 200
    assert status("not-a-token") == 401
    oauth2.revoke(fields, {"access_token": token["access_token"]})
    assert status(token["access_token"]) == 401
    # Revoking only the access token leaves the grant: the refresh token still works.
    r = post_token(fields, {"grant_type": "refresh_token", "refresh_token": token["refresh_token"]})
    assert r.status_code == 200 and status(r.json()["access_token"]) == 200


# -- the CLI -----------------------------------------------------------------------------------


class Watch(io.StringIO):
    """stderr for the login thread: tells the test when the authorization URL is out."""

    def __init__(self) -> None:
        super().__init__()
        self.url_ready = threading.Event()

    def write(self, text: str) -> int:
        n = super().write(text)
        if "/oauth/authorize?" in self.getvalue():
            self.url_ready.set()
        return n


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_login_run_expire_refresh_revoke(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], caplog: Any
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("KLAVIYO_CLIENT_SECRET", raising=False)
    caplog.set_level(logging.DEBUG)
    verifiers: list[str] = []
    real_verifier = oauth2.new_code_verifier

    def recording_verifier(length: int = oauth2.VERIFIER_LENGTH) -> str:
        verifiers.append(real_verifier(length))
        return verifiers[-1]

    monkeypatch.setattr(oauth2, "new_code_verifier", recording_verifier)
    path = str(tmp_path / "tokens" / "klaviyo.json")
    printed: list[str] = []

    # login: the URL on stderr, opened like `curl -L` would; the redirect lands on the CLI's port.
    watch, result = Watch(), {}
    with monkeypatch.context() as m:
        m.setattr(sys, "stderr", watch)
        m.setattr(sys, "stdout", io.StringIO())
        login_out = sys.stdout
        thread = threading.Thread(
            target=lambda: result.update(
                code=main(["auth", "login", "--sandbox", "--token-file", path, "--wait", "30"])
            )
        )
        thread.start()
        assert watch.url_ready.wait(30)
        url = next(line for line in watch.getvalue().splitlines() if line.startswith("http"))
        page = requests.get(url, timeout=10)  # follows the 302 to http://127.0.0.1:PORT/callback
        thread.join(30)
        printed += [watch.getvalue(), login_out.getvalue()]
    assert page.status_code == 200 and "Authorized" in page.text
    assert result == {"code": 0}
    summary = json.loads(printed[-1])
    assert summary["ok"] and summary["token_file"] == path and "profiles:read" in summary["scope"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    first = json.load(open(path))
    assert first["key"] == "oauth2" and first["fields"]["clientId"] == "sandbox-cli"
    state = first["sandbox"]["state"]
    assert state.startswith(str(tmp_path / "cache"))

    code, out, err = cli(capsys, "--debug", "run", "listAccounts", "--token-file", path)
    printed += [out, err]
    assert code == 0, err
    account = json.loads(out)["data"][0]["id"]

    code, out, err = cli(capsys, "sandbox", "--expire-tokens", "--state", state)
    assert code == 0 and json.loads(out) == {"expired_access_tokens": 1}

    code, out, err = cli(capsys, "--debug", "run", "listAccounts", "--token-file", path)
    printed += [out, err]
    assert code == 0, err
    assert json.loads(out)["data"][0]["id"] == account
    second = json.load(open(path))
    assert second["token"]["refresh_token"] != first["token"]["refresh_token"]  # rotated and saved
    assert second["token"]["access_token"] != first["token"]["access_token"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600

    code, out, err = cli(capsys, "auth", "refresh", "--token-file", path)
    printed += [out, err]
    assert code == 0 and json.loads(out)["refreshed"] is True
    third = json.load(open(path))
    assert third["token"]["refresh_token"] != second["token"]["refresh_token"]

    code, out, err = cli(capsys, "auth", "revoke", "--token-file", path)
    printed += [out, err]
    assert code == 0 and json.loads(out)["revoked"] is True

    code, out, err = cli(capsys, "--debug", "run", "listAccounts", "--token-file", path)
    printed += [out, err]
    assert code == 1
    error = json.loads(err[err.index('{\n  "error"') :])["error"]
    assert error["class"] == "reauth_required"
    assert "Reconnect" in error["message"] and "auth login" in error["message"]

    secrets = [first["fields"]["clientSecret"], *verifiers]
    for doc in (first, second, third):
        secrets += [doc["token"]["access_token"], doc["token"]["refresh_token"]]
    assert len(verifiers) == 1
    everything = "\n".join(printed) + caplog.text
    for secret in secrets:
        assert secret not in everything


def test_cli_login_refuses_a_redirect_with_another_state(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, box: Sandbox
) -> None:
    path = str(tmp_path / "t.json")
    watch, result = Watch(), {}
    argv = ["auth", "login", "--base-url", str(box.base_url), "--client-id", "sandbox-state-test"]
    argv += ["--client-secret", "state-test-secret-123", "--port", "0", "--token-file", path, "--wait", "30"]
    with monkeypatch.context() as m:
        m.setattr(sys, "stderr", watch)
        m.setattr(sys, "stdout", io.StringIO())
        thread = threading.Thread(target=lambda: result.update(code=main(argv)))
        thread.start()
        assert watch.url_ready.wait(30)
        url = next(line for line in watch.getvalue().splitlines() if line.startswith("http"))
        callback = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        forged = requests.get(callback, params={"code": "stolen", "state": "forged"}, timeout=10)
        assert forged.status_code == 400 and "state mismatch" in forged.text
        assert thread.is_alive()  # still waiting for the real redirect
        page = requests.get(url, timeout=10)
        thread.join(30)
    assert page.status_code == 200 and result == {"code": 0}
    assert json.load(open(path))["fields"]["baseUrl"] == box.base_url


def test_cli_without_a_token_file_says_to_log_in(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "run", "listAccounts", "--token-file", str(tmp_path / "missing.json"))
    assert code == 1
    error = json.loads(err)["error"]
    assert error["class"] == "reauth_required" and "auth login" in error["message"]


def test_rotations_keep_one_client_and_do_not_grow_the_cache(
    box: Sandbox, clock: FakeClock, fields: dict[str, str]
) -> None:
    token = login(fields)
    saved: list[dict[str, Any]] = []
    runner = make_runner(on_token_update=lambda conn, t: saved.append(t))
    account = list_accounts(runner, fields, token)
    current = token
    for _ in range(3):
        assert expire_access_tokens(box.store, clock()) >= 1  # the sandbox's clock, which others move
        assert list_accounts(runner, fields, current) == account  # refresh and rotate
        current = saved[-1]
    assert len(saved) == 3
    assert len(set(map(id, runner._clients.values()))) == 1  # one client throughout
    assert len(runner._clients) == 2  # the first token and the latest one, not every rotation
    assert list_accounts(runner, fields, current) == account and len(saved) == 3
    runner.close()
