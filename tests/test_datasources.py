"""Picklist data sources against a mocked Klaviyo: paging, search, labels, the cap, errors.

Every request made here is validated against the OpenAPI spec at teardown (``klaviyo``).
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import responses
from conftest import BASE, CONNECTION
from klaviyo_connector.errors import KlaviyoError

Items = list[dict[str, Any]]


def source(runner: Any, key: str, inputs: dict[str, Any] | None = None) -> list[dict[str, str]]:
    out = runner.run_data_source("klaviyo", key, connection=CONNECTION, inputs=inputs or {})
    assert set(out) == {"result"}
    return out["result"]


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


class Collection:
    """Serves ``items`` at ``path`` the way Klaviyo pages: ``page[size]``, ``page[cursor]``, ``links.next``.

    ``select(query) -> items`` picks the records for a request's filter (default: all).
    ``queries`` records every request's query string in order.
    """

    def __init__(
        self,
        mock: responses.RequestsMock,
        path: str,
        items: Items,
        *,
        default_size: int = 20,
        included: Items = (),  # type: ignore[assignment]
        select: Callable[[dict[str, str]], Items] | None = None,
    ) -> None:
        self.path = path
        self.items = items
        self.default_size = default_size
        self.included = list(included)
        self.select = select or (lambda _q: self.items)
        self.queries: list[dict[str, str]] = []
        mock.add_callback(
            "GET", f"{BASE}{path}", callback=self._serve, content_type="application/vnd.api+json"
        )

    def _serve(self, request: Any) -> tuple[int, dict[str, str], str]:
        import json

        query = query_of(request.url)
        self.queries.append(query)
        items = self.select(query)
        size = int(query.get("page[size]", self.default_size))
        offset = int(query.get("page[cursor]", "0"))
        chunk = items[offset : offset + size]
        links = {"self": request.url}
        if offset + size < len(items):
            nxt = {k: v for k, v in query.items() if k != "page[cursor]"}
            nxt["page[cursor]"] = str(offset + size)
            links["next"] = f"{BASE}{self.path}?{urlencode(nxt)}"
        doc: dict[str, Any] = {"data": chunk, "links": links}
        if self.included:
            doc["included"] = self.included
        return 200, {}, json.dumps(doc)


def record(rtype: str, rid: str, **attributes: Any) -> dict[str, Any]:
    return {"type": rtype, "id": rid, "attributes": attributes}


def names(n: int, rtype: str = "list") -> Items:
    """``n`` records with shuffled, mixed-case names, so sorting is observable."""
    letters = string.ascii_lowercase
    out = []
    for i in range(n):
        word = letters[(i * 7) % 26] + letters[(i * 11) % 26] + f"{i:03d}"
        out.append(record(rtype, f"ID{i:04d}", name=word.upper() if i % 3 == 0 else word))
    return out


def sorted_options(items: Items) -> list[dict[str, str]]:
    opts = [{"key": i["id"], "label": i["attributes"]["name"]} for i in items]
    return sorted(opts, key=lambda o: (o["label"].casefold(), o["label"], o["key"]))


def error(status: int, code: str, detail: str) -> dict[str, Any]:
    return {
        "status": status,
        "json": {"errors": [{"id": "e", "code": code, "title": code, "detail": detail}]},
    }


# -- paging, sorting, the cap -------------------------------------------------------------


def test_select_list_pages_through_every_list_at_the_largest_page_size(runner, klaviyo):
    items = names(25)
    lists = Collection(klaviyo, "/api/lists", items, default_size=10)
    result = source(runner, "selectList")
    assert result == sorted_options(items)
    assert len(lists.queries) == 3
    first = lists.queries[0]
    assert first == {"fields[list]": "name", "sort": "name", "page[size]": "10"}
    assert [q.get("page[cursor]") for q in lists.queries] == [None, "10", "20"]
    assert all(q["fields[list]"] == "name" for q in lists.queries)  # next links keep the fieldset


def test_options_are_sorted_case_insensitively_by_label():
    from klaviyo_connector.picklist import PicklistInputs, Query, by_name, options

    class Client:
        def request(self, *args: Any, **kwargs: Any) -> Any:
            data = [
                record("tag", "3", name="beta"),
                record("tag", "1", name="Alpha"),
                record("tag", "2", name="alpha"),
            ]

            class R:
                def json(self) -> Any:
                    return {"data": data, "links": {}}

            return R()

    ctx = type("Ctx", (), {"client": Client()})()
    got = options(ctx, PicklistInputs(), Query("/api/tags", "get_tags", by_name))  # type: ignore[arg-type]
    assert [o["key"] for o in got] == ["1", "2", "3"]


def test_the_cap_stops_paging_and_smaller_caps_ask_for_smaller_pages(runner, klaviyo):
    items = names(25)
    lists = Collection(klaviyo, "/api/lists", items, default_size=10)
    result = source(runner, "selectList", {"maxResults": "15"})
    assert len(result) == 15 and len(lists.queries) == 2
    # The server sorts by name, so the cap keeps the first 15 in server order, sorted by label.
    assert {o["key"] for o in result} == {i["id"] for i in items[:15]}

    lists.queries.clear()
    result = source(runner, "selectList", {"maxResults": 3})
    assert len(result) == 3 and len(lists.queries) == 1
    assert lists.queries[0]["page[size]"] == "3"


def test_the_cap_is_validated(runner):
    with pytest.raises(KlaviyoError) as info:
        source(runner, "selectList", {"maxResults": 0})
    assert info.value.field == "Max Results"


def test_a_throttled_page_is_retried_not_dropped(runner, klaviyo, sleeps):
    items = names(15)
    url = f"{BASE}/api/lists"
    klaviyo.add("GET", url, json={"data": items[:10], "links": {"next": f"{url}?page%5Bcursor%5D=c2"}})
    klaviyo.add(
        "GET", url, status=429, headers={"Retry-After": "1"}, json=error(429, "throttled", "x")["json"]
    )
    klaviyo.add("GET", url, json={"data": items[10:], "links": {}})
    assert source(runner, "selectList") == sorted_options(items)
    assert sleeps.waits == [1.0]
    assert query_of(klaviyo.calls[2].request.url) == {"page[cursor]": "c2"}


# -- failures -----------------------------------------------------------------------------


def test_a_refused_request_is_the_connectors_error_naming_the_scope(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/segments", **error(403, "permission_denied", "No access."))
    with pytest.raises(KlaviyoError) as info:
        source(runner, "selectSegment")
    err = info.value
    assert err.status == 403 and err.error_class == "user_fixable"
    assert "segments:read" in err.message and "No access." in err.message


def test_a_failure_on_a_later_page_fails_instead_of_returning_part(runner, klaviyo, sleeps):
    url = f"{BASE}/api/templates"
    klaviyo.add(
        "GET", url, json={"data": names(10, "template"), "links": {"next": f"{url}?page%5Bcursor%5D=x"}}
    )
    for _ in range(4):
        klaviyo.add("GET", url, **error(503, "error", "Down."))
    with pytest.raises(KlaviyoError) as info:
        source(runner, "selectTemplate")
    assert info.value.status == 503 and info.value.error_class == "retryable"
    assert len(sleeps.waits) == 3


# -- search -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "path", "rtype", "size"),
    [
        ("selectTemplate", "/api/templates", "template", "10"),
        ("selectImage", "/api/images", "image", "100"),
        ("selectFlow", "/api/flows", "flow", "50"),
        ("selectTag", "/api/tags", "tag", "50"),
    ],
)
def test_search_is_sent_as_contains_name_where_the_endpoint_allows_it(
    runner, klaviyo, key, path, rtype, size
):
    served = [record(rtype, "1", name="Summer SALE"), record(rtype, "2", name="Bob's sale")]
    coll = Collection(klaviyo, path, served)
    result = source(runner, key, {"search": "Bob's"})
    assert coll.queries == [
        {
            "fields[" + rtype + "]": "name",
            "sort": "name",
            "page[size]": size,
            "filter": 'contains(name,"Bob\'s")',
        }
    ]
    # What Klaviyo matched is kept as is (no second, local filter on top).
    assert [o["label"] for o in result] == ["Bob's sale", "Summer SALE"]


@pytest.mark.parametrize(
    ("key", "path", "rtype", "size"),
    [("selectList", "/api/lists", "list", 10), ("selectSegment", "/api/segments", "segment", 10)],
)
def test_search_is_matched_locally_across_all_pages_where_name_only_has_equals(
    runner, klaviyo, key, path, rtype, size
):
    items = names(30, rtype)
    items[4]["attributes"]["name"] = "Newsletter"
    items[27]["attributes"]["name"] = "VIP newsletter"
    coll = Collection(klaviyo, path, items, default_size=size)
    result = source(runner, key, {"search": "NEWS"})
    assert result == [{"key": "ID0004", "label": "Newsletter"}, {"key": "ID0027", "label": "VIP newsletter"}]
    assert len(coll.queries) == 3 and "filter" not in coll.queries[0]
    assert coll.queries[0]["page[size]"] == str(size)


def test_metrics_have_no_page_size_and_search_locally(runner, klaviyo):
    items = [record("metric", "M1", name="Placed Order"), record("metric", "M2", name="Opened Email")]
    coll = Collection(klaviyo, "/api/metrics", items)
    assert source(runner, "selectMetric", {"search": "order"}) == [{"key": "M1", "label": "Placed Order"}]
    assert coll.queries == [{"fields[metric]": "name"}]


# -- campaigns: every channel -------------------------------------------------------------

CAMPAIGNS = {
    "email": [
        record("campaign", "C1", name="Summer", status="Draft"),
        record("campaign", "C2", name="autumn", status="Sent"),
    ],
    "sms": [record("campaign", "C3", name="Flash", status="Scheduled")],
    "mobile_push": [record("campaign", "C4", name="Push it", status="Draft")],
}


def by_channel(query: dict[str, str]) -> Items:
    for channel, items in CAMPAIGNS.items():
        if query["filter"].startswith(f"equals(messages.channel,'{channel}')"):
            return items
    raise AssertionError(query)


def test_campaigns_cover_every_channel_with_channel_and_status_in_the_label(runner, klaviyo):
    coll = Collection(klaviyo, "/api/campaigns", [], select=by_channel)
    result = source(runner, "selectCampaign")
    assert result == [
        {"key": "C2", "label": "autumn (email, Sent)"},
        {"key": "C3", "label": "Flash (SMS, Scheduled)"},
        {"key": "C4", "label": "Push it (mobile push, Draft)"},
        {"key": "C1", "label": "Summer (email, Draft)"},
    ]
    assert [q["filter"] for q in coll.queries] == [
        "equals(messages.channel,'email')",
        "equals(messages.channel,'sms')",
        "equals(messages.channel,'mobile_push')",
    ]
    for q in coll.queries:
        assert q["fields[campaign]"] == "name,status" and q["sort"] == "name" and q["page[size]"] == "100"


def test_campaign_search_and_cap_apply_across_channels(runner, klaviyo):
    coll = Collection(klaviyo, "/api/campaigns", [], select=by_channel)
    result = source(runner, "selectCampaign", {"search": "u", "maxResults": 2})
    assert [q["filter"] for q in coll.queries] == [
        "equals(messages.channel,'email'),contains(name,'u')",
        "equals(messages.channel,'sms'),contains(name,'u')",
        "equals(messages.channel,'mobile_push'),contains(name,'u')",
    ]
    assert all(q["page[size]"] == "2" for q in coll.queries)
    assert [o["key"] for o in result] == ["C2", "C3"]  # the first two labels over all channels


# -- events -------------------------------------------------------------------------------


def event(eid: str, when: str, metric: str | None, profile: str | None) -> dict[str, Any]:
    rel: dict[str, Any] = {}
    if metric:
        rel["metric"] = {"data": {"type": "metric", "id": metric}}
    if profile:
        rel["profile"] = {"data": {"type": "profile", "id": profile}}
    return {"type": "event", "id": eid, "attributes": {"datetime": when}, "relationships": rel}


def test_events_are_labelled_from_included_metric_and_profile_in_one_request(runner, klaviyo):
    items = [
        event("E1", "2024-06-27T18:13:27+00:00", "M1", "P1"),
        event("E2", "2024-06-28T09:00:00+02:00", "M2", "P2"),
        event("E3", "2024-06-29T00:00:00+00:00", "M1", None),
    ]
    included = [
        record("metric", "M1", name="Placed Order"),
        record("metric", "M2", name="Opened Email"),
        record("profile", "P1", email="sarah@example.com", phone_number=None),
        record("profile", "P2", email=None, phone_number="+15005550006"),
    ]
    coll = Collection(klaviyo, "/api/events", items, included=included)
    assert source(runner, "selectEvent") == [
        {"key": "E2", "label": "Opened Email · 2024-06-28 07:00:00 UTC · +15005550006"},
        {"key": "E1", "label": "Placed Order · 2024-06-27 18:13:27 UTC · sarah@example.com"},
        {"key": "E3", "label": "Placed Order · 2024-06-29 00:00:00 UTC"},
    ]
    assert coll.queries == [
        {
            "fields[event]": "datetime",
            "include": "metric,profile",
            "fields[metric]": "name",
            "fields[profile]": "email,phone_number",
            "sort": "-datetime",
            "page[size]": "1000",
        }
    ]


def test_event_search_reads_at_most_the_scan_limit(runner, klaviyo, monkeypatch):
    from klaviyo_connector.datasources import events

    monkeypatch.setattr(events, "EVENTS", dataclasses.replace(events.EVENTS, scan_limit=2000))
    items = [event(f"E{i}", "2024-06-27T18:13:27+00:00", "M1", None) for i in range(3000)]
    coll = Collection(klaviyo, "/api/events", items, included=[record("metric", "M1", name="Placed Order")])
    assert source(runner, "selectEvent", {"search": "nothing like it"}) == []
    assert len(coll.queries) == 2


# -- profiles -----------------------------------------------------------------------------


def profile(pid: str, **attrs: Any) -> dict[str, Any]:
    base = {"email": None, "phone_number": None, "first_name": None, "last_name": None}
    return record("profile", pid, **{**base, **attrs})


def test_profiles_label_by_email_then_phone_then_name_with_ids_on_collisions(runner, klaviyo):
    items = [
        profile("P1", email="sarah@example.com", phone_number="+15005550006", first_name="Sarah"),
        profile("P2", phone_number="+15005550007", first_name="Tom"),
        profile("P3", first_name="Ann", last_name="Lee"),
        profile("P4", first_name="Ann", last_name="Lee"),
        profile("P5"),
    ]
    coll = Collection(klaviyo, "/api/profiles", items)
    assert source(runner, "selectProfile") == [
        {"key": "P2", "label": "+15005550007"},
        {"key": "P3", "label": "Ann Lee (P3)"},
        {"key": "P4", "label": "Ann Lee (P4)"},
        {"key": "P5", "label": "P5"},
        {"key": "P1", "label": "sarah@example.com"},
    ]
    assert coll.queries == [
        {"fields[profile]": "email,phone_number,first_name,last_name", "page[size]": "100"}
    ]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("sarah@example.com", "equals(email,'sarah@example.com')"),
        ("+1 (500) 555-0006", "equals(phone_number,'+15005550006')"),
    ],
)
def test_profile_search_for_a_whole_email_or_phone_is_sent_to_klaviyo(runner, klaviyo, search, expected):
    coll = Collection(klaviyo, "/api/profiles", [profile("P1", email="sarah@example.com")])
    assert source(runner, "selectProfile", {"search": search}) == [
        {"key": "P1", "label": "sarah@example.com"}
    ]
    assert coll.queries[0]["filter"] == expected


def test_profile_search_for_other_text_is_local_and_bounded(runner, klaviyo, monkeypatch):
    from klaviyo_connector.datasources import profiles

    monkeypatch.setattr(profiles, "PROFILES", dataclasses.replace(profiles.PROFILES, scan_limit=200))
    items = [profile(f"P{i}", email=f"user{i}@example.com") for i in range(500)]
    coll = Collection(klaviyo, "/api/profiles", items)
    result = source(runner, "selectProfile", {"search": "USER1"})
    assert "filter" not in coll.queries[0] and len(coll.queries) == 2
    assert {o["key"] for o in result} == {f"P{i}" for i in range(200) if str(i).startswith("1")}


# -- accounts -----------------------------------------------------------------------------


def test_account_is_labelled_by_organization_name(runner, klaviyo):
    acct = {
        "type": "account",
        "id": "AbC123",
        "attributes": {"contact_information": {"organization_name": "Acme"}},
    }
    coll = Collection(klaviyo, "/api/accounts", [acct])
    assert source(runner, "selectAccount") == [{"key": "AbC123", "label": "Acme"}]
    assert coll.queries == [{"fields[account]": "contact_information.organization_name"}]


def test_every_data_source_is_declared_with_its_operation():
    from klaviyo_connector.component import component

    expected = {
        "selectAccount": "get_accounts",
        "selectCampaign": "get_campaigns",
        "selectCampaignMessage": "get_campaigns",
        "selectEvent": "get_events",
        "selectProfile": "get_profiles",
        "selectTemplate": "get_templates",
        "selectList": "get_lists",
        "selectSegment": "get_segments",
        "selectImage": "get_images",
        "selectMetric": "get_metrics",
        "selectFlow": "get_flows",
        "selectTag": "get_tags",
        "selectAudience": ("get_lists", "get_segments"),
    }
    assert {k: d.operations for k, d in component.data_sources.items()} == {
        k: v if isinstance(v, tuple) else (v,) for k, v in expected.items()
    }
    for ds in component.data_sources.values():
        schema = ds.inputs.model_json_schema()["properties"]
        assert {p["title"] for p in schema.values()} == {"Search", "Max Results"}


def test_audiences_combine_lists_and_segments_labelled_by_kind(runner, klaviyo):
    lists = Collection(
        klaviyo, "/api/lists", [record("list", f"L{i:02d}", name=f"Group {i:02d}") for i in range(12)]
    )
    segments = Collection(klaviyo, "/api/segments", [record("segment", "S1", name="Group 03")])
    result = source(runner, "selectAudience")
    assert len(result) == 13 and result == sorted(result, key=lambda o: o["label"].casefold())
    assert {"key": "S1", "label": "Group 03 (segment)"} in result
    assert {"key": "L03", "label": "Group 03 (list)"} in result
    assert len(lists.queries) == 2 and len(segments.queries) == 1  # every page of each, at page size 10
    assert lists.queries[0]["fields[list]"] == "name" and segments.queries[0]["fields[segment]"] == "name"
    search = source(runner, "selectAudience", {"search": "group 1"})
    assert [o["key"] for o in search] == ["L10", "L11"]


def test_campaign_audience_inputs_name_the_audience_picklist():
    from klaviyo_connector.component import component

    for key in ("createCampaign", "updateCampaign"):
        props = component.actions[key].inputs.model_json_schema()["properties"]
        for name in ("includedAudiences", "excludedAudiences"):
            assert props[name]["x-data-source"] == "selectAudience"
    assert "selectAudience" in component.data_sources
