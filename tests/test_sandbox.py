"""The sandbox over real HTTP on loopback: auth, revision, profiles, paging, limits, faults, state."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from klaviyo_connector import catalog, filters
from klaviyo_connector.sandbox import Sandbox, SandboxOptions, default_state_path
from klaviyo_connector.sandbox.context import decode_cursor, encode_cursor
from klaviyo_connector.sandbox.filters import compile_predicate, parse_strict
from klaviyo_connector.sandbox.ids import short_id, ulid
from klaviyo_connector.sandbox.store import Store
from sandbox_helpers import FakeClock

KEY = "pk_sandboxtest0123456789abcdef"
OTHER_KEY = "pk_sandboxother0123456789abcd"
REVISION = "2026-07-15"
JSONAPI = "application/vnd.api+json"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def headers(key: str = KEY, **extra: str) -> dict[str, str]:
    base = {
        "Authorization": f"Klaviyo-API-Key {key}",
        "revision": REVISION,
        "Accept": JSONAPI,
        "Content-Type": JSONAPI,
    }
    base.update(extra)
    return base


class Client:
    """requests against one sandbox with one key."""

    def __init__(self, base_url: str, key: str = KEY) -> None:
        self.base_url = base_url
        self.key = key
        self.session = requests.Session()

    def get(self, path: str, params: dict[str, Any] | None = None, **kw: Any) -> requests.Response:
        url = path if path.startswith("http") else self.base_url + path
        return self.session.get(
            url, params=params, headers=kw.pop("headers", headers(self.key)), timeout=10, **kw
        )

    def send(self, method: str, path: str, body: Any, **kw: Any) -> requests.Response:
        return self.session.request(
            method,
            self.base_url + path,
            json=body,
            headers=kw.pop("headers", headers(self.key)),
            timeout=10,
            **kw,
        )

    def create(self, **attributes: Any) -> dict[str, Any]:
        r = self.send("POST", "/api/profiles", {"data": {"type": "profile", "attributes": attributes}})
        assert r.status_code == 201, r.text
        return r.json()["data"]


def error(r: requests.Response) -> dict[str, Any]:
    assert r.headers["Content-Type"].startswith(JSONAPI)
    body = r.json()
    assert set(body) == {"errors"} and len(body["errors"]) == 1
    err = body["errors"][0]
    assert {"id", "status", "code", "title", "detail", "source"} <= set(err)
    assert err["status"] == r.status_code
    return err


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def box(clock: FakeClock) -> Iterator[Sandbox]:
    sandbox = Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=0, clock=clock))
    sandbox.start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def client(box: Sandbox) -> Client:
    assert box.base_url is not None
    return Client(box.base_url)


# -- auth and revision -------------------------------------------------------------------


def test_missing_authorization_is_401_not_authenticated(client: Client) -> None:
    r = client.get("/api/accounts", headers={"revision": REVISION})
    assert r.status_code == 401
    err = error(r)
    assert err["code"] == "not_authenticated"
    assert err["source"] == {"pointer": "/data/"}


@pytest.mark.parametrize(
    "value",
    [
        "Klaviyo-API-Key pk_short",
        "Klaviyo-API-Key sk_0123456789abcdef",
        "Klaviyo-API-Key AbC123",
        # Not hex: the error id is a random UUID, so a short hex token could
        # appear in it by chance and fail the leak check below.
        "Bearer not-a-token",
    ],
)
def test_bad_credentials_are_401_authentication_failed(client: Client, value: str) -> None:
    r = client.get("/api/accounts", headers={"Authorization": value, "revision": REVISION})
    assert r.status_code == 401
    assert error(r)["code"] == "authentication_failed"
    assert value.split(" ", 1)[1] not in r.text


def test_unknown_scheme_is_not_authenticated(client: Client) -> None:
    r = client.get("/api/accounts", headers={"Authorization": f"Basic {KEY}", "revision": REVISION})
    assert r.status_code == 401
    assert error(r)["code"] == "not_authenticated"


def test_bearer_hook_gives_account_and_scopes(box: Sandbox, client: Client) -> None:
    from klaviyo_connector.sandbox.auth import Principal

    account_id = client.get("/api/accounts").json()["data"][0]["id"]
    box.app.bearer_authenticator = lambda token: (
        Principal(account_id, frozenset({"accounts:read"})) if token == "tok123" else None
    )
    bearer = {"Authorization": "Bearer tok123", "revision": REVISION}
    assert client.get("/api/accounts", headers=bearer).json()["data"][0]["id"] == account_id
    r = client.get("/api/profiles", headers=bearer)
    assert r.status_code == 403
    assert "profiles:read" in error(r)["detail"]
    r = client.get("/api/accounts", headers={**bearer, "Authorization": "Bearer nope"})
    assert r.status_code == 401


def test_revision_header_is_required(client: Client) -> None:
    h = headers()
    del h["revision"]
    r = client.get("/api/accounts", headers=h)
    assert r.status_code == 400
    err = error(r)
    assert err["code"] == "missing_revision"
    assert err["source"] == {"parameter": "revision"}


def test_retired_revision_is_410_gone(client: Client) -> None:
    r = client.get("/api/accounts", headers=headers(revision="2022-10-17"))
    assert r.status_code == 410
    err = error(r)
    assert err["code"] == "gone"
    assert "no valid revisions" in err["detail"]


@pytest.mark.parametrize("value", ["2026-7-15", "yesterday", "2026-02-30", "2027-01-15", "2026-07-15.PRE"])
def test_invalid_or_future_revision_is_400(client: Client, value: str) -> None:
    r = client.get("/api/accounts", headers=headers(revision=value))
    assert r.status_code == 400
    assert error(r)["code"] == "invalid_revision"


def test_beta_suffix_revision_is_accepted(client: Client) -> None:
    assert client.get("/api/accounts", headers=headers(revision="2024-02-15.pre")).status_code == 200


# -- routing -----------------------------------------------------------------------------


def test_unknown_route_is_404_and_wrong_method_405(client: Client) -> None:
    r = client.get("/api/nothing-here")
    assert r.status_code == 404
    assert error(r)["code"] == "not_found"
    r = client.send("DELETE", "/api/profiles", None)
    assert r.status_code == 405
    assert "GET" in r.headers["Allow"] and "POST" in r.headers["Allow"]
    error(r)


def test_trailing_slash_links_are_followable(client: Client) -> None:
    profile = client.create(email="slash@example.com")
    self_link = profile["links"]["self"]
    assert self_link.endswith("/")
    r = client.get(self_link)
    assert r.status_code == 200
    assert r.json()["data"]["id"] == profile["id"]


# -- accounts ----------------------------------------------------------------------------


def test_each_key_is_its_own_account(client: Client, box: Sandbox) -> None:
    r = client.get("/api/accounts")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == JSONAPI
    (account,) = r.json()["data"]
    assert account["type"] == "account"
    assert len(account["id"]) == 6 and account["id"].isalnum()
    attributes = account["attributes"]
    assert attributes["test_account"] is True
    assert attributes["timezone"] == "UTC"
    assert attributes["preferred_currency"] == "USD"
    assert attributes["contact_information"]["organization_name"] == "Sandbox Account"
    assert len(attributes["public_api_key"]) == 6
    assert r.json()["links"]["self"] == f"{box.base_url}/api/accounts"
    assert client.get("/api/accounts").json()["data"][0]["id"] == account["id"]

    other = Client(client.base_url, OTHER_KEY)
    other_id = other.get("/api/accounts").json()["data"][0]["id"]
    assert other_id != account["id"]
    assert client.get(f"/api/accounts/{account['id']}").json()["data"]["id"] == account["id"]
    r = client.get(f"/api/accounts/{other_id}")
    assert r.status_code == 404
    assert error(r)["code"] == "not_found"


def test_account_sparse_fields(client: Client) -> None:
    r = client.get(
        "/api/accounts", params={"fields[account]": "timezone,contact_information.organization_name"}
    )
    attributes = r.json()["data"][0]["attributes"]
    assert attributes == {"timezone": "UTC", "contact_information": {"organization_name": "Sandbox Account"}}
    r = client.get("/api/accounts", params={"fields[account]": "timezone,nope"})
    assert r.status_code == 400
    assert error(r)["source"] == {"parameter": "fields[account]"}


# -- profiles ----------------------------------------------------------------------------


def test_create_get_patch_profile(client: Client, clock: FakeClock) -> None:
    created = client.create(
        email="sarah.mason@example.com",
        phone_number="+13239169023",
        first_name="Sarah",
        last_name="Mason",
        location={"city": "Boston", "country": "US"},
        properties={"tier": "gold", "score": 3},
    )
    pid = created["id"]
    assert len(pid) == 26 and pid == pid.upper()
    attributes = created["attributes"]
    assert attributes["email"] == "sarah.mason@example.com"
    assert attributes["external_id"] is None
    assert attributes["created"] == "2026-01-01T00:00:00+00:00"
    assert attributes["location"]["city"] == "Boston" and attributes["location"]["zip"] is None

    got = client.get(f"/api/profiles/{pid}").json()
    assert got["data"]["attributes"] == attributes
    assert got["links"]["self"].endswith(f"/api/profiles/{pid}/")

    clock.advance(60)
    patch = {
        "data": {
            "type": "profile",
            "id": pid,
            "attributes": {"last_name": None, "location": {"zip": "02110"}, "properties": {"score": 4}},
        }
    }
    r = client.send("PATCH", f"/api/profiles/{pid}", patch)
    assert r.status_code == 200, r.text
    after = r.json()["data"]["attributes"]
    assert after["first_name"] == "Sarah"  # omitted: untouched
    assert after["last_name"] is None  # null: cleared
    assert after["location"]["city"] == "Boston" and after["location"]["zip"] == "02110"
    assert after["properties"] == {"tier": "gold", "score": 4}
    assert after["updated"] == "2026-01-01T00:01:00+00:00"
    assert after["created"] == attributes["created"]
    assert client.get(f"/api/profiles/{pid}").json()["data"]["attributes"] == after


def test_patch_properties_meta(client: Client) -> None:
    pid = client.create(email="meta@example.com", properties={"tags": ["a"], "gone": 1})["id"]
    body = {
        "data": {
            "type": "profile",
            "id": pid,
            "attributes": {},
            "meta": {
                "patch_properties": {"append": {"tags": "b"}, "unappend": {"tags": "a"}, "unset": "gone"}
            },
        }
    }
    r = client.send("PATCH", f"/api/profiles/{pid}", body)
    assert r.json()["data"]["attributes"]["properties"] == {"tags": ["b"]}


def test_patch_id_mismatch_and_missing_profile(client: Client) -> None:
    pid = client.create(email="m@example.com")["id"]
    other = ulid(T0)
    r = client.send(
        "PATCH", f"/api/profiles/{pid}", {"data": {"type": "profile", "id": other, "attributes": {}}}
    )
    assert r.status_code == 409
    assert error(r)["source"] == {"pointer": "/data/id"}
    r = client.send(
        "PATCH", f"/api/profiles/{other}", {"data": {"type": "profile", "id": other, "attributes": {}}}
    )
    assert r.status_code == 404
    r = client.send("PATCH", f"/api/profiles/{pid}", {"data": {"type": "profile", "attributes": {}}})
    assert r.status_code == 400
    assert client.get(f"/api/profiles/{other}").status_code == 404


@pytest.mark.parametrize("field", ["email", "phone_number", "external_id"])
def test_duplicate_identifier_is_409_with_duplicate_profile_id(client: Client, field: str) -> None:
    values = {"email": "dup@example.com", "phone_number": "+15005550006", "external_id": "ext-1"}
    first = client.create(**{field: values[field]})
    r = client.send(
        "POST", "/api/profiles", {"data": {"type": "profile", "attributes": {field: values[field]}}}
    )
    assert r.status_code == 409
    err = error(r)
    assert err["code"] == "duplicate_profile"
    assert err["meta"] == {"duplicate_profile_id": first["id"]}

    second = client.create(email="second@example.com")
    patch = {"data": {"type": "profile", "id": second["id"], "attributes": {field: values[field]}}}
    r = client.send("PATCH", f"/api/profiles/{second['id']}", patch)
    assert r.status_code == 409
    assert error(r)["meta"]["duplicate_profile_id"] == first["id"]


def test_accounts_do_not_share_profiles(client: Client) -> None:
    pid = client.create(email="mine@example.com")["id"]
    other = Client(client.base_url, OTHER_KEY)
    assert other.get(f"/api/profiles/{pid}").status_code == 404
    assert other.get("/api/profiles").json()["data"] == []
    other.create(email="mine@example.com")  # same email, other account: no conflict


@pytest.mark.parametrize(
    ("attributes", "pointer"),
    [
        ({"email": "a@example.com", "phoneNumber": "+13239169023"}, "/data/attributes/phoneNumber"),
        ({"email": "not-an-email"}, "/data/attributes/email"),
        ({"phone_number": "555-1234"}, "/data/attributes/phone_number"),
        ({"phone_number": "+0123456789"}, "/data/attributes/phone_number"),
        ({"email": "a@example.com", "location": "Boston"}, "/data/attributes/location"),
        ({"email": "a@example.com", "location": {"town": "Boston"}}, "/data/attributes/location/town"),
        ({"email": "a@example.com", "properties": [1]}, "/data/attributes/properties"),
        ({"email": "a@example.com", "first_name": 7}, "/data/attributes/first_name"),
        ({"first_name": "No identifiers"}, "/data/attributes"),
    ],
)
def test_create_validation_errors(client: Client, attributes: dict[str, Any], pointer: str) -> None:
    r = client.send("POST", "/api/profiles", {"data": {"type": "profile", "attributes": attributes}})
    assert r.status_code == 400, r.text
    err = error(r)
    assert err["source"] == {"pointer": pointer}


def test_body_shape_and_media_type_errors(client: Client) -> None:
    r = client.send(
        "POST", "/api/profiles", {"data": {"type": "list", "attributes": {"email": "a@example.com"}}}
    )
    assert r.status_code == 409
    assert error(r)["source"] == {"pointer": "/data/type"}
    r = client.session.post(
        client.base_url + "/api/profiles", data="{not json", headers=headers(), timeout=10
    )
    assert r.status_code == 400
    error(r)
    r = client.session.post(
        client.base_url + "/api/profiles",
        data='{"data": {}}',
        headers=headers(**{"Content-Type": "text/plain"}),
        timeout=10,
    )
    assert r.status_code == 415
    error(r)
    r = client.session.post(
        client.base_url + "/api/profiles",
        json={"data": {"type": "profile", "attributes": {"email": "json@example.com"}}},
        headers=headers(**{"Content-Type": "application/json"}),
        timeout=10,
    )
    assert r.status_code == 201


def test_profile_import_creates_then_updates(client: Client) -> None:
    body = {"data": {"type": "profile", "attributes": {"email": "import@example.com", "first_name": "Ann"}}}
    r = client.send("POST", "/api/profile-import", body)
    assert r.status_code == 201, r.text
    pid = r.json()["data"]["id"]
    body = {
        "data": {
            "type": "profile",
            "attributes": {"email": "import@example.com", "last_name": "Lee", "first_name": None},
        }
    }
    r = client.send("POST", "/api/profile-import", body)
    assert r.status_code == 200
    data = r.json()["data"]
    assert data["id"] == pid
    assert data["attributes"]["last_name"] == "Lee" and data["attributes"]["first_name"] is None

    r = client.send(
        "POST",
        "/api/profile-import",
        {"data": {"type": "profile", "id": pid, "attributes": {"external_id": "x9"}}},
    )
    assert r.status_code == 200
    assert r.json()["data"]["attributes"]["external_id"] == "x9"
    assert r.json()["data"]["attributes"]["email"] == "import@example.com"
    assert len(client.get("/api/profiles").json()["data"]) == 1


def test_profile_import_conflicting_identifiers(client: Client) -> None:
    a = client.create(email="a@example.com")
    b = client.create(phone_number="+15005550006")
    body = {
        "data": {"type": "profile", "attributes": {"email": "a@example.com", "phone_number": "+15005550006"}}
    }
    r = client.send("POST", "/api/profile-import", body)
    assert r.status_code == 409
    assert error(r)["meta"]["duplicate_profile_id"] == b["id"]
    assert a["id"] != b["id"]


def test_subscriptions_and_predictive_analytics_additional_fields(client: Client) -> None:
    pid = client.create(email="subs@example.com")["id"]
    r = client.get(
        f"/api/profiles/{pid}", params={"additional-fields[profile]": "subscriptions,predictive_analytics"}
    )
    attributes = r.json()["data"]["attributes"]
    marketing = attributes["subscriptions"]["email"]["marketing"]
    assert marketing["consent"] == "NEVER_SUBSCRIBED" and marketing["can_receive_email_marketing"] is False
    assert attributes["predictive_analytics"]["predicted_clv"] is None
    plain = client.get(f"/api/profiles/{pid}").json()["data"]["attributes"]
    assert "subscriptions" not in plain and "predictive_analytics" not in plain
    r = client.get(f"/api/profiles/{pid}", params={"additional-fields[profile]": "everything"})
    assert r.status_code == 400
    assert error(r)["source"] == {"parameter": "additional-fields[profile]"}


def test_sparse_profile_fields(client: Client) -> None:
    client.create(email="sparse@example.com", first_name="S", location={"city": "Paris", "zip": "75001"})
    r = client.get("/api/profiles", params={"fields[profile]": "email,first_name,location.city"})
    assert r.status_code == 200
    (profile,) = r.json()["data"]
    assert profile["attributes"] == {
        "email": "sparse@example.com",
        "first_name": "S",
        "location": {"city": "Paris"},
    }
    assert profile["id"] and profile["links"]["self"]
    r = client.get("/api/profiles", params={"fields[profile]": "email,shoe_size"})
    assert r.status_code == 400
    assert error(r)["source"] == {"parameter": "fields[profile]"}


# -- collections -------------------------------------------------------------------------


@pytest.fixture
def many(client: Client, clock: FakeClock) -> list[dict[str, Any]]:
    """25 profiles created one minute apart; emails in reverse order of creation."""
    out = []
    for i in range(25):
        out.append(client.create(email=f"user{24 - i:02d}@example.com", external_id=f"ext-{i}"))
        clock.advance(60)
    return out


def walk(client: Client, params: dict[str, Any]) -> tuple[list[str], int]:
    """Follow links.next from the first page; returns ids and the number of pages."""
    r = client.get("/api/profiles", params=params)
    assert r.status_code == 200, r.text
    ids: list[str] = []
    pages = 0
    while True:
        body = r.json()
        pages += 1
        ids.extend(p["id"] for p in body["data"])
        nxt = body["links"].get("next")
        if not nxt:
            return ids, pages
        assert nxt.startswith(client.base_url)
        r = client.get(nxt)
        assert r.status_code == 200


def test_pages_follow_links_next(client: Client, many: list[dict[str, Any]]) -> None:
    ids, pages = walk(client, {"page[size]": 10})
    assert ids == [p["id"] for p in many]
    assert pages == 3
    ids, pages = walk(client, {})
    assert pages == 2  # default page size 20
    assert ids == [p["id"] for p in many]
    first = client.get("/api/profiles", params={"page[size]": 10}).json()
    assert "prev" not in first["links"]
    second = client.get(first["links"]["next"]).json()
    assert second["links"]["prev"]
    assert [p["id"] for p in client.get(second["links"]["prev"]).json()["data"]] == ids[:10]


def test_sort_and_filter(client: Client, many: list[dict[str, Any]]) -> None:
    ids, _ = walk(client, {"sort": "email", "page[size]": 7})
    assert ids == [p["id"] for p in reversed(many)]
    ids, _ = walk(client, {"sort": "-created", "page[size]": 100})
    assert ids == [p["id"] for p in reversed(many)]
    ids, _ = walk(client, {"sort": "-id"})
    assert ids == sorted((p["id"] for p in many), reverse=True)

    r = client.get("/api/profiles", params={"filter": "equals(email,'user03@example.com')"})
    assert [p["attributes"]["email"] for p in r.json()["data"]] == ["user03@example.com"]
    r = client.get(
        "/api/profiles", params={"filter": 'any(email,["user01@example.com","user02@example.com"])'}
    )
    assert sorted(p["attributes"]["email"] for p in r.json()["data"]) == [
        "user01@example.com",
        "user02@example.com",
    ]
    r = client.get("/api/profiles", params={"filter": "equals(external_id,['ext-1','ext-2'])"})
    assert len(r.json()["data"]) == 2
    window = "greater-than(created,2026-01-01T00:09:30Z),less-than(created,2026-01-01T00:12:00+00:00)"
    r = client.get("/api/profiles", params={"filter": window})
    assert [p["id"] for p in r.json()["data"]] == [p["id"] for p in many[10:12]]
    r = client.get(
        "/api/profiles",
        params={"filter": "and(greater-than(created,2026-01-01T00:09:30Z),equals(external_id,'ext-11'))"},
    )
    assert [p["id"] for p in r.json()["data"]] == [many[11]["id"]]
    ids, pages = walk(
        client, {"filter": "greater-than(created,2026-01-01T00:04:30Z)", "page[size]": 5, "sort": "email"}
    )
    assert len(ids) == 20 and pages == 4
    assert ids == [p["id"] for p in reversed(many[5:])]


@pytest.mark.parametrize(
    ("params", "parameter", "mentions"),
    [
        ({"page[size]": 101}, "page[size]", "100"),
        ({"page[size]": 0}, "page[size]", "page[size]"),
        ({"page[size]": "ten"}, "page[size]", "ten"),
        ({"page[cursor]": "garbage!"}, "page[cursor]", "cursor"),
        ({"page[cursor]": "bm90LWEtY3Vyc29y"}, "page[cursor]", "cursor"),
        ({"sort": "first_name"}, "sort", "first_name"),
        ({"filter": "equals(first_name,'Ann')"}, "filter", "first_name"),
        ({"filter": "contains(email,'example')"}, "filter", "contains"),
        ({"filter": "any(email,'a@example.com')"}, "filter", "any"),
        ({"filter": "greater-than(created,'2024-01-01T00:00:00Z')"}, "filter", "date-time"),
        ({"filter": "equals(email,a@example.com)"}, "filter", "a@example.com"),
        ({"filter": "equals(email,'a'"}, "filter", "expected"),
        ({"filter": "or(equals(email,'a'),equals(email,'b'))"}, "filter", "or"),
        ({"filter": "frobnicate(email,'a')"}, "filter", "frobnicate"),
        ({"include": "lists"}, "include", "lists"),
    ],
)
def test_bad_collection_queries_are_400(
    client: Client, params: dict[str, Any], parameter: str, mentions: str
) -> None:
    r = client.get("/api/profiles", params=params)
    assert r.status_code == 400, r.text
    err = error(r)
    assert err["source"] == {"parameter": parameter}
    assert mentions in err["detail"]


# -- rate limits and faults --------------------------------------------------------------


def test_rate_limit_burst_gives_429_with_retry_after(clock: FakeClock) -> None:
    limits = catalog.operation("get_profiles").rate_limit
    assert limits is not None
    scale = 0.1
    burst, steady = int(limits.burst * scale), int(limits.steady * scale)
    with Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=scale, clock=clock)) as box:
        assert box.base_url is not None
        client = Client(box.base_url)
        for i in range(burst):
            r = client.get("/api/profiles")
            assert r.status_code == 200
            assert r.headers["RateLimit-Limit"] == str(steady)
            assert r.headers["RateLimit-Remaining"] == str(steady - i - 1)
            assert r.headers["RateLimit-Reset"] == "60"
        r = client.get("/api/profiles")
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "1"
        assert not [h for h in r.headers if h.lower().startswith("ratelimit-")]
        assert error(r)["code"] == "throttled"
        # Other operations and other accounts have their own buckets.
        assert client.get("/api/accounts").status_code == 200
        assert Client(box.base_url, OTHER_KEY).get("/api/profiles").status_code == 200

        clock.advance(1)
        assert client.get("/api/profiles").status_code == 200
        # Exhaust the steady window: burst per second until steady is used up.
        used = burst + 1
        while used < steady:
            clock.advance(1)
            for _ in range(min(burst, steady - used)):
                assert client.get("/api/profiles").status_code == 200
                used += 1
        clock.advance(1)
        r = client.get("/api/profiles")
        assert r.status_code == 429
        start_of_next_minute = T0 + 60
        assert int(r.headers["Retry-After"]) == int(start_of_next_minute - clock.now)
        clock.now = start_of_next_minute
        r = client.get("/api/profiles")
        assert r.status_code == 200
        assert r.headers["RateLimit-Remaining"] == str(steady - 1)


def test_rate_limit_scale_multiplies_and_zero_disables(clock: FakeClock) -> None:
    with Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=3, clock=clock)) as box:
        assert box.base_url is not None
        client = Client(box.base_url)
        codes = [client.get("/api/accounts").status_code for _ in range(4)]  # get_accounts: 1/s
        assert codes == [200, 200, 200, 429]
    with Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=0, clock=clock)) as box:
        assert box.base_url is not None
        client = Client(box.base_url)
        responses = [client.get("/api/accounts") for _ in range(5)]
        assert all(r.status_code == 200 for r in responses)
        assert "RateLimit-Limit" not in responses[0].headers


def test_predictive_analytics_uses_the_lower_tier(clock: FakeClock) -> None:
    with Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=0.1, clock=clock)) as box:
        assert box.base_url is not None
        client = Client(box.base_url)
        params = {"additional-fields[profile]": "predictive_analytics"}
        assert client.get("/api/profiles", params=params).headers["RateLimit-Limit"] == "15"
        assert client.get("/api/profiles", params=params).status_code == 429  # 10/s * 0.1 = 1


def test_fail_rate_one_answers_503(clock: FakeClock) -> None:
    with Sandbox(
        SandboxOptions(state_path=":memory:", rate_limit_scale=0, fail_rate=1.0, clock=clock)
    ) as box:
        assert box.base_url is not None
        r = Client(box.base_url).get("/api/accounts")
        assert r.status_code == 503
        assert error(r)["code"] == "service_unavailable"


def test_throttle_rate_one_answers_429(clock: FakeClock) -> None:
    with Sandbox(SandboxOptions(state_path=":memory:", throttle_rate=1.0, clock=clock)) as box:
        assert box.base_url is not None
        r = Client(box.base_url).get("/api/accounts")
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "1"
        assert "RateLimit-Limit" not in r.headers


def test_fault_rates_are_repeatable_with_a_seed(clock: FakeClock) -> None:
    def run() -> list[int]:
        options = SandboxOptions(
            state_path=":memory:", rate_limit_scale=0, fail_rate=0.5, seed=7, clock=clock
        )
        with Sandbox(options) as box:
            assert box.base_url is not None
            client = Client(box.base_url)
            return [client.get("/api/accounts").status_code for _ in range(20)]

    first = run()
    assert first == run()
    assert set(first) == {200, 503}


def test_latency_is_added_to_each_response(clock: FakeClock) -> None:
    waits: list[float] = []
    with Sandbox(
        SandboxOptions(state_path=":memory:", rate_limit_scale=0, latency_ms=250, clock=clock)
    ) as box:
        box.app.sleep = waits.append  # record instead of waiting
        assert box.base_url is not None
        client = Client(box.base_url)
        client.get("/api/accounts")
        client.get("/api/nowhere")
    assert waits == [0.25, 0.25]


# -- state and serving -------------------------------------------------------------------


def test_state_persists_across_instances(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "state" / "sandbox.sqlite3"
    with Sandbox(SandboxOptions(state_path=str(path), rate_limit_scale=0, clock=clock)) as box:
        assert box.base_url is not None
        client = Client(box.base_url)
        account_id = client.get("/api/accounts").json()["data"][0]["id"]
        pid = client.create(email="persist@example.com")["id"]
    with Sandbox(SandboxOptions(state_path=str(path), rate_limit_scale=0, clock=clock)) as box:
        assert box.base_url is not None
        client = Client(box.base_url)
        assert client.get("/api/accounts").json()["data"][0]["id"] == account_id
        assert (
            client.get(f"/api/profiles/{pid}").json()["data"]["attributes"]["email"] == "persist@example.com"
        )
        box.reset()
        assert client.get(f"/api/profiles/{pid}").status_code == 404
        # The key keeps its (now empty) account, so another process serving the file stays right.
        assert client.get("/api/accounts").json()["data"][0]["id"] == account_id


def test_api_keys_are_never_stored(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "s.sqlite3"
    with Sandbox(SandboxOptions(state_path=str(path), rate_limit_scale=0, clock=clock)) as box:
        assert box.base_url is not None
        Client(box.base_url).create(email="k@example.com")
    db = sqlite3.connect(path)
    dump = "\n".join(db.iterdump())
    db.close()
    assert KEY not in dump
    assert KEY[3:] not in dump


def test_temporary_state_is_removed_on_stop() -> None:
    box = Sandbox(SandboxOptions(rate_limit_scale=0))
    box.start()
    path = Path(box.state_path)
    assert path.exists()
    box.stop()
    assert not path.exists()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "example.com", "::"])
def test_non_loopback_host_is_refused(host: str) -> None:
    box = Sandbox(SandboxOptions(state_path=":memory:"))
    with pytest.raises(ValueError, match="loopback"):
        box.start(host=host)
    box.stop()


def test_start_returns_loopback_url() -> None:
    box = Sandbox(SandboxOptions(state_path=":memory:"))
    url = box.start("localhost")
    try:
        assert url.startswith("http://127.0.0.1:") and url == box.base_url
        with pytest.raises(RuntimeError):
            box.start()
    finally:
        box.stop()
    assert box.base_url is None


def test_default_state_path_uses_xdg_cache_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("XDG applies on Linux")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_state_path() == tmp_path / "klaviyo-connector" / "sandbox.sqlite3"


def test_package_import_is_cheap() -> None:
    import subprocess
    import sys

    code = (
        "import sys, klaviyo_connector.sandbox as s; "
        "heavy = [m for m in ('werkzeug', 'sqlite3', 'platformdirs') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=None)
    assert out.stdout.strip() == ""


# -- units: ids, cursors, filters, store -------------------------------------------------


def test_ids_look_like_klaviyos() -> None:
    value = ulid(T0)
    assert len(value) == 26 and value.isalnum() and value == value.upper()
    assert ulid(T0 + 1) > value  # time-ordered
    assert len(short_id()) == 6 and short_id().isalnum()


def test_cursor_round_trip() -> None:
    assert decode_cursor(encode_cursor(40)) == 40
    for bad in ("", "@@@@", "bm90LWEtY3Vyc29y", encode_cursor(1) + "!"):
        with pytest.raises(ValueError):
            decode_cursor(bad)


def test_filter_parser_and_predicate() -> None:
    node = filters.parse(
        "and(equals(email,\"a@b.co\"),any(external_id,['x','y\\'s'])),greater-or-equal(created,2024-01-01)"
    )
    comps = filters.comparisons(node)
    assert [c.operator for c in comps] == ["equals", "any", "greater-or-equal"]
    assert comps[1].is_list and [v.text for v in comps[1].value] == ["x", "y's"]
    keep = compile_predicate(node)
    record = {"email": "a@b.co", "external_id": "y's", "created": "2024-05-01T00:00:00+00:00"}
    assert keep(record)
    assert not keep({**record, "created": "2023-12-31T23:59:59+00:00"})
    assert not keep({**record, "external_id": None})
    nested = compile_predicate(filters.parse("equals(a.b.c,1)"))
    assert nested({"a": {"b": [{"c": 2}, {"c": 1}]}})
    assert compile_predicate(filters.parse("has(profile)"))({"profile": {"id": "x"}})
    assert compile_predicate(filters.parse("contains(name,'VI')"))({"name": "VIP list"})
    assert compile_predicate(filters.parse("not(equals(flag,true))"))({"flag": False})


def test_filter_validation_uses_catalog_fields() -> None:
    fields = catalog.operation("get_profiles").filters
    parse_strict("equals(email,'a@b.co'),less-than(updated,2024-01-01T00:00:00Z)", fields, resource="profile")
    with pytest.raises(
        filters.FilterError, match="'first_name' is not a valid field for the resource 'profile'"
    ):
        parse_strict("equals(first_name,'x')", fields, resource="profile")
    with pytest.raises(filters.FilterError, match=r"^Invalid filter provided: .*less-than\(\)"):
        parse_strict("less-than(email,'x')", fields, resource="profile")
    with pytest.raises(filters.FilterError, match="the filter is empty"):
        parse_strict(" ", fields)
    events = catalog.operation("get_events").filters
    parse_strict("has(profile),greater-than(timestamp,1700000000)", events, resource="event")
    with pytest.raises(filters.FilterError, match="takes a number"):
        parse_strict("greater-than(timestamp,'soon')", events, resource="event")


def test_filter_validation_is_lenient_for_the_client_and_strict_for_the_sandbox() -> None:
    fields = catalog.operation("get_campaigns").filters
    text = "greater-than(created_at,'2024-01-01T02:00:00+02:00'),equals(status,'sent'),any(id,[42])"
    assert filters.render(filters.validate(filters.parse(text), fields)) == (
        "greater-than(created_at,2024-01-01T00:00:00Z),equals(status,'Sent'),any(id,['42'])"
    )
    for strict_only in (
        "greater-than(created_at,'2024-01-01T00:00:00Z')",
        "equals(status,'sent')",
        "any(id,[42])",
    ):
        with pytest.raises(filters.FilterError):
            filters.validate(filters.parse(strict_only), fields, strict=True)
    with pytest.raises(filters.FilterError, match="takes Scheduled, Sent"):
        filters.validate(filters.parse("equals(status,'Shipped')"), fields)
    either = filters.parse("or(equals(archived,true),not(equals(archived,false)))")
    assert filters.validate(either, fields) == either
    with pytest.raises(filters.FilterError, match=r"or\(\) is not supported here; only and\(\) can combine"):
        filters.validate(either, fields, logical=("and",))


def test_store_generic_api(tmp_path: Path) -> None:
    with Store(tmp_path / "x" / "s.sqlite3") as store:
        now = "2026-01-01T00:00:00+00:00"
        account = store.account_for_key(KEY, lambda: ("AbC123", {"n": 1}), now)
        assert account == "AbC123"
        assert store.account_for_key(KEY, None, now) == "AbC123"
        assert store.account_for_key(OTHER_KEY, None, now) is None
        assert store.get("AbC123", "account", "AbC123") is not None
        store.ensure_index("list", "name")
        store.create("AbC123", "list", "L1", {"name": "VIP"}, now=now)
        store.create("AbC123", "list", "L2", {"name": "All"}, now=now)
        assert [r.id for r in store.list_resources("AbC123", "list")] == ["L1", "L2"]
        assert [r.id for r in store.find("AbC123", "list", "name", "All")] == ["L2"]
        updated = store.update(
            "AbC123", "list", "L1", attributes={"name": "VIPs"}, now="2026-01-02T00:00:00+00:00"
        )
        assert updated is not None and updated.updated.startswith("2026-01-02") and updated.created == now
        assert (
            store.add_links("AbC123", "list", "L1", "profiles", "profile", ["P1", "P2", "P1"], now=now) == 2
        )
        assert store.linked_ids("AbC123", "list", "L1", "profiles") == ["P1", "P2"]
        assert store.linking_ids("AbC123", "profile", "P2", "profiles", "list") == ["L1"]
        assert store.remove_links("AbC123", "list", "L1", "profiles", "profile", ["P1"]) == 1
        assert store.delete("AbC123", "list", "L1") and not store.delete("AbC123", "list", "L1")
        assert store.linking_ids("AbC123", "profile", "P2", "profiles", "list") == []
        assert store.count("AbC123", "list") == 1
        with pytest.raises(RuntimeError), store.transaction():
            store.create("AbC123", "list", "L3", {"name": "rolled back"}, now=now)
            raise RuntimeError
        assert store.get("AbC123", "list", "L3") is None
        store.reset()
        assert (
            store.count("AbC123", "list") == 0 and store.linked_ids("AbC123", "list", "L1", "profiles") == []
        )


def test_serve_forever_announces_and_stops_from_another_thread(clock: FakeClock) -> None:
    import io
    import threading

    box = Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=0, clock=clock))
    announced = io.StringIO()
    urls: list[str] = []
    ready = threading.Event()

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    thread = threading.Thread(target=box.serve_forever, kwargs={"ready": on_ready, "announce": announced})
    thread.start()
    assert ready.wait(5)
    assert Client(urls[0]).get("/api/accounts").status_code == 200
    assert urls[0] in announced.getvalue() and KEY not in announced.getvalue()
    box.stop()
    thread.join(5)
    assert not thread.is_alive()


def test_concurrent_creates_with_one_email_give_one_profile(client: Client) -> None:
    from concurrent.futures import ThreadPoolExecutor

    body = {"data": {"type": "profile", "attributes": {"email": "race@example.com"}}}

    def create(_: int) -> int:
        return Client(client.base_url).send("POST", "/api/profiles", body).status_code

    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(create, range(16)))
    assert sorted(codes) == [201] + [409] * 15
    assert len(client.get("/api/profiles").json()["data"]) == 1


def test_sandbox_options_are_not_mutated_by_overrides() -> None:
    options = SandboxOptions(state_path=":memory:")
    box = Sandbox(options, rate_limit_scale=0)
    assert box.options.rate_limit_scale == 0 and options.rate_limit_scale == 1.0
    with pytest.raises(TypeError):
        Sandbox(options, no_such_option=1)
