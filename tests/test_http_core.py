"""The HTTP core: headers, retries and waits, error classes, redaction, pagination, revision."""

from __future__ import annotations

import json
from datetime import date

import pytest
import requests
from conftest import API_KEY, BASE, run
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.revision import REVISION, REVISION_RETIRES

PROFILE = {"data": {"type": "profile", "id": "01ABC", "attributes": {"email": "a@example.com"}}}


def throttled(retry_after: str = "1") -> dict:
    return {
        "status": 429,
        "headers": {"Retry-After": retry_after},
        "json": {"errors": [{"id": "e1", "code": "throttled", "title": "Throttled", "detail": "Slow down."}]},
    }


def server_error(status: int = 503) -> dict:
    return {
        "status": status,
        "json": {"errors": [{"id": "e2", "code": "error", "title": "Oops", "detail": "Down."}]},
    }


def test_revision_is_not_close_to_retirement():
    days_left = (REVISION_RETIRES - date.today()).days
    assert days_left >= 90, (
        f"API revision {REVISION} retires on {REVISION_RETIRES}: upgrade the pinned revision"
    )


def test_request_headers(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/profiles/01ABC", json=PROFILE)
    assert run(runner, "getProfile", {"profileId": "01ABC"}) == {"data": PROFILE}
    headers = klaviyo.calls[0].request.headers
    assert headers["Authorization"] == f"Klaviyo-API-Key {API_KEY}"
    assert headers["revision"] == REVISION
    assert headers["Accept"] == "application/vnd.api+json"
    assert headers["User-Agent"].startswith("klaviyo-connector/")
    assert "Content-Type" not in headers


def test_429_is_retried_after_retry_after_then_succeeds(runner, klaviyo, sleeps):
    url = f"{BASE}/api/profiles/01ABC"
    klaviyo.add("GET", url, **throttled("1"))
    klaviyo.add("GET", url, **throttled("1"))
    klaviyo.add("GET", url, json=PROFILE)
    assert run(runner, "getProfile", {"profileId": "01ABC"})["data"] == PROFILE
    assert len(klaviyo.calls) == 3
    assert len(sleeps.waits) == 2 and all(w >= 1.0 for w in sleeps.waits)


def test_429_on_post_is_retried_too(runner, klaviyo, sleeps):
    klaviyo.add("POST", f"{BASE}/api/profiles", **throttled("2"))
    klaviyo.add("POST", f"{BASE}/api/profiles", status=201, json=PROFILE)
    assert run(runner, "createProfile", {"email": "a@example.com"})["data"] == PROFILE
    assert sleeps.waits == [2.0]


def test_503_on_post_is_not_retried(runner, klaviyo, sleeps):
    klaviyo.add("POST", f"{BASE}/api/profiles", **server_error(503))
    klaviyo.add("GET", f"{BASE}/api/profiles", json={"data": []})  # the natural-key check
    with pytest.raises(KlaviyoError) as info:
        run(runner, "createProfile", {"email": "a@example.com"})
    assert [c.request.method for c in klaviyo.calls] == ["POST", "GET"] and sleeps.waits == []
    assert info.value.error_class == "retryable" and info.value.status == 503
    assert "Checked: no profile with email 'a@example.com' exists" in info.value.message


def test_503_three_times_on_get_fails_retryable_after_configured_attempts(klaviyo, sleeps):
    from klaviyo_connector import Runner
    from klaviyo_connector.retry import RetryPolicy

    runner = Runner(
        client_options={"sleep": sleeps, "random": lambda: 0.0, "retry": RetryPolicy(max_retries=2)}
    )
    for _ in range(3):
        klaviyo.add("GET", f"{BASE}/api/profiles/01ABC", **server_error(503))
    with pytest.raises(KlaviyoError) as info:
        run(runner, "getProfile", {"profileId": "01ABC"})
    assert len(klaviyo.calls) == 3
    assert sleeps.waits == [1.0, 2.0]  # exponential from the base, no jitter with random=0
    assert info.value.to_dict()["class"] == "retryable"
    assert info.value.status == 503 and info.value.detail == "Down."


def test_backoff_is_capped_and_jittered():
    from klaviyo_connector.retry import RetryPolicy

    policy = RetryPolicy(base_delay=1.0, max_delay=5.0, jitter=0.5)
    assert [policy.delay(i, None, lambda: 0.0) for i in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]
    assert policy.delay(2, None, lambda: 1.0) == 2.0  # half of 4 with full jitter
    assert policy.delay(0, 7.0, lambda: 0.0) == 7.0  # Retry-After is a floor


def test_total_wait_budget_stops_retrying(klaviyo, sleeps):
    from klaviyo_connector import Runner
    from klaviyo_connector.retry import RetryPolicy

    policy = RetryPolicy(max_retries=10, max_total_wait=5.0)
    runner = Runner(client_options={"sleep": sleeps, "random": lambda: 0.0, "retry": policy})
    for _ in range(10):
        klaviyo.add("GET", f"{BASE}/api/profiles/01ABC", **throttled("3"))
    with pytest.raises(KlaviyoError) as info:
        run(runner, "getProfile", {"profileId": "01ABC"})
    assert sleeps.waits == [3.0] and len(klaviyo.calls) == 2
    assert info.value.status == 429
    assert "This endpoint allows 75/s, 750/m per account." in info.value.message  # get_profile's tier


def test_long_retry_after_is_quota_exhausted_without_waiting(runner, klaviyo, sleeps):
    klaviyo.add("POST", f"{BASE}/api/profiles", **throttled("3600"))
    with pytest.raises(KlaviyoError) as info:
        run(runner, "createProfile", {"email": "a@example.com"})
    assert info.value.error_class == "quota_exhausted" and sleeps.waits == []
    assert "resets in about 3600 s" in info.value.message and "75/s, 750/m" in info.value.message


def test_timeouts_and_connection_errors_are_retried_on_get(runner, klaviyo, sleeps):
    url = f"{BASE}/api/profiles/01ABC"
    klaviyo.add("GET", url, body=requests.ReadTimeout("slow"))
    klaviyo.add("GET", url, body=requests.ConnectionError("reset"))
    klaviyo.add("GET", url, json=PROFILE)
    assert run(runner, "getProfile", {"profileId": "01ABC"})["data"] == PROFILE
    assert len(sleeps.waits) == 2


def test_timeout_on_post_is_not_retried(runner, klaviyo, sleeps):
    klaviyo.add("POST", f"{BASE}/api/profiles", body=requests.ReadTimeout("slow"))
    klaviyo.add("GET", f"{BASE}/api/profiles", json={"data": []})
    with pytest.raises(KlaviyoError) as info:
        run(runner, "createProfile", {"email": "a@example.com"})
    assert info.value.code == "timeout" and info.value.error_class == "outcome_unknown" and sleeps.waits == []
    assert "A check found no profile with email 'a@example.com' yet" in info.value.message


def test_400_is_not_retried_and_parsed(runner, klaviyo, sleeps):
    body = {
        "errors": [
            {
                "id": "abc-123",
                "status": 400,
                "code": "invalid",
                "title": "Invalid input.",
                "detail": "The phone number provided either does not exist or is ineligible.",
                "source": {"pointer": "/data/attributes/phone_number"},
            }
        ]
    }
    klaviyo.add("POST", f"{BASE}/api/profiles", status=400, json=body)
    with pytest.raises(KlaviyoError) as info:
        run(runner, "createProfile", {"phoneNumber": "+15005550006"})
    err = info.value.to_dict()
    assert err["class"] == "user_fixable" and err["status"] == 400 and err["code"] == "invalid"
    assert err["source"] == {"pointer": "/data/attributes/phone_number"}
    assert err["id"] == "abc-123" and err["method"] == "POST" and err["path"] == "/api/profiles"
    assert "/data/attributes/phone_number" in err["message"] and "ineligible" in err["message"]
    assert sleeps.waits == []


@pytest.mark.parametrize(
    ("status", "headers", "body", "error_class"),
    [
        (
            401,
            {},
            {"errors": [{"id": "1", "code": "not_authenticated", "title": "t", "detail": "d"}]},
            "reauth_required",
        ),
        (
            403,
            {"Content-Type": "text/html"},
            "<!DOCTYPE html><title>Attention Required</title>",
            "edge_blocked",
        ),
        (403, {"cf-mitigated": "challenge"}, "", "edge_blocked"),
        (
            410,
            {},
            {"errors": [{"id": "1", "code": "gone", "title": "Gone", "detail": "retired"}]},
            "upgrade_needed",
        ),
        (
            400,
            {},
            {"errors": [{"id": "1", "code": "x", "title": "t", "detail": "There are no valid revisions"}]},
            "upgrade_needed",
        ),
    ],
)
def test_error_classes(runner, klaviyo, status, headers, body, error_class):
    kwargs = {"json": body} if isinstance(body, dict) else {"body": body}
    klaviyo.add("GET", f"{BASE}/api/profiles/01ABC", status=status, headers=headers, **kwargs)
    with pytest.raises(KlaviyoError) as info:
        run(runner, "getProfile", {"profileId": "01ABC"})
    assert info.value.error_class == error_class
    if error_class == "upgrade_needed":
        assert "revision" in info.value.message and "upgrade" in info.value.message


def test_403_names_the_scope_the_action_needs(runner, klaviyo):
    body = {"errors": [{"id": "1", "code": "permission_denied", "title": "t", "detail": "No permission."}]}
    klaviyo.add("GET", f"{BASE}/api/profiles/01ABC", status=403, json=body)
    with pytest.raises(KlaviyoError) as info:
        run(runner, "getProfile", {"profileId": "01ABC"})
    assert "profiles:read" in info.value.message and info.value.error_class == "user_fixable"


def test_key_never_appears_in_errors_even_if_echoed(runner, klaviyo):
    body = {"errors": [{"id": "1", "code": "x", "title": "t", "detail": f"bad key {API_KEY}"}]}
    klaviyo.add("GET", f"{BASE}/api/profiles/01ABC", status=400, json=body)
    with pytest.raises(KlaviyoError) as info:
        run(runner, "getProfile", {"profileId": "01ABC"})
    dumped = json.dumps(info.value.to_dict()) + repr(info.value) + str(info.value)
    assert API_KEY not in dumped and "[REDACTED]" in dumped


def test_key_typed_into_a_path_never_appears_in_a_refusal_before_sending(klaviyo):
    # The client's own refusals quote the input; a key pasted into it is a key all the same.
    from klaviyo_connector.connections.api_key import ApiKeyAuth
    from klaviyo_connector.http import KlaviyoClient

    api = KlaviyoClient(ApiKeyAuth(API_KEY), base_url=BASE)
    with pytest.raises(KlaviyoError) as info:
        api.request("GET", f"/api/lists/{API_KEY}/", operation="get_profile")
    assert info.value.code == "path_mismatch" and "Refusing to send GET /api/lists/" in info.value.message
    dumped = json.dumps(info.value.to_dict()) + repr(info.value) + str(info.value) + repr(info.value.args)
    assert API_KEY not in dumped and "[REDACTED]" in dumped
    assert not klaviyo.calls


def test_redirect_to_another_host_is_not_followed(runner, klaviyo):
    klaviyo.add(
        "GET", f"{BASE}/api/profiles/01ABC", status=302, headers={"Location": "https://evil.example/x"}
    )
    with pytest.raises(KlaviyoError) as info:
        run(runner, "getProfile", {"profileId": "01ABC"})
    assert info.value.code == "redirect_refused" and len(klaviyo.calls) == 1


def test_same_host_redirect_is_followed(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/profiles/01ABC", status=307, headers={"Location": "/api/profiles/01ABD"})
    klaviyo.add("GET", f"{BASE}/api/profiles/01ABD", json=PROFILE)
    assert run(runner, "getProfile", {"profileId": "01ABC"})["data"] == PROFILE
    assert klaviyo.calls[1].request.headers["Authorization"].startswith("Klaviyo-API-Key")


def _page(ids: list[str], next_url: str | None) -> dict:
    return {"data": [{"type": "profile", "id": i} for i in ids], "links": {"self": "x", "next": next_url}}


def test_fetch_all_follows_next_links_and_clamps_page_size(runner, klaviyo):
    nxt = f"{BASE}/api/profiles?page%5Bcursor%5D=c2&page%5Bsize%5D=100"
    klaviyo.add("GET", f"{BASE}/api/profiles", json=_page(["1", "2"], nxt))
    klaviyo.add("GET", f"{BASE}/api/profiles", json=_page(["3"], None))
    out = run(runner, "listProfile", {"fetchAll": True, "pageSize": 500})["data"]
    assert [d["id"] for d in out["data"]] == ["1", "2", "3"]
    assert "page%5Bsize%5D=100" in klaviyo.calls[0].request.url
    assert klaviyo.calls[1].request.url == nxt  # followed exactly as given
    assert out["meta"]["pages"] == 2 and out["meta"]["next_cursor"] is None


def test_fetch_all_stops_at_max_records_and_returns_cursor(runner, klaviyo):
    nxt = f"{BASE}/api/profiles?page%5Bcursor%5D=c2"
    klaviyo.add("GET", f"{BASE}/api/profiles", json=_page(["1", "2", "3"], nxt))
    out = run(runner, "listProfile", {"fetchAll": True, "maxRecords": 2})["data"]
    assert [d["id"] for d in out["data"]] == ["1", "2"] and len(klaviyo.calls) == 1
    assert out["meta"]["next_cursor"] == "c2"


def test_pagination_refuses_next_link_on_another_host(runner, klaviyo):
    klaviyo.add(
        "GET",
        f"{BASE}/api/profiles",
        json=_page(["1"], "https://evil.example/api/profiles?page%5Bcursor%5D=x"),
    )
    with pytest.raises(KlaviyoError) as info:
        run(runner, "listProfile", {"fetchAll": True})
    assert info.value.code == "invalid_url" and len(klaviyo.calls) == 1


def test_pagination_detects_cursor_cycles(runner, klaviyo):
    nxt = f"{BASE}/api/profiles?page%5Bcursor%5D=same"
    klaviyo.add("GET", f"{BASE}/api/profiles", json=_page(["1"], nxt))
    klaviyo.add("GET", nxt, json=_page(["2"], nxt))
    with pytest.raises(KlaviyoError) as info:
        run(runner, "listProfile", {"fetchAll": True})
    assert info.value.code == "cursor_cycle"


def test_manual_paging_sends_the_cursor(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/profiles", json=_page(["9"], None))
    run(runner, "listProfile", {"pageCursor": "abc", "pageSize": 5})
    url = klaviyo.calls[0].request.url
    assert "page%5Bcursor%5D=abc" in url and "page%5Bsize%5D=5" in url


def test_eight_threads_share_one_runner_and_connection(runner, klaviyo):
    from concurrent.futures import ThreadPoolExecutor

    for _ in range(40):
        klaviyo.add("GET", f"{BASE}/api/profiles/01ABC", json=PROFILE)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: run(runner, "getProfile", {"profileId": "01ABC"}), range(40)))
    assert all(r == {"data": PROFILE} for r in results)
    assert len(runner._clients) == 1


# -- the same rules against a real flaky server on loopback (issue acceptance) --------------------


def _against(flaky_server, runner, action, inputs):
    connection = {"key": "apiKey", "fields": {"apiKey": API_KEY, "baseUrl": flaky_server.url}}
    return runner.run_action("klaviyo", action, connection=connection, inputs=inputs)


def test_local_server_429_twice_then_200_on_a_get_action(runner, flaky_server, sleeps):
    from flaky_server import Step, throttle

    flaky_server.then(throttle("1"), throttle("1"), Step(200, {}, PROFILE))
    assert _against(flaky_server, runner, "getProfile", {"profileId": "01ABC"}) == {"data": PROFILE}
    assert len(flaky_server.seen) == 3 and len(sleeps.waits) == 2 and min(sleeps.waits) >= 1.0
    assert all(s.headers["revision"] == REVISION for s in flaky_server.seen)


def test_local_server_503_on_a_post_action_is_not_retried(runner, flaky_server, sleeps):
    from flaky_server import Step, fail

    flaky_server.then(fail(503), Step(200, {}, {"data": []}), Step(201, {}, PROFILE))
    with pytest.raises(KlaviyoError) as info:
        _against(flaky_server, runner, "createProfile", {"email": "a@example.com"})
    # Not resent: the natural-key check (GET) found nothing, so the host may repeat it safely.
    assert [s.method for s in flaky_server.seen] == ["POST", "GET"] and sleeps.waits == []
    assert info.value.status == 503 and info.value.error_class == "retryable"


def test_local_server_503_three_times_on_a_get_action_fails_retryable(flaky_server, sleeps):
    from flaky_server import fail
    from klaviyo_connector import Runner
    from klaviyo_connector.retry import RetryPolicy

    runner = Runner(
        client_options={"sleep": sleeps, "random": lambda: 0.0, "retry": RetryPolicy(max_retries=2)}
    )
    flaky_server.then(fail(503), fail(503), fail(503))
    with pytest.raises(KlaviyoError) as info:
        _against(flaky_server, runner, "getProfile", {"profileId": "01ABC"})
    assert info.value.error_class == "retryable" and info.value.attempts == 3
    assert len(flaky_server.seen) == 3 and sleeps.waits == [1.0, 2.0]
    runner.close()
