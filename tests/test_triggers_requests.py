"""What polling triggers send: the filter, sort and page size each poll asks Klaviyo for."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from klaviyo_connector.errors import KlaviyoError

BASE = "https://a.klaviyo.com"


def profile(pid: str, created: str) -> dict:
    return {
        "type": "profile",
        "id": pid,
        "attributes": {"email": f"{pid.lower()}@example.com", "created": created, "updated": created},
        "links": {"self": f"{BASE}/api/profiles/{pid}/"},
    }


def page(*items: dict, next_url: str | None = None) -> dict:
    return {"data": list(items), "links": {"self": f"{BASE}/api/profiles", "next": next_url}}


def query(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def test_new_profile_polls_from_its_boundary_in_the_operators_the_endpoint_allows(
    runner, connection, klaviyo
):
    klaviyo.get(f"{BASE}/api/profiles", json=page(profile("01A", "2026-07-15T09:00:00+00:00")))
    first = runner.run_trigger("klaviyo", "newProfile", connection=connection, inputs={})
    assert first == {
        "records": [],
        "state": {"v": 1, "trigger": "newProfile", "boundary": "2026-07-15T09:00:00+00:00", "seen": ["01A"]},
    }
    # From now: the newest profile first, one page.
    assert query(klaviyo.calls[0]) == {"sort": ["-created"], "page[size]": ["100"]}

    klaviyo.replace(
        "GET",
        f"{BASE}/api/profiles",
        json=page(
            profile("01A", "2026-07-15T09:00:00+00:00"),
            profile("01B", "2026-07-15T09:00:00+00:00"),
            profile("01C", "2026-07-15T09:00:05+00:00"),
        ),
    )
    out = runner.run_trigger(
        "klaviyo", "newProfile", connection=connection, inputs={"maxRecords": 1}, state=first["state"]
    )
    # created has only greater-than: a second before the boundary, the boundary's own IDs dropped.
    assert query(klaviyo.calls[1]) == {
        "filter": ["greater-than(created,2026-07-15T08:59:59Z)"],
        "sort": ["created"],
        "page[size]": ["100"],
    }
    assert [r["key"] for r in out["records"]] == ["01B"]  # capped at one: 01C waits
    assert out["state"]["seen"] == ["01A", "01B"]


def test_new_event_asks_for_one_metric_from_the_boundary_with_its_profile_and_metric(
    runner, connection, klaviyo
):
    klaviyo.get(f"{BASE}/api/events", json={"data": [], "links": {"self": f"{BASE}/api/events"}})
    inputs = {"metricId": "Y6xJBt", "since": "2026-07-15T09:00:00+02:00"}
    out = runner.run_trigger("klaviyo", "newEvent", connection=connection, inputs=inputs)
    assert out["records"] == [] and out["state"]["boundary"] == "2026-07-15T07:00:00+00:00"
    assert query(klaviyo.calls[0]) == {
        "filter": ["equals(metric_id,'Y6xJBt'),greater-or-equal(datetime,2026-07-15T07:00:00Z)"],
        "include": ["metric,profile"],
        "sort": ["datetime"],
        "page[size]": ["1000"],
    }


def test_campaign_sent_asks_for_sent_campaigns_of_one_channel(runner, connection, klaviyo):
    klaviyo.get(f"{BASE}/api/campaigns", json={"data": [], "links": {"self": f"{BASE}/api/campaigns"}})
    runner.run_trigger("klaviyo", "campaignSent", connection=connection, inputs={"channel": "sms"})
    assert query(klaviyo.calls[0]) == {
        "filter": ["equals(messages.channel,'sms'),equals(status,'Sent')"],
        "page[size]": ["100"],
    }


@pytest.mark.parametrize(
    ("key", "inputs", "message"),
    [
        ("newProfile", {"maxRecords": 0}, "Max Records Per Poll"),
        ("newProfile", {"since": "2026-07-15T09:00:00"}, "Start From"),
        ("newEvent", {}, "Metric ID"),
        ("newSubscriber", {"channel": "fax"}, "Channel"),
        ("nope", {}, "has no trigger 'nope'"),
    ],
)
def test_bad_inputs_are_refused_before_anything_is_sent(runner, connection, klaviyo, key, inputs, message):
    with pytest.raises(KlaviyoError) as info:
        runner.run_trigger("klaviyo", key, connection=connection, inputs=inputs)
    assert message in info.value.message
    assert not klaviyo.calls
