"""Cheap checks of big input arrays keep their strictness and messages.

The per-row coercion looks field facts up once per model and email addresses take a fast path
for plain ASCII ones (the validator's domain checks cached per domain); these tests pin that
both still accept, refuse and word exactly what the full checks do, and that a bad row anywhere
in a big array still stops the run before anything is sent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from conftest import BASE
from email_validator import EmailNotValidError, validate_email
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.inputs import _email, validate_inputs

ADDRESSES = [
    "sarah.mason@klaviyo-demo.com",
    "Sarah.Mason@Klaviyo-Demo.COM",  # the domain is lower-cased, the local part kept
    "a+tag@example.com",
    "o'brien@example.co.uk",
    "x@sub.domain.example",
    "user@localhost",  # special-use domains are refused
    "user@example.test",
    "user@example.local",
    "user@invalid",
    "user@123.456",  # a numeric top-level domain
    "user@-bad.com",
    "user@bad-.com",
    "user@exa_mple.com",
    "user@example..com",
    "user@.example.com",
    "user@example.com.",
    ".user@example.com",
    "user.@example.com",
    "us..er@example.com",
    '"quoted"@example.com',
    "bad@@example.com",
    "no-at-sign",
    "@example.com",
    "user@",
    "a" * 64 + "@example.com",
    "a" * 65 + "@example.com",  # the local part is at most 64 characters
    "a@" + ".".join(["b" * 63] * 4),  # past 254 characters in all
    "a" * 60 + "@" + ".".join(["b" * 60] * 3) + ".com",
    "user@" + "b" * 64 + ".com",  # a label is at most 63 characters
    "josé@example.com",  # internationalized local part: the validator's own path
    "user@bücher.de",  # internationalized domain
    "user@xn--bcher-kva.de",
    "user@EXAMPLE.com",
]


def _validator(value: str) -> tuple[str, str]:
    try:
        return "ok", validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        return "refused", f"is not a valid email address ({exc})"


def _ours(value: str) -> tuple[str, str]:
    try:
        return "ok", _email(value)
    except ValueError as exc:
        return "refused", str(exc)


@pytest.mark.parametrize("address", ADDRESSES)
def test_email_check_accepts_normalizes_and_refuses_as_the_validator_does(address):
    assert _ours(address) == _validator(address)
    assert _ours(address) == _validator(address)  # again, with the domain's result cached


def _row(i: int, **profile: Any) -> dict[str, Any]:
    return {
        "metric": "Placed Order",
        "profile": {"email": f"user{i}@example.com", **profile},
        "properties": {"OrderId": str(i)},
        "time": "2024-07-10T14:48:00Z",
    }


def test_bad_rows_deep_in_a_big_array_are_refused_with_their_messages_and_nothing_is_sent(runner, connection):
    rows = [_row(i) for i in range(3000)]
    rows[2500]["profile"]["email"] = "user2500@localhost"
    rows[2999]["profile"]["phone_number"] = "12"
    rows[1234]["time"] = "1980-01-01T00:00:00Z"
    with responses.RequestsMock() as mock:  # any request would fail the test
        with pytest.raises(KlaviyoError) as refused:
            runner.run_action(
                "klaviyo", "bulkCreateEvents", connection=connection, inputs={"eventsArray": rows}
            )
        assert len(mock.calls) == 0
    exc = refused.value
    assert exc.code == "invalid_input"
    assert [e["field"] for e in exc.errors or []] == [
        "Events Array[1234].time",
        "Events Array[2500].profile.email",
        "Events Array[2999].profile.phone_number",
    ]
    assert exc.errors[1]["detail"] == _validator("user2500@localhost")[1]
    assert exc.errors[2]["detail"] == "must be an E.164 phone number such as +15005550006 (got '12')"
    assert exc.errors[0]["detail"] == "must be after 1990-01-01T00:00:00Z (got 1980-01-01T00:00:00Z)"


def test_form_text_in_rows_is_still_coerced_per_field(runner, connection, klaviyo):
    klaviyo.add(responses.POST, f"{BASE}/api/event-bulk-create-jobs", status=202)
    rows = [
        {**_row(0), "properties": '{"OrderId": "1", "Items": ["a"]}', "time": "", "value": "9.5"},
        {**_row(1), "unique_id": " ", "value_currency": "usd"},
    ]
    runner.run_action("klaviyo", "bulkCreateEvents", connection=connection, inputs={"eventsArray": rows})
    groups = json.loads(klaviyo.calls[0].request.body)["data"]["attributes"]["events-bulk-create"]["data"]
    first = groups[0]["attributes"]["events"]["data"][0]["attributes"]
    second = groups[1]["attributes"]["events"]["data"][0]["attributes"]
    assert first["properties"] == {"OrderId": "1", "Items": ["a"]} and first["value"] == 9.5
    assert len(second["unique_id"]) == 64 and second["value_currency"] == "USD"  # a blank ID is derived


def test_json_text_that_breaks_is_still_named_by_its_label(runner, connection):
    with pytest.raises(KlaviyoError) as bad:
        runner.run_action(
            "klaviyo",
            "bulkCreateEvents",
            connection=connection,
            inputs={"eventsArray": [{**_row(0), "properties": "{nope"}]},
        )
    # As before the coercion was made cheap: a row's field is named inside the detail.
    assert bad.value.errors == [
        {
            "field": "Events Array[0]",
            "detail": "Properties|is not valid JSON (Expecting property name enclosed in double quotes at "
            "position 1)",
        }
    ]


def test_a_mapping_that_is_not_a_dict_still_validates():
    from types import MappingProxyType

    from klaviyo_connector.actions.events import BulkCreateEventsInputs

    row = MappingProxyType(_row(0))
    values = validate_inputs(BulkCreateEventsInputs, {"eventsArray": [row]})
    assert values.eventsArray[0].profile.email == "user0@example.com"


def test_every_row_is_checked_before_the_first_request_then_each_request_is_built_after_the_last_left(
    runner, connection, klaviyo, monkeypatch
):
    from klaviyo_connector.actions import events

    log: list[str] = []
    real_row, real_grouped = events._Row, events._grouped

    def row(index: int, event: Any, started: Any) -> Any:
        log.append("check")
        return real_row(index, event, started)

    def grouped(rows: list[Any]) -> Any:
        log.append(f"build {rows[0].index}..{rows[-1].index}")
        return real_grouped(rows)

    def sent(request: Any) -> tuple[int, dict[str, str], str]:
        count = sum(
            len(g["attributes"]["events"]["data"])
            for g in json.loads(request.body)["data"]["attributes"]["events-bulk-create"]["data"]
        )
        log.append(f"send {count}")
        return 202, {}, ""

    monkeypatch.setattr(events, "_Row", row)
    monkeypatch.setattr(events, "_grouped", grouped)
    klaviyo.add_callback(responses.POST, f"{BASE}/api/event-bulk-create-jobs", callback=sent)
    runner.run_action(
        "klaviyo",
        "bulkCreateEvents",
        connection=connection,
        inputs={"eventsArray": [_row(i) for i in range(2500)]},
    )
    assert log == ["check"] * 2500 + [
        "build 0..999",
        "send 1000",
        "build 1000..1999",
        "send 1000",
        "build 2000..2499",
        "send 500",
    ]


@pytest.mark.parametrize(
    ("properties", "field", "detail"),
    [
        (
            {"big": "x" * 102_401, "bad": float("nan")},
            "Events Array[1].properties",
            "the string at big is larger than Klaviyo's 100 KB limit",
        ),
        (
            {"list": ["ok", "é" * 51_201]},
            "Events Array[1].properties",
            "the string at list[1] is larger than Klaviyo's 100 KB limit",
        ),
        ({"when": object()}, "Events Array[1].properties", "cannot be sent as JSON (Object of type object"),
        # As before: a number JSON can't carry is the body's error, not the row's.
        ({"bad": float("nan")}, None, "The request body cannot be sent as JSON: Out of range float values"),
    ],
    ids=["oversized before unencodable", "counted in UTF-8 bytes", "unencodable", "not finite"],
)
def test_properties_checks_keep_their_order_and_messages(runner, connection, properties, field, detail):
    with responses.RequestsMock():  # any request would fail the test
        with pytest.raises(KlaviyoError) as bad:
            runner.run_action(
                "klaviyo",
                "bulkCreateEvents",
                connection=connection,
                inputs={"eventsArray": [_row(0), {**_row(1), "properties": properties}]},
            )
    if field is None:
        assert bad.value.message.startswith(detail)
    else:
        assert bad.value.errors[0]["field"] == field
        assert bad.value.errors[0]["detail"].startswith(detail)


@pytest.mark.parametrize(
    "event",
    [
        _row(0),
        {**_row(1), "time": None, "value": 1e300, "value_currency": "eur"},
        {"metric": 'Zoë "quoted"\n', "profile": {"phone_number": "+15005550006", "external_id": "x"}},
        {**_row(2), "properties": {"deep": [{"a": ["é" * 300, None, 1.5, True]}], "k": "\u0001"}},
    ],
    ids=["plain", "big value", "escapes", "nested unicode"],
)
def test_a_rows_size_bound_is_never_below_its_exact_size(event):
    from klaviyo_connector.actions import events

    values = validate_inputs(events.BulkCreateEventsInputs, {"eventsArray": [event]})
    row = events._Row(0, values.eventsArray[0], events.now().replace(microsecond=0))
    bound = row.size
    row.measure()
    assert not row.exact or row.size <= bound
    assert row.size == len(events.encode_json(events._group_item(row.profile, [row.event()])))


def test_rows_near_the_byte_limit_are_measured_so_requests_split_as_exact_sizes_allow(
    runner, connection, klaviyo
):
    from klaviyo_connector.actions import events

    klaviyo.add(responses.POST, f"{BASE}/api/event-bulk-create-jobs", status=202)
    # 1,000 rows of about 4,900 bytes: they fit one 5 MB request, though their bounds (~5,070) would not.
    rows = [{**_row(i), "properties": {"OrderId": str(i), "blob": "x" * 4_500}} for i in range(1000)]
    runner.run_action("klaviyo", "bulkCreateEvents", connection=connection, inputs={"eventsArray": rows})
    assert len(klaviyo.calls) == 1
    assert len(klaviyo.calls[0].request.body) <= events.MAX_BULK_BYTES
