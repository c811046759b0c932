"""The spec-driven core on operations no hand-written family serves: natural semantics, the account
model, rate limits per tier, faults after commit, and Klaviyo's 400 for what the spec refuses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from contract import load_spec
from klaviyo_connector import catalog
from klaviyo_connector.sandbox import Sandbox, SandboxOptions
from sandbox_helpers import Client, FakeClock

ITEM = {
    "data": {
        "type": "catalog-item",
        "attributes": {
            "external_id": "SKU-1",
            "title": "Mug",
            "description": "A blue mug",
            "url": "https://example.com/mug",
            "price": 12.5,
            "published": True,
        },
    }
}


def _serve(**options: Any) -> Iterator[tuple[Sandbox, Client]]:
    load_spec()
    box = Sandbox(SandboxOptions(state_path=":memory:", **{"rate_limit_scale": 0, **options}))
    url = box.start()
    yield box, Client(url)
    box.stop()


@pytest.fixture
def call() -> Iterator[Client]:
    for _, client in _serve():
        yield client


def test_catalog_items_have_klaviyo_ids_and_the_full_lifecycle(call: Client) -> None:
    r = call("POST", "/api/catalog-items", ITEM)
    assert r.status_code == 201
    item = r.json()["data"]
    assert item["id"] == "$custom:::$default:::SKU-1"
    assert item["attributes"]["title"] == "Mug" and item["attributes"]["price"] == 12.5
    assert item["links"]["self"] == f"{call.base_url}/api/catalog-items/$custom:::$default:::SKU-1/"
    again = call("POST", "/api/catalog-items", ITEM)
    assert again.status_code == 409 and again.json()["errors"][0]["code"] == "duplicate"

    path = "/api/catalog-items/$custom:::$default:::SKU-1"
    patch = {"data": {"type": "catalog-item", "id": item["id"], "attributes": {"price": 10.0}}}
    updated = call("PATCH", path, patch).json()["data"]["attributes"]
    assert updated["price"] == 10.0 and updated["title"] == "Mug"  # a PATCH merges
    listed = call("GET", "/api/catalog-items", params={"filter": "contains(title,'Mu')"}).json()["data"]
    assert [i["id"] for i in listed] == [item["id"]]
    none = call("GET", "/api/catalog-items", params={"filter": "contains(title,'Cup')"}).json()["data"]
    assert none == []
    assert call("DELETE", path).status_code == 204
    assert call("GET", path).status_code == 404


def test_relationships_are_read_from_either_side(call: Client) -> None:
    item_id = call("POST", "/api/catalog-items", ITEM).json()["data"]["id"]
    category = {
        "data": {
            "type": "catalog-category",
            "attributes": {"external_id": "MUGS", "name": "Mugs"},
        }
    }
    cat_id = call("POST", "/api/catalog-categories", category).json()["data"]["id"]
    link = {"data": [{"type": "catalog-item", "id": item_id}]}
    assert call("POST", f"/api/catalog-categories/{cat_id}/relationships/items", link).status_code == 204
    ids = call("GET", f"/api/catalog-categories/{cat_id}/relationships/items").json()["data"]
    assert ids == [{"type": "catalog-item", "id": item_id}]
    # The item sees its category through the same link.
    cats = call("GET", f"/api/catalog-items/{item_id}/categories").json()["data"]
    assert [c["id"] for c in cats] == [cat_id] and cats[0]["attributes"]["name"] == "Mugs"
    ghost = {"data": [{"type": "catalog-item", "id": "$custom:::$default:::NOPE"}]}
    r = call("POST", f"/api/catalog-categories/{cat_id}/relationships/items", ghost)
    assert r.status_code == 404 and "NOPE" in r.json()["errors"][0]["detail"]
    assert call("DELETE", f"/api/catalog-categories/{cat_id}/relationships/items", link).status_code == 204
    assert call("GET", f"/api/catalog-items/{item_id}/categories").json()["data"] == []


def test_a_bulk_job_applies_its_items_and_reports_them(call: Client) -> None:
    items = [
        {**ITEM["data"], "attributes": {**ITEM["data"]["attributes"], "external_id": f"SKU-{i}"}}
        for i in (2, 3)
    ]
    job_body = {"data": {"type": "catalog-item-bulk-create-job", "attributes": {"items": {"data": items}}}}
    r = call("POST", "/api/catalog-item-bulk-create-jobs", job_body)
    assert r.status_code == 202
    job = r.json()["data"]
    assert job["attributes"]["status"] == "complete" and job["attributes"]["completed_count"] == 2
    got = call("GET", f"/api/catalog-item-bulk-create-jobs/{job['id']}").json()["data"]
    assert got["attributes"]["total_count"] == 2
    listed = call("GET", "/api/catalog-items", params={"sort": "-created"}).json()["data"]
    assert {i["id"] for i in listed} == {"$custom:::$default:::SKU-2", "$custom:::$default:::SKU-3"}


def test_each_api_key_is_its_own_account(call: Client) -> None:
    item_id = call("POST", "/api/catalog-items", ITEM).json()["data"]["id"]
    other = Client(call.base_url, "pk_another_account_0123456789")
    assert other("GET", "/api/catalog-items").json()["data"] == []
    r = other("GET", f"/api/catalog-items/{item_id}")
    assert r.status_code == 404
    assert call("GET", f"/api/catalog-items/{item_id}").status_code == 200


def test_client_operations_act_on_the_account_named_by_company_id(call: Client) -> None:
    account = call("GET", "/api/accounts").json()["data"][0]["id"]
    headers = {"revision": "2026-07-15", "Accept": "application/vnd.api+json"}
    r = call("GET", "/client/geofences", params={"company_id": account}, headers=headers)
    assert r.status_code == 200 and r.json()["data"] == []
    r = call("GET", "/client/geofences", params={"company_id": "NOPE00"}, headers=headers)
    assert r.status_code == 400 and r.json()["errors"][0]["source"] == {"parameter": "company_id"}


def test_what_the_spec_refuses_is_a_400_naming_the_member(call: Client) -> None:
    bad_enum = {
        "data": {**ITEM["data"], "attributes": {**ITEM["data"]["attributes"], "integration_type": "$shopify"}}
    }
    err = call("POST", "/api/catalog-items", bad_enum, check=False).json()["errors"][0]
    assert err["status"] == 400 and err["source"] == {"pointer": "/data/attributes/integration_type"}
    missing = {"data": {"type": "coupon", "attributes": {"description": "10% off"}}}
    err = call("POST", "/api/coupons", missing, check=False).json()["errors"][0]
    assert err["source"] == {"pointer": "/data/attributes/external_id"}
    assert err["detail"] == "'external_id' is a required property"
    err = call("GET", "/api/coupons", params={"pageSize": "5"}, check=False).json()["errors"][0]
    assert err["source"] == {"parameter": "pageSize"}
    assert call("GET", "/api/coupons").json()["data"] == []  # nothing was stored


def test_rate_limits_follow_each_operations_tier() -> None:
    clock = FakeClock()
    for _, call in _serve(rate_limit_scale=1.0, clock=clock):
        burst = catalog.operation("create_coupon").rate_limit
        assert burst is not None and burst.burst == 3  # the spec's tier for coupon writes: 3/s
        statuses = []
        for i in range(burst.burst + 1):
            body = {"data": {"type": "coupon", "attributes": {"external_id": f"C{i}"}}}
            statuses.append(call("POST", "/api/coupons", body).status_code)
        assert statuses == [201] * burst.burst + [429]
        # Reads of the same resource have their own, wider bucket.
        assert call("GET", "/api/coupons").status_code == 200
        clock.advance(1)
        body = {"data": {"type": "coupon", "attributes": {"external_id": "later"}}}
        assert call("POST", "/api/coupons", body).status_code == 201


def test_a_fault_after_commit_keeps_the_write() -> None:
    for _, call in _serve(fail_after_commit_rate=1.0, seed=1):
        body = {"data": {"type": "coupon", "attributes": {"external_id": "SAVED"}}}
        r = call("POST", "/api/coupons", body)
        assert r.status_code == 503 and "saved" in r.json()["errors"][0]["detail"]
        # The coupon exists: a client that repeats the create meets its own write.
        assert call("GET", "/api/coupons/SAVED").json()["data"]["attributes"]["external_id"] == "SAVED"
        assert call("POST", "/api/coupons", body).status_code == 409


def test_a_create_stores_the_specs_defaults_for_members_left_out(call: Client) -> None:
    body = {
        "data": {
            "type": "catalog-item",
            "attributes": {
                "external_id": "SKU-2",
                "title": "Cup",
                "description": "A cup",
                "url": "https://example.com/cup",
            },
        }
    }
    made = call("POST", "/api/catalog-items", body).json()["data"]
    assert made["attributes"]["published"] is True  # the spec's default, as Klaviyo stores it
    published = call("GET", "/api/catalog-items", params={"filter": "equals(published,true)"}).json()["data"]
    assert [i["id"] for i in published] == [made["id"]]
    hidden = {
        **body["data"],
        "attributes": {**body["data"]["attributes"], "external_id": "SKU-3", "published": False},
    }
    assert (
        call("POST", "/api/catalog-items", {"data": hidden}).json()["data"]["attributes"]["published"]
        is False
    )
