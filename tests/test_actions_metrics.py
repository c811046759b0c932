"""Metric actions: listing and the aggregate query body (date range clamped to a pinned "now"),
then real aggregation in the sandbox, whose responses must match the spec."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import BASE, body, invalid, refused, run
from klaviyo_connector.actions import events as event_actions
from klaviyo_connector.actions import metrics as metric_actions
from klaviyo_connector.errors import KlaviyoError
from responses import matchers
from sandbox_helpers import Client

NOW = datetime(2025, 6, 15, 10, 30, 45, tzinfo=timezone.utc)
AGG_URL = f"{BASE}/api/metric-aggregates"
AGG_DOC = {
    "data": {
        "type": "metric-aggregate",
        "id": "agg",
        "attributes": {
            "dates": ["2025-06-01T00:00:00+00:00"],
            "data": [{"dimensions": [], "measurements": {"count": [3]}}],
        },
        "links": {"self": f"{AGG_URL}/"},
    },
    "links": {"self": f"{AGG_URL}/"},
}


@pytest.fixture(autouse=True)
def fixed_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metric_actions, "now", lambda: NOW)
    monkeypatch.setattr(event_actions, "now", lambda: NOW)


# -- listMetrics -------------------------------------------------------------------------------------


def test_list_metrics_filters_by_integration_without_page_size(runner, klaviyo):
    page = {"data": [], "links": {"self": f"{BASE}/api/metrics/"}}
    klaviyo.add("GET", f"{BASE}/api/metrics", json=page)
    out = run(
        runner,
        "listMetrics",
        {"integrationName": "Shopify", "integrationCategory": "eCommerce", "metricFields": "name"},
    )
    query = parse_qs(urlsplit(klaviyo.calls[0].request.url).query)
    assert query == {
        "fields[metric]": ["name"],
        "filter": ["equals(integration.name,'Shopify'),equals(integration.category,'eCommerce')"],
    }
    assert out["data"]["data"] == [] and out["data"]["meta"]["next_cursor"] is None


def test_list_metrics_follows_cursor_pages(runner, klaviyo):
    nxt = f"{BASE}/api/metrics/?page%5Bcursor%5D=abc"
    first = {
        "data": [{"type": "metric", "id": "m1", "attributes": {}, "links": {"self": "x"}}],
        "links": {"self": "x", "next": nxt},
    }
    second = {
        "data": [{"type": "metric", "id": "m2", "attributes": {}, "links": {"self": "x"}}],
        "links": {"self": "y"},
    }
    klaviyo.add("GET", f"{BASE}/api/metrics", json=first)
    klaviyo.add("GET", nxt, json=second, match=[matchers.query_param_matcher({"page[cursor]": "abc"})])
    out = run(runner, "listMetrics", {"fetchAll": True})
    assert [m["id"] for m in out["data"]["data"]] == ["m1", "m2"]
    assert parse_qs(urlsplit(klaviyo.calls[1].request.url).query) == {"page[cursor]": ["abc"]}


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({"sort": "name"}, "sort"),
        ({"pageSize": 50}, "pageSize"),
        ({"filter": "equals(name,'Placed Order')"}, "Filter"),
        ({"metricFields": "name,colour"}, "Metric Fields"),
    ],
)
def test_list_metrics_refuses_what_the_endpoint_cannot_do(runner, klaviyo, inputs, field):
    assert refused(runner, klaviyo, "listMetrics", inputs).field == field


def test_list_metrics_offers_no_sort_or_page_size():
    # GET /api/metrics has neither parameter, so the form must not offer inputs that can only fail.
    from klaviyo_connector.component import component

    schema = component.actions["listMetrics"].inputs.model_json_schema()["properties"]
    assert "filter" in schema and "pageCursor" in schema
    assert "sort" not in schema and "pageSize" not in schema


# -- queryMetricAggregates ---------------------------------------------------------------------------


def test_query_body_with_dates_as_filters(runner, klaviyo):
    klaviyo.add("POST", AGG_URL, json=AGG_DOC)
    out = run(
        runner,
        "queryMetricAggregates",
        {
            "metricId": "UMTLbD",
            "measurements": "count,sum_value,count",
            "interval": "week",
            "startDate": "2025-05-01",
            "endDate": "2025-06-01",
            "groupBy": "$flow,$message",
            "filters": ["equals($flow,'R8a2Hp')"],
            "pageSize": "100",
            "pageCursor": "cur",
        },
    )
    assert out == {"data": AGG_DOC}
    assert klaviyo.calls[0].request.headers["Content-Type"] == "application/vnd.api+json"
    assert body(klaviyo.calls[0]) == {
        "data": {
            "type": "metric-aggregate",
            "attributes": {
                "metric_id": "UMTLbD",
                "measurements": ["count", "sum_value"],
                "interval": "week",
                "filter": [
                    "greater-or-equal(datetime,2025-05-01T00:00:00)",
                    "less-than(datetime,2025-06-01T00:00:00)",
                    "equals($flow,'R8a2Hp')",
                ],
                "timezone": "UTC",
                "by": ["$flow", "$message"],
                "page_size": 100,
                "page_cursor": "cur",
            },
        }
    }


def test_end_date_defaults_to_now_and_is_clamped_to_it(runner, klaviyo):
    klaviyo.add("POST", AGG_URL, json=AGG_DOC)
    run(
        runner,
        "queryMetricAggregates",
        {"metricId": "m", "measurements": ["count"], "startDate": "2025-06-01"},
    )
    run(
        runner,
        "queryMetricAggregates",
        {"metricId": "m", "measurements": ["count"], "startDate": "2025-06-01", "endDate": "2030-01-01"},
    )
    for call in klaviyo.calls:
        attrs = body(call)["data"]["attributes"]
        assert attrs["filter"] == [
            "greater-or-equal(datetime,2025-06-01T00:00:00)",
            "less-than(datetime,2025-06-15T10:30:45)",
        ]
        assert attrs["interval"] == "day" and "by" not in attrs and "page_size" not in attrs


def test_dates_are_expressed_in_the_query_timezone(runner, klaviyo):
    klaviyo.add("POST", AGG_URL, json=AGG_DOC)
    run(
        runner,
        "queryMetricAggregates",
        {
            "metricId": "m",
            "measurements": ["unique"],
            "startDate": "2025-01-01T05:00:00Z",  # midnight in New York
            "endDate": "2025-01-08",  # a day: midnight in New York
            "timezone": "America/New_York",
        },
    )
    attrs = body(klaviyo.calls[0])["data"]["attributes"]
    assert attrs["filter"] == [
        "greater-or-equal(datetime,2025-01-01T00:00:00)",
        "less-than(datetime,2025-01-08T00:00:00)",
    ]
    assert attrs["timezone"] == "America/New_York"


@pytest.mark.parametrize(
    ("inputs", "field", "fragment"),
    [
        ({"startDate": "2025-06-10", "endDate": "2025-06-01"}, "End Date", "after Start Date"),
        ({"startDate": "2025-06-10", "endDate": "2025-06-10"}, "End Date", "after Start Date"),
        ({"startDate": "2025-07-01"}, "Start Date", "in the past"),
        ({"startDate": "2025-06-01", "timezone": "Mars/Olympus"}, "Timezone", "IANA"),
        ({"startDate": "2025-06-01", "measurements": ["total"]}, "Measurements[0]", "count"),
        ({"startDate": "2025-06-01", "measurements": []}, "Measurements", "at least 1"),
        ({"startDate": "2025-06-01", "interval": "year"}, "Interval", "hour"),
        ({"startDate": "yesterday"}, "Start Date", "a day (YYYY-MM-DD) or an ISO 8601 date-time"),
        (
            {"startDate": "2025-06-01", "filters": ["greater-than(datetime,2025-01-01T00:00:00Z)"]},
            "Filters",
            "Start Date",
        ),
        ({"startDate": "2025-06-01", "filters": ["equals($flow,"]}, "Filters", "equals($flow,"),
        ({"startDate": "2025-06-01", "pageSize": 0}, "Page Size", "greater than or equal to 1"),
    ],
)
def test_query_refuses_bad_input(runner, klaviyo, inputs, field, fragment):
    err = refused(
        runner, klaviyo, "queryMetricAggregates", {"metricId": "m", "measurements": ["count"], **inputs}
    )
    assert err.field == field and fragment in err.message


def test_klaviyo_error_on_a_body_member_names_the_input(runner, klaviyo):
    klaviyo.add(
        "POST",
        AGG_URL,
        status=400,
        json=invalid("'Colour' is not a valid choice.", "/data/attributes/by/0"),
    )
    with pytest.raises(KlaviyoError) as info:
        run(
            runner,
            "queryMetricAggregates",
            {"metricId": "m", "measurements": ["count"], "startDate": "2025-06-01", "groupBy": "$flow"},
        )
    assert info.value.field == "Group By"
    assert info.value.message.startswith("Group By: Klaviyo rejected the request")
    assert str(info.value) == info.value.message


def test_query_is_retried_after_a_server_error(runner, klaviyo, sleeps):
    klaviyo.add("POST", AGG_URL, status=502, json={"errors": []})
    klaviyo.add("POST", AGG_URL, json=AGG_DOC)
    out = run(
        runner,
        "queryMetricAggregates",
        {"metricId": "m", "measurements": ["count"], "startDate": "2025-06-01"},
    )
    assert out == {"data": AGG_DOC} and len(sleeps.waits) == 1


# -- against the sandbox -----------------------------------------------------------------------------


def seed(runner: Any, connection: dict[str, Any]) -> dict[str, str]:
    rows = [
        # Placed Order: two on Jun 1 (a, b), one on Jun 2 (a, EUR), one on Jun 3 at 23:30 New York time.
        {
            "metric": "Placed Order",
            "profile": {"email": "a@example.com"},
            "time": "2025-06-01T09:00:00Z",
            "value": 10,
            "value_currency": "USD",
        },
        {
            "metric": "Placed Order",
            "profile": {"email": "b@example.com"},
            "time": "2025-06-01T15:00:00Z",
            "value": 5.5,
            "value_currency": "USD",
        },
        {
            "metric": "Placed Order",
            "profile": {"email": "a@example.com"},
            "time": "2025-06-02T12:00:00Z",
            "value": 7,
            "value_currency": "EUR",
        },
        {
            "metric": "Placed Order",
            "profile": {"email": "a@example.com"},
            "time": "2025-06-04T03:30:00Z",
            "value": 1,
        },
        {"metric": "Viewed Product", "profile": {"email": "a@example.com"}, "time": "2025-06-01T10:00:00Z"},
    ]
    run(runner, "bulkCreateEvents", {"eventsArray": rows}, connection)
    metrics = run(runner, "listMetrics", {}, connection)["data"]["data"]
    return {m["attributes"]["name"]: m["id"] for m in metrics}


def test_sandbox_lists_metrics_created_by_events(runner, sandbox_connection):
    ids = seed(runner, sandbox_connection)
    assert set(ids) == {"Placed Order", "Viewed Product"}
    api = Client.of(sandbox_connection)
    api(
        "GET", "/api/metrics", params={"filter": "equals(integration.name,'API')", "include": "flow-triggers"}
    )
    assert (
        len(run(runner, "listMetrics", {"integrationName": "Shopify"}, sandbox_connection)["data"]["data"])
        == 0
    )
    assert (
        len(run(runner, "listMetrics", {"integrationCategory": "API"}, sandbox_connection)["data"]["data"])
        == 2
    )
    one = api("GET", f"/api/metrics/{ids['Placed Order']}").json()["data"]
    assert one["attributes"]["name"] == "Placed Order"
    assert api("GET", "/api/metrics/nope").status_code == 404
    assert api("GET", "/api/metrics", params={"page[size]": "10"}, check=False).status_code == 400


def test_sandbox_metric_pages_hold_200(runner, sandbox_connection):
    rows = [{"metric": f"Metric {i:03d}", "profile": {"email": "a@example.com"}} for i in range(201)]
    run(runner, "bulkCreateEvents", {"eventsArray": rows}, sandbox_connection)
    first = run(runner, "listMetrics", {}, sandbox_connection)["data"]
    assert len(first["data"]) == 200 and first["meta"]["next_cursor"]
    rest = run(runner, "listMetrics", {"pageCursor": first["meta"]["next_cursor"]}, sandbox_connection)[
        "data"
    ]
    assert [m["attributes"]["name"] for m in rest["data"]] == ["Metric 200"]
    assert len(run(runner, "listMetrics", {"fetchAll": True}, sandbox_connection)["data"]["data"]) == 201


def test_sandbox_aggregates_counts_sums_and_uniques_per_day(runner, sandbox_connection):
    ids = seed(runner, sandbox_connection)
    out = run(
        runner,
        "queryMetricAggregates",
        {
            "metricId": ids["Placed Order"],
            "measurements": "count,sum_value,unique",
            "startDate": "2025-06-01",
            "endDate": "2025-06-05",
        },
        sandbox_connection,
    )["data"]
    attrs = out["data"]["attributes"]
    assert attrs["dates"] == [f"2025-06-0{d}T00:00:00+00:00" for d in (1, 2, 3, 4)]
    assert attrs["data"] == [
        {
            "dimensions": [],
            "measurements": {
                "count": [2, 1, 0, 1],
                "sum_value": [15.5, 7.0, 0.0, 1.0],
                "unique": [2, 1, 0, 1],
            },
        }
    ]


def test_sandbox_aggregates_in_a_timezone_grouped_and_filtered(runner, sandbox_connection):
    ids = seed(runner, sandbox_connection)
    by_currency = run(
        runner,
        "queryMetricAggregates",
        {
            "metricId": ids["Placed Order"],
            "measurements": ["count"],
            "startDate": "2025-06-01",
            "endDate": "2025-06-05",
            "timezone": "America/New_York",
            "groupBy": "$value_currency",
        },
        sandbox_connection,
    )["data"]["data"]["attributes"]
    assert by_currency["dates"] == [f"2025-06-0{d}T00:00:00-04:00" for d in (1, 2, 3, 4)]
    # 03:30Z on Jun 4 is 23:30 on Jun 3 in New York; 09:00Z on Jun 1 is 05:00 there.
    assert by_currency["data"] == [
        {"dimensions": [], "measurements": {"count": [0, 0, 1, 0]}},
        {"dimensions": ["EUR"], "measurements": {"count": [0, 1, 0, 0]}},
        {"dimensions": ["USD"], "measurements": {"count": [2, 0, 0, 0]}},
    ]
    usd_month = run(
        runner,
        "queryMetricAggregates",
        {
            "metricId": ids["Placed Order"],
            "measurements": ["sum_value"],
            "interval": "month",
            "startDate": "2025-05-20",
            "filters": ["equals($value_currency,'USD')"],
        },
        sandbox_connection,
    )["data"]["data"]["attributes"]
    assert usd_month["dates"] == ["2025-05-01T00:00:00+00:00", "2025-06-01T00:00:00+00:00"]
    assert usd_month["data"] == [{"dimensions": [], "measurements": {"sum_value": [0.0, 15.5]}}]


def test_sandbox_aggregate_pages_rows_and_rejects_bad_queries(runner, sandbox_connection):
    ids = seed(runner, sandbox_connection)
    api = Client.of(sandbox_connection)

    def query(**attrs: Any) -> dict[str, Any]:
        base = {
            "metric_id": ids["Placed Order"],
            "measurements": ["count"],
            "filter": [
                "greater-or-equal(datetime,2025-06-01T00:00:00)",
                "less-than(datetime,2025-06-05T00:00:00)",
            ],
        }
        return {"data": {"type": "metric-aggregate", "attributes": {**base, **attrs}}}

    first = api(
        "POST",
        "/api/metric-aggregates",
        query(by=["$value_currency"], measurements=["count", "sum_value"], page_size=2, sort="-sum_value"),
    ).json()
    assert [r["dimensions"] for r in first["data"]["attributes"]["data"]] == [["USD"], ["EUR"]]
    cursor = parse_qs(urlsplit(first["links"]["next"]).query)["page_cursor"][0]
    rest = api(
        "POST",
        "/api/metric-aggregates",
        query(
            by=["$value_currency"],
            measurements=["count", "sum_value"],
            page_size=2,
            sort="-sum_value",
            page_cursor=cursor,
        ),
    ).json()
    assert [r["dimensions"] for r in rest["data"]["attributes"]["data"]] == [[]]
    assert "next" not in rest["links"]

    for attrs, pointer, status in (
        ({"filter": ["greater-or-equal(datetime,2025-06-01T00:00:00)"]}, "/data/attributes/filter", 400),
        ({"timezone": "Mars/Olympus"}, "/data/attributes/timezone", 400),
        ({"interval": "year"}, "/data/attributes/interval", 400),
        ({"metric_id": "nope"}, "/data/attributes/metric_id", 400),
        ({"sort": "-sum_value"}, "/data/attributes/sort", 400),
        ({"page_cursor": "!!"}, "/data/attributes/page_cursor", 400),
        (
            {
                "filter": [
                    "greater-or-equal(datetime,2025-06-05T00:00:00)",
                    "less-than(datetime,2025-06-01T00:00:00)",
                ]
            },
            "/data/attributes/filter",
            400,
        ),
    ):
        r = api("POST", "/api/metric-aggregates", query(**attrs), check=False)
        assert r.status_code == status, (attrs, r.text)
        assert r.json()["errors"][0]["source"]["pointer"] == pointer
