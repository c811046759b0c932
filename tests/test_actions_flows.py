"""Flow actions against a mocked Klaviyo (query, body, input checks), then against the sandbox's
seeded flows, whose responses must match the spec."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import BASE, refused, run
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.sandbox.resources import flows as sandbox_flows
from sandbox_helpers import Client

FLOW = {
    "data": {
        "type": "flow",
        "id": "XVTP5Q",
        "attributes": {"name": "Welcome Series", "status": "live"},
        "links": {"self": f"{BASE}/api/flows/XVTP5Q/"},
    },
    "links": {"self": f"{BASE}/api/flows/XVTP5Q/"},
}


def test_list_flows_clamps_page_size_to_50_and_passes_filter_sort_fields(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/flows", json={"data": [], "links": {"self": "x"}})
    run(
        runner,
        "listFlows",
        {
            "filter": "equals(status,'live'),contains(name,'Welcome')",
            "sort": "-updated",
            "pageSize": 500,
            "flowFields": "name,status",
        },
    )
    assert parse_qs(urlsplit(klaviyo.calls[0].request.url).query) == {
        "fields[flow]": ["name,status"],
        "filter": ["equals(status,'live'),contains(name,'Welcome')"],
        "sort": ["-updated"],
        "page[size]": ["50"],
    }


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"sort": "popularity"}, "Sort"),
        ({"filter": "equals(definition,'x')"}, "Filter"),
        ({"flowFields": "name,colour"}, "Flow Fields"),
    ],
)
def test_list_flows_refuses_bad_options(runner, klaviyo, inputs, field):
    assert refused(runner, klaviyo, "listFlows", inputs).field == field


def test_update_flow_status_patches_status_only(runner, klaviyo):
    klaviyo.add("PATCH", f"{BASE}/api/flows/XVTP5Q", json=FLOW)
    out = run(runner, "updateFlowStatus", {"flowId": "XVTP5Q", "status": "live"})
    assert out == {"data": FLOW}
    call = klaviyo.calls[0]
    assert call.request.headers["Content-Type"] == "application/vnd.api+json"
    assert json.loads(call.request.body) == {
        "data": {"type": "flow", "id": "XVTP5Q", "attributes": {"status": "live"}}
    }


def test_update_flow_status_is_retried_after_a_timeout_like_error(runner, klaviyo, sleeps):
    klaviyo.add("PATCH", f"{BASE}/api/flows/XVTP5Q", status=503, json={"errors": []})
    klaviyo.add("PATCH", f"{BASE}/api/flows/XVTP5Q", json=FLOW)
    run(runner, "updateFlowStatus", {"flowId": "XVTP5Q", "status": "draft"})
    assert len(klaviyo.calls) == 2 and len(sleeps.waits) == 1


@pytest.mark.parametrize(
    ("inputs", "field", "fragment"),
    [
        ({"flowId": "XVTP5Q", "status": "paused"}, "Status", "'draft', 'manual' or 'live'"),
        ({"flowId": "XVTP5Q"}, "Status", "required"),
        ({"flowId": "", "status": "live"}, "Flow ID", "at least 1 character"),
    ],
)
def test_update_flow_status_refuses_bad_input(runner, klaviyo, inputs, field, fragment):
    err = refused(runner, klaviyo, "updateFlowStatus", inputs)
    assert err.field == field and fragment in err.message


def test_unknown_flow_is_reported(runner, klaviyo):
    klaviyo.add(
        "PATCH",
        f"{BASE}/api/flows/NOPE00",
        status=404,
        json={"errors": [{"status": 404, "code": "not_found", "detail": "Flow not found."}]},
    )
    with pytest.raises(KlaviyoError) as info:
        run(runner, "updateFlowStatus", {"flowId": "NOPE00", "status": "live"})
    assert info.value.status == 404 and "Flow not found." in info.value.message


# -- against the sandbox -----------------------------------------------------------------------------


def test_sandbox_seeds_the_same_flows_for_every_account(runner, sandbox_connection):
    listed = run(runner, "listFlows", {}, sandbox_connection)["data"]["data"]
    assert [
        (f["attributes"]["name"], f["attributes"]["status"], f["attributes"]["archived"]) for f in listed
    ] == [(name, status, archived) for name, status, archived, _, _ in sandbox_flows.SEEDS]
    welcome = listed[0]
    assert welcome["attributes"]["created"] == "2024-01-15T10:00:00+00:00"
    assert welcome["attributes"]["trigger_type"] == "Added to List"
    # Ids are fixed per account: listing again (which must not seed twice) gives the same flows.
    again = run(runner, "listFlows", {}, sandbox_connection)["data"]["data"]
    assert [f["id"] for f in again] == [f["id"] for f in listed]
    other = {
        **sandbox_connection,
        "fields": {**sandbox_connection["fields"], "apiKey": "pk_otheraccount0123456789"},
    }
    theirs = run(runner, "listFlows", {}, other)["data"]["data"]
    assert [f["attributes"]["name"] for f in theirs] == [f["attributes"]["name"] for f in listed]
    assert sandbox_flows.seed_id("AbC123", "Welcome Series") == sandbox_flows.seed_id(
        "AbC123", "Welcome Series"
    )
    assert sandbox_flows.seed_id("AbC123", "Welcome Series") != sandbox_flows.seed_id(
        "XyZ789", "Welcome Series"
    )


def test_sandbox_filters_sorts_and_pages_flows(runner, sandbox_connection):
    api = Client.of(sandbox_connection)
    drafts = run(
        runner, "listFlows", {"filter": "equals(status,'draft'),equals(archived,false)"}, sandbox_connection
    )
    assert sorted(f["attributes"]["name"] for f in drafts["data"]["data"]) == [
        "Birthday Discount",
        "Welcome Series",
    ]
    named = run(
        runner, "listFlows", {"filter": "contains(name,'Abandon')", "sort": "-name"}, sandbox_connection
    )
    assert [f["attributes"]["name"] for f in named["data"]["data"]] == [
        "Browse Abandonment",
        "Abandoned Cart Reminder",
    ]
    paged = run(runner, "listFlows", {"pageSize": 2}, sandbox_connection)["data"]
    assert len(paged["data"]) == 2 and paged["meta"]["next_cursor"]
    everything = run(runner, "listFlows", {"pageSize": 2, "fetchAll": True}, sandbox_connection)["data"]
    assert len(everything["data"]) == len(sandbox_flows.SEEDS) and everything["meta"]["pages"] == 3
    api("GET", "/api/flows", params={"include": "tags,flow-actions"})
    r = api("GET", "/api/flows", params={"fields[flow]": "name"})
    assert all(set(f["attributes"]) == {"name"} for f in r.json()["data"])
    assert api("GET", "/api/flows", params={"page[size]": "51"}, check=False).status_code == 400


def test_sandbox_updates_flow_status(runner, sandbox_connection):
    api = Client.of(sandbox_connection)
    welcome = run(runner, "listFlows", {"filter": "equals(name,'Welcome Series')"}, sandbox_connection)[
        "data"
    ]["data"][0]
    out = run(runner, "updateFlowStatus", {"flowId": welcome["id"], "status": "live"}, sandbox_connection)[
        "data"
    ]
    assert out["data"]["attributes"]["status"] == "live"
    assert out["data"]["attributes"]["updated"] != welcome["attributes"]["updated"]
    live = run(runner, "listFlows", {"filter": "equals(status,'live')"}, sandbox_connection)["data"]["data"]
    assert welcome["id"] in [f["id"] for f in live]
    api(
        "PATCH",
        f"/api/flows/{welcome['id']}",
        {"data": {"type": "flow", "id": welcome["id"], "attributes": {"status": "manual"}}},
    )

    for flow_id, body, status in (
        (
            welcome["id"],
            {"data": {"type": "flow", "id": welcome["id"], "attributes": {"status": "paused"}}},
            400,
        ),
        (welcome["id"], {"data": {"type": "flow", "id": welcome["id"], "attributes": {}}}, 400),
        (
            welcome["id"],
            {"data": {"type": "flow", "id": welcome["id"], "attributes": {"status": "live", "name": "X"}}},
            400,
        ),
        (welcome["id"], {"data": {"type": "flow", "id": "OTHER1", "attributes": {"status": "live"}}}, 409),
        ("NOPE00", {"data": {"type": "flow", "id": "NOPE00", "attributes": {"status": "live"}}}, 404),
    ):
        r = api("PATCH", f"/api/flows/{flow_id}", body, check=False)
        assert r.status_code == status, r.text
    with pytest.raises(KlaviyoError) as info:
        run(runner, "updateFlowStatus", {"flowId": "NOPE00", "status": "live"}, sandbox_connection)
    assert info.value.status == 404
