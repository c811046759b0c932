"""Every request is checked against the spec before any handler runs, as Klaviyo does: a 400
naming the body pointer or the parameter. One checker (klaviyo_connector.sandbox.validation)
serves the sandbox and tests/contract.py."""

from __future__ import annotations

import time
from typing import Any

import pytest
from contract import load_spec
from klaviyo_connector.sandbox import validation
from sandbox_helpers import Client


@pytest.fixture(autouse=True)
def _spec() -> None:
    load_spec()


@pytest.fixture
def call(sandbox_connection: dict[str, Any]) -> Client:
    return Client.of(sandbox_connection)


def _error(r: Any, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    (err,) = r.json()["errors"]
    assert err["status"] == status
    return err


def test_bad_enum_in_body_names_its_pointer(call: Client) -> None:
    body = {"data": {"type": "list", "attributes": {"name": "VIP", "opt_in_process": "maybe"}}}
    err = _error(call("POST", "/api/lists", body, check=False))
    assert err["code"] == "invalid"
    assert err["source"] == {"pointer": "/data/attributes/opt_in_process"}
    assert err["detail"] == "'maybe' is not one of ['double_opt_in', 'single_opt_in', None]"


def test_missing_required_attribute_names_the_member(call: Client) -> None:
    err = _error(call("POST", "/api/lists", {"data": {"type": "list", "attributes": {}}}, check=False))
    assert err["source"] == {"pointer": "/data/attributes/name"}
    assert err["detail"] == "'name' is a required property"
    assert call("GET", "/api/lists").json()["data"] == []  # nothing was stored


def test_wrong_member_type_inside_a_nullable_member(call: Client) -> None:
    body = {"data": {"type": "profile", "attributes": {"email": "a@example.com", "location": {"city": 5}}}}
    err = _error(call("POST", "/api/profiles", body, check=False))
    assert err["source"] == {"pointer": "/data/attributes/location/city"}
    assert err["detail"] == "5 is not of type 'string', 'null'"


def test_wrong_resource_type_is_a_409(call: Client) -> None:
    err = _error(
        call("POST", "/api/lists", {"data": {"type": "tag", "attributes": {"name": "X"}}}, check=False), 409
    )
    assert err["source"] == {"pointer": "/data/type"}


def test_unknown_query_parameter_is_refused(call: Client) -> None:
    err = _error(call("GET", "/api/lists", params={"pageSize": "5"}, check=False))
    assert err["source"] == {"parameter": "pageSize"}
    assert err["detail"].startswith("undeclared query parameter 'pageSize'; declared: [")


@pytest.mark.parametrize(
    ("path", "params", "parameter", "says"),
    [
        ("/api/lists", {"fields[list]": "name,nope"}, "fields[list]", "'nope' is not one of"),
        ("/api/lists", {"fields[list]": "name,name"}, "fields[list]", "duplicate items"),
        (
            "/api/lists",
            {"filter": "equals(colour,'red')"},
            "filter",
            "filter field 'colour' is not filterable",
        ),
        ("/api/profiles", {"filter": "any(created,['x'])"}, "filter", "not allowed as a list operator"),
        ("/api/profiles", {"sort": "-nope"}, "sort", "not one of"),
        ("/api/profiles", {"page[size]": "0"}, "page[size]", "below minimum 1"),
        ("/api/profiles", {"page[size]": "ten"}, "page[size]", "not a valid integer"),
    ],
)
def test_query_values_are_checked(
    call: Client, path: str, params: dict[str, str], parameter: str, says: str
) -> None:
    err = _error(call("GET", path, params=params, check=False))
    assert err["source"] == {"parameter": parameter}
    assert says in err["detail"]


def test_body_on_an_operation_without_one_is_refused(call: Client) -> None:
    err = _error(call("GET", "/api/lists", {"data": {}}, check=False))
    assert err["detail"] == "This operation takes no request body."


def _bulk_events(count: int) -> dict[str, Any]:
    def event(i: int) -> dict[str, Any]:
        return {
            "type": "event-bulk-create",
            "attributes": {
                "profile": {"data": {"type": "profile", "attributes": {"email": f"u{i}@example.com"}}},
                "events": {
                    "data": [
                        {
                            "type": "event",
                            "attributes": {
                                "metric": {"data": {"type": "metric", "attributes": {"name": "Viewed"}}},
                                "properties": {"sku": f"SKU-{i}", "tags": ["a", "b"]},
                                "time": "2026-07-01T10:00:00Z",
                                "value": 9.99,
                                "unique_id": f"e-{i}",
                            },
                        }
                    ]
                },
            },
        }

    return {
        "data": {
            "type": "event-bulk-create-job",
            "attributes": {"events-bulk-create": {"data": [event(i) for i in range(count)]}},
        }
    }


def test_a_thousand_event_bulk_body_validates_in_well_under_20_ms_of_cpu() -> None:
    body = _bulk_events(1000)
    validation.check_body("bulk_create_events", body)  # compiles the validator once
    best = min(_cpu(lambda: validation.check_body("bulk_create_events", body)) for _ in range(5))
    assert best < 0.020, f"{best * 1000:.1f} ms of CPU for 1,000 events"
    broken = _bulk_events(3)
    broken["data"]["attributes"]["events-bulk-create"]["data"][2]["attributes"]["events"]["data"][0][
        "attributes"
    ]["time"] = "yesterday"
    with pytest.raises(validation.SpecViolation) as caught:
        validation.check_body("bulk_create_events", broken)
    assert (
        caught.value.pointer
        == "/data/attributes/events-bulk-create/data/2/attributes/events/data/0/attributes/time"
    )


def _cpu(fn: Any) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start
