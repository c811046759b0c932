"""The klaviyo-connector command: its output contract, exit codes, sandbox persistence, secrecy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import responses
from klaviyo_connector.cli import main

SECRET = "pk_cli_secret_0123456789abcdef"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("KLAVIYO_API_KEY", raising=False)
    monkeypatch.delenv("KLAVIYO_BASE_URL", raising=False)
    return tmp_path / "cache"


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_actions_lists_keys_and_labels(capsys):
    code, out, _ = cli(capsys, "actions", "--json")
    rows = json.loads(out)
    assert code == 0 and {"key": "createProfile", "label": "Create Profile"} in rows


def test_describe_gives_schema_flags_and_scopes(capsys):
    code, out, _ = cli(capsys, "describe", "getProfile")
    doc = json.loads(out)
    assert code == 0
    assert doc["key"] == "getProfile" and doc["read_only"] is True and doc["destructive"] is False
    assert doc["scopes"] == ["profiles:read"]
    assert doc["inputs"]["properties"]["profileId"]["title"] == "Profile ID"
    assert doc["rate_limits"]["get_profile"] == {
        "burst_per_second": 75,
        "steady_per_minute": 750,
        "daily": None,
    }


def test_describe_unknown_action_is_a_usage_error(capsys):
    code, _, err = cli(capsys, "describe", "nope")
    assert code == 2 and "no action 'nope'" in err


def test_no_credentials_exits_2_naming_both_ways(capsys):
    code, out, err = cli(capsys, "run", "listAccounts")
    assert code == 2 and out == ""
    assert "--api-key" in err and "KLAVIYO_API_KEY" in err and "--sandbox" in err


def test_bad_inputs_json_is_a_usage_error(capsys):
    code, _, err = cli(capsys, "run", "listAccounts", "--sandbox", "--inputs", "{nope")
    assert code == 2 and "--inputs" in err


def test_sandbox_state_persists_between_runs(capsys):
    code, out, _ = cli(capsys, "run", "listAccounts", "--sandbox")
    assert code == 0 and json.loads(out)["data"]["data"][0]["type"] == "account"
    inputs = json.dumps({"email": "persist@example.com", "firstName": "Per"})
    code, out, _ = cli(capsys, "run", "createProfile", "--sandbox", "--inputs", inputs)
    created = json.loads(out)["data"]["data"]["id"]
    code, out, _ = cli(capsys, "run", "listProfile", "--sandbox")
    assert code == 0 and created in [p["id"] for p in json.loads(out)["data"]["data"]]
    code, out, _ = cli(capsys, "datasource", "selectProfile", "--sandbox")
    assert {"key": created, "label": "persist@example.com"} in json.loads(out)["result"]


def test_inputs_from_file(capsys, tmp_path):
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"email": "file@example.com"}))
    code, out, _ = cli(capsys, "run", "createProfile", "--sandbox", "--inputs", f"@{path}")
    assert code == 0 and json.loads(out)["data"]["data"]["attributes"]["email"] == "file@example.com"


@pytest.mark.parametrize(
    ("inputs", "label"),
    [({"email": "nope"}, "Email"), ({"phoneNumber": "555 1234"}, "Phone Number")],
)
def test_invalid_input_exits_1_with_json_error_and_sends_nothing(capsys, inputs, label):
    with responses.RequestsMock() as mock:  # any HTTP request would fail the test
        code, out, err = cli(
            capsys, "run", "createProfile", "--api-key", SECRET, "--inputs", json.dumps(inputs)
        )
        assert len(mock.calls) == 0
    error = json.loads(err)["error"]
    assert code == 1 and out == ""
    assert error["field"] == label and error["class"] == "user_fixable" and label in error["message"]


def test_key_never_printed_with_errors_and_debug(capsys, monkeypatch):
    from klaviyo_connector.sandbox import Sandbox, SandboxOptions

    box = Sandbox(SandboxOptions(rate_limit_scale=0))
    url = box.start()
    try:
        code, out, err = cli(
            capsys, "--debug", "run", "getProfile", "--api-key", SECRET, "--base-url", url,
            "--inputs", json.dumps({"profileId": "01NOPE"}),
        )  # fmt: skip
        assert code == 1 and json.loads(err[err.index("{") :])["error"]["status"] == 404
        monkeypatch.setenv("KLAVIYO_API_KEY", SECRET)
        monkeypatch.setenv("KLAVIYO_BASE_URL", url)
        code2, out2, err2 = cli(capsys, "--debug", "run", "listAccounts")
        assert code2 == 0
    finally:
        box.stop()
    for text in (out, err, out2, err2):
        assert SECRET not in text
    assert "GET /api/profiles/01NOPE" in err  # debug output is there, just redacted


def test_sandbox_refuses_non_loopback_host(capsys):
    code, _, err = cli(capsys, "sandbox", "--host", "0.0.0.0", "--port", "0")
    assert code == 2 and "--allow-remote" in err


SCRIPT = Path(sys.executable).parent / "klaviyo-connector"


@pytest.mark.skipif(not SCRIPT.exists(), reason="the console script is not installed beside this interpreter")
def test_console_script_runs_an_action_on_the_sandbox(cache_dir):
    import os

    env = {**os.environ, "XDG_CACHE_HOME": str(cache_dir)}
    proc = subprocess.run(
        [str(SCRIPT), "run", "listAccounts", "--sandbox"], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"]["data"][0]["type"] == "account"
    assert (cache_dir / "klaviyo-connector").is_dir()


class _Terminal:
    """A stderr that says it is a terminal, recording what is written."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.text += text
        return len(text)

    def flush(self) -> None:
        pass


def test_progress_is_shown_on_a_terminal_only(capsys, monkeypatch):
    for i in range(3):
        assert (
            cli(
                capsys,
                "run",
                "createProfile",
                "--sandbox",
                "--inputs",
                json.dumps({"email": f"p{i}@example.com"}),
            )[0]
            == 0
        )
    inputs = json.dumps({"fetchAll": True, "pageSize": 1})
    code, _, err = cli(capsys, "run", "listProfile", "--sandbox", "--inputs", inputs)
    assert code == 0 and err == ""  # not a terminal: quiet
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["run", "listProfile", "--sandbox", "--inputs", inputs]) == 0
    assert "pages 3, records 3" in terminal.text


def test_run_timeout_bounds_the_whole_run(capsys):
    with responses.RequestsMock() as mock:
        mock.add(
            "GET", "https://a.klaviyo.com/api/accounts", status=503, headers={"Retry-After": "20"}, json={}
        )
        code, _, err = cli(capsys, "run", "listAccounts", "--api-key", "pk_" + "t" * 30, "--timeout", "5")
        assert len(mock.calls) == 1  # no 20 s wait inside a 5 s run
    assert code == 1 and "would pass the action's time limit" in err
