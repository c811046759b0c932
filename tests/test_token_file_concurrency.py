"""Several CLI processes refreshing one ``--token-file`` at once, against one sandbox on loopback.

Each round expires the token (on the sandbox, or in the file) and starts every process at once; all
of them must succeed with one token request between them, and the file must stay valid (0600, a live
refresh token, no secret in any output or in the lock file).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from klaviyo_connector.auth_cli import read_token_file, write_token_file
from klaviyo_connector.connections import oauth2
from klaviyo_connector.revision import REVISION
from klaviyo_connector.sandbox import Sandbox, SandboxOptions
from klaviyo_connector.sandbox.resources.oauth import OWNER, expire_access_tokens

PROCESSES = 4
ROUNDS = 6
PROCESS_TIMEOUT = 30.0  # a bound for a hung process, never a wait that a passing run reaches
CLIENT_ID = "sandbox-token-file-concurrency"
CLIENT_SECRET = "concurrency-client-secret-0123456789"
REDIRECT = "http://127.0.0.1:1/callback"  # never contacted: the test reads the 302's Location


@pytest.fixture(scope="module")
def box() -> Iterator[Sandbox]:
    sandbox = Sandbox(SandboxOptions(state_path=None, rate_limit_scale=0))
    sandbox.start()
    yield sandbox
    sandbox.stop()


def login(fields: dict[str, str]) -> dict[str, Any]:
    """Authorize like a browser would and trade the code for tokens."""
    req = oauth2.start_authorization(fields, REDIRECT)
    r = requests.get(req.url, allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text
    query = {k: v[0] for k, v in parse_qs(urlsplit(r.headers["Location"]).query).items()}
    return oauth2.exchange_code(fields, req, code=query["code"], state=query["state"])


def command() -> list[str]:
    """The installed ``klaviyo-connector`` script of this interpreter's environment."""
    script = Path(sys.executable).with_name("klaviyo-connector")
    return [str(script)] if script.exists() else [sys.executable, "-m", "klaviyo_connector.cli"]


def run_at_once(argv: list[str], env: dict[str, str]) -> list[tuple[int, str, str]]:
    """Start every process before waiting for any, so their refreshes overlap."""
    procs = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(PROCESSES)
    ]
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=PROCESS_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        results.append((proc.returncode, out, err))
    return results


def rotations(box: Sandbox) -> int:
    """How many refresh tokens of this test's client were spent (one per token request)."""
    return sum(
        1
        for record in box.store.list_resources(OWNER, "oauth_refresh")
        if record.attributes["client_id"] == CLIENT_ID and record.attributes["rotated"]
    )


def test_processes_sharing_a_token_file_all_succeed_and_refresh_once(box: Sandbox, tmp_path: Path) -> None:
    assert box.base_url is not None
    fields = {
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "baseUrl": box.base_url,
        "scopes": "accounts:read",
    }
    path = tmp_path / "tokens" / "klaviyo.json"
    write_token_file(path, {"key": "oauth2", "fields": fields, "token": login(fields)})
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    env.pop("KLAVIYO_API_KEY", None)
    argv = [*command(), "--debug", "run", "listAccounts", "--token-file", str(path)]

    secrets = {CLIENT_SECRET}
    printed: list[str] = []
    failures: list[str] = []
    started = time.monotonic()
    for round_no in range(ROUNDS):
        doc = read_token_file(path)
        secrets.update(v for k, v in doc["token"].items() if k in ("access_token", "refresh_token"))
        if round_no % 2 == 0:
            # Klaviyo ends the access token early: every process gets a 401, then refreshes.
            assert expire_access_tokens(box.store, time.time()) >= 1
        else:
            # The file says the token is about to expire: every process refreshes before sending.
            doc["token"]["expires_at"] = int(time.time()) - 1
            write_token_file(path, doc)
        before = rotations(box)
        results = run_at_once(argv, env)
        for code, out, err in results:
            printed += [out, err]
            if code != 0:
                failures.append(f"round {round_no}: exit {code}: {err.strip().splitlines()[-8:]}")
            else:
                assert json.loads(out)["data"][0]["type"] == "account"
        # One token request per round: the other processes found the rotated token in the file.
        assert rotations(box) - before == 1, f"round {round_no}: {rotations(box) - before} refreshes"
    elapsed = time.monotonic() - started
    print(f"{PROCESSES} processes x {ROUNDS} rounds: {len(failures)} failures in {elapsed:.1f} s")
    assert failures == [], f"{len(failures)} of {PROCESSES * ROUNDS} runs failed:\n" + "\n".join(failures)

    # The file is still a valid connection: 0600, its access token works, its refresh token too.
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    final = read_token_file(path)["token"]
    secrets.update((final["access_token"], final["refresh_token"]))
    r = requests.get(
        f"{box.base_url}/api/accounts",
        headers={"Authorization": f"Bearer {final['access_token']}", "revision": REVISION},
        timeout=10,
    )
    assert r.status_code == 200
    refreshed = subprocess.run(
        [*command(), "auth", "refresh", "--token-file", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=PROCESS_TIMEOUT,
    )
    assert refreshed.returncode == 0, refreshed.stderr
    printed += [refreshed.stdout, refreshed.stderr]
    secrets.update(v for k, v in read_token_file(path)["token"].items() if k.endswith("_token"))

    # No secret in any output or log line, and none in the lock file.
    everything = "\n".join(printed)
    locks = [p for p in path.parent.iterdir() if p.name.endswith(".lock")]
    for lock in locks:
        everything += lock.read_text(errors="replace")
    leaked = [s[:6] for s in secrets if s in everything]
    assert leaked == []
