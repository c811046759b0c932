"""Polling triggers against the sandbox over HTTP, with a clock the tests move: same-second records,
a backlog of 1,000, an interrupted poll resumed from its state file, polls racing a writer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from klaviyo_connector import polling
from klaviyo_connector.cli import main
from klaviyo_connector.errors import KlaviyoError
from sandbox_helpers import HTML, KEY, Box, Client, new_campaign


@pytest.fixture
def box() -> Iterator[Box]:
    yield from Box.serve()


def poll(box: Box, key: str, state: dict[str, Any] | None, **inputs: Any) -> dict[str, Any]:
    return box.runner.run_trigger("klaviyo", key, connection=box.connection, inputs=inputs, state=state)


def new_profile(api: Client, email: str) -> str:
    body = {"data": {"type": "profile", "attributes": {"email": email}}}
    answer = api("POST", "/api/profiles", body, check=False)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["data"]["id"])


def emails(out: dict[str, Any]) -> list[str]:
    return [r["data"]["attributes"]["email"] for r in out["records"]]


def test_first_poll_starts_from_now_unless_start_from_says_otherwise(box):
    old = new_profile(box.api, "old@example.com")
    first = poll(box, "newProfile", None)
    assert first["records"] == []
    assert first["state"] == {
        "v": 1,
        "trigger": "newProfile",
        "boundary": "2026-07-15T00:00:00+00:00",
        "seen": [old],
    }
    box.clock.advance(1)
    new = new_profile(box.api, "new@example.com")
    second = poll(box, "newProfile", first["state"])
    assert [r["key"] for r in second["records"]] == [new]
    record = second["records"][0]
    assert record["occurred_at"] == "2026-07-15T00:00:01+00:00"
    # The record is the profile as getProfile's data member holds it.
    got = box.run("getProfile", {"profileId": new})["data"]
    assert record["data"]["id"] == got["id"] and record["data"]["attributes"] == got["attributes"]

    backfill = poll(box, "newProfile", {}, since="2026-07-15T00:00:00Z")
    assert emails(backfill) == ["old@example.com", "new@example.com"]
    assert poll(box, "newProfile", {}, since="2026-07-15T00:00:01+00:00")["records"][0]["key"] == new


def test_same_second_records_are_neither_missed_nor_repeated(box):
    state = poll(box, "newProfile", None)["state"]  # an empty account: everything after is new
    assert state["boundary"] is None
    new_profile(box.api, "a@example.com")
    new_profile(box.api, "b@example.com")
    out = poll(box, "newProfile", state)
    assert sorted(emails(out)) == ["a@example.com", "b@example.com"]
    assert out["state"]["seen"] == sorted(r["key"] for r in out["records"])
    new_profile(box.api, "c@example.com")  # the same second as the last record returned
    again = poll(box, "newProfile", out["state"])
    assert emails(again) == ["c@example.com"]
    assert poll(box, "newProfile", again["state"])["records"] == []
    box.clock.advance(1)
    new_profile(box.api, "d@example.com")
    later = poll(box, "newProfile", again["state"])
    assert emails(later) == ["d@example.com"]
    assert later["state"]["seen"] == [later["records"][0]["key"]]  # only the newest second is kept


def test_a_thousand_records_between_two_polls(box):
    state = poll(box, "newProfile", None)["state"]
    made = []
    for i in range(1000):
        if i % 150 == 0:
            box.clock.advance(1)
        made.append((box.clock.now, new_profile(box.api, f"p{i:04}@example.com")))
    made = [key for _, key in sorted(made)]  # oldest first; within a second, by ID
    everything = poll(box, "newProfile", state, maxRecords=1000)
    assert [r["key"] for r in everything["records"]] == made
    assert poll(box, "newProfile", everything["state"])["records"] == []

    # The same backlog, capped: four polls, each taking up where the last stopped.
    seen: list[str] = []
    sizes = []
    while True:
        out = poll(box, "newProfile", state, maxRecords=300)
        if not out["records"]:
            break
        sizes.append(len(out["records"]))
        seen += [r["key"] for r in out["records"]]
        state = out["state"]
    assert sizes == [300, 300, 300, 100]
    assert seen == made


def test_an_interrupted_poll_is_resumed_from_its_state_file(box, tmp_path, capsys, monkeypatch):
    state_file = tmp_path / "state.json"
    argv = ["trigger", "poll", "newProfile", "--state-file", str(state_file)]
    argv += ["--api-key", KEY, "--base-url", box.url, "--inputs", json.dumps({"maxRecords": 1000})]
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == {"records": []}
    saved = state_file.read_text()
    made = sorted(new_profile(box.api, f"r{i}@example.com") for i in range(150))  # two pages of 100

    real = polling.iterate_pages

    def interrupted(*args: Any, **kwargs: Any) -> Iterator[Any]:
        pages = real(*args, **kwargs)
        yield next(pages)
        raise KeyboardInterrupt  # Ctrl-C while the second page is read

    monkeypatch.setattr(polling, "iterate_pages", interrupted)
    assert main(argv) == 130
    out, err = capsys.readouterr()
    assert out == "" and "interrupted" in err
    assert state_file.read_text() == saved  # nothing was handed out, nothing is marked done

    monkeypatch.setattr(polling, "iterate_pages", real)
    assert main(argv) == 0
    records = json.loads(capsys.readouterr().out)["records"]
    assert [r["key"] for r in records] == made
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == {"records": []}


def test_a_state_file_that_cannot_be_read_or_written_is_a_usage_error(box, tmp_path, capsys):
    base = ["--api-key", KEY, "--base-url", box.url]
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    assert main(["trigger", "poll", "newProfile", "--state-file", str(bad), *base]) == 2
    assert "is not JSON (delete it to start from now)" in capsys.readouterr().err
    missing = tmp_path / "no" / "such" / "state.json"
    assert main(["trigger", "poll", "newProfile", "--state-file", str(missing), *base]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "cannot write in" in err


def test_a_damaged_or_foreign_state_is_refused_before_any_request(box):
    for state, problem in [
        ({"v": 1, "trigger": "newEvent", "boundary": None, "seen": []}, "was not written by the newProfile"),
        ({"v": 1, "trigger": "newProfile", "boundary": "yesterday", "seen": []}, "is damaged"),
        ({"v": 1, "trigger": "newProfile", "boundary": None, "seen": "x"}, "is damaged"),
    ]:
        with pytest.raises(KlaviyoError) as info:
            poll(box, "newProfile", state)
        assert info.value.message.startswith(f"State: {problem}")
        assert info.value.error_class == "user_fixable"


def test_a_hundred_polls_while_another_thread_writes_see_every_record_once(box):
    made: list[str] = []
    wrote = threading.Semaphore(0)  # released after every third record; the writer never waits

    def writer() -> None:
        api = Client(box.url)
        for i in range(300):
            if i % 7 == 0:
                box.clock.advance(1)
            made.append(new_profile(api, f"w{i}@example.com"))
            if i % 3 == 2:
                wrote.release()

    state = poll(box, "newProfile", None)["state"]
    thread = threading.Thread(target=writer)
    thread.start()
    seen: list[str] = []
    for _ in range(100):
        assert wrote.acquire(timeout=30)  # poll k starts once 3k records exist; writing goes on
        out = poll(box, "newProfile", state, maxRecords=5)
        seen += [r["key"] for r in out["records"]]
        state = out["state"]
    thread.join()
    during = len(seen)
    while True:  # what the writer added after the hundredth poll
        out = poll(box, "newProfile", state, maxRecords=1000)
        if not out["records"]:
            break
        seen += [r["key"] for r in out["records"]]
        state = out["state"]
    assert during >= 270  # nearly all were picked up by polls that ran while writes went on
    assert len(seen) == len(set(seen)) == 300
    assert set(seen) == set(made)


def test_profile_added_to_list_and_segment(box):
    list_id = box.run("createList", {"listName": "VIP"})["data"]["id"]
    state = poll(box, "profileAddedToList", None, listId=list_id)["state"]
    box.clock.advance(1)
    sarah = box.run("createProfile", {"email": "sarah@example.com"})["data"]["id"]
    box.run("addProfilesToList", {"listId": list_id, "profileIds": [sarah]})
    out = poll(box, "profileAddedToList", state, listId=list_id)
    (record,) = out["records"]
    assert record["key"] == f"list:{list_id}:{sarah}:2026-07-15T00:00:01+00:00"
    assert record["data"]["attributes"]["joined_group_at"] == "2026-07-15T00:00:01+00:00"
    assert poll(box, "profileAddedToList", out["state"], listId=list_id)["records"] == []
    with pytest.raises(KlaviyoError) as info:  # the state of one trigger is not another's
        poll(box, "profileAddedToSegment", out["state"], segmentId="WwKnkd")
    assert "was not written by the profileAddedToSegment trigger" in info.value.message

    condition = {
        "type": "profile-group-membership",
        "is_member": True,
        "group_ids": [list_id],
        "timeframe_filter": None,
    }
    groups = [{"conditions": [condition]}]
    segment_id = box.run("createSegment", {"segmentName": "VIPs", "conditionGroups": groups})["data"]["id"]
    members = poll(box, "profileAddedToSegment", {}, segmentId=segment_id, since="2026-01-01T00:00:00Z")
    assert [r["data"]["id"] for r in members["records"]] == [sarah]
    assert members["records"][0]["key"].startswith(f"segment:{segment_id}:{sarah}:")


def test_new_event_is_filtered_by_metric_and_carries_its_profile_and_metric(box):
    def event(metric: str, email: str) -> None:
        box.run(
            "createEvent",
            {"eventName": metric, "eventProfile": {"email": email}, "eventProperties": {"n": 1}},
        )

    event("Placed Order", "first@example.com")
    metrics = box.run("listMetrics", {})["data"]
    placed = next(m["id"] for m in metrics if m["attributes"]["name"] == "Placed Order")
    state = poll(box, "newEvent", None, metricId=placed)["state"]
    box.clock.advance(1)
    event("Placed Order", "sarah@example.com")
    event("Viewed Product", "sarah@example.com")
    out = poll(box, "newEvent", state, metricId=placed)
    (record,) = out["records"]
    assert record["data"]["type"] == "event"
    assert record["data"]["relationships"]["metric"]["data"]["id"] == placed
    assert sorted(i["type"] for i in record["included"]) == ["metric", "profile"]
    profile = next(i for i in record["included"] if i["type"] == "profile")
    assert profile["attributes"]["email"] == "sarah@example.com"
    assert record["key"] == record["data"]["id"]


def test_new_subscriber_with_and_without_a_list(box):
    list_id = box.run("createList", {"listName": "Newsletter"})["data"]["id"]
    anywhere = poll(box, "newSubscriber", None)["state"]
    by_list = poll(box, "newSubscriber", None, listId=list_id, channel="email")["state"]
    box.clock.advance(1)
    box.run("createProfile", {"email": "quiet@example.com"})  # no consent: no record
    box.run("subscribeProfiles", {"profiles": [{"email": "sub@example.com"}], "listId": list_id})
    out = poll(box, "newSubscriber", anywhere)
    assert [(r["channel"], r["data"]["attributes"]["email"]) for r in out["records"]] == [
        ("email", "sub@example.com")
    ]
    assert out["records"][0]["key"].endswith(":email:2026-07-15T00:00:01+00:00")
    joined = poll(box, "newSubscriber", by_list, listId=list_id, channel="email")
    assert [r["data"]["attributes"]["email"] for r in joined["records"]] == ["sub@example.com"]
    box.clock.advance(1)
    box.run("updateProfile", {"profileId": out["records"][0]["data"]["id"], "firstName": "Sub"})
    assert poll(box, "newSubscriber", out["state"])["records"] == []  # an update is not a new consent


def test_campaign_sent(box):
    audience = box.audience([{"email": "a@example.com"}])
    state = poll(box, "campaignSent", None)["state"]
    campaign = new_campaign(box, audience)["data"]["id"]
    template = box.run("createTemplate", {"templateName": "Sale", "templateHtml": HTML})["data"]["id"]
    box.run("assignCampaignTemplate", {"campaignId": campaign, "templateId": template})
    box.run("sendCampaign", {"campaignId": campaign})
    assert poll(box, "campaignSent", state)["records"] == []  # still Sending
    box.clock.advance(5)
    out = poll(box, "campaignSent", state)
    assert [r["key"] for r in out["records"]] == [campaign]
    assert out["records"][0]["data"]["attributes"]["status"] == "Sent"
    assert poll(box, "campaignSent", out["state"])["records"] == []
    assert poll(box, "campaignSent", {}, channel="sms", since="2026-01-01T00:00:00Z")["records"] == []
