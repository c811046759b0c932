"""Every data source through the Runner against the sandbox, plus the sandbox's tags resource.

Records are created with plain HTTP calls in Klaviyo's wire format (each test has its own
sandbox account), then each picklist is run the way a host runs it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from klaviyo_connector.cli import main
from sandbox_helpers import Client


class Api:
    """Raw calls to the sandbox with a connection's key; each request and answer is checked
    against the spec."""

    def __init__(self, connection: dict[str, Any]) -> None:
        self.client = Client.of(connection)

    def call(self, method: str, path: str, body: Any = None, status: int = 201, **params: str) -> Any:
        r = self.client(method, path, body, params or None)
        assert r.status_code == status, r.text
        return r.json() if r.content else None

    def create(self, path: str, rtype: str, attributes: dict[str, Any], **extra: Any) -> str:
        body = {"data": {"type": rtype, "attributes": attributes, **extra}}
        return str(self.call("POST", path, body)["data"]["id"])


@pytest.fixture
def api(sandbox_connection: dict[str, Any]) -> Api:
    return Api(sandbox_connection)


def pick(runner: Any, connection: dict[str, Any], key: str, **inputs: Any) -> list[dict[str, str]]:
    return runner.run_data_source("klaviyo", key, connection=connection, inputs=inputs)["result"]


# -- accounts and profiles ----------------------------------------------------------------


def test_select_account(runner, sandbox_connection, api):
    account = api.call("GET", "/api/accounts", status=200)["data"][0]
    name = account["attributes"]["contact_information"]["organization_name"]
    assert pick(runner, sandbox_connection, "selectAccount") == [{"key": account["id"], "label": name}]


def test_select_profile_labels_search_and_collisions(runner, sandbox_connection, api):
    ids = {
        "email": api.create("/api/profiles", "profile", {"email": "zoe@example.com", "first_name": "Zoe"}),
        "phone": api.create("/api/profiles", "profile", {"phone_number": "+15005550006"}),
        "ann1": api.create(
            "/api/profiles", "profile", {"external_id": "a1", "first_name": "Ann", "last_name": "Lee"}
        ),
        "ann2": api.create(
            "/api/profiles", "profile", {"external_id": "a2", "first_name": "Ann", "last_name": "Lee"}
        ),
    }
    assert pick(runner, sandbox_connection, "selectProfile") == [
        {"key": ids["phone"], "label": "+15005550006"},
        *sorted(
            [
                {"key": ids["ann1"], "label": f"Ann Lee ({ids['ann1']})"},
                {"key": ids["ann2"], "label": f"Ann Lee ({ids['ann2']})"},
            ],
            key=lambda o: o["label"],
        ),
        {"key": ids["email"], "label": "zoe@example.com"},
    ]
    assert pick(runner, sandbox_connection, "selectProfile", search="zoe@example.com") == [
        {"key": ids["email"], "label": "zoe@example.com"}
    ]
    assert pick(runner, sandbox_connection, "selectProfile", search="+1 500 555 0006") == [
        {"key": ids["phone"], "label": "+15005550006"}
    ]
    assert [o["key"] for o in pick(runner, sandbox_connection, "selectProfile", search="ann")] == sorted(
        [ids["ann1"], ids["ann2"]], key=lambda i: f"Ann Lee ({i})"
    )


def test_select_profile_pages_past_the_first_page(runner, sandbox_connection, api):
    made = {api.create("/api/profiles", "profile", {"email": f"p{i:03d}@example.com"}) for i in range(130)}
    result = pick(runner, sandbox_connection, "selectProfile")
    assert {o["key"] for o in result} == made and len(result) == 130
    assert [o["label"] for o in result] == sorted(o["label"] for o in result)
    assert len(pick(runner, sandbox_connection, "selectProfile", maxResults=101)) == 101


# -- tags: the sandbox resource and the picklist ------------------------------------------


def test_tags_create_get_rename_delete(api):
    tag_id = api.create("/api/tags", "tag", {"name": "Summer"})
    doc = api.call("GET", f"/api/tags/{tag_id}", status=200, include="tag-group")
    assert doc["data"]["attributes"] == {"name": "Summer"}
    group = doc["data"]["relationships"]["tag-group"]["data"]
    assert doc["included"][0]["id"] == group["id"]
    assert doc["included"][0]["attributes"]["default"] is True
    other = api.create("/api/tags", "tag", {"name": "Winter"}, relationships={"tag-group": {"data": group}})
    assert (
        api.call("GET", f"/api/tags/{other}", status=200)["data"]["relationships"]["tag-group"]["data"]
        == group
    )
    api.call(
        "PATCH",
        f"/api/tags/{tag_id}",
        {"data": {"type": "tag", "id": tag_id, "attributes": {"name": "Sun"}}},
        204,
    )
    assert api.call("GET", f"/api/tags/{tag_id}", status=200)["data"]["attributes"]["name"] == "Sun"
    api.call("DELETE", f"/api/tags/{tag_id}", status=204)
    assert api.client("GET", f"/api/tags/{tag_id}").status_code == 404


def test_tags_reject_what_klaviyo_rejects(api):
    r = api.client("POST", "/api/tags", {"data": {"type": "tag", "attributes": {}}}, check=False)
    assert r.status_code == 400 and r.json()["errors"][0]["source"]["pointer"] == "/data/attributes/name"
    r = api.client("GET", "/api/tags", params={"page[size]": "51"}, check=False)
    assert r.status_code == 400
    r = api.client("GET", "/api/tags", params={"fields[tag]": "color"}, check=False)
    assert r.status_code == 400


def test_tags_are_capped_at_500_per_account(api, monkeypatch):
    from klaviyo_connector.sandbox.resources import tags

    monkeypatch.setattr(tags, "MAX_TAGS", 2)  # the sandbox runs in this process
    api.create("/api/tags", "tag", {"name": "a"})
    api.create("/api/tags", "tag", {"name": "b"})
    body = {"data": {"type": "tag", "attributes": {"name": "c"}}}
    r = api.client("POST", "/api/tags", body, check=False)
    assert r.status_code == 400 and "more than 2" in r.json()["errors"][0]["detail"]


def test_select_tag_pages_sorts_and_searches_with_contains(runner, sandbox_connection, api):
    made = {
        api.create("/api/tags", "tag", {"name": f"tag {i:02d}" if i % 2 else f"Tag {i:02d}"}): i
        for i in range(60)
    }
    result = pick(runner, sandbox_connection, "selectTag")
    assert len(result) == 60 and {o["key"] for o in result} == set(made)
    assert [o["label"] for o in result] == sorted((o["label"] for o in result), key=str.casefold)
    found = pick(runner, sandbox_connection, "selectTag", search="g 1")
    assert sorted(o["label"].casefold() for o in found) == [f"tag {i}" for i in range(10, 20)]


# -- lists, segments, templates, images: named records ----------------------------------


def assert_sorted(result: list[dict[str, str]]) -> None:
    labels = [o["label"] for o in result]
    assert labels == sorted(labels, key=lambda s: (s.casefold(), s))


def test_select_list_pages_sorts_and_searches_locally(runner, sandbox_connection, api):
    made = {api.create("/api/lists", "list", {"name": f"List {(i * 7) % 23:02d}"}): i for i in range(23)}
    newsletter = api.create("/api/lists", "list", {"name": "VIP Newsletter"})
    result = pick(runner, sandbox_connection, "selectList")
    assert {o["key"] for o in result} == {*made, newsletter} and len(result) == 24
    assert_sorted(result)
    # "news" is no exact name: an equals filter would find nothing; the local search finds it.
    assert pick(runner, sandbox_connection, "selectList", search="news") == [
        {"key": newsletter, "label": "VIP Newsletter"}
    ]
    assert len(pick(runner, sandbox_connection, "selectList", maxResults=12)) == 12


def segment_definition() -> dict[str, Any]:
    condition = {
        "type": "profile-property",
        "property": "first_name",
        "filter": {"type": "string", "operator": "equals", "value": "Ann"},
    }
    return {"condition_groups": [{"conditions": [condition]}]}


def test_select_segment(runner, sandbox_connection, api):
    made = {
        api.create(
            "/api/segments", "segment", {"name": f"Segment {i:02d}", "definition": segment_definition()}
        )
        for i in range(12)
    }
    result = pick(runner, sandbox_connection, "selectSegment")
    assert {o["key"] for o in result} == made
    assert [o["label"] for o in result] == [f"Segment {i:02d}" for i in range(12)]
    assert [o["label"] for o in pick(runner, sandbox_connection, "selectSegment", search="t 1")] == [
        "Segment 10",
        "Segment 11",
    ]


def test_select_template_with_contains_search(runner, sandbox_connection, api):
    made = {
        api.create(
            "/api/templates",
            "template",
            {"name": f"Promo {i:02d}", "editor_type": "CODE", "html": "<p>Hi</p>"},
        ): i
        for i in range(13)
    }
    result = pick(runner, sandbox_connection, "selectTemplate")
    assert {o["key"] for o in result} == set(made)
    assert_sorted(result)
    assert [o["label"] for o in pick(runner, sandbox_connection, "selectTemplate", search="o 1")] == [
        "Promo 10",
        "Promo 11",
        "Promo 12",
    ]


def test_select_image(runner, sandbox_connection, api):
    ids = {
        name: api.create(
            "/api/images", "image", {"import_from_url": f"https://example.com/{name}.png", "name": name}
        )
        for name in ("logo", "Banner", "hero")
    }
    assert pick(runner, sandbox_connection, "selectImage") == [
        {"key": ids["Banner"], "label": "Banner"},
        {"key": ids["hero"], "label": "hero"},
        {"key": ids["logo"], "label": "logo"},
    ]
    assert pick(runner, sandbox_connection, "selectImage", search="og") == [
        {"key": ids["logo"], "label": "logo"}
    ]


# -- campaigns, events, metrics, flows ---------------------------------------------------

DEFINITIONS = {
    "email": {"channel": "email", "label": "Main", "content": {"subject": "Hello"}},
    "sms": {"channel": "sms", "content": {"body": "Hi there"}},
    "mobile_push": {"channel": "mobile_push", "content": {"title": "Hi", "body": "Hi there"}},
}


def test_select_campaign_covers_every_channel(runner, sandbox_connection, api):
    audience = api.create("/api/lists", "list", {"name": "Audience"})
    made = {}
    for channel, name in (
        ("email", "Summer"),
        ("sms", "Flash"),
        ("mobile_push", "Push"),
        ("email", "autumn"),
    ):
        message = {"type": "campaign-message", "attributes": {"definition": DEFINITIONS[channel]}}
        attributes = {
            "name": name,
            "audiences": {"included": [audience]},
            "campaign-messages": {"data": [message]},
        }
        made[name] = api.create("/api/campaigns", "campaign", attributes)
    result = pick(runner, sandbox_connection, "selectCampaign")
    assert [o["key"] for o in result] == [made[n] for n in ("autumn", "Flash", "Push", "Summer")]
    assert [o["label"] for o in result] == [
        "autumn (email, Draft)",
        "Flash (SMS, Draft)",
        "Push (mobile push, Draft)",
        "Summer (email, Draft)",
    ]
    assert [o["key"] for o in pick(runner, sandbox_connection, "selectCampaign", search="u")] == [
        made["autumn"],
        made["Push"],
        made["Summer"],
    ]


def record_event(api: Api, metric: str, email: str, when: str) -> None:
    attributes = {
        "properties": {"sku": "A1"},
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
        "time": when,
    }
    api.call("POST", "/api/events", {"data": {"type": "event", "attributes": attributes}}, status=202)


def test_select_event_and_select_metric(runner, sandbox_connection, api):
    record_event(api, "Placed Order", "sarah@example.com", "2024-06-27T18:13:27+00:00")
    record_event(api, "Viewed Product", "tom@example.com", "2024-06-28T07:00:00+00:00")
    record_event(api, "Placed Order", "tom@example.com", "2024-06-29T00:00:00+00:00")
    labels = [o["label"] for o in pick(runner, sandbox_connection, "selectEvent")]
    assert labels == [
        "Placed Order · 2024-06-27 18:13:27 UTC · sarah@example.com",
        "Placed Order · 2024-06-29 00:00:00 UTC · tom@example.com",
        "Viewed Product · 2024-06-28 07:00:00 UTC · tom@example.com",
    ]
    assert [o["label"] for o in pick(runner, sandbox_connection, "selectEvent", search="TOM@")] == labels[1:]
    metrics = pick(runner, sandbox_connection, "selectMetric")
    assert [o["label"] for o in metrics] == ["Placed Order", "Viewed Product"]
    metric_ids = {m["id"] for m in api.call("GET", "/api/metrics", status=200)["data"]}
    assert {o["key"] for o in metrics} == metric_ids
    assert [o["label"] for o in pick(runner, sandbox_connection, "selectMetric", search="view")] == [
        "Viewed Product"
    ]


def test_select_flow(runner, sandbox_connection, api):
    flows = api.call("GET", "/api/flows", status=200)["data"]
    result = pick(runner, sandbox_connection, "selectFlow")
    assert result == sorted(
        ({"key": f["id"], "label": f["attributes"]["name"]} for f in flows),
        key=lambda o: o["label"].casefold(),
    )
    assert len(result) >= 2
    name = result[0]["label"]
    assert pick(runner, sandbox_connection, "selectFlow", search=name[1:4]) == [
        o for o in result if name[1:4] in o["label"]
    ]


# -- the CLI ------------------------------------------------------------------------------

ALL_KEYS = (
    "selectAccount",
    "selectCampaign",
    "selectEvent",
    "selectProfile",
    "selectTemplate",
    "selectList",
    "selectSegment",
    "selectImage",
    "selectMetric",
    "selectFlow",
    "selectTag",
)


@pytest.mark.parametrize("key", ALL_KEYS)
def test_cli_runs_every_data_source_on_the_sandbox(key, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    code = main(["datasource", key, "--sandbox"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert isinstance(result, list)
    if key == "selectAccount":
        assert len(result) == 1
