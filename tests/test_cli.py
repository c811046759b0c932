"""The klaviyo-connector command: its output contract, exit codes, listings and descriptions,
did-you-mean, global flags, help pages, progress on a terminal only, network and server errors,
sandbox persistence and secrecy."""

from __future__ import annotations

import argparse
import io
import json
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import responses
from flaky_server import OK, Step, fail, throttle
from klaviyo_connector import cli
from klaviyo_connector.cli import main

SECRET = "pk_cli_secret_0123456789abcdef"


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("KLAVIYO_API_KEY", raising=False)
    monkeypatch.delenv("KLAVIYO_BASE_URL", raising=False)
    return tmp_path / "cache"


@pytest.fixture(autouse=True)
def slept(monkeypatch) -> list[float]:
    """Every wait the CLI makes (retry waits and countdown steps): recorded, never waited."""
    waits: list[float] = []
    monkeypatch.setattr(cli, "SLEEP", waits.append)
    return waits


def cli_run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


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


def as_terminal(monkeypatch) -> _Terminal:
    """stderr as a terminal, from here on in the test (capsys puts its own back for each test)."""
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    return term


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- listings and descriptions --------------------------------------------------------------------


def test_actions_lists_keys_and_labels_as_json_or_a_table(capsys):
    code, out, _ = cli_run(capsys, "actions", "--json")
    rows = json.loads(out)
    assert code == 0 and {"key": "createProfile", "label": "Create Profile"} in rows
    code, out, _ = cli_run(capsys, "actions")
    lines = out.splitlines()
    assert code == 0 and len(lines) == len(rows)
    assert any(line.split() == ["createProfile", "Create", "Profile"] for line in lines)


def test_datasources_list_as_a_table_or_json(capsys):
    code, out, _ = cli_run(capsys, "datasources", "--json")
    rows = json.loads(out)
    assert code == 0 and {"key": "selectList", "label": "Select List"} in rows
    code, out, _ = cli_run(capsys, "datasources")
    assert code == 0 and not out.lstrip().startswith("[")
    assert [line.split()[0] for line in out.splitlines()] == [r["key"] for r in rows]


def test_describe_gives_schema_flags_and_scopes(capsys):
    code, out, _ = cli_run(capsys, "describe", "getProfile")
    doc = json.loads(out)
    assert code == 0
    assert doc["kind"] == "action" and doc["key"] == "getProfile"
    assert doc["read_only"] is True and doc["destructive"] is False
    assert doc["scopes"] == ["profiles:read"]
    assert doc["inputs"]["properties"]["profileId"]["title"] == "Profile ID"
    assert doc["rate_limits"]["get_profile"] == {
        "burst_per_second": 75,
        "steady_per_minute": 750,
        "daily": None,
    }


def test_describe_a_data_source(capsys):
    code, out, _ = cli_run(capsys, "describe", "selectList")
    doc = json.loads(out)
    assert code == 0 and doc["kind"] == "data source" and doc["key"] == "selectList"
    assert doc["label"] == "Select List" and "search" in doc["inputs"]["properties"]
    assert doc["scopes"] == ["lists:read"] and doc["operations"]
    assert set(doc["rate_limits"]) == set(doc["operations"])
    code, out, _ = cli_run(capsys, "describe", "selectList", "--kind", "datasource")
    assert code == 0 and json.loads(out)["key"] == "selectList"
    code, _, err = cli_run(capsys, "describe", "selectList", "--kind", "action")
    assert code == 2 and "'selectList' is a data source, not an action" in err
    assert "`klaviyo-connector describe selectList --kind datasource`" in err


@dataclass(frozen=True)
class _Plugin:
    key: str
    label: str
    description: str = ""
    operations: tuple[str, ...] = ()


@dataclass(frozen=True)
class _WithTriggers:
    """A component that declares triggers too (as another issue adds to the real one)."""

    actions: dict[str, Any] = field(
        default_factory=lambda: {"createList": _Plugin("createList", "Create List")}
    )
    data_sources: dict[str, Any] = field(
        default_factory=lambda: {"selectList": _Plugin("selectList", "Pick")}
    )
    triggers: tuple[Any, ...] = (
        _Plugin("newProfile", "New Profile", "When a profile is created.", ("get_profiles",)),
        _Plugin("createList", "List Created"),
    )


def test_a_component_with_triggers_gets_a_listing_and_descriptions(capsys, monkeypatch):
    monkeypatch.setattr(cli, "_component", lambda: _WithTriggers())
    code, out, _ = cli_run(capsys, "triggers", "--json")
    assert code == 0 and json.loads(out)[0] == {"key": "newProfile", "label": "New Profile"}
    code, out, _ = cli_run(capsys, "triggers")
    assert out.splitlines()[0].split() == ["newProfile", "New", "Profile"]
    code, out, _ = cli_run(capsys, "describe", "newProfile")
    doc = json.loads(out)
    assert code == 0 and doc["kind"] == "trigger" and doc["description"] == "When a profile is created."
    assert doc["scopes"] == ["profiles:read"] and "get_profiles" in doc["rate_limits"]
    code, _, err = cli_run(capsys, "describe", "createList")  # an action and a trigger
    assert code == 2 and "--kind action or --kind trigger" in err
    code, out, _ = cli_run(capsys, "describe", "createList", "--kind", "trigger")
    assert code == 0 and json.loads(out)["label"] == "List Created"
    code, _, err = cli_run(capsys, "run", "newProfile")
    assert code == 2 and "'newProfile' is a trigger, not an action" in err


def test_the_real_component_lists_its_triggers(capsys):
    from klaviyo_connector.component import component

    assert cli.declares(component, cli.KINDS[2])  # so the `triggers` command exists
    code, out, _ = cli_run(capsys, "triggers", "--json")
    keys = {row["key"] for row in json.loads(out)}
    assert code == 0 and {"newProfile", "newEvent", "instantEvent"} <= keys


# -- unknown keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["describe", "creatProfile"],
            "no action, data source or trigger 'creatProfile'; did you mean createProfile?",
        ),
        (["run", "creatProfile", "--sandbox"], "no action 'creatProfile'; did you mean createProfile?"),
        (["run", "CREATEPROFILE"], "did you mean createProfile?"),
        (["datasource", "selectLst", "--sandbox"], "no data source 'selectLst'; did you mean selectList?"),
        (["run", "selectList", "--sandbox"], "'selectList' is a data source, not an action: use"),
        (["datasource", "listLists"], "'listLists' is an action, not a data source: use"),
        (["describe", "profile"], "did you mean"),
        (["run", "zzzzzz"], "no action 'zzzzzz' (`klaviyo-connector actions` lists them all)"),
    ],
)
def test_an_unknown_key_exits_2_with_what_was_probably_meant(capsys, cache_dir, argv, says):
    code, out, err = cli_run(capsys, *argv)
    assert code == 2 and out == "" and says in err
    assert not cache_dir.exists()  # refused before any sandbox started


def test_did_you_mean_lists_only_the_close_ones():
    keys = ["createProfile", "getProfile", "createOrUpdateProfile", "listLists", "selectList", "selectTag"]
    assert cli.close_matches("creatProfile", keys) == ["createProfile"]
    assert cli.close_matches("selectLst", keys) == ["selectList"]
    assert "getProfile" in cli.close_matches("profile", keys)
    assert cli.close_matches("qqqq", keys) == []


# -- output ---------------------------------------------------------------------------------------


def test_run_prints_the_actions_result_and_datasource_the_list(capsys):
    code, out, _ = cli_run(capsys, "run", "listAccounts", "--sandbox")
    doc = json.loads(out)
    assert code == 0 and doc["data"][0]["type"] == "account" and "links" in doc  # not {"data": {...}}
    code, out, _ = cli_run(
        capsys, "run", "rawRequest", "--sandbox", "--inputs", '{"url": "/api/accounts", "method": "GET"}'
    )
    raw = json.loads(out)
    assert set(raw) == {"data", "status", "headers", "attempts"} and raw["status"] == 200
    assert raw["data"]["data"][0]["type"] == "account"
    code, out, _ = cli_run(capsys, "datasource", "selectAccount", "--sandbox")
    options = json.loads(out)
    assert code == 0 and isinstance(options, list) and set(options[0]) == {"key", "label"}


def test_no_credentials_exits_2_naming_both_ways(capsys):
    code, out, err = cli_run(capsys, "run", "listAccounts")
    assert code == 2 and out == ""
    assert "--api-key" in err and "KLAVIYO_API_KEY" in err and "--sandbox" in err


def test_bad_inputs_json_is_a_usage_error(capsys):
    code, _, err = cli_run(capsys, "run", "listAccounts", "--sandbox", "--inputs", "{nope")
    assert code == 2 and "--inputs" in err


def test_sandbox_state_persists_between_runs(capsys):
    code, out, _ = cli_run(capsys, "run", "listAccounts", "--sandbox")
    assert code == 0 and json.loads(out)["data"][0]["type"] == "account"
    inputs = json.dumps({"email": "persist@example.com", "firstName": "Per"})
    code, out, _ = cli_run(capsys, "run", "createProfile", "--sandbox", "--inputs", inputs)
    created = json.loads(out)["data"]["id"]
    code, out, _ = cli_run(capsys, "run", "listProfile", "--sandbox")
    assert code == 0 and created in [p["id"] for p in json.loads(out)["data"]]
    code, out, _ = cli_run(capsys, "datasource", "selectProfile", "--sandbox")
    assert {"key": created, "label": "persist@example.com"} in json.loads(out)


def test_inputs_from_file(capsys, tmp_path):
    path = tmp_path / "in.json"
    path.write_text(json.dumps({"email": "file@example.com"}))
    code, out, _ = cli_run(capsys, "run", "createProfile", "--sandbox", "--inputs", f"@{path}")
    assert code == 0 and json.loads(out)["data"]["attributes"]["email"] == "file@example.com"


@pytest.mark.parametrize(
    ("inputs", "label"),
    [({"email": "nope"}, "Email"), ({"phoneNumber": "555 1234"}, "Phone Number")],
)
def test_invalid_input_exits_1_with_json_error_and_sends_nothing(capsys, inputs, label):
    with responses.RequestsMock() as mock:  # any HTTP request would fail the test
        code, out, err = cli_run(
            capsys, "run", "createProfile", "--api-key", SECRET, "--inputs", json.dumps(inputs)
        )
        assert len(mock.calls) == 0
    error = json.loads(err)["error"]
    assert code == 1 and out == ""
    assert error["field"] == label and error["class"] == "user_fixable" and label in error["message"]


# -- global flags ---------------------------------------------------------------------------------


def test_global_flags_go_before_or_after_the_command(capsys):
    for argv in (
        ["--sandbox", "run", "listAccounts"],
        ["run", "--sandbox", "listAccounts"],
        ["run", "listAccounts", "--sandbox"],
        ["--debug", "--sandbox", "test-connection"],
        ["test-connection", "--sandbox", "--debug"],
    ):
        code, out, err = cli_run(capsys, *argv)
        assert code == 0, (argv, err)
        assert json.loads(out)
        assert ("GET /api/accounts -> 200" in err) == ("--debug" in argv), argv


def test_connection_flags_given_before_the_command_reach_it(capsys):
    from klaviyo_connector.sandbox import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(rate_limit_scale=0)) as box:
        code, out, err = cli_run(
            capsys, "--api-key", SECRET, "--base-url", box.base_url, "run", "listAccounts"
        )
        code2, out2, _ = cli_run(
            capsys, "run", "listAccounts", "--base-url", box.base_url, "--api-key", SECRET
        )
    assert code == 0 and code2 == 0, err
    assert json.loads(out)["data"][0]["id"] == json.loads(out2)["data"][0]["id"]  # the same account


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["--sandbox", "actions"], "--sandbox"),
        (["--api-key", "pk_x", "describe", "getProfile"], "--api-key"),
        (["--api-key", "pk_x", "auth", "refresh"], "--api-key"),
    ],
)
def test_a_global_flag_the_command_does_not_take_is_a_usage_error(capsys, argv, flag):
    code, out, err = cli_run(capsys, *argv)
    assert code == 2 and out == "" and f"{flag} does not apply to `klaviyo-connector" in err


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*path, name), child
                yield from _parsers(child, (*path, name))


def test_every_command_has_a_description_examples_and_debug():
    for path, parser in _parsers(cli.build_parser()):
        assert parser.description, path
        help_text = parser.format_help()
        assert "--debug" in help_text, path
        if not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions):
            assert "examples:\n  klaviyo-connector " + " ".join(path) in help_text, path


def test_help_pages_show_defaults(capsys):
    pages = {" ".join(path): parser.format_help() for path, parser in _parsers(cli.build_parser())}
    assert "(default: 8787)" in pages["sandbox"] and "(default: 1.0)" in pages["sandbox"]
    assert "(default: 300.0)" in pages["auth login"]
    assert "(default: False)" not in "".join(pages.values()) and "(default: None)" not in "".join(
        pages.values()
    )
    assert "default: the connection's, else 300" in pages["run"]


def test_the_sandbox_examples_in_the_help_pages_work(capsys, tmp_path, monkeypatch):
    import shlex

    monkeypatch.chdir(tmp_path)  # examples write files (a trigger's --state-file) where they run
    ran = 0
    for path, parser in _parsers(cli.build_parser()):
        examples = (parser.epilog or "").partition("examples:\n")[2].splitlines()
        for line in examples:
            argv = shlex.split(line.strip())
            if "--sandbox" not in argv or path[0] in ("sandbox", "auth", "mcp"):
                continue  # a server that runs until interrupted (tests/test_mcp.py), or a browser login
            code, out, err = cli_run(capsys, *argv[1:])
            assert code == 0, (line, err)
            ran += 1
    assert ran >= 5


# -- progress, retry waits and their countdown ----------------------------------------------------


def test_progress_is_shown_on_a_terminal_only(capsys, monkeypatch):
    for i in range(3):
        inputs = json.dumps({"email": f"p{i}@example.com"})
        assert cli_run(capsys, "run", "createProfile", "--sandbox", "--inputs", inputs)[0] == 0
    inputs = json.dumps({"fetchAll": True, "pageSize": 1})
    code, _, err = cli_run(capsys, "run", "listProfile", "--sandbox", "--inputs", inputs)
    assert code == 0 and err == ""  # not a terminal: quiet
    terminal = as_terminal(monkeypatch)
    assert main(["run", "listProfile", "--sandbox", "--inputs", inputs]) == 0
    assert "pages: 3, records: 3" in terminal.text and "pages: pages" not in terminal.text


class _Clock:
    def __init__(self, *times: float) -> None:
        self.times = list(times)

    def __call__(self) -> float:
        return self.times.pop(0)


def test_bulk_progress_shows_a_bar_with_the_time_left_where_the_total_is_known():
    terminal = _Terminal()
    feedback = cli.RunFeedback(terminal, clock=_Clock(0.0, 4.0, 8.0, 9.0, 12.0), sleep=lambda s: None)
    feedback.progress("batches", {"batch": 1, "of": 5, "profiles": 1000})
    assert "batches:  20%" in terminal.text and "1/5" in terminal.text and "profiles: 1000" in terminal.text
    assert "about 16 s left" in terminal.text  # 4 s for the first of five
    feedback.progress("batches", {"batch": 2, "of": 5, "profiles": 2000})
    assert "about 12 s left" in terminal.text  # 8 s for two
    # A bulk job's polls: its counts, from when the phase before it last reported.
    feedback.progress(
        "waiting",
        {"job_id": "J1", "status": "processing", "completed_count": 9, "failed_count": 1, "total_count": 50},
    )
    assert "10/50" in terminal.text and "about 4 s left" in terminal.text  # 10 in 1 s, 40 to go
    feedback.progress("pages", {"pages": 7, "records": 700})  # no total: counts and time so far
    assert "pages: 7, records: 700, 3 s so far" in terminal.text  # since the polls' last report
    feedback.close()


@pytest.mark.parametrize(
    ("event", "info", "line"),
    [
        ("pages", {"pages": 1, "records": 20}, "pages: 1, records: 20"),
        ("jobs", {"jobs": 2, "of": 5}, "jobs: 2 of 5"),
        ("created", {"profiles_created": 3}, "created — profiles created: 3"),
        ("waiting", {"job_id": "J1", "status": "queued"}, "waiting — job id: J1, status: queued"),
        ("started", {}, "started"),
    ],
)
def test_progress_reads_naturally(event, info, line):
    assert cli.progress_line(event, info) == line


def test_measure_reads_every_shape_of_progress_info():
    assert cli.measure({"batch": 2, "of": 5, "profiles": 2000}) == (2, 5, {"profiles": 2000})
    assert cli.measure({"sent": 200, "total": 1000, "requests": 1, "of_requests": 5}) == (
        200,
        1000,
        {"requests": 1, "of_requests": 5},
    )
    assert cli.measure({"completed_count": 3, "failed_count": None, "total_count": 9, "status": "x"}) == (
        3,
        9,
        {"status": "x"},
    )
    assert cli.measure({"pages": 3, "records": 300}) == (None, None, {"pages": 3, "records": 300})


def test_a_rate_limit_wait_counts_down_on_a_terminal(flaky_server, slept, capsys, monkeypatch):
    from klaviyo_connector.catalog import operation

    terminal = as_terminal(monkeypatch)
    flaky_server.then(throttle("52"), Step(200, {}, OK))
    code = main(["run", "listAccounts", "--api-key", SECRET, "--base-url", flaky_server.url])
    out = capsys.readouterr().out
    assert code == 0 and json.loads(out) == OK and len(flaky_server.seen) == 2
    tier = operation("get_accounts").rate_limit.describe()
    assert f"waiting 52 s for Klaviyo's rate limit ({tier}) — retry 1 of 3, 52 s left" in terminal.text
    assert "47 s left" in terminal.text and "1 s left" in terminal.text
    assert slept == [1.0] * 52  # counted down a second at a time; nothing really waited


def test_a_rate_limit_wait_is_silent_when_stderr_is_not_a_terminal(flaky_server, slept, capsys):
    flaky_server.then(throttle("52"), Step(200, {}, OK))
    code, out, err = cli_run(
        capsys, "run", "listAccounts", "--api-key", SECRET, "--base-url", flaky_server.url
    )
    assert code == 0 and err == "" and json.loads(out) == OK
    assert slept == [52.0]


def test_the_wait_hook_hears_each_wait_and_may_give_up(flaky_server):
    from klaviyo_connector.errors import KlaviyoError
    from klaviyo_connector.http import KlaviyoClient

    heard: list[Any] = []
    waits: list[float] = []
    flaky_server.then(fail(503), throttle("3"), fail(503))
    client = KlaviyoClient(
        None, base_url=flaky_server.url, sleep=waits.append, random=lambda: 0.0, on_wait=heard.append
    )
    with pytest.raises(KlaviyoError):
        client.request("GET", "/api/accounts", operation="get_accounts")
    assert [w.reason.split(" — ")[1] for w in heard] == ["retry 1 of 3", "retry 2 of 3", "retry 3 of 3"]
    assert heard[0].reason.startswith("Klaviyo's HTTP 503 answer") and heard[0].sent is True
    assert heard[1].reason.startswith("Klaviyo's rate limit (") and heard[1].seconds == 3.0
    assert waits == [w.seconds for w in heard]  # the hook only hears; sleep still waits
    flaky_server.then(fail(503), Step(200, {}, OK))
    quitter = KlaviyoClient(None, base_url=flaky_server.url, sleep=waits.append, on_wait=lambda w: False)
    with pytest.raises(KlaviyoError) as info:
        quitter.request("GET", "/api/accounts")
    assert info.value.status == 503 and info.value.attempts == 1


# -- errors ---------------------------------------------------------------------------------------


def test_an_unreachable_base_url_fails_at_once_naming_the_host_and_what_to_check(capsys, slept):
    port = closed_port()
    code, out, err = cli_run(
        capsys, "run", "listAccounts", "--api-key", SECRET, "--base-url", f"http://127.0.0.1:{port}"
    )
    error = json.loads(err)["error"]
    assert code == 1 and out == "" and slept == []  # no reconnects to sit through
    assert error["attempts"] == 1 and error["code"] == "connection_error"
    assert f"Could not connect to 127.0.0.1:{port}" in error["message"]
    assert f"Check the Base URL (http://127.0.0.1:{port})" in error["message"]
    assert "network" in error["message"] and "proxy" in error["message"]


def test_an_unreachable_base_url_from_the_environment_says_where_it_came_from(capsys, monkeypatch):
    monkeypatch.setenv("KLAVIYO_API_KEY", SECRET)
    monkeypatch.setenv("KLAVIYO_BASE_URL", f"http://127.0.0.1:{closed_port()}")
    code, _, err = cli_run(capsys, "test-connection")
    assert code == 1 and "from $KLAVIYO_BASE_URL" in json.loads(err)["error"]["message"]


@pytest.mark.parametrize(
    ("body", "content_type", "what"),
    [
        ("<!doctype html><title>404</title><h1>Not Found</h1>", "text/html", "an HTML page"),
        ('{"detail": "Not Found"}', "application/json", "a body that is not a JSON:API error document"),
    ],
)
def test_a_server_that_is_not_klaviyo_is_named_as_such(capsys, body, content_type, what):
    with responses.RequestsMock() as mock:
        mock.add("GET", "https://example.test/api/accounts", status=404, body=body, content_type=content_type)
        code, _, err = cli_run(
            capsys, "run", "listAccounts", "--api-key", SECRET, "--base-url", "https://example.test"
        )
    error = json.loads(err)["error"]
    assert code == 1 and error["code"] == "not_klaviyo_api" and error["class"] == "user_fixable"
    assert error["message"].startswith("The Base URL does not look like Klaviyo's API")
    assert what in error["message"] and "request error" not in error["message"]


def test_klaviyos_own_404_is_still_klaviyos(capsys):
    from klaviyo_connector.sandbox import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(rate_limit_scale=0)) as box:
        inputs = json.dumps({"profileId": "01NOPE"})
        code, _, err = cli_run(
            capsys, "run", "getProfile", "--api-key", SECRET, "--base-url", box.base_url, "--inputs", inputs
        )
    error = json.loads(err)["error"]
    assert code == 1 and error["status"] == 404 and error["code"] != "not_klaviyo_api"
    assert error["message"].startswith("Klaviyo rejected the request")


def test_no_message_ends_in_a_double_period(capsys, slept):
    from klaviyo_connector.errors import from_response
    from klaviyo_connector.sandbox import Sandbox, SandboxOptions
    from requests.structures import CaseInsensitiveDict

    with Sandbox(SandboxOptions(rate_limit_scale=0, fail_rate=1.0)) as box:  # "... Please try again."
        code, _, err = cli_run(capsys, "run", "listAccounts", "--api-key", SECRET, "--base-url", box.base_url)
    message = json.loads(err)["error"]["message"]
    assert code == 1 and "Please try again." in message and ".." not in message
    for detail in ("Please try again.", "Bad input!", "No reason", "Ends with space. ", "Wait..."):
        for status in (400, 401, 403, 404, 409, 410, 422, 429, 500, 503):
            doc = {"errors": [{"status": status, "code": "x", "detail": detail, "meta": {}}]}
            err = from_response(
                status,
                CaseInsensitiveDict({"Content-Type": "application/vnd.api+json"}),
                json.dumps(doc).encode(),
                method="GET",
                path="/api/x",
                scopes=("lists:read",),
            )
            text = err.message.replace("Wait...", "")
            assert ".." not in text and ". ." not in text, err.message
            assert err.message.rstrip().endswith((".", "!", "?")), err.message


# -- OAuth hints ----------------------------------------------------------------------------------


def test_a_missing_token_file_says_how_to_log_in_for_either_kind(capsys, tmp_path):
    path = tmp_path / "tok.json"
    code, _, err = cli_run(capsys, "run", "listAccounts", "--token-file", str(path))
    message = json.loads(err)["error"]["message"]
    assert code == 1
    assert f"klaviyo-connector auth login --token-file {path}" in message
    assert f"klaviyo-connector auth login --sandbox --token-file {path}" in message
    code, _, err = cli_run(capsys, "run", "listAccounts", "--sandbox", "--token-file", str(path))
    message = json.loads(err)["error"]["message"]
    assert f"`klaviyo-connector auth login --sandbox --token-file {path}`" in message
    assert "auth login --token-file" not in message


def test_the_login_hint_keeps_sandbox_for_a_sandbox_token_file(capsys, tmp_path):
    from klaviyo_connector.auth_cli import write_token_file

    path = tmp_path / "tok.json"
    fields = {"clientId": "sandbox-cli", "clientSecret": "sandbox-cli-secret"}
    token = {"access_token": "a" * 40, "refresh_token": "r" * 40, "expires_at": 1}  # expired, unknown
    write_token_file(path, {"key": "oauth2", "fields": fields, "token": token, "sandbox": {"state": None}})
    code, _, err = cli_run(capsys, "run", "listAccounts", "--token-file", str(path))
    error = json.loads(err)["error"]
    assert code == 1 and error["class"] == "reauth_required"
    assert (
        f"With the CLI: run `klaviyo-connector auth login --sandbox --token-file {path}`." in error["message"]
    )


def test_auth_hints_keep_sandbox(capsys, tmp_path):
    code, _, err = cli_run(capsys, "auth", "refresh", "--sandbox")  # the default sandbox file is missing
    message = json.loads(err)["error"]["message"]
    assert code == 1 and message.endswith("log in first with `klaviyo-connector auth login --sandbox`.")
    path = tmp_path / "tok.json"
    code, _, err = cli_run(capsys, "--sandbox", "auth", "login", "--token-file", str(path), "--wait", "0.01")
    error = json.loads(err[err.index('{\n  "error"') :])["error"]
    assert code == 1 and error["code"] == "login_timeout"
    assert f"run `klaviyo-connector auth login --sandbox --token-file {path}` again" in error["message"]


def test_login_command_names_the_file_only_when_it_is_not_the_default():
    from klaviyo_connector.auth_cli import default_token_file, login_command

    assert login_command(None, True) == "klaviyo-connector auth login --sandbox"
    assert login_command(default_token_file(False), False) == "klaviyo-connector auth login"
    assert (
        login_command("my tokens.json", False) == "klaviyo-connector auth login --token-file 'my tokens.json'"
    )


# -- secrecy, the sandbox command, the console script, the time limit ---------------------------


def test_key_never_printed_with_errors_and_debug(capsys, monkeypatch):
    from klaviyo_connector.sandbox import Sandbox, SandboxOptions

    box = Sandbox(SandboxOptions(rate_limit_scale=0))
    url = box.start()
    try:
        code, out, err = cli_run(
            capsys, "run", "getProfile", "--api-key", SECRET, "--base-url", url, "--debug",
            "--inputs", json.dumps({"profileId": "01NOPE"}),
        )  # fmt: skip
        assert code == 1 and json.loads(err[err.index("{") :])["error"]["status"] == 404
        monkeypatch.setenv("KLAVIYO_API_KEY", SECRET)
        monkeypatch.setenv("KLAVIYO_BASE_URL", url)
        code2, out2, err2 = cli_run(capsys, "--debug", "run", "listAccounts")
        assert code2 == 0
    finally:
        box.stop()
    for text in (out, err, out2, err2):
        assert SECRET not in text
    assert "GET /api/profiles/01NOPE" in err  # debug output is there, just redacted


def test_sandbox_refuses_non_loopback_host(capsys):
    code, _, err = cli_run(capsys, "sandbox", "--host", "0.0.0.0", "--port", "0")
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
    assert json.loads(proc.stdout)["data"][0]["type"] == "account"
    assert proc.stderr == ""  # a pipe, not a terminal: no progress
    assert (cache_dir / "klaviyo-connector").is_dir()


def test_run_timeout_bounds_the_whole_run(capsys):
    with responses.RequestsMock() as mock:
        mock.add(
            "GET", "https://a.klaviyo.com/api/accounts", status=503, headers={"Retry-After": "20"}, json={}
        )
        code, _, err = cli_run(capsys, "run", "listAccounts", "--api-key", "pk_" + "t" * 30, "--timeout", "5")
        assert len(mock.calls) == 1  # no 20 s wait inside a 5 s run
    assert code == 1 and "would pass the action's time limit" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["manifest", "--api-key", "pk_SECRET1234567890abc"],
        ["docs", "--out", "x", "--api-key=pk_SECRET1234567890abc"],
        ["auth", "refresh", "--client-secret", "S3CRET-value-xyz", "--bogus"],
    ],
)
def test_usage_errors_never_repeat_a_secret(capsys, argv):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    err = capsys.readouterr().err
    assert caught.value.code == 2 and "[REDACTED]" in err
    assert "SECRET1234567890abc" not in err and "S3CRET-value-xyz" not in err


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_sandbox_port_out_of_range_is_a_usage_error(capsys, port):
    with pytest.raises(SystemExit) as caught:
        main(["sandbox", "--port", port])
    assert caught.value.code == 2 and "must be a port number from 0 to 65535" in capsys.readouterr().err


# -- usage errors: one line, what was probably meant, flag names --------------------------------


def usage_error(capsys, *argv: str) -> str:
    with pytest.raises(SystemExit) as caught:
        main(list(argv))
    out, err = capsys.readouterr()
    assert caught.value.code == 2 and out == ""
    return err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["run", "listAccounts", "--sandbx"], "unrecognized arguments: --sandbx; did you mean --sandbox?"),
        (["--sandbx", "run", "listAccounts"], "did you mean --sandbox?"),
        (["run", "listAccounts", "--sandbox", "--timeot=5"], "did you mean --timeout?"),
        (
            ["datasource", "selectList", "--inptus", "{}", "--sandbx"],
            "did you mean --inputs for --inptus or --sandbox for --sandbx?",
        ),
        (["sandbox", "--fial-rate", "0.5"], "did you mean --fail-rate?"),
        (["rn", "listAccounts"], "invalid choice: 'rn'"),
    ],
)
def test_a_mistyped_flag_is_one_line_naming_the_flag_probably_meant(capsys, argv, says):
    err = usage_error(capsys, *argv)
    lines = err.splitlines()
    assert len(lines) == 2 and says in lines[0] and "usage:" not in err
    assert lines[0].startswith("klaviyo-connector") and ": error: " in lines[0]
    assert lines[1].startswith("(see `klaviyo-connector") and lines[1].endswith(" --help`)")


def test_an_unknown_flag_with_nothing_close_gets_no_guess(capsys):
    err = usage_error(capsys, "run", "listAccounts", "--zzzzzzzz")
    assert "unrecognized arguments: --zzzzzzzz\n" in err and "did you mean" not in err


def test_a_mistyped_command_is_suggested(capsys):
    assert "did you mean run?" in usage_error(capsys, "rn", "listAccounts")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "86401", "soon"])
def test_a_timeout_out_of_range_is_a_usage_error(capsys, cache_dir, value):
    err = usage_error(capsys, "run", "listAccounts", "--sandbox", "--timeout", value)
    assert "--timeout must be a number of seconds above 0 and at most 86400 (a day)" in err
    assert "invalid_connection" not in err and len(err.splitlines()) == 2
    assert not cache_dir.exists()  # refused before any sandbox started


def test_the_timeout_limit_is_the_http_clients(capsys):
    from klaviyo_connector.http import MAX_SECONDS

    assert cli.timeout_seconds(str(MAX_SECONDS)) == MAX_SECONDS
    assert cli.timeout_seconds("0.5") == 0.5
    with pytest.raises(argparse.ArgumentTypeError):
        cli.timeout_seconds(str(MAX_SECONDS + 1))
    err = usage_error(capsys, "datasource", "selectList", "--sandbox", "--timeout", "0")
    assert "--timeout must be" in err


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--fail-rate", "1.5"], "--fail-rate must be between 0 and 1, got 1.5"),
        (["--throttle-rate", "-0.1"], "--throttle-rate must be between 0 and 1"),
        (["--fail-after-commit-rate", "2"], "--fail-after-commit-rate must be between 0 and 1"),
        (["--rate-limit-scale", "-1"], "--rate-limit-scale must be 0 (off) or more"),
        (["--latency-ms", "-5"], "--latency-ms must be 0 or more"),
        (["--host", "0.0.0.0", "--port", "0"], "use --allow-remote to override"),
    ],
)
def test_sandbox_option_errors_name_the_flags(capsys, argv, says):
    code, out, err = cli_run(capsys, "sandbox", *argv)
    assert code == 2 and out == "" and says in err
    assert "_" not in err.replace("klaviyo-connector", "") and "=True" not in err and "sandbox: " not in err


def test_sandbox_flag_names_cover_every_option_error():
    from klaviyo_connector.sandbox import SandboxOptions

    assert (
        cli.as_flags("fail_rate must be between 0 and 1, got 2")
        == "--fail-rate must be between 0 and 1, got 2"
    )
    assert cli.as_flags("fail_after_commit_rate x") == "--fail-after-commit-rate x"
    for name in cli.SANDBOX_FLAGS:  # every name is a SandboxOptions field
        assert name in SandboxOptions.__dataclass_fields__


@pytest.mark.parametrize(
    ("argv", "flags"),
    [
        (["run", "listAccounts", "--sandbox", "--api-key", SECRET], "--api-key"),
        (["--sandbox", "run", "listAccounts", "--base-url", "http://127.0.0.1:9"], "--base-url"),
        (
            ["test-connection", "--sandbox", "--api-key", SECRET, "--base-url", "http://x"],
            "--api-key or --base-url",
        ),
        (["datasource", "selectList", "--sandbox", "--api-key", SECRET], "--api-key"),
    ],
)
def test_sandbox_refuses_a_key_or_url_of_its_own(capsys, cache_dir, argv, flags):
    code, out, err = cli_run(capsys, *argv)
    assert code == 2 and out == ""
    assert f"--sandbox can't be combined with {flags}: it supplies its own key and URL" in err
    assert SECRET not in err and len(err.splitlines()) == 1
    assert not cache_dir.exists()  # refused before any sandbox started


def test_sandbox_with_a_token_file_is_unchanged(capsys, tmp_path):
    missing = tmp_path / "tok.json"
    code, _, err = cli_run(capsys, "run", "listAccounts", "--sandbox", "--token-file", str(missing))
    assert code == 1 and "can't be combined" not in err
    assert "auth login --sandbox" in err  # the hint still knows it is a sandbox login


def test_every_usage_error_starts_lowercase(capsys, monkeypatch):
    for argv in (["run", "listAccounts"], ["run", "listAccounts", "--sandbox", "--api-key", SECRET]):
        code, _, err = cli_run(capsys, *argv)
        message = err.removeprefix("klaviyo-connector: ")
        assert code == 2 and not message[:1].isupper() and not message.rstrip().endswith("."), err
    assert usage_error(capsys, "run").split(": error: ")[1][:1].islower()


# -- the standalone sandbox and --sandbox share one default account -----------------------------


def test_sandbox_reset_empties_the_state_and_exits(capsys, cache_dir):
    code, out, _ = cli_run(
        capsys, "run", "createList", "--sandbox", "--inputs", '{"listName": "Before reset"}'
    )
    assert code == 0 and json.loads(out)["data"]["attributes"]["name"] == "Before reset"
    code, out, err = cli_run(capsys, "sandbox", "--reset")  # returns: it does not serve
    assert code == 0 and out == ""
    assert "the sandbox state is empty now" in err and str(cache_dir) in err
    code, out, _ = cli_run(capsys, "run", "listLists", "--sandbox")
    assert code == 0 and json.loads(out)["data"] == []


def test_the_banner_names_the_account_sandbox_runs_use(capsys, cache_dir):
    """What --sandbox writes, a client of the standalone server sees with the banner's key and URL."""
    import threading

    from klaviyo_connector.sandbox import DEFAULT_API_KEY, Sandbox, SandboxOptions, default_state_path

    code, out, _ = cli_run(capsys, "run", "createList", "--sandbox", "--inputs", '{"listName": "Shared"}')
    assert code == 0
    box = Sandbox(SandboxOptions(state_path=str(default_state_path())))
    banner = io.StringIO()
    ready = threading.Event()
    thread = threading.Thread(
        target=box.serve_forever, kwargs={"announce": banner, "ready": lambda _url: ready.set()}
    )
    thread.start()
    try:
        assert ready.wait(10)
        text = banner.getvalue()
        assert f"API key:  {DEFAULT_API_KEY}" in text and f"Base URL: {box.base_url}" in text
        assert f"KLAVIYO_API_KEY={DEFAULT_API_KEY} KLAVIYO_BASE_URL={box.base_url}" in text
        code, out, _ = cli_run(
            capsys, "run", "listLists", "--api-key", DEFAULT_API_KEY, "--base-url", str(box.base_url)
        )
        assert code == 0 and [d["attributes"]["name"] for d in json.loads(out)["data"]] == ["Shared"]
        # A reset from another process while it serves: both sides still share the (now empty) account.
        assert cli_run(capsys, "sandbox", "--reset")[0] == 0
        served = ["--api-key", DEFAULT_API_KEY, "--base-url", str(box.base_url)]
        code, out, _ = cli_run(capsys, "run", "listAccounts", *served)
        assert code == 0 and len(json.loads(out)["data"]) == 1
        code, out, _ = cli_run(capsys, "run", "createList", "--sandbox", "--inputs", '{"listName": "After"}')
        assert code == 0
        code, out, _ = cli_run(capsys, "run", "listLists", *served)
        assert [d["attributes"]["name"] for d in json.loads(out)["data"]] == ["After"]
    finally:
        box.stop()
        thread.join(10)


@pytest.mark.skipif(not SCRIPT.exists(), reason="the console script is not installed beside this interpreter")
def test_a_reader_that_stops_early_ends_the_command_quietly(cache_dir):
    """`klaviyo-connector ... | head`: no BrokenPipeError traceback, exit 141 like a Unix tool."""
    import os

    env = {**os.environ, "XDG_CACHE_HOME": str(cache_dir)}
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line is written
    try:
        proc = subprocess.run(
            [str(SCRIPT), "actions"], stdout=write_end, stderr=subprocess.PIPE, env=env, timeout=60
        )
    finally:
        os.close(write_end)
    assert proc.returncode == 141
    assert proc.stderr == b""
