"""Streaming a list action's records: Runner.stream_action and `run --output ndjson|json`.

The page mock logs each fetch and the tests log each record consumed, so "page N+1 is fetched
only after page N is consumed" is asserted as an order of events, not timed.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from conftest import API_KEY, BASE, CONNECTION
from klaviyo_connector.cli import main
from klaviyo_connector.errors import KlaviyoError

PROFILES = f"{BASE}/api/profiles"


def profile(n: int) -> dict[str, Any]:
    return {"type": "profile", "id": f"P{n}", "attributes": {"email": f"p{n}@example.com", "name": "Zoë"}}


class Pages:
    """A mocked GET /api/profiles serving ``pages`` (lists of record numbers) in order, each
    linking to the next by cursor; page ``fail_at`` (1-based) answers 400 instead."""

    def __init__(self, mock: responses.RequestsMock, pages: list[list[int]], fail_at: int | None = None):
        self.pages = pages
        self.fail_at = fail_at
        self.log: list[str] = []
        self.queries: list[dict[str, list[str]]] = []
        mock.add_callback(responses.GET, PROFILES, callback=self)

    def __call__(self, request: Any) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlsplit(request.url).query)
        self.queries.append(query)
        n = int(query.get("page[cursor]", ["1"])[0])
        self.log.append(f"fetch {n}")
        if n == self.fail_at:
            error = {"status": 400, "code": "invalid", "detail": "Bad page.", "source": {"parameter": "x"}}
            return 400, {}, json.dumps({"errors": [error]})
        links: dict[str, Any] = {"self": request.url, "next": None}
        if n < len(self.pages):
            links["next"] = f"{PROFILES}?page%5Bcursor%5D={n + 1}"
        included = [{"type": "list", "id": "L1", "attributes": {"name": "VIP"}}] if n == 1 else []
        doc = {"data": [profile(i) for i in self.pages[n - 1]], "links": links, "included": included}
        return 200, {"Content-Type": "application/vnd.api+json"}, json.dumps(doc)


FETCH_ALL = {"fetchAll": True, "pageSize": 2}


def test_records_arrive_in_order_and_page_n_plus_1_is_fetched_only_after_page_n_is_consumed(
    runner, connection, klaviyo
):
    pages = Pages(klaviyo, [[1, 2], [3, 4], [5]])
    seen: list[str] = []
    stream = runner.stream_action(
        "klaviyo", "listProfile", connection=connection, inputs=FETCH_ALL, progress=lambda e, i: None
    )
    assert pages.log == []  # inputs checked, nothing sent until a record is asked for
    for record in stream:
        pages.log.append(f"record {record['id']}")
        seen.append(record["attributes"]["email"])
    assert pages.log == [
        "fetch 1",
        "record P1",
        "record P2",
        "fetch 2",
        "record P3",
        "record P4",
        "fetch 3",
        "record P5",
    ]
    assert seen == [f"p{n}@example.com" for n in range(1, 6)]
    assert pages.queries[0]["page[size]"] == ["2"]  # the first request carries the inputs
    doc = stream.document()
    assert doc["meta"] == {"pages": 3, "records": 5, "next_cursor": None}
    assert doc["included"] == [{"type": "list", "id": "L1", "attributes": {"name": "VIP"}}]


def test_max_records_stops_the_stream_mid_page_and_fetches_no_further_page(runner, connection, klaviyo):
    pages = Pages(klaviyo, [[1, 2], [3, 4], [5, 6]])
    stream = runner.stream_action(
        "klaviyo", "listProfile", connection=connection, inputs={**FETCH_ALL, "maxRecords": 3}
    )
    assert [r["id"] for r in stream] == ["P1", "P2", "P3"]
    assert pages.log == ["fetch 1", "fetch 2"]
    assert stream.document()["meta"] == {"pages": 2, "records": 3, "next_cursor": "3"}


def test_without_fetch_all_one_page_is_streamed_with_its_next_cursor(runner, connection, klaviyo):
    pages = Pages(klaviyo, [[1, 2], [3]])
    stream = runner.stream_action("klaviyo", "listProfile", connection=connection, inputs={"pageSize": 2})
    assert [r["id"] for r in stream] == ["P1", "P2"]
    assert pages.log == ["fetch 1"] and stream.document()["meta"]["next_cursor"] == "2"


def test_bad_inputs_and_actions_without_records_are_refused_before_anything_is_sent(runner, connection):
    with responses.RequestsMock() as mock:  # any request would fail the test
        with pytest.raises(KlaviyoError) as bad:
            runner.stream_action("klaviyo", "listProfile", connection=connection, inputs={"pageSize": 0})
        assert bad.value.code == "invalid_input" and "Page Size" in bad.value.message
        with pytest.raises(KlaviyoError) as flt:
            runner.stream_action(
                "klaviyo", "listProfile", connection=connection, inputs={"filter": "equals(nope,'x')"}
            )
        assert flt.value.code == "invalid_input" and "nope" in flt.value.message
        with pytest.raises(KlaviyoError) as write:
            runner.stream_action("klaviyo", "createList", connection=connection, inputs={"name": "VIP"})
        assert write.value.code == "not_a_list_action"
        assert write.value.message == (
            "createList is not a list action, so it has no records to stream; use run_action."
        )
        assert len(mock.calls) == 0


def test_an_error_mid_stream_says_how_much_was_done_and_keeps_the_key_secret(runner, connection, klaviyo):
    Pages(klaviyo, [[1, 2], [3, 4], [5]], fail_at=2)
    got: list[str] = []
    with pytest.raises(KlaviyoError) as failed:
        for record in runner.stream_action("klaviyo", "listProfile", connection=connection, inputs=FETCH_ALL):
            got.append(record["id"])
    assert got == ["P1", "P2"]
    exc = failed.value
    assert exc.status == 400 and exc.meta["done_before_failure"] == {
        "event": "pages",
        "info": {"pages": 1, "records": 2},
    }
    assert exc.message.endswith("Done before this failure: pages: pages 1, records 2.")
    assert API_KEY not in json.dumps(exc.to_dict())


# -- the CLI -----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def quiet_cli(monkeypatch, tmp_path):
    from klaviyo_connector import cli

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("KLAVIYO_BASE_URL", raising=False)
    monkeypatch.setattr(cli, "SLEEP", lambda s: None)


def cli(capsys: Any, *argv: str) -> tuple[int, str, str]:
    code = main(["run", "listProfile", "--api-key", API_KEY, *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_ndjson_writes_one_compact_record_a_line(capsys, klaviyo):
    Pages(klaviyo, [[1, 2], [3]])
    code, out, err = cli(capsys, "--output", "ndjson", "--inputs", json.dumps(FETCH_ALL))
    assert code == 0 and err == ""
    assert out == "".join(
        json.dumps(profile(n), ensure_ascii=False, separators=(",", ":")) + "\n" for n in (1, 2, 3)
    )
    assert '"name":"Zoë"' in out  # UTF-8 as is, like the JSON output


def test_ndjson_of_one_page_says_on_stderr_how_to_get_the_next(capsys, klaviyo):
    Pages(klaviyo, [[1, 2], [3]])
    code, out, err = cli(capsys, "--output", "ndjson", "--inputs", '{"pageSize": 2}')
    assert code == 0 and len(out.splitlines()) == 2
    assert err == 'klaviyo-connector: more records follow; add "pageCursor": "2" for the next page\n'


@pytest.mark.parametrize("pages", [[[1, 2], [3]], [[]]], ids=["three records", "none"])
def test_streamed_json_is_exactly_the_collected_document_indented(capsys, klaviyo, runner, pages):
    Pages(klaviyo, pages)
    collected = runner.run_action("klaviyo", "listProfile", connection=CONNECTION, inputs=FETCH_ALL)["data"]
    code, out, _ = cli(capsys, "--inputs", json.dumps(FETCH_ALL))
    assert code == 0
    assert out == json.dumps(collected, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("output", ["ndjson", "json"])
def test_an_error_mid_stream_exits_1_keeping_what_was_printed(capsys, klaviyo, output):
    Pages(klaviyo, [[1, 2], [3, 4], [5]], fail_at=2)
    code, out, err = cli(capsys, "--output", output, "--inputs", json.dumps(FETCH_ALL))
    assert code == 1
    error = json.loads(err)["error"]
    assert error["status"] == 400
    assert error["meta"]["done_before_failure"] == {"event": "pages", "info": {"pages": 1, "records": 2}}
    assert API_KEY not in out + err
    if output == "ndjson":  # every line printed is a whole record
        assert [json.loads(line)["id"] for line in out.splitlines()] == ["P1", "P2"]
    else:  # the document stays unterminated, so no parser takes it for the whole result
        assert out.startswith('{\n  "data": [\n    {\n      "type": "profile",\n      "id": "P1"')
        assert out.rstrip().endswith("}") and '"P2"' in out and '"meta"' not in out
        with pytest.raises(ValueError):
            json.loads(out)


@pytest.mark.parametrize("output", ["ndjson", "json"])
def test_an_error_on_the_first_page_leaves_stdout_empty(capsys, klaviyo, output):
    Pages(klaviyo, [[1, 2], [3]], fail_at=1)
    code, out, err = cli(capsys, "--output", output, "--inputs", json.dumps(FETCH_ALL))
    assert code == 1 and out == ""
    assert json.loads(err)["error"]["status"] == 400


def test_ndjson_of_an_action_without_records_is_a_usage_error_sending_nothing(capsys):
    with responses.RequestsMock():  # any request would fail the test
        code = main(
            ["run", "createList", "--api-key", API_KEY, "--output", "ndjson", "--inputs", '{"name": "x"}']
        )
    _, err = capsys.readouterr()
    assert code == 2
    assert err == "klaviyo-connector: --output ndjson: createList is not a list action; leave it out\n"


def test_the_sandbox_streams_every_profile_over_http(capsys):
    for n in range(5):
        main(
            [
                "run",
                "createOrUpdateProfile",
                "--sandbox",
                "--inputs",
                json.dumps({"email": f"s{n}@example.com"}),
            ]
        )
    capsys.readouterr()
    code = main(["run", "listProfile", "--sandbox", "--output", "ndjson", "--inputs", json.dumps(FETCH_ALL)])
    out, _ = capsys.readouterr()
    emails = [json.loads(line)["attributes"]["email"] for line in out.splitlines()]
    assert code == 0 and sorted(emails) == [f"s{n}@example.com" for n in range(5)]


def test_a_bad_timeout_is_refused_as_run_action_refuses_it(runner, connection):
    with responses.RequestsMock() as mock:  # any request would fail the test
        with pytest.raises(KlaviyoError) as bad:
            runner.stream_action("klaviyo", "listProfile", connection=connection, inputs={}, timeout=0)
        assert len(mock.calls) == 0
    assert bad.value.message == "The timeout must be a number of seconds above 0 and at most 86400 (a day)."


def test_closing_a_stream_fetches_no_further_page(runner, connection, klaviyo):
    pages = Pages(klaviyo, [[1, 2], [3, 4]])
    stream = runner.stream_action("klaviyo", "listProfile", connection=connection, inputs=FETCH_ALL)
    assert next(stream)["id"] == "P1"
    stream.close()
    assert list(stream) == [] and pages.log == ["fetch 1"]
