"""Raw Request: inputs, request shape, retries and waits, multipart, output, errors, redaction."""

from __future__ import annotations

import base64
import json
import logging
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

import pytest
import requests
import responses
from conftest import API_KEY, BASE, run
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.revision import REVISION

ACCOUNTS = {"data": [{"type": "account", "id": "AbC123", "attributes": {"test_account": False}}], "links": {}}
REFERENCE_LABELS = [
    "URL", "Method", "Data", "Form Data", "File Data", "File Data File Names", "Query Parameter", "Header",
    "Response Type", "Timeout", "Exclude Authorization", "Max Retry Count", "Retry Delay (ms)",
    "Retry On All Errors", "Use Exponential Backoff",
]  # fmt: skip
LIST_BODY = {"data": {"type": "list", "attributes": {"name": "VIP"}}}
LIST_DOC = {"data": {"type": "list", "id": "Y6nRLr", "attributes": {"name": "VIP"}}}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


def throttled(retry_after: str) -> dict[str, Any]:
    return {
        "status": 429,
        "headers": {"Retry-After": retry_after, "RateLimit-Limit": "75", "RateLimit-Remaining": "0"},
        "json": {"errors": [{"id": "t", "code": "throttled", "title": "Throttled", "detail": "Slow down."}]},
    }


def failed(status: int = 503) -> dict[str, Any]:
    return {
        "status": status,
        "json": {"errors": [{"id": "e", "code": "error", "title": "Oops", "detail": "Down."}]},
    }


def raw(runner: Any, **inputs: Any) -> Any:
    return run(runner, "rawRequest", inputs)["data"]


# -- the action and its inputs ---------------------------------------------------------------------


def test_listed_with_every_reference_input_label(capsys):
    from klaviyo_connector.cli import main
    from klaviyo_connector.component import component

    assert main(["actions"]) == 0
    assert any(
        line.split() == ["rawRequest", "Raw", "Request"] for line in capsys.readouterr().out.splitlines()
    )
    action = component.actions["rawRequest"]
    titles = [p["title"] for p in action.inputs.model_json_schema()["properties"].values()]
    assert titles == [*REFERENCE_LABELS, "Revision", "Debug Request", "Max Total Wait"]
    assert action.destructive and not action.read_only and not action.idempotent


def test_get_sends_the_cores_headers_and_returns_status_headers_attempts(runner, klaviyo, sleeps):
    klaviyo.add("GET", f"{BASE}/api/accounts", json=ACCOUNTS, headers={"RateLimit-Remaining": "74"})
    out = raw(runner, url="/api/accounts", method="GET")
    assert out["data"] == ACCOUNTS and out["status"] == 200 and out["attempts"] == 1
    assert out["headers"]["RateLimit-Remaining"] == "74"
    sent = klaviyo.calls[0].request
    assert sent.method == "GET" and sent.url == f"{BASE}/api/accounts" and sent.body is None
    assert sent.headers["Authorization"] == f"Klaviyo-API-Key {API_KEY}"
    assert sent.headers["revision"] == REVISION
    assert sent.headers["Accept"] == "application/vnd.api+json"
    assert sent.headers["User-Agent"].startswith("klaviyo-connector/")
    assert "Content-Type" not in sent.headers and sleeps.waits == []


def test_json_data_is_sent_as_jsonapi(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/lists", status=201, json=LIST_DOC)
    out = raw(runner, url="/api/lists", method="post", data=json.dumps(LIST_BODY))
    assert out["status"] == 201 and out["data"] == LIST_DOC
    sent = klaviyo.calls[0].request
    assert sent.headers["Content-Type"] == "application/vnd.api+json"
    assert json.loads(sent.body) == LIST_BODY


def test_object_data_and_absolute_url_on_the_klaviyo_host(runner, klaviyo):
    klaviyo.add("PATCH", f"{BASE}/api/lists/Y6nRLr", json=LIST_DOC)
    body = {"data": {"type": "list", "id": "Y6nRLr", "attributes": {"name": "VIP"}}}
    raw(runner, url=f"{BASE}/api/lists/Y6nRLr", method="PATCH", data=body)
    assert json.loads(klaviyo.calls[0].request.body) == body


@pytest.mark.parametrize(
    "shape",
    [
        {"queryParams": [{"key": "fields[account]", "value": ["timezone", "locale"]}],
         "headers": [{"key": "X-Flow", "value": "nightly"}]},
        {"queryParams": {"fields[account]": "timezone,locale"}, "headers": {"X-Flow": "nightly"}},
        {"queryParams": '[{"key": "fields[account]", "value": "timezone,locale"}]', "headers": '{"X-Flow": "nightly"}'},
    ],
)  # fmt: skip
def test_key_value_inputs_accept_pairs_objects_and_json_text(runner, klaviyo, shape):
    klaviyo.add("GET", f"{BASE}/api/accounts", json=ACCOUNTS)
    raw(runner, url="/api/accounts", method="GET", **shape)
    sent = klaviyo.calls[0].request
    assert sent.url == f"{BASE}/api/accounts?fields%5Baccount%5D=timezone%2Clocale"
    assert sent.headers["X-Flow"] == "nightly"


def test_revision_input_overrides_the_pinned_revision(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/accounts", json=ACCOUNTS)
    raw(runner, url="/api/accounts", method="GET", revision="2025-10-15")
    assert klaviyo.calls[0].request.headers["revision"] == "2025-10-15"


def test_exclude_authorization_for_client_endpoints(runner, klaviyo):
    body = {"data": {"type": "profile", "attributes": {"email": "sarah.mason@klaviyo-demo.com"}}}
    klaviyo.add("POST", f"{BASE}/client/profiles", status=202, body=b"")
    out = raw(
        runner,
        url="/client/profiles",
        method="POST",
        queryParams={"company_id": "AbC123"},
        data=body,
        excludeAuthorization=True,
    )
    assert out["data"] is None and out["status"] == 202 and out["attempts"] == 1
    sent = klaviyo.calls[0].request
    assert "Authorization" not in sent.headers and sent.url.endswith("/client/profiles?company_id=AbC123")


def test_a_401_without_the_key_on_purpose_is_the_inputs_fault_not_the_credentials(runner, klaviyo):
    errors = {
        "errors": [{"status": 401, "code": "not_authenticated", "title": "Not authenticated", "detail": "x"}]
    }
    klaviyo.add("GET", f"{BASE}/api/accounts", status=401, json=errors)
    with pytest.raises(KlaviyoError) as info:
        raw(runner, url="/api/accounts", method="GET", excludeAuthorization=True)
    assert info.value.error_class == "user_fixable" and info.value.status == 401
    assert "turn Exclude Authorization off" in info.value.message
    assert "Authorization" not in klaviyo.calls[0].request.headers
    klaviyo.add("GET", f"{BASE}/api/accounts", status=401, json=errors)
    with pytest.raises(KlaviyoError) as info:  # with the key, a 401 still says reconnect
        raw(runner, url="/api/accounts", method="GET")
    assert info.value.error_class == "reauth_required"


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"headers": {"Authorization": "Bearer other"}}, "Header: Authorization comes from the connection"),
        ({"headers": [{"key": "authorization", "value": "x"}]}, "Header: authorization comes from the connection"),
        ({"headers": {"Host": "evil.example"}}, "Header: Host is set from the connection's host"),
        ({"headers": {"X-A": "1\r\nAuthorization: x"}}, "header values cannot contain line breaks"),
        ({"headers": {"Bad Name": "1"}}, "is not a valid header name"),
        ({"revision": "latest"}, "Revision: must be a Klaviyo revision date"),
        ({"method": "TRACE"}, "Method: Input should be"),
        ({"maxRetries": 11}, "Max Retry Count: Input should be less than or equal to 10"),
        ({"timeout": 0}, "Timeout: Input should be greater than 0"),
        ({"responseType": "xml"}, "Response Type: Input should be"),
        ({"data": {"a": 1}, "formData": {"name": "x"}}, "Data: cannot be combined with Form Data or File Data"),
        ({"fileData": {"file": "aGk="}, "fileDataFileNames": {"other": "a.png"}},
         "File Data File Names: keys must match File Data keys; no file for other"),
        ({"fileData": {"file": 42}}, "File Data: file: must be bytes, base64 text or text, not int"),
        ({"data": "{not json"}, "Data: is not valid JSON"),
        ({"url": "https://evil.example/api/accounts"}, "URL: Only paths"),
        ({"url": "api/accounts"}, "URL: Only paths"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_before_anything_is_sent(runner, inputs, message):
    with responses.RequestsMock() as mock:
        with pytest.raises(KlaviyoError) as info:
            raw(runner, **{"url": "/api/accounts", "method": "GET", **inputs})
        assert len(mock.calls) == 0
    assert message in info.value.message
    assert info.value.code == "invalid_input" and info.value.error_class == "user_fixable"


def test_text_binary_and_non_json_response_types(runner):
    with responses.RequestsMock() as mock:
        mock.add("GET", f"{BASE}/api/accounts", body=b"\x00\xffbinary")
        mock.add("GET", f"{BASE}/api/accounts", body="plain words", content_type="text/plain")
        mock.add("GET", f"{BASE}/api/accounts", body="plain words", content_type="text/plain")
        mock.add("HEAD", f"{BASE}/api/accounts", body=b"")
        assert (
            raw(runner, url="/api/accounts", method="GET", responseType="binary")["data"]
            == base64.b64encode(b"\x00\xffbinary").decode()
        )
        assert raw(runner, url="/api/accounts", method="GET", responseType="text")["data"] == "plain words"
        assert raw(runner, url="/api/accounts", method="GET")["data"] == "plain words"  # json falls back
        assert raw(runner, url="/api/accounts", method="HEAD")["data"] is None


def test_timeout_input_is_milliseconds(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/accounts", json=ACCOUNTS)
    klaviyo.add("GET", f"{BASE}/api/accounts", json=ACCOUNTS)
    raw(runner, url="/api/accounts", method="GET", timeout="2500")
    raw(runner, url="/api/accounts", method="GET")
    assert [c.request.req_kwargs["timeout"] for c in klaviyo.calls] == [(2.5, 2.5), (10.0, 60.0)]


# -- retries and waits (the injected sleep records every wait) -------------------------------------


def test_429_is_retried_after_its_retry_after(runner, klaviyo, sleeps):
    klaviyo.add("GET", f"{BASE}/api/accounts", **throttled("2"))
    klaviyo.add("GET", f"{BASE}/api/accounts", json=ACCOUNTS)
    out = raw(runner, url="/api/accounts", method="GET")
    assert out["attempts"] == 2 and out["data"] == ACCOUNTS
    assert sleeps.waits == [2.0]  # max(1 s backoff, Retry-After 2)


def test_429_on_post_is_retried_without_retry_on_all_errors(runner, klaviyo, sleeps):
    klaviyo.add("POST", f"{BASE}/api/lists", **throttled("1"))
    klaviyo.add("POST", f"{BASE}/api/lists", status=201, json=LIST_DOC)
    assert raw(runner, url="/api/lists", method="POST", data=LIST_BODY)["attempts"] == 2
    assert sleeps.waits == [1.0]


def test_503_then_200_on_get(runner, klaviyo, sleeps):
    klaviyo.add("GET", f"{BASE}/api/accounts", **failed(503))
    klaviyo.add("GET", f"{BASE}/api/accounts", **failed(502))
    klaviyo.add("GET", f"{BASE}/api/accounts", json=ACCOUNTS)
    assert raw(runner, url="/api/accounts", method="GET")["attempts"] == 3
    assert sleeps.waits == [1.0, 2.0]


def test_503_on_post_is_not_retried_by_default(runner, klaviyo, sleeps):
    klaviyo.add("POST", f"{BASE}/api/lists", **failed(503))
    with pytest.raises(KlaviyoError) as info:
        raw(runner, url="/api/lists", method="POST", data=LIST_BODY)
    assert len(klaviyo.calls) == 1 and sleeps.waits == []
    err = info.value.to_dict()
    assert err["status"] == 503 and err["attempts"] == 1 and err["class"] == "outcome_unknown"
    assert "may have applied it" in err["message"]
    assert err["data"] == failed(503)["json"] and err["detail"] == "Down."


def test_503_on_post_is_retried_with_retry_on_all_errors(runner, klaviyo, sleeps):
    klaviyo.add("POST", f"{BASE}/api/lists", **failed(503))
    klaviyo.add("POST", f"{BASE}/api/lists", status=201, json=LIST_DOC)
    out = raw(runner, url="/api/lists", method="POST", data=LIST_BODY, retryAllErrors=True)
    assert out["attempts"] == 2 and sleeps.waits == [1.0]


@pytest.mark.parametrize(
    "exc", [requests.ReadTimeout("slow"), requests.ConnectTimeout("slow"), requests.ConnectionError("reset")]
)
def test_timeouts_and_connection_errors_are_retried_on_get(runner, klaviyo, sleeps, exc):
    klaviyo.add("GET", f"{BASE}/api/accounts", body=exc)
    klaviyo.add("GET", f"{BASE}/api/accounts", json=ACCOUNTS)
    assert raw(runner, url="/api/accounts", method="GET")["attempts"] == 2
    assert sleeps.waits == [1.0]


def test_timeout_on_post_is_retried_only_with_retry_on_all_errors(runner, klaviyo, sleeps):
    klaviyo.add("POST", f"{BASE}/api/lists", body=requests.ReadTimeout("slow"))
    with pytest.raises(KlaviyoError) as info:
        raw(runner, url="/api/lists", method="POST", data=LIST_BODY)
    assert info.value.code == "timeout" and info.value.attempts == 1 and sleeps.waits == []
    klaviyo.add("POST", f"{BASE}/api/lists", body=requests.ReadTimeout("slow"))
    klaviyo.add("POST", f"{BASE}/api/lists", status=201, json=LIST_DOC)
    assert raw(runner, url="/api/lists", method="POST", data=LIST_BODY, retryAllErrors=True)["attempts"] == 2


def test_400_is_never_retried_unless_asked(runner, klaviyo, sleeps):
    for _ in range(4):
        klaviyo.add("GET", f"{BASE}/api/accounts", **failed(400))
    with pytest.raises(KlaviyoError) as info:
        raw(runner, url="/api/accounts", method="GET")
    assert info.value.attempts == 1 and sleeps.waits == [] and len(klaviyo.calls) == 1
    with pytest.raises(KlaviyoError) as info:
        raw(runner, url="/api/accounts", method="GET", retryAllErrors=True)
    # Before it, the second call waits what is left (by the real clock) of the 1/s operation's
    # burst window, which the first call used (tests/test_pacing.py pins pacing exactly).
    assert sleeps.waits[-3:] == [1.0, 2.0, 4.0] and all(0 < w <= 1.201 for w in sleeps.waits[:-3])
    assert len(sleeps.waits) <= 4
    assert info.value.attempts == 4 and len(klaviyo.calls) == 5
    assert info.value.status == 400 and info.value.error_class == "user_fixable"


def test_fixed_retry_delay_without_exponential_backoff(runner, klaviyo, sleeps):
    for _ in range(3):
        klaviyo.add("GET", f"{BASE}/api/accounts", **failed(500))
    klaviyo.add("GET", f"{BASE}/api/accounts", **throttled("2"))
    klaviyo.add("GET", f"{BASE}/api/accounts", json=ACCOUNTS)
    out = raw(
        runner, url="/api/accounts", method="GET", useExponentialBackoff=False, retryDelayMS=250, maxRetries=4
    )
    assert out["attempts"] == 5 and sleeps.waits == [0.25, 0.25, 0.25, 2.0]  # Retry-After is a floor


def test_no_delay_without_backoff_retries_at_once(runner, klaviyo, sleeps):
    klaviyo.add("GET", f"{BASE}/api/accounts", **failed(503))
    klaviyo.add("GET", f"{BASE}/api/accounts", json=ACCOUNTS)
    raw(runner, url="/api/accounts", method="GET", useExponentialBackoff=False)
    assert sleeps.waits == [0.0]


def test_exponential_backoff_starts_from_retry_delay_and_is_capped(runner, klaviyo, sleeps):
    for _ in range(7):
        klaviyo.add("GET", f"{BASE}/api/accounts", **failed(503))
    klaviyo.add("GET", f"{BASE}/api/accounts", json=ACCOUNTS)
    out = raw(runner, url="/api/accounts", method="GET", retryDelayMS=5000, maxRetries=7, maxTotalWait=1000)
    assert out["attempts"] == 8
    assert sleeps.waits == [5.0, 10.0, 20.0, 30.0, 30.0, 30.0, 30.0]  # capped at 30 s per wait


def test_exponential_backoff_is_jittered(klaviyo, sleeps):
    from klaviyo_connector import Runner

    runner = Runner(client_options={"sleep": sleeps, "random": lambda: 1.0})
    for _ in range(2):
        klaviyo.add("GET", f"{BASE}/api/accounts", **failed(503))
    klaviyo.add("GET", f"{BASE}/api/accounts", json=ACCOUNTS)
    raw(runner, url="/api/accounts", method="GET")
    assert sleeps.waits == [0.5, 1.0]  # each wait loses up to half to jitter
    runner.close()


def test_max_retry_count_zero_switches_retrying_off(runner, klaviyo, sleeps):
    klaviyo.add("GET", f"{BASE}/api/accounts", **throttled("1"))
    with pytest.raises(KlaviyoError) as info:
        raw(runner, url="/api/accounts", method="GET", maxRetries=0)
    assert info.value.status == 429 and info.value.attempts == 1 and sleeps.waits == []


def test_max_total_wait_bounds_all_waits_and_returns_the_last_error(runner, klaviyo, sleeps):
    for _ in range(4):
        klaviyo.add("GET", f"{BASE}/api/accounts", **throttled("3"))
    with pytest.raises(KlaviyoError) as info:
        raw(runner, url="/api/accounts", method="GET", maxTotalWait=7)
    assert sleeps.waits == [3.0, 3.0] and len(klaviyo.calls) == 3  # a third 3 s wait would pass 7 s
    err = info.value.to_dict()
    assert err["status"] == 429 and err["attempts"] == 3 and err["headers"]["Retry-After"] == "3"
    assert err["rate_limit"] == {"RateLimit-Limit": "75", "RateLimit-Remaining": "0"}


def test_retry_after_longer_than_max_total_wait_is_not_cut_short(runner, klaviyo, sleeps):
    klaviyo.add("GET", f"{BASE}/api/accounts", **throttled("30"))
    with pytest.raises(KlaviyoError) as info:
        raw(runner, url="/api/accounts", method="GET", maxTotalWait=10)
    assert sleeps.waits == [] and info.value.attempts == 1


# -- multipart ------------------------------------------------------------------------------------


def _parts(request: Any) -> dict[str, Any]:
    ctype = request.headers["Content-Type"]
    assert ctype.startswith("multipart/form-data; boundary=")
    msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + request.body)
    return {
        part.get_param("name", header="content-disposition"): (
            part.get_param("filename", header="content-disposition"),
            part.get_content_type() if part.get("content-type") else None,
            part.get_payload(decode=True),
        )
        for part in msg.iter_parts()
    }


@pytest.mark.parametrize(
    "file_value",
    [
        base64.b64encode(PNG).decode(),
        "data:image/png;base64," + base64.b64encode(PNG).decode(),
        {"type": "Buffer", "data": list(PNG)},
        {"data": base64.b64encode(PNG).decode(), "contentType": "image/png"},
        PNG,
    ],
    ids=["base64", "data-url", "node-buffer", "object", "bytes"],
)
def test_image_upload_through_multipart(runner, klaviyo, file_value):
    doc = {"data": {"type": "image", "id": "7", "attributes": {"name": "Logo"}}}
    klaviyo.add("POST", f"{BASE}/api/image-upload", status=201, json=doc)
    out = raw(
        runner,
        url="/api/image-upload",
        method="POST",
        fileData=[{"key": "file", "value": file_value}],
        fileDataFileNames=[{"key": "file", "value": "logo.png"}],
        formData=[{"key": "name", "value": "Logo"}, {"key": "hidden", "value": True}],
    )
    assert out["data"] == doc
    parts = _parts(klaviyo.calls[0].request)
    assert parts == {
        "name": (None, None, b"Logo"),
        "hidden": (None, None, b"true"),
        "file": ("logo.png", "image/png", PNG),
    }


def test_text_file_data_keeps_the_reference_example_working(runner):
    with responses.RequestsMock() as mock:
        mock.add("POST", f"{BASE}/api/some-upload", json={})
        raw(
            runner,
            url="/api/some-upload",
            method="POST",
            fileData=[{"key": "example.txt", "value": "My File Contents"}],
        )
        parts = _parts(mock.calls[0].request)
    assert parts == {"example.txt": ("example.txt", "text/plain", b"My File Contents")}


def test_multipart_content_type_wins_over_a_users(runner):
    with responses.RequestsMock() as mock:
        mock.add("POST", f"{BASE}/api/some-upload", json={})
        raw(
            runner,
            url="/api/some-upload",
            method="POST",
            formData={"a": "1"},
            headers={"content-type": "text/x"},
        )
        assert _parts(mock.calls[0].request) == {"a": (None, None, b"1")}


def test_plain_text_data_keeps_a_users_content_type(runner):
    with responses.RequestsMock() as mock:
        mock.add("POST", f"{BASE}/api/some-endpoint", json={})
        mock.add("POST", f"{BASE}/api/some-endpoint", json={})
        raw(
            runner,
            url="/api/some-endpoint",
            method="POST",
            data="a=1&b=2",
            headers={"Content-Type": "text/x"},
        )
        raw(runner, url="/api/some-endpoint", method="POST", data="hello")
        first, second = (c.request for c in mock.calls)
    assert first.body == b"a=1&b=2" and first.headers["Content-Type"] == "text/x"
    assert second.body == b"hello" and second.headers["Content-Type"] == "text/plain; charset=utf-8"


# -- errors, scopes, redirects, redaction ----------------------------------------------------------


def test_final_non_2xx_raises_the_structured_error_with_the_output_fields(runner, klaviyo):
    body = {
        "errors": [
            {"id": "x1", "status": 400, "code": "invalid", "title": "Invalid input.", "detail": "Bad name.",
             "source": {"pointer": "/data/attributes/name"}}
        ]
    }  # fmt: skip
    klaviyo.add("POST", f"{BASE}/api/lists", status=400, json=body, headers={"RateLimit-Remaining": "9"})
    with pytest.raises(KlaviyoError) as info:
        raw(runner, url="/api/lists", method="POST", data=LIST_BODY)
    err = info.value.to_dict()
    assert err["status"] == 400 and err["attempts"] == 1 and err["data"] == body
    assert err["headers"]["RateLimit-Remaining"] == "9" and err["rate_limit"] == {"RateLimit-Remaining": "9"}
    assert err["source"] == {"pointer": "/data/attributes/name"} and err["path"] == "/api/lists"
    assert "Bad name." in err["message"] and err["class"] == "user_fixable"


def test_403_names_the_scopes_of_the_matched_operation(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/profiles", **failed(403))
    with pytest.raises(KlaviyoError) as info:
        raw(runner, url="/api/profiles", method="GET")
    assert "profiles:read" in info.value.message


def test_redirect_to_another_host_is_not_followed(runner, klaviyo):
    klaviyo.add(
        "GET", f"{BASE}/api/accounts", status=302, headers={"Location": "https://a.klaviyo.com@evil.example/"}
    )
    with pytest.raises(KlaviyoError) as info:
        raw(runner, url="/api/accounts", method="GET")
    assert info.value.code == "redirect_refused" and len(klaviyo.calls) == 1


def test_key_never_appears_in_output_errors_or_debug_log(runner, klaviyo, caplog):
    echo = {"errors": [{"id": "1", "code": "x", "title": "t", "detail": f"bad key {API_KEY}"}]}
    klaviyo.add(
        "GET", f"{BASE}/api/accounts", status=400, json=echo, headers={"X-Echo": f"Klaviyo-API-Key {API_KEY}"}
    )
    klaviyo.add("GET", f"{BASE}/api/accounts", json={"data": [], "links": {"self": f"x?key={API_KEY}"}},
                headers={"Set-Cookie": "session=abc"})  # fmt: skip
    caplog.set_level(logging.DEBUG)
    with pytest.raises(KlaviyoError) as info:
        raw(runner, url="/api/accounts", method="GET", debugRequest=True)
    out = raw(runner, url="/api/accounts", method="GET", debugRequest=True)
    dumped = json.dumps(info.value.to_dict()) + repr(info.value) + str(info.value) + json.dumps(out)
    assert API_KEY not in dumped and API_KEY not in caplog.text
    assert "[REDACTED]" in json.dumps(info.value.to_dict()["data"])
    assert info.value.to_dict()["headers"]["X-Echo"] == "Klaviyo-API-Key [REDACTED]"
    assert out["headers"]["Set-Cookie"] == "[REDACTED]" and out["data"]["links"]["self"] == "x?key=[REDACTED]"


def test_debug_request_logs_one_redacted_summary_line(runner, klaviyo, caplog):
    klaviyo.add(
        "POST",
        f"{BASE}/api/lists",
        status=201,
        json=LIST_DOC,
        headers={"RateLimit-Limit": "150", "RateLimit-Remaining": "149", "RateLimit-Reset": "44"},
    )
    caplog.set_level(logging.INFO, logger="klaviyo_connector.raw")
    raw(runner, url="/api/lists", method="POST", data=LIST_BODY, debugRequest=True, headers={"X-Flow": "n"})
    (record,) = [r for r in caplog.records if r.name == "klaviyo_connector.raw"]
    size = len(json.dumps(LIST_BODY, separators=(",", ":")))
    assert record.getMessage() == (
        "rawRequest POST /api/lists headers=[Accept, Accept-Encoding, Authorization=[REDACTED], "
        f"Content-Length, Content-Type, revision, User-Agent, X-Flow] body={size} B -> 201 after 1 attempt(s) "
        "RateLimit-Limit=150 RateLimit-Remaining=149 RateLimit-Reset=44"
    )


def test_debug_request_logs_failures_and_is_silent_when_off(runner, klaviyo, caplog):
    klaviyo.add("GET", f"{BASE}/api/accounts", body=requests.ConnectionError("reset"))
    klaviyo.add("GET", f"{BASE}/api/accounts", json=ACCOUNTS)
    caplog.set_level(logging.INFO, logger="klaviyo_connector.raw")
    with pytest.raises(KlaviyoError):
        raw(
            runner,
            url="/api/accounts",
            method="GET",
            maxRetries=0,
            debugRequest=True,
            queryParams={"fields[account]": "locale"},
        )
    raw(runner, url="/api/accounts", method="GET")
    lines = [r.getMessage() for r in caplog.records if r.name == "klaviyo_connector.raw"]
    assert lines == [
        "rawRequest GET /api/accounts?fields%5Baccount%5D=locale headers=[Authorization=[REDACTED]] body=0 B "
        "-> connection_error after 1 attempt(s)"
    ]


def test_debug_request_masks_secrets_in_the_query(runner, caplog):
    caplog.set_level(logging.INFO, logger="klaviyo_connector.raw")
    with responses.RequestsMock() as mock:
        mock.add("GET", f"{BASE}/api/some-endpoint", json={})
        raw(runner, url=f"/api/some-endpoint?token={API_KEY}", method="GET", debugRequest=True,
            queryParams={"api_key": "s3cr3t-value", "other": API_KEY})  # fmt: skip
    (line,) = [r.getMessage() for r in caplog.records if r.name == "klaviyo_connector.raw"]
    assert API_KEY not in line and "s3cr3t-value" not in line
    assert line.startswith(
        "rawRequest GET /api/some-endpoint?token=[REDACTED]&api_key=[REDACTED]&other=[REDACTED] "
    )


# -- against the sandbox ---------------------------------------------------------------------------


def test_get_accounts_through_raw_request_against_the_sandbox(runner, sandbox_connection):
    out = run(runner, "rawRequest", {"url": "/api/accounts", "method": "GET"}, connection=sandbox_connection)[
        "data"
    ]
    assert out["status"] == 200 and out["attempts"] == 1
    (account,) = out["data"]["data"]
    assert account["type"] == "account" and account["attributes"]["contact_information"]["organization_name"]
    assert {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} <= set(out["headers"]) or out[
        "headers"
    ]


def test_sandbox_errors_come_back_structured(runner, sandbox_connection):
    with pytest.raises(KlaviyoError) as info:
        run(
            runner,
            "rawRequest",
            {"url": "/api/profiles/NOPE", "method": "GET"},
            connection=sandbox_connection,
        )
    err = info.value.to_dict()
    assert err["status"] == 404 and err["attempts"] == 1 and err["data"]["errors"][0]["status"] == 404
