"""Event actions: wire bodies, derived unique IDs, bulk splitting and error rows (mocked Klaviyo),
then the same actions through the Runner against the sandbox, whose responses must match the spec."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import BASE, body, invalid, refused, run
from klaviyo_connector.actions import events as event_actions
from klaviyo_connector.errors import KlaviyoError
from sandbox_helpers import Client

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)
EVENTS_URL = f"{BASE}/api/events"
BULK_URL = f"{BASE}/api/event-bulk-create-jobs"


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_actions, "now", lambda: NOW)


def expected_id(
    metric: str, identifiers: dict[str, str], time: str, properties: dict, value=None, currency=None
):
    content = {
        "metric": metric,
        "profile": identifiers,
        "time": time,
        "properties": properties,
        "value": value,
        "value_currency": currency,
    }
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


# -- createEvent -------------------------------------------------------------------------------------


def test_create_event_sends_the_wire_body_and_acknowledges(runner, klaviyo):
    klaviyo.add("POST", EVENTS_URL, status=202)
    out = run(
        runner,
        "createEvent",
        {
            "eventName": "Viewed Product",
            "eventProfile": '{"email": "Sarah.Mason@Example.com", "phone_number": "+1 (500) 555-0006", '
            '"first_name": "Sarah", "location": {"city": "Boston"}}',
            "eventProperties": {"ProductName": "Pooh", "Price": 9.99},
            "eventTime": "2024-07-10T14:48:00.789Z",
            "eventValue": "9.99",
            "eventValueCurrency": "usd",
            "eventUniqueId": "order-1",
        },
    )
    call = klaviyo.calls[0]
    assert call.request.method == "POST"
    assert call.request.headers["Content-Type"] == "application/vnd.api+json"
    assert call.request.headers["revision"]
    assert body(call) == {
        "data": {
            "type": "event",
            "attributes": {
                "properties": {"ProductName": "Pooh", "Price": 9.99},
                "metric": {"data": {"type": "metric", "attributes": {"name": "Viewed Product"}}},
                "time": "2024-07-10T14:48:00Z",
                "value": 9.99,
                "value_currency": "USD",
                "unique_id": "order-1",
                "profile": {
                    "data": {
                        "type": "profile",
                        "attributes": {
                            "email": "Sarah.Mason@example.com",
                            "phone_number": "+15005550006",
                            "first_name": "Sarah",
                            "location": {"city": "Boston"},
                        },
                    }
                },
            },
        }
    }
    assert out["data"] == {
        "accepted": "Event accepted for processing.",
        "status": 202,
        "asynchronous": True,
        "metric": "Viewed Product",
        "time": "2024-07-10T14:48:00Z",
        "unique_id": "order-1",
    }


def test_create_event_derives_a_stable_unique_id_and_defaults_time_to_now(runner, klaviyo):
    klaviyo.add("POST", EVENTS_URL, status=202)
    inputs = {"eventName": "Opened App", "eventProfile": {"id": "01J18FVB5H8XR1X9AXEQFVRW7A"}}
    first = run(runner, "createEvent", inputs)["data"]
    second = run(runner, "createEvent", inputs)["data"]
    sent = body(klaviyo.calls[0])["data"]["attributes"]
    assert sent["time"] == "2025-06-01T12:00:00Z"
    assert sent["properties"] == {}
    assert sent["profile"] == {
        "data": {"type": "profile", "id": "01J18FVB5H8XR1X9AXEQFVRW7A", "attributes": {}}
    }
    assert first["unique_id"] == second["unique_id"] == sent["unique_id"]
    assert sent["unique_id"] == expected_id(
        "Opened App", {"id": "01J18FVB5H8XR1X9AXEQFVRW7A"}, "2025-06-01T12:00:00Z", {}
    )
    assert body(klaviyo.calls[1]) == body(klaviyo.calls[0])


def test_same_second_events_with_different_content_get_different_ids(runner, klaviyo):
    klaviyo.add("POST", EVENTS_URL, status=202)
    base = {
        "eventName": "Added to Cart",
        "eventProfile": {"email": "a@example.com"},
        "eventTime": "2025-01-01T00:00:00Z",
    }
    one = run(runner, "createEvent", {**base, "eventProperties": {"sku": "A"}})["data"]["unique_id"]
    two = run(runner, "createEvent", {**base, "eventProperties": {"sku": "B"}})["data"]["unique_id"]
    three = run(runner, "createEvent", {**base, "eventProperties": {"sku": "A"}, "eventValue": 5})["data"][
        "unique_id"
    ]
    assert len({one, two, three}) == 3
    assert one == expected_id(
        "Added to Cart", {"email": "a@example.com"}, "2025-01-01T00:00:00Z", {"sku": "A"}
    )


def test_create_event_is_retried_after_a_server_error_with_the_same_body(runner, klaviyo, sleeps):
    klaviyo.add("POST", EVENTS_URL, status=503, json={"errors": [{"status": 503, "detail": "busy"}]})
    klaviyo.add("POST", EVENTS_URL, status=202)
    run(runner, "createEvent", {"eventName": "Ping", "eventProfile": {"external_id": "42"}})
    assert len(klaviyo.calls) == 2 and len(sleeps.waits) == 1
    assert klaviyo.calls[0].request.body == klaviyo.calls[1].request.body


def test_create_event_accepts_workflow_values_in_properties(runner, klaviyo):
    from decimal import Decimal

    klaviyo.add("POST", EVENTS_URL, status=202)
    when = datetime(2024, 5, 1, 8, 30, tzinfo=timezone.utc)
    run(
        runner,
        "createEvent",
        {
            "eventName": "Paid",
            "eventProfile": {"email": "a@example.com"},
            "eventProperties": {"amount": Decimal("12.50"), "at": when},
        },
    )
    assert body(klaviyo.calls[0])["data"]["attributes"]["properties"] == {
        "amount": 12.5,
        "at": "2024-05-01T08:30:00Z",
    }


@pytest.mark.parametrize(
    ("inputs", "field", "fragment"),
    [
        ({"eventProfile": {"email": "a@example.com"}}, "Event Name", "required"),
        (
            {"eventName": "X", "eventProfile": {"first_name": "Ann"}},
            "Event Profile",
            "at least one identifier",
        ),
        (
            {"eventName": "X", "eventProfile": {"phone_number": "555-1234"}},
            "Event Profile.phone_number",
            "E.164",
        ),
        ({"eventName": "X", "eventProfile": {"email": "not-an-email"}}, "Event Profile.email", "email"),
        (
            {"eventName": "N" * 128, "eventProfile": {"email": "a@example.com"}},
            "Event Name",
            "fewer than 128",
        ),
        (
            {
                "eventName": "X",
                "eventProfile": {"email": "a@example.com"},
                "eventTime": "1989-12-31T00:00:00Z",
            },
            "Event Time",
            "after 1990",
        ),
        (
            {
                "eventName": "X",
                "eventProfile": {"email": "a@example.com"},
                "eventTime": "2026-06-02T12:00:00Z",
            },
            "Event Time",
            "one year in the future",
        ),
        (
            {"eventName": "X", "eventProfile": {"email": "a@example.com"}, "eventValueCurrency": "US"},
            "Event Value Currency",
            "ISO 4217",
        ),
        (
            {"eventName": "X", "eventProfile": {"email": "a@example.com"}, "eventValue": "ten"},
            "Event Value",
            "number",
        ),
        (
            {
                "eventName": "X",
                "eventProfile": {"email": "a@example.com"},
                "eventProperties": {str(i): i for i in range(401)},
            },
            "Event Properties",
            "at most 400",
        ),
        (
            {
                "eventName": "X",
                "eventProfile": {"email": "a@example.com"},
                "eventProperties": {"a": {"b": ["x" * 102_401]}},
            },
            "Event Properties",
            "a.b[0]",
        ),
        ({"eventName": "X", "eventProfile": "{not json"}, "Event Profile", "not valid JSON"),
    ],
)
def test_create_event_refuses_bad_input_naming_the_field(runner, klaviyo, inputs, field, fragment):
    err = refused(runner, klaviyo, "createEvent", inputs)
    assert err.field == field
    assert fragment in err.message


def test_event_time_a_year_ahead_is_accepted_and_offsets_become_utc(runner, klaviyo):
    klaviyo.add("POST", EVENTS_URL, status=202)
    run(
        runner,
        "createEvent",
        {"eventName": "X", "eventProfile": {"email": "a@example.com"}, "eventTime": "2026-06-01T12:00:00Z"},
    )
    assert body(klaviyo.calls[0])["data"]["attributes"]["time"] == "2026-06-01T12:00:00Z"
    run(
        runner,
        "createEvent",
        {
            "eventName": "X",
            "eventProfile": {"email": "a@example.com"},
            "eventTime": "2024-01-01T02:00:00+02:00",
        },
    )
    assert body(klaviyo.calls[1])["data"]["attributes"]["time"] == "2024-01-01T00:00:00Z"


def test_create_event_klaviyo_rejection_is_reported(runner, klaviyo):
    klaviyo.add(
        "POST",
        EVENTS_URL,
        status=400,
        json=invalid("Bad metric", "/data/attributes/metric"),
    )
    with pytest.raises(KlaviyoError) as info:
        run(runner, "createEvent", {"eventName": "X", "eventProfile": {"email": "a@example.com"}})
    assert info.value.status == 400 and "Bad metric" in info.value.message
    assert len(klaviyo.calls) == 1


# -- bulkCreateEvents --------------------------------------------------------------------------------


def row(i: int, email: str = "a@example.com", **extra: Any) -> dict[str, Any]:
    return {"metric": "Placed Order", "profile": {"email": email}, "properties": {"n": i}, **extra}


def test_bulk_groups_events_per_profile_in_the_spec_body(runner, klaviyo):
    klaviyo.add("POST", BULK_URL, status=202)
    rows = [
        row(0, time="2025-01-01T00:00:00Z", value=10, value_currency="eur", unique_id="u0"),
        row(1, "b@example.com", time="2025-01-01T00:00:01Z"),
        row(2, time="2025-01-01T00:00:02Z", unique_id="u2"),
    ]
    out = run(runner, "bulkCreateEvents", {"eventsArray": json.dumps(rows)})
    assert len(klaviyo.calls) == 1

    def event(n: int, time: str, unique_id: str, **more: Any) -> dict[str, Any]:
        attrs = {
            "properties": {"n": n},
            "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}},
            "time": time,
            **more,
            "unique_id": unique_id,
        }
        return {"type": "event", "attributes": attrs}

    b_id = expected_id("Placed Order", {"email": "b@example.com"}, "2025-01-01T00:00:01Z", {"n": 1})
    assert body(klaviyo.calls[0]) == {
        "data": {
            "type": "event-bulk-create-job",
            "attributes": {
                "events-bulk-create": {
                    "data": [
                        {
                            "type": "event-bulk-create",
                            "attributes": {
                                "profile": {
                                    "data": {"type": "profile", "attributes": {"email": "a@example.com"}}
                                },
                                "events": {
                                    "data": [
                                        event(
                                            0, "2025-01-01T00:00:00Z", "u0", value=10.0, value_currency="EUR"
                                        ),
                                        event(2, "2025-01-01T00:00:02Z", "u2"),
                                    ]
                                },
                            },
                        },
                        {
                            "type": "event-bulk-create",
                            "attributes": {
                                "profile": {
                                    "data": {"type": "profile", "attributes": {"email": "b@example.com"}}
                                },
                                "events": {"data": [event(1, "2025-01-01T00:00:01Z", b_id)]},
                            },
                        },
                    ]
                }
            },
        }
    }
    assert out["data"] == {
        "accepted": "3 events accepted for processing in 1 request(s).",
        "status": 202,
        "asynchronous": True,
        "events": 3,
        "requests": 1,
    }


def test_bulk_splits_at_1000_events_and_reports_progress(runner, klaviyo, connection):
    klaviyo.add("POST", BULK_URL, status=202)
    seen: list[dict[str, Any]] = []
    rows = [row(i, f"p{i % 7}@example.com") for i in range(2500)]
    out = runner.run_action(
        "klaviyo",
        "bulkCreateEvents",
        connection=connection,
        inputs={"eventsArray": rows},
        progress=lambda event, info: seen.append({"event": event, **info}),
    )
    counts = [
        sum(
            len(g["attributes"]["events"]["data"])
            for g in body(c)["data"]["attributes"]["events-bulk-create"]["data"]
        )
        for c in klaviyo.calls
    ]
    assert counts == [1000, 1000, 500]
    sent_n = [
        e["attributes"]["properties"]["n"]
        for c in klaviyo.calls
        for g in body(c)["data"]["attributes"]["events-bulk-create"]["data"]
        for e in g["attributes"]["events"]["data"]
    ]
    assert sorted(sent_n) == list(range(2500))
    assert seen == [
        {"event": "rows", "sent": 1000, "total": 2500, "requests": 1, "of_requests": 3},
        {"event": "rows", "sent": 2000, "total": 2500, "requests": 2, "of_requests": 3},
        {"event": "rows", "sent": 2500, "total": 2500, "requests": 3, "of_requests": 3},
    ]
    assert out["data"]["events"] == 2500 and out["data"]["requests"] == 3


def test_bulk_splits_by_encoded_size_under_5_mb(runner, klaviyo):
    klaviyo.add("POST", BULK_URL, status=202)
    # 60 events of ~95 KB each (non-ASCII, so bytes != characters): ~5.7 MB in total.
    big = "é" * 47_000
    rows = [row(i, f"p{i}@example.com", properties={"n": i, "blob": big}) for i in range(60)]
    run(runner, "bulkCreateEvents", {"eventsArray": rows})
    sizes = [len(c.request.body) for c in klaviyo.calls]
    assert len(sizes) == 2
    assert all(size <= event_actions.MAX_BULK_BYTES for size in sizes)
    assert sum(len(body(c)["data"]["attributes"]["events-bulk-create"]["data"]) for c in klaviyo.calls) == 60


def test_bulk_refuses_one_event_too_large_for_any_request(runner, klaviyo):
    rows = [row(0), row(1, properties={f"k{i}": "x" * 100_000 for i in range(60)})]
    err = refused(runner, klaviyo, "bulkCreateEvents", {"eventsArray": rows})
    assert err.field == "Events Array[1]" and "5 MB" in err.message


def test_bulk_names_the_bad_row(runner, klaviyo):
    rows = [row(0), row(1), row(2), row(3, time="1985-01-01T00:00:00Z")]
    err = refused(runner, klaviyo, "bulkCreateEvents", {"eventsArray": rows})
    assert err.field == "Events Array[3].time"
    assert err.message.startswith("Invalid input. Events Array[3].time: must be after 1990")


@pytest.mark.parametrize(
    ("bad", "field", "fragment"),
    [
        ({"profile": {"email": "a@example.com"}}, "Events Array[1].metric", "required"),
        ({"metric": "M", "profile": {"first_name": "A"}}, "Events Array[1].profile", "identifier"),
        (
            {"metric": "M", "profile": {"email": "a@example.com"}, "value_currency": "dollars"},
            "Events Array[1].value_currency",
            "ISO 4217",
        ),
        (
            {"metric": "M", "profile": {"email": "a@example.com"}, "metricName": "M"},
            "Events Array[1].metricName",
            "not an allowed member",
        ),
    ],
)
def test_bulk_row_checks(runner, klaviyo, bad, field, fragment):
    err = refused(runner, klaviyo, "bulkCreateEvents", {"eventsArray": [row(0), bad]})
    assert err.field == field and fragment in err.message


def test_bulk_refuses_empty_array(runner, klaviyo):
    err = refused(runner, klaviyo, "bulkCreateEvents", {"eventsArray": []})
    assert err.field == "Events Array"


def test_bulk_rejects_duplicate_unique_ids_for_one_profile_and_metric(runner, klaviyo):
    rows = [row(0, unique_id="x"), row(1, "b@example.com", unique_id="x"), row(2, unique_id="x")]
    err = refused(runner, klaviyo, "bulkCreateEvents", {"eventsArray": rows})
    assert err.field == "Events Array[2]"
    assert "Events Array[0]" in err.message and "email a@example.com" in err.message


def test_bulk_rejects_identical_rows_whose_derived_ids_collide(runner, klaviyo):
    same = row(0, time="2025-01-01T00:00:00Z")
    err = refused(runner, klaviyo, "bulkCreateEvents", {"eventsArray": [same, row(1), same]})
    assert err.field == "Events Array[2]" and "Events Array[0]" in err.message


def test_bulk_same_unique_id_for_other_metric_or_profile_is_fine(runner, klaviyo):
    klaviyo.add("POST", BULK_URL, status=202)
    rows = [
        row(0, unique_id="x"),
        row(1, "b@example.com", unique_id="x"),
        {**row(2, unique_id="x"), "metric": "Refunded"},
    ]
    run(runner, "bulkCreateEvents", {"eventsArray": rows})
    assert len(klaviyo.calls) == 1


def test_bulk_rerun_sends_identical_bodies(runner, klaviyo):
    klaviyo.add("POST", BULK_URL, status=202)
    rows = [row(i, f"p{i}@example.com") for i in range(3)]
    run(runner, "bulkCreateEvents", {"eventsArray": rows})
    run(runner, "bulkCreateEvents", {"eventsArray": rows})
    assert klaviyo.calls[0].request.body == klaviyo.calls[1].request.body
    times = {
        e["attributes"]["time"]
        for g in body(klaviyo.calls[0])["data"]["attributes"]["events-bulk-create"]["data"]
        for e in g["attributes"]["events"]["data"]
    }
    assert times == {"2025-06-01T12:00:00Z"}


def test_bulk_maps_an_event_pointer_back_to_the_input_row(runner, klaviyo):
    klaviyo.add("POST", BULK_URL, status=202)
    klaviyo.add(
        "POST",
        BULK_URL,
        status=400,
        json=invalid(
            "The event time is not valid.",
            "/data/attributes/events-bulk-create/data/1/attributes/events/data/1/attributes/time",
            title="Invalid input.",
        ),
    )
    # Second request: rows 1000..1004; profiles alternate a/b so group 1 (b) holds rows 1001, 1003.
    rows = [row(i, "a@example.com" if i % 2 == 0 else "b@example.com") for i in range(1005)]
    with pytest.raises(KlaviyoError) as info:
        run(runner, "bulkCreateEvents", {"eventsArray": rows})
    err = info.value
    assert err.field == "Events Array[1003].time"
    assert err.message.startswith("Events Array[1003].time: Klaviyo rejected the request")
    assert "The event time is not valid." in err.message
    assert "1000 of 1005 events were accepted by earlier requests" in err.message
    assert err.meta == {
        "rows": [1003],
        "events_accepted": 1000,
        "request": 2,
        "done_before_failure": {
            "event": "rows",
            "info": {"sent": 1000, "total": 1005, "requests": 1, "of_requests": 2},
        },
    }
    assert "Done before this failure: rows: sent 1000, total 1005, requests 1, of requests 2." in err.message
    assert err.status == 400 and err.source == {
        "pointer": "/data/attributes/events-bulk-create/data/1/attributes/events/data/1/attributes/time"
    }
    assert len(klaviyo.calls) == 2


def test_bulk_maps_a_profile_pointer_to_every_row_of_that_profile(runner, klaviyo):
    klaviyo.add(
        "POST",
        BULK_URL,
        status=400,
        json=invalid(
            "Invalid email address.",
            "/data/attributes/events-bulk-create/data/0/attributes/profile/data/attributes/email",
        ),
    )
    rows = [row(0), row(1, "b@example.com"), row(2)]
    with pytest.raises(KlaviyoError) as info:
        run(runner, "bulkCreateEvents", {"eventsArray": rows})
    assert info.value.field == "Events Array[0].profile.email"
    assert "rows 0, 2 share this profile" in info.value.message
    assert "accepted by earlier requests" not in info.value.message
    assert info.value.meta == {"rows": [0, 2], "events_accepted": 0, "request": 1}


def test_bulk_error_without_pointer_names_the_request_rows(runner, klaviyo, sleeps):
    klaviyo.add(
        "POST",
        BULK_URL,
        status=429,
        headers={"Retry-After": "9999"},
        json={"errors": [{"status": 429, "detail": "quota"}]},
    )
    with pytest.raises(KlaviyoError) as info:
        run(runner, "bulkCreateEvents", {"eventsArray": [row(0), row(1, "b@example.com")]})
    assert info.value.error_class == "quota_exhausted"
    assert info.value.message.startswith("Events Array[0..1]: ")


# -- getEvent / listEvents ---------------------------------------------------------------------------


def test_get_event_includes_metric_and_profile_with_fieldsets(runner, klaviyo):
    doc = {"data": {"type": "event", "id": "5nJKMJuHUQy", "attributes": {}, "links": {"self": "x"}}}
    klaviyo.add("GET", f"{EVENTS_URL}/5nJKMJuHUQy", json=doc)
    out = run(
        runner,
        "getEvent",
        {
            "eventId": "5nJKMJuHUQy",
            "eventFields": "datetime,event_properties",
            "metricFields": ["name"],
            "profileFields": "email",
        },
    )
    assert out == {"data": doc}
    query = parse_qs(urlsplit(klaviyo.calls[0].request.url).query)
    assert query == {
        "include": ["metric,profile"],
        "fields[event]": ["datetime,event_properties"],
        "fields[metric]": ["name"],
        "fields[profile]": ["email"],
    }


def test_get_event_refuses_unknown_fields(runner, klaviyo):
    err = refused(runner, klaviyo, "getEvent", {"eventId": "e1", "metricFields": "name,colour"})
    assert err.field == "Metric Fields" and "colour" in err.message


def test_list_events_pages_up_to_1000_with_filter_and_sort(runner, klaviyo):
    page = {
        "data": [{"type": "event", "id": "e1", "attributes": {}, "links": {"self": "x"}}],
        "links": {"self": "x"},
    }
    klaviyo.add("GET", EVENTS_URL, json=page)
    out = run(
        runner,
        "listEvents",
        {
            "filter": "equals(metric_id,'UMTLbD'),greater-or-equal(datetime,2025-01-01T00:00:00Z)",
            "sort": "-datetime",
            "pageSize": 5000,
        },
    )
    query = parse_qs(urlsplit(klaviyo.calls[0].request.url).query)
    assert query == {
        "include": ["metric,profile"],
        "filter": ["equals(metric_id,'UMTLbD'),greater-or-equal(datetime,2025-01-01T00:00:00Z)"],
        "sort": ["-datetime"],
        "page[size]": ["1000"],
    }
    assert [e["id"] for e in out["data"]["data"]] == ["e1"]


def test_list_events_refuses_unfilterable_field(runner, klaviyo):
    err = refused(runner, klaviyo, "listEvents", {"filter": "equals(email,'a@example.com')"})
    assert err.field == "Filter"


# -- against the sandbox -----------------------------------------------------------------------------


VIEWED = {
    "eventName": "Viewed Product",
    "eventProfile": {"email": "sarah@example.com", "first_name": "Sarah"},
    "eventProperties": {"sku": "A1"},
    "eventTime": "2025-03-01T10:00:00Z",
    "eventValue": 12.5,
    "eventValueCurrency": "USD",
}


def test_sandbox_create_get_and_list_events(runner, sandbox_connection):
    api = Client.of(sandbox_connection)
    ack = run(runner, "createEvent", VIEWED, sandbox_connection)["data"]
    assert ack["status"] == 202
    listed = run(runner, "listEvents", {}, sandbox_connection)["data"]
    assert len(listed["data"]) == 1
    event = listed["data"][0]
    assert event["attributes"]["datetime"] == "2025-03-01T10:00:00+00:00"
    assert event["attributes"]["event_properties"] == {
        "sku": "A1",
        "$value": 12.5,
        "$value_currency": "USD",
        "$event_id": ack["unique_id"],
    }
    included = {
        (i["type"], i["attributes"].get("name") or i["attributes"].get("email")) for i in listed["included"]
    }
    assert included == {("metric", "Viewed Product"), ("profile", "sarah@example.com")}

    got = run(
        runner, "getEvent", {"eventId": event["id"], "profileFields": "email,first_name"}, sandbox_connection
    )["data"]
    profile = next(i for i in got["included"] if i["type"] == "profile")
    assert profile["attributes"] == {"email": "sarah@example.com", "first_name": "Sarah"}
    api("GET", f"/api/events/{event['id']}", params={"include": "metric,profile,attributions"})
    api("GET", "/api/events", params={"include": "metric,profile", "sort": "-datetime"})
    assert api("GET", "/api/events/nope").status_code == 404

    # Same content again: the derived unique ID makes Klaviyo (and the sandbox) keep one event.
    run(runner, "createEvent", VIEWED, sandbox_connection)
    assert len(run(runner, "listEvents", {}, sandbox_connection)["data"]["data"]) == 1


def test_sandbox_bulk_records_once_and_filters_by_metric(runner, sandbox_connection):
    api = Client.of(sandbox_connection)
    rows = [
        {
            "metric": "Placed Order",
            "profile": {"email": f"p{i % 3}@example.com"},
            "properties": {"n": i},
            "time": f"2025-02-0{1 + i % 5}T08:00:00Z",
            "value": i,
        }
        for i in range(12)
    ]
    rows.append(
        {"metric": "Refunded", "profile": {"phone_number": "+15005550006"}, "time": "2025-02-03T00:00:00Z"}
    )
    run(runner, "bulkCreateEvents", {"eventsArray": rows}, sandbox_connection)
    run(runner, "bulkCreateEvents", {"eventsArray": rows}, sandbox_connection)  # a re-run adds nothing
    every = run(runner, "listEvents", {"fetchAll": True}, sandbox_connection)["data"]
    assert len(every["data"]) == 13
    metrics = {i["attributes"]["name"]: i["id"] for i in every["included"] if i["type"] == "metric"}
    assert set(metrics) == {"Placed Order", "Refunded"}
    refunds = run(
        runner, "listEvents", {"filter": f"equals(metric_id,'{metrics['Refunded']}')"}, sandbox_connection
    )["data"]["data"]
    assert len(refunds) == 1
    february_2nd = run(
        runner,
        "listEvents",
        {
            "filter": "greater-or-equal(datetime,2025-02-02T00:00:00Z),less-than(datetime,2025-02-03T00:00:00Z)",
            "sort": "-datetime",
        },
        sandbox_connection,
    )["data"]["data"]
    assert sorted(e["attributes"]["event_properties"]["n"] for e in february_2nd) == [1, 6, 11]
    profiles = api("GET", "/api/profiles").json()["data"]
    assert sorted(p["attributes"]["email"] or p["attributes"]["phone_number"] for p in profiles) == [
        "+15005550006",
        "p0@example.com",
        "p1@example.com",
        "p2@example.com",
    ]
    assert all(p["attributes"]["last_event_date"] for p in profiles)
    paged = api("GET", "/api/events", params={"page[size]": "5"}).json()
    assert len(paged["data"]) == 5 and "next" in paged["links"]


def bulk_body(groups: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> dict[str, Any]:
    return {
        "data": {
            "type": "event-bulk-create-job",
            "attributes": {
                "events-bulk-create": {
                    "data": [
                        {
                            "type": "event-bulk-create",
                            "attributes": {
                                "profile": {"data": {"type": "profile", "attributes": profile}},
                                "events": {"data": [{"type": "event", "attributes": e} for e in events]},
                            },
                        }
                        for profile, events in groups
                    ]
                }
            },
        }
    }


def metric(name: str) -> dict[str, Any]:
    return {"data": {"type": "metric", "attributes": {"name": name}}}


def test_sandbox_bulk_duplicate_unique_id_fails_the_whole_request(sandbox_connection):
    api = Client.of(sandbox_connection)
    event = {"properties": {}, "metric": metric("M"), "unique_id": "same"}
    r = api(
        "POST",
        "/api/event-bulk-create-jobs",
        bulk_body([({"email": "a@example.com"}, [event]), ({"email": "a@example.com"}, [event])]),
    )
    assert r.status_code == 400
    assert (
        r.json()["errors"][0]["source"]["pointer"]
        == "/data/attributes/events-bulk-create/data/1/attributes/events/data/0/attributes/unique_id"
    )
    assert api("GET", "/api/events").json()["data"] == []
    # The same unique ID for another metric, or for another profile, is fine.
    other = {**event, "metric": metric("N")}
    ok = api(
        "POST",
        "/api/event-bulk-create-jobs",
        bulk_body([({"email": "a@example.com"}, [event, other]), ({"email": "b@example.com"}, [event])]),
    )
    assert ok.status_code == 202 and ok.content == b""
    assert len(api("GET", "/api/events").json()["data"]) == 3


@pytest.mark.parametrize(
    ("attrs", "pointer"),
    [
        ({"properties": {}, "metric": metric("")}, "/metric/data/attributes/name"),
        ({"properties": {}, "metric": metric("M" * 128)}, "/metric/data/attributes/name"),
        ({"properties": {}, "metric": metric("M"), "time": "1980-01-01T00:00:00Z"}, "/time"),
        ({"properties": {}, "metric": metric("M"), "time": "2999-01-01T00:00:00Z"}, "/time"),
        ({"properties": {}, "metric": metric("M"), "time": "yesterday"}, "/time"),
        ({"properties": {"s": "x" * 102_401}, "metric": metric("M")}, "/properties"),
        ({"properties": {}, "metric": metric("M"), "value": "10"}, "/value"),
        ({"metric": metric("M")}, "/properties"),
    ],
)
def test_sandbox_create_event_rejects_what_klaviyo_rejects(sandbox_connection, attrs, pointer):
    api = Client.of(sandbox_connection)
    body = {
        "data": {
            "type": "event",
            "attributes": {
                **attrs,
                "profile": {"data": {"type": "profile", "attributes": {"email": "a@example.com"}}},
            },
        }
    }
    r = api("POST", "/api/events", body, check=False)
    assert r.status_code == 400
    assert r.json()["errors"][0]["source"]["pointer"] == "/data/attributes" + pointer


def test_sandbox_create_event_needs_a_profile_identifier_and_an_existing_id(sandbox_connection):
    api = Client.of(sandbox_connection)
    for profile, pointer in (
        (
            {"data": {"type": "profile", "attributes": {"first_name": "A"}}},
            "/data/attributes/profile/data/attributes",
        ),
        ({"data": {"type": "profile", "id": "01NOPE", "attributes": {}}}, "/data/attributes/profile/data/id"),
        (
            {"data": {"type": "profile", "attributes": {"phone_number": "555"}}},
            "/data/attributes/profile/data/attributes/phone_number",
        ),
    ):
        r = api(
            "POST",
            "/api/events",
            {
                "data": {
                    "type": "event",
                    "attributes": {"properties": {}, "metric": metric("M"), "profile": profile},
                }
            },
        )
        assert r.status_code == 400
        assert r.json()["errors"][0]["source"]["pointer"] == pointer


def test_sandbox_bulk_over_1000_events_is_rejected(sandbox_connection):
    api = Client.of(sandbox_connection)
    events = [{"properties": {}, "metric": metric("M"), "unique_id": str(i)} for i in range(1001)]
    r = api("POST", "/api/event-bulk-create-jobs", bulk_body([({"email": "a@example.com"}, events)]))
    assert r.status_code == 400 and "1000" in r.json()["errors"][0]["detail"]
