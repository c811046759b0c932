"""Keyset paging in the sandbox: pages read from SQLite by their position, whatever the sort, ties,
missing values, filters and membership, forwards and backwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from klaviyo_connector.sandbox import Sandbox, SandboxOptions
from sandbox_helpers import Client, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def client(clock: FakeClock) -> Iterator[Client]:
    with Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=0, clock=clock)) as box:
        assert box.base_url is not None
        yield Client(box.base_url)


def create(client: Client, **attributes: Any) -> dict[str, Any]:
    r = client("POST", "/api/profiles", {"data": {"type": "profile", "attributes": attributes}})
    assert r.status_code == 201, r.text
    return dict(r.json()["data"])


def create_list(client: Client, name: str) -> dict[str, Any]:
    r = client("POST", "/api/lists", {"data": {"type": "list", "attributes": {"name": name}}})
    assert r.status_code == 201, r.text
    return dict(r.json()["data"])


def walk(client: Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every record, following links.next; each page's prev link leads back to the page before."""
    r = client("GET", path, params=params)
    assert r.status_code == 200, r.text
    pages = [r.json()]
    while nxt := pages[-1]["links"].get("next"):
        r = client("GET", nxt)
        assert r.status_code == 200, r.text
        pages.append(r.json())
    assert "prev" not in pages[0]["links"]
    for before, page in zip(pages, pages[1:], strict=False):
        back = client("GET", page["links"]["prev"]).json()
        assert [d["id"] for d in back["data"]] == [d["id"] for d in before["data"]]
    return [record for page in pages for record in page["data"]]


def test_sorted_pages_keep_ties_in_creation_order_and_lose_nothing(client: Client, clock: FakeClock) -> None:
    made = []
    for i in range(23):  # three names, so each page boundary falls inside a run of equal names
        made.append(create_list(client, f"Group {'ABC'[i % 3]}"))
        clock.advance(1)
    for sort in ("name", "-name"):
        got = walk(client, "/api/lists", {"sort": sort, "page[size]": 4})
        names = [d["attributes"]["name"] for d in got]
        assert names == sorted(names, reverse=sort.startswith("-"))
        for name in ("Group A", "Group B", "Group C"):  # Python's stable sort: ties by creation
            assert [d["id"] for d in got if d["attributes"]["name"] == name] == [
                m["id"] for m in made if m["attributes"]["name"] == name
            ]


def test_missing_sort_values_come_first_ascending_and_last_descending(client: Client) -> None:
    with_email = [create(client, email=f"p{i}@example.com")["id"] for i in range(3)]
    without = [create(client, external_id=f"ext-{i}")["id"] for i in range(3)]
    ascending = [d["id"] for d in walk(client, "/api/profiles", {"sort": "email", "page[size]": 2})]
    assert ascending == without + with_email
    descending = [d["id"] for d in walk(client, "/api/profiles", {"sort": "-email", "page[size]": 2})]
    assert descending == list(reversed(with_email)) + without


def test_a_filter_on_an_indexed_identifier_pages_only_its_matches(client: Client) -> None:
    ids = {f"u{i}@example.com": create(client, email=f"u{i}@example.com")["id"] for i in range(30)}
    wanted = ["u3@example.com", "u17@example.com", "u29@example.com"]
    got = walk(client, "/api/profiles", {"filter": f"any(email,{wanted})".replace("'", '"'), "page[size]": 2})
    assert [d["id"] for d in got] == [
        ids[e] for e in ("u3@example.com", "u17@example.com", "u29@example.com")
    ]
    one = client("GET", "/api/profiles", params={"filter": 'equals(email,"u5@example.com")'}).json()
    assert [d["id"] for d in one["data"]] == [ids["u5@example.com"]] and "next" not in one["links"]


def test_list_members_page_in_join_order_and_by_joined_time(client: Client, clock: FakeClock) -> None:
    list_id = create_list(client, "Members")["id"]
    people = [create(client, email=f"m{i}@example.com")["id"] for i in range(7)]
    joined = list(reversed(people))  # joined in the reverse of creation order
    for pid in joined:
        r = client(
            "POST", f"/api/lists/{list_id}/relationships/profiles", {"data": [{"type": "profile", "id": pid}]}
        )
        assert r.status_code == 204, r.text
        clock.advance(5)
    path = f"/api/lists/{list_id}/profiles"
    assert [d["id"] for d in walk(client, path, {"page[size]": 3})] == joined
    latest_first = walk(client, path, {"sort": "-joined_group_at", "page[size]": 3})
    assert [d["id"] for d in latest_first] == people
    times = [d["attributes"]["joined_group_at"] for d in latest_first]
    assert times == sorted(times, reverse=True)


def test_a_cursor_the_sandbox_did_not_make_is_a_400(client: Client) -> None:
    create(client, email="x@example.com")
    for cursor in ("bm90IGEgY3Vyc29y", "sandbox", "c2FuZGJveDo6a2V5c2V0OjpbInoiLFsxXV0"):
        r = client("GET", "/api/profiles", params={"page[cursor]": cursor}, check=False)
        assert r.status_code == 400, cursor
        assert r.json()["errors"][0]["source"] == {"parameter": "page[cursor]"}
