"""The sandbox under hostile or broken clients: every answer is a JSON:API document with a 4xx
for bad input (never a 500, never HTML), each socket read times out, unknown metric ids are
refused as Klaviyo refuses them, and writes can fail after they commit (a sandbox option)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from conftest import run
from klaviyo_connector import Runner
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.filters import MAX_DEPTH
from klaviyo_connector.sandbox import Sandbox, SandboxOptions
from klaviyo_connector.sandbox.context import MAX_JSON_DEPTH, Reply
from sandbox_helpers import JSONAPI, KEY, FakeClock, headers

SHORT_TIMEOUT = 0.3  # seconds: the read timeout of the stalled-client tests


def error(r: requests.Response, status: int) -> dict[str, Any]:
    """The one error object of a JSON:API error answer, after checking its shape."""
    assert r.status_code == status, r.text
    assert r.headers["Content-Type"] == JSONAPI
    body = r.json()
    assert set(body) == {"errors"} and len(body["errors"]) == 1
    err: dict[str, Any] = body["errors"][0]
    assert {"id", "status", "code", "title", "detail", "source"} <= set(err)
    assert err["status"] == status
    return err


class Api:
    """requests to one sandbox with the helpers' key (no spec check: these requests are bad on purpose)."""

    def __init__(self, box: Sandbox) -> None:
        assert box.base_url is not None
        self.box = box
        self.base_url = box.base_url
        self.session = requests.Session()

    def get(self, path: str, params: dict[str, str] | None = None) -> requests.Response:
        return self.session.get(self.base_url + path, params=params, headers=headers(), timeout=10)

    def send(
        self, method: str, path: str, body: Any = None, *, data: bytes | None = None
    ) -> requests.Response:
        raw = data if data is not None else json.dumps(body).encode()
        return self.session.request(method, self.base_url + path, data=raw, headers=headers(), timeout=10)

    def create_list(self, name: str) -> requests.Response:
        return self.send("POST", "/api/lists", {"data": {"type": "list", "attributes": {"name": name}}})

    def list_names(self) -> list[str]:
        names: list[str] = []
        url: str | None = self.base_url + "/api/lists"
        while url:
            r = self.session.get(url, headers=headers(), timeout=10)
            assert r.status_code == 200, r.text
            names += [item["attributes"]["name"] for item in r.json()["data"]]
            url = r.json()["links"].get("next")
        return names

    def event(self, email: str, **attributes: Any) -> requests.Response:
        body = {
            "data": {
                "type": "event",
                "attributes": {
                    "properties": {},
                    "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}},
                    "profile": {"data": {"type": "profile", "attributes": {"email": email}}},
                    **attributes,
                },
            }
        }
        return self.send("POST", "/api/events", body)


def sandbox(**options: Any) -> Sandbox:
    return Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=0, clock=FakeClock(), **options))


@pytest.fixture
def api() -> Iterator[Api]:
    with sandbox() as box:
        yield Api(box)


# -- paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["//api//profiles", "/api//profiles", "//api/profiles", "/api/profiles//"])
def test_a_path_with_an_empty_segment_is_a_404(api: Api, path: str) -> None:
    err = error(api.get(path), 404)
    assert err["code"] == "not_found" and "empty segment" in err["detail"]


def test_one_trailing_slash_still_names_the_endpoint(api: Api) -> None:
    assert api.get("/api/profiles/").status_code == 200


# -- filters -------------------------------------------------------------------------------------


def nested(levels: int, operator: str = "not") -> str:
    return f"{operator}(" * levels + "equals(email,'a@example.com')" + ")" * levels


def test_a_filter_nested_2000_deep_is_a_400_naming_the_limit(api: Api) -> None:
    err = error(api.get("/api/profiles", {"filter": nested(2000)}), 400)
    assert err["source"] == {"parameter": "filter"}
    assert f"at most {MAX_DEPTH} levels" in err["detail"]


def test_a_filter_at_the_depth_limit_is_evaluated(api: Api) -> None:
    assert api.get("/api/profiles", {"filter": nested(MAX_DEPTH, "and")}).status_code == 200
    err = error(api.get("/api/profiles", {"filter": nested(MAX_DEPTH + 1, "and")}), 400)
    assert str(MAX_DEPTH) in err["detail"]


@pytest.mark.parametrize(
    ("path", "condition"),
    [
        ("/api/events", "greater-than(timestamp," + "9" * 5000 + ")"),
        ("/api/events", "greater-than(timestamp,1e999)"),
        ("/api/profiles", "greater-than(created,9999-12-31T23:59:59-05:00)"),
        ("/api/profiles", "greater-than(created,0001-01-01T00:00:00+05:00)"),
    ],
    ids=["long-number", "infinite-number", "datetime-past-9999", "datetime-before-1"],
)
def test_filter_values_out_of_range_are_a_400(api: Api, path: str, condition: str) -> None:
    err = error(api.get(path, {"filter": condition}), 400)
    assert err["source"] == {"parameter": "filter"}


# -- query parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["5_0", "+5", " 5", "\u0665", "9" * 5000])
def test_page_size_takes_plain_digits_only(api: Api, size: str) -> None:
    err = error(api.get("/api/profiles", {"page[size]": size}), 400)
    assert err["source"] == {"parameter": "page[size]"}
    assert len(err["detail"]) < 300  # a 5,000-digit value isn't quoted back in full


def test_sparse_fields_are_checked_on_an_empty_collection(api: Api) -> None:
    err = error(api.get("/api/profiles", {"fields[profile]": "no_such_field"}), 400)
    assert err["source"] == {"parameter": "fields[profile]"}


# -- bodies --------------------------------------------------------------------------------------


def test_a_deeply_nested_body_is_a_400(api: Api) -> None:
    err = error(api.send("POST", "/api/lists", data=b"[" * 5000 + b"]" * 5000), 400)
    assert err["code"] == "parse_error" and str(MAX_JSON_DEPTH) in err["detail"]


def test_nesting_is_counted_to_the_limit(api: Api) -> None:
    def deep(levels: int) -> Any:
        value: Any = "leaf"
        for _ in range(levels):
            value = {"k": value}
        return value

    # The body, data and attributes are three levels; properties may nest the rest.
    assert api.event("fits@example.com", properties=deep(MAX_JSON_DEPTH - 3)).status_code == 202
    err = error(api.event("deep@example.com", properties=deep(MAX_JSON_DEPTH - 2)), 400)
    assert err["code"] == "parse_error"


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"1" + b"0" * 400])
def test_numbers_json_cannot_carry_are_a_400(api: Api, literal: str) -> None:
    body = (
        b'{"data":{"type":"event","attributes":{"properties":{},"value":'
        + literal
        + b',"metric":{"data":{"type":"metric","attributes":{"name":"M"}}},'
        b'"profile":{"data":{"type":"profile","attributes":{"email":"n@example.com"}}}}}}'
    )
    assert error(api.send("POST", "/api/events", data=body), 400)["code"] == "parse_error"


def test_a_body_that_is_not_utf8_is_a_400(api: Api) -> None:
    assert error(api.send("POST", "/api/lists", data=b"\xff\xfe\xfd"), 400)["code"] == "parse_error"


@pytest.mark.parametrize(
    ("path", "body", "pointer"),
    [
        (
            "/api/campaign-message-assign-template",
            {"data": {"type": "campaign-message", "id": "m", "relationships": {"template": "t"}}},
            "/data/relationships/template",
        ),
        (
            "/api/data-privacy-deletion-jobs",
            {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": True}}},
            "/data/attributes/profile",
        ),
        (
            "/api/data-privacy-deletion-jobs",
            {
                "data": {
                    "type": "data-privacy-deletion-job",
                    "attributes": {"profile": {"data": {"type": "profile", "attributes": "x"}}},
                }
            },
            "/data/attributes/profile/data/attributes",
        ),
        (
            "/api/data-privacy-deletion-jobs",
            {
                "data": {
                    "type": "data-privacy-deletion-job",
                    "attributes": {
                        "profile": {"data": {"type": "profile", "id": {"x": 1}, "attributes": {}}}
                    },
                }
            },
            "/data/attributes/profile/data/id",
        ),
        (
            "/api/campaigns",
            {
                "data": {
                    "type": "campaign",
                    "attributes": {
                        "name": "C",
                        "audiences": {"included": ["L"]},
                        "campaign-messages": {"data": [{"type": "campaign-message", "attributes": "x"}]},
                    },
                }
            },
            "/data/attributes/campaign-messages/data/0/attributes",
        ),
        (
            "/api/tags",
            {"data": {"type": "tag", "attributes": "x"}},
            "/data/attributes",
        ),
        (
            "/api/profile-subscription-bulk-create-jobs",
            {"data": {"type": "profile-subscription-bulk-create-job", "attributes": {"profiles": "x"}}},
            "/data/attributes/profiles",
        ),
        (
            "/api/profile-subscription-bulk-delete-jobs",
            {"data": {"type": "profile-subscription-bulk-delete-job", "attributes": {"profiles": "x"}}},
            "/data/attributes/profiles",
        ),
    ],
    ids=[
        "template-not-an-object",
        "profile-not-an-object",
        "attributes-not-an-object",
        "id-not-a-string",
        "message-attributes-not-an-object",
        "tag-attributes-not-an-object",
        "subscribe-profiles-not-an-object",
        "unsubscribe-profiles-not-an-object",
    ],
)
def test_a_member_of_the_wrong_shape_is_a_400(api: Api, path: str, body: Any, pointer: str) -> None:
    err = error(api.send("POST", path, body), 400)
    assert err["source"]["pointer"] == pointer


def test_an_oversized_form_is_a_json_413(api: Api) -> None:
    files = [(f"part{i}", (None, "x")) for i in range(1100)]
    sent = {k: v for k, v in headers().items() if k != "Content-Type"}
    r = api.session.post(api.base_url + "/api/image-upload", files=files, headers=sent, timeout=10)
    assert error(r, 413)["code"] == "request_entity_too_large"


# -- segments: what is stored is evaluated on every read -------------------------------------------


def segment(condition: dict[str, Any]) -> dict[str, Any]:
    definition = {"condition_groups": [{"conditions": [condition]}]}
    return {"data": {"type": "segment", "attributes": {"name": "S", "definition": definition}}}


@pytest.mark.parametrize(
    ("condition", "pointer"),
    [
        ({"type": "profile-property", "property": "email", "filter": "x"}, "filter"),
        ({"type": "profile-property", "property": 5, "filter": {}}, "property"),
        (
            {
                "type": "profile-property",
                "property": "created",
                "filter": {"type": "date", "operator": "in-the-last", "quantity": "3", "unit": "day"},
            },
            "filter/quantity",
        ),
        ({"type": "profile-marketing-consent", "consent": ["email"]}, "consent"),
        (
            {"type": "profile-marketing-consent", "consent": {"channel": "email", "consent_status": "x"}},
            "consent/consent_status",
        ),
    ],
    ids=["filter-text", "property-number", "quantity-text", "consent-list", "consent-status-text"],
)
def test_a_segment_condition_of_the_wrong_shape_is_refused_when_written(
    api: Api, condition: dict[str, Any], pointer: str
) -> None:
    err = error(api.send("POST", "/api/segments", segment(condition)), 400)
    assert (
        err["source"]["pointer"] == f"/data/attributes/definition/condition_groups/0/conditions/0/{pointer}"
    )


def test_a_group_timeframe_beyond_the_calendar_means_since_ever(api: Api) -> None:
    api.send("POST", "/api/profiles", {"data": {"type": "profile", "attributes": {"email": "m@example.com"}}})
    list_id = api.create_list("Members").json()["data"]["id"]
    profile_id = api.get("/api/profiles").json()["data"][0]["id"]
    added = api.send(
        "POST",
        f"/api/lists/{list_id}/relationships/profiles",
        {"data": [{"type": "profile", "id": profile_id}]},
    )
    assert added.status_code == 204
    timeframe = {"type": "date", "operator": "in-the-last", "quantity": 10**12, "unit": "week"}
    condition = {
        "type": "profile-group-membership",
        "is_member": True,
        "group_ids": [list_id],
        "timeframe_filter": timeframe,
    }
    created = api.send("POST", "/api/segments", segment(condition))
    assert created.status_code == 201, created.text
    members = api.get(f"/api/segments/{created.json()['data']['id']}/profiles")
    assert members.status_code == 200
    assert [p["id"] for p in members.json()["data"]] == [profile_id]


# -- metric ids ----------------------------------------------------------------------------------


def test_an_unknown_metric_id_in_the_events_filter_is_a_400(api: Api) -> None:
    err = error(api.get("/api/events", {"filter": 'equals(metric_id,"NoSuch")'}), 400)
    assert err["code"] == "invalid"
    assert err["source"] == {"parameter": "filter"}
    assert err["detail"] == "Metric IDs ['NoSuch'] do not exist."


def test_a_known_metric_id_in_the_events_filter_lists_its_events(api: Api) -> None:
    assert api.event("buyer@example.com").status_code == 202
    metric_id = api.get("/api/metrics").json()["data"][0]["id"]
    r = api.get("/api/events", {"filter": f'equals(metric_id,"{metric_id}")'})
    assert r.status_code == 200
    assert [e["relationships"]["metric"]["data"]["id"] for e in r.json()["data"]] == [metric_id]


def test_another_accounts_metric_id_is_unknown_too(api: Api) -> None:
    assert api.event("buyer@example.com").status_code == 202
    metric_id = api.get("/api/metrics").json()["data"][0]["id"]
    other = {**headers("pk_sandboxotheraccount0123"), "Content-Type": JSONAPI}
    r = api.session.get(
        api.base_url + "/api/events",
        params={"filter": f"equals(metric_id,'{metric_id}')"},
        headers=other,
        timeout=10,
    )
    assert error(r, 400)["detail"] == f"Metric IDs ['{metric_id}'] do not exist."


# -- metric aggregates ---------------------------------------------------------------------------


def aggregate(api: Api, metric_id: str, filters: list[str], **attributes: Any) -> requests.Response:
    body = {
        "data": {
            "type": "metric-aggregate",
            "attributes": {
                "metric_id": metric_id,
                "measurements": ["sum_value"],
                "filter": filters,
                **attributes,
            },
        }
    }
    return api.send("POST", "/api/metric-aggregates", body)


def test_aggregate_sums_stay_standard_json(api: Api) -> None:
    for email in ("a@example.com", "b@example.com"):
        assert api.event(email, value=1e308).status_code == 202
    metric_id = api.get("/api/metrics").json()["data"][0]["id"]
    r = aggregate(api, metric_id, ["greater-or-equal(datetime,2026-07-01)", "less-than(datetime,2026-08-01)"])
    assert r.status_code == 200
    json.loads(r.text, parse_constant=lambda name: pytest.fail(f"{name} in the answer"))


def test_aggregate_range_bounds_outside_the_calendar_are_a_400(api: Api) -> None:
    assert api.event("a@example.com").status_code == 202
    metric_id = api.get("/api/metrics").json()["data"][0]["id"]
    ranges = ["greater-or-equal(datetime,2026-01-01T00:00:00)", "less-than(datetime,9999-12-31T23:59:59)"]
    err = error(aggregate(api, metric_id, ranges, timezone="Pacific/Kiritimati"), 400)
    assert err["source"] == {"pointer": "/data/attributes/filter"}


# -- failures inside the sandbox -----------------------------------------------------------------


def replace_handler(box: Sandbox, operation_id: str, handler: Callable[[Any], Reply]) -> None:
    routes = box.app.routes
    index = next(i for i, route in enumerate(routes) if route.operation_id == operation_id)
    routes[index] = routes[index]._replace(handler=handler)


def test_an_internal_failure_is_a_json_500(api: Api) -> None:
    def boom(ctx: Any) -> Reply:
        raise RuntimeError("a sandbox bug")

    replace_handler(api.box, "get_accounts", boom)
    assert error(api.get("/api/accounts"), 500)["code"] == "error"


def test_a_reply_json_cannot_carry_is_a_json_500_not_invalid_json(api: Api) -> None:
    replace_handler(api.box, "get_accounts", lambda ctx: Reply(200, {"data": float("nan")}))
    assert error(api.get("/api/accounts"), 500)["code"] == "error"


# -- what http.server answers itself -------------------------------------------------------------


def address(box: Sandbox) -> tuple[str, int]:
    assert box.base_url is not None
    parts = urlsplit(box.base_url)
    assert parts.hostname is not None and parts.port is not None
    return parts.hostname, parts.port


def read_all(sock: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:  # the server closed with bytes of ours unread
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def exchange(box: Sandbox, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the answer to EOF: (status, lower-cased headers, body)."""
    with socket.create_connection(address(box), timeout=5) as sock:
        sock.sendall(request)
        answer = read_all(sock)
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    fields = {
        name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)
    }
    return int(status_line.split()[1]), fields, body


def json_error(status: int, fields: dict[str, str], body: bytes, expected: int) -> dict[str, Any]:
    assert status == expected, body
    assert fields["content-type"] == JSONAPI
    document = json.loads(body)
    assert document["errors"][0]["status"] == expected
    err: dict[str, Any] = document["errors"][0]
    return err


def test_an_over_long_request_line_is_a_json_414(api: Api) -> None:
    request = b"GET /api/profiles?x=" + b"a" * 66_000 + b" HTTP/1.1\r\nHost: sandbox\r\n\r\n"
    err = json_error(*exchange(api.box, request), 414)
    assert err["code"] == "uri_too_long"


def test_an_over_long_header_line_is_a_json_431(api: Api) -> None:
    request = b"GET /api/profiles HTTP/1.1\r\nHost: sandbox\r\nX-Big: " + b"a" * 66_000 + b"\r\n\r\n"
    err = json_error(*exchange(api.box, request), 431)
    assert err["code"] == "request_header_fields_too_large" and "longer" in err["detail"]


def test_too_many_headers_are_a_json_431(api: Api) -> None:
    lines = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    err = json_error(
        *exchange(api.box, b"GET /api/profiles HTTP/1.1\r\nHost: sandbox\r\n" + lines + b"\r\n"), 431
    )
    assert "100 header lines" in err["detail"]


def test_a_garbled_request_line_is_a_json_400_with_a_status_line(api: Api) -> None:
    err = json_error(*exchange(api.box, b"GARBAGE\r\n\r\n"), 400)
    assert err["code"] == "bad_request"


# -- stalled clients -----------------------------------------------------------------------------


def request_threads() -> int:
    """Server threads handling a connection (socketserver names them after their target)."""
    return sum("process_request_thread" in thread.name for thread in threading.enumerate())


def settles(condition: Callable[[], bool], within: float = 2.0) -> bool:
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.fixture
def stalling() -> Iterator[Sandbox]:
    with sandbox(read_timeout=SHORT_TIMEOUT) as box:
        yield box


@pytest.mark.timeout(10)
def test_a_client_stalled_in_its_headers_is_hung_up_on(stalling: Sandbox) -> None:
    before = request_threads()
    with socket.create_connection(address(stalling), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(b"GET /api/accounts HTTP/1.1\r\nHost: sandbox\r\n")  # the blank line never comes
        assert read_all(sock) == b""  # closed without an answer
        assert SHORT_TIMEOUT * 0.5 < time.monotonic() - started < SHORT_TIMEOUT + 2
    assert settles(lambda: request_threads() <= before), "the server thread is still busy"
    assert Api(stalling).get("/api/accounts").status_code == 200


@pytest.mark.timeout(10)
def test_a_client_stalled_in_its_body_gets_a_json_408(stalling: Sandbox) -> None:
    before = request_threads()
    head = "".join(f"{name}: {value}\r\n" for name, value in headers().items())
    request = f"POST /api/lists HTTP/1.1\r\nHost: sandbox\r\n{head}Content-Length: 100\r\n\r\n".encode()
    with socket.create_connection(address(stalling), timeout=5) as sock:
        started = time.monotonic()
        sock.sendall(request + b'{"data":')  # 8 of the 100 promised bytes
        answer = read_all(sock)
        assert time.monotonic() - started < SHORT_TIMEOUT + 2
    head_bytes, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head_bytes.decode("latin-1").split("\r\n")
    fields = {n.strip().lower(): v.strip() for n, _, v in (line.partition(":") for line in lines)}
    err = json_error(int(status_line.split()[1]), fields, body, 408)
    assert err["code"] == "request_timeout"
    assert settles(lambda: request_threads() <= before), "the server thread is still busy"
    assert Api(stalling).list_names() == []  # nothing was created from half a body


@pytest.mark.timeout(10)
def test_a_client_dripping_bytes_is_hung_up_on_at_the_request_deadline(stalling: Sandbox) -> None:
    # Each byte comes well within the read timeout; the whole request may take at most two.
    hung_up = None
    with socket.create_connection(address(stalling), timeout=5) as sock:
        started = time.monotonic()
        for byte in b"GET /api/accounts HTTP/1.1\r\nHost: sandbox\r\nX-Slow: " + b"a" * 200:
            try:
                sock.sendall(bytes([byte]))
            except OSError:  # the server closed the connection
                hung_up = time.monotonic() - started
                break
            time.sleep(SHORT_TIMEOUT / 4)
            if time.monotonic() - started > 4 * SHORT_TIMEOUT:
                break
    assert hung_up is not None and hung_up < 2 * SHORT_TIMEOUT + 1


def authorized(request_line: bytes, *extra: bytes) -> bytes:
    head = "".join(f"{name}: {value}\r\n" for name, value in headers().items()).encode()
    return request_line + b"\r\nHost: sandbox\r\n" + head + b"".join(extra) + b"\r\n"


@pytest.mark.parametrize(
    ("request_bytes", "says"),
    [
        (
            authorized(b"POST /api/lists HTTP/1.1", b"Transfer-Encoding: chunked\r\n") + b"zz\r\n",
            "malformed chunk",
        ),
        (authorized(b"get /api/lists HTTP/1.1"), "upper case"),
        (b"GET /api/lists HTTP/1.1\r\nno colon here\r\n" + authorized(b"")[2:], "header line is malformed"),
        (
            authorized(b"POST /api/lists HTTP/1.1", b"Content-Length: 5\r\nContent-Length: 7\r\n") + b"12345",
            "conflicting",
        ),
        (
            authorized(b"POST /api/lists HTTP/1.1", b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n")
            + b"0\r\n\r\n",
            "both Content-Length and Transfer-Encoding",
        ),
    ],
    ids=["bad-chunk", "lowercase-method", "header-without-colon", "two-lengths", "length-and-chunked"],
)
def test_ambiguous_framing_is_a_json_400(api: Api, request_bytes: bytes, says: str) -> None:
    err = json_error(*exchange(api.box, request_bytes), 400)
    assert says in err["detail"]
    assert api.list_names() == []


def test_the_read_timeout_has_a_sane_default() -> None:
    assert SandboxOptions().read_timeout == 30.0


# -- faults after the write commits --------------------------------------------------------------


def test_a_write_failing_after_commit_answers_503_and_is_saved() -> None:
    with sandbox(fail_after_commit_rate=1.0) as box:
        api = Api(box)
        err = error(api.create_list("Saved anyway"), 503)
        assert err["code"] == "service_unavailable" and "saved" in err["detail"]
        assert api.list_names() == ["Saved anyway"]  # reads aren't faulted


def test_each_write_method_fails_after_its_change_is_saved() -> None:
    with sandbox() as box:
        api = Api(box)
        list_id = api.create_list("Before").json()["data"]["id"]
        box.app.options.fail_after_commit_rate = 1.0
        patch = {"data": {"type": "list", "id": list_id, "attributes": {"name": "After"}}}
        assert api.send("PATCH", f"/api/lists/{list_id}", patch).status_code == 503
        assert api.list_names() == ["After"]
        assert (
            api.session.delete(
                f"{api.base_url}/api/lists/{list_id}", headers=headers(), timeout=10
            ).status_code
            == 503
        )
        assert api.list_names() == []


def test_a_refused_write_is_not_faulted_after_commit() -> None:
    with sandbox(fail_after_commit_rate=1.0) as box:
        api = Api(box)
        assert error(api.send("POST", "/api/lists", {"data": {"type": "list", "attributes": {}}}), 400)
        assert api.list_names() == []


def test_a_dropped_connection_after_commit_still_saves_the_write() -> None:
    with sandbox(fail_after_commit_rate=1.0, fail_after_commit_mode="drop") as box:
        api = Api(box)
        with pytest.raises(requests.ConnectionError):
            api.create_list("Saved in silence")
        assert api.list_names() == ["Saved in silence"]


def test_faults_after_commit_are_repeatable_with_a_seed() -> None:
    def statuses() -> tuple[list[int], int]:
        with sandbox(fail_after_commit_rate=0.5, seed=11) as box:
            api = Api(box)
            answers = [api.create_list(f"L{i}").status_code for i in range(16)]
            return answers, len(api.list_names())

    first = statuses()
    assert first == statuses()
    assert set(first[0]) == {201, 503}
    assert first[1] == 16  # every write was saved, answered or not


def test_the_connector_reports_a_failure_for_a_write_that_happened() -> None:
    """What the fault is for: a create isn't retried (it isn't idempotent), so the caller sees a
    failure although the list exists; only a read can tell. (How the connector classifies that
    failure is its own business; the sandbox's part is the 503 after the commit.)"""
    with sandbox(fail_after_commit_rate=1.0) as box:
        runner = Runner(client_options={"sleep": lambda seconds: None})
        connection = {"key": "apiKey", "fields": {"apiKey": KEY, "baseUrl": box.base_url}}
        try:
            with pytest.raises(KlaviyoError) as info:
                run(runner, "createList", {"listName": "Ghost"}, connection)
            assert info.value.status == 503
            assert info.value.attempts == 1
            # The sandbox's fixed clock dates the list long before the call, so the connector's
            # check by name cannot claim it: the outcome stays unknown, never "safe to repeat".
            assert info.value.error_class == "outcome_unknown"
            assert Api(box).list_names() == ["Ghost"]
        finally:
            runner.close()


@pytest.mark.parametrize(
    "options",
    [{"fail_after_commit_rate": 1.5}, {"fail_after_commit_mode": "explode"}, {"read_timeout": 0}],
    ids=["rate", "mode", "timeout"],
)
def test_bad_fault_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        SandboxOptions(**options)


def test_the_cli_sandbox_command_takes_the_post_commit_fault_rate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from klaviyo_connector.cli import main

    seen: list[SandboxOptions] = []
    monkeypatch.setattr(Sandbox, "serve_forever", lambda self, *args, **kwargs: seen.append(self.options))
    state = str(tmp_path / "state.sqlite3")
    assert main(["sandbox", "--state", state, "--fail-after-commit-rate", "0.25"]) == 0
    assert seen[0].fail_after_commit_rate == 0.25


def test_the_cli_sandbox_command_takes_the_fault_mode_and_seed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from klaviyo_connector.cli import main

    seen: list[SandboxOptions] = []
    monkeypatch.setattr(Sandbox, "serve_forever", lambda self, *args, **kwargs: seen.append(self.options))
    state = str(tmp_path / "state.sqlite3")
    argv = [
        "sandbox",
        "--state",
        state,
        "--fail-after-commit-rate",
        "0.5",
        "--fail-after-commit-mode",
        "drop",
    ]
    assert main([*argv, "--seed", "7"]) == 0
    assert (seen[0].fail_after_commit_mode, seen[0].seed) == ("drop", 7)


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--fail-rate", "2", "--fail-rate must be between 0 and 1"),
        ("--fail-after-commit-rate", "nan", "--fail-after-commit-rate must be between 0 and 1"),
        ("--latency-ms", "-5", "--latency-ms must be 0 or more"),
        ("--rate-limit-scale", "-1", "--rate-limit-scale must be 0 (off) or more"),
    ],
)
def test_sandbox_options_out_of_range_are_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Any, flag: str, value: str, says: str
) -> None:
    from klaviyo_connector.cli import main

    assert main(["sandbox", "--state", str(tmp_path / "s.sqlite3"), flag, value]) == 2
    assert says in capsys.readouterr().err
