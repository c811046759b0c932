"""The URL guard: only the connection's Klaviyo host ever receives a request with credentials.

KlaviyoClient.url_for and on_host are tested directly with known tricks, then with generated
URLs (hypothesis), both on their own and through the Raw Request action with every outgoing
request recorded, whatever its host.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import responses
from conftest import API_KEY, BASE, run
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from klaviyo_connector.connections.api_key import ApiKeyAuth
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.http import KlaviyoClient
from urllib3.util import parse_url

HOSTILE = [
    "https://evil.example/api/accounts",
    "http://a.klaviyo.com/api/accounts",  # same host, but not the configured scheme
    "https://a.klaviyo.com:8443/api/accounts",
    "//evil.example/api/accounts",
    "///evil.example/api/accounts",
    "https://a.klaviyo.com@evil.example/",
    "https://a.klaviyo.com:443@evil.example/",
    "https://user:pass@a.klaviyo.com/api/accounts",
    "https://evil.example#@a.klaviyo.com/",
    "https://evil.example?@a.klaviyo.com/",
    "https://evil.example\\@a.klaviyo.com/",
    "https:\\\\evil.example/",
    "/\\evil.example/",
    "\\\\evil.example\\api",
    "https://a.klaviyo.com%40evil.example/",
    "https://a.klaviyo.com%2F@evil.example/",
    "https://evil.example%2F.a.klaviyo.com/",
    "https://a.klaviyo.com.evil.example/",
    "https://a.klaviyo.com./api/accounts",
    "https://a.klaviyo.com\uff20evil.example/",  # fullwidth @
    "https://a.klaviyo.com\uff0fevil.example/",  # fullwidth /
    "https://evil.example\u2100.a.klaviyo.com/",  # NFKC: a/c
    "https://\uff41.klaviyo.com/api/accounts",  # fullwidth a
    "https://a.klaviy\u043e.com/api/accounts",  # Cyrillic o
    "https://xn--a-klaviyo-.com/",
    "https://a.klaviyo.com\u3002evil.example/",  # ideographic full stop
    "/api/accounts\t",
    "/api/\naccounts",
    "\t//evil.example/",
    " https://evil.example/",
    "/api/accounts\u200b",
    "/api/\u202eaccounts",
    "/api/accounts\u2028",
    "/api/acc ounts",
    "/api/\x00",
    "/api/\x7f",
    "javascript:alert(1)",
    "JaVaScRiPt://a.klaviyo.com/%0aalert(1)",
    "data:text/html,hi",
    "file:///etc/passwd",
    "ftp://a.klaviyo.com/",
    "ws://a.klaviyo.com/",
    "https:a.klaviyo.com/api",
    "https:/a.klaviyo.com/api",
    "https://",
    "https://a.klaviyo.com:99999/",
    "https://a.klaviyo.com:abc/",
    "https://[::1/",
    "api/accounts",
    "a.klaviyo.com/api/accounts",
    "evil.example",
    "",
]

ALLOWED = [
    ("/api/accounts", f"{BASE}/api/accounts"),
    ("/api/profiles?page%5Bsize%5D=5", f"{BASE}/api/profiles?page%5Bsize%5D=5"),
    ("/@evil.example", f"{BASE}/@evil.example"),  # a path on Klaviyo, not a host
    ("/%2F%2Fevil.example", f"{BASE}/%2F%2Fevil.example"),
    ("/api/profiles?filter=equals(first_name,'Zo\u00eb')", f"{BASE}/api/profiles?filter=equals(first_name,'Zo\u00eb')"),
    ("https://a.klaviyo.com/api/accounts", "https://a.klaviyo.com/api/accounts"),
    ("HTTPS://A.KLAVIYO.COM/api/accounts", "HTTPS://A.KLAVIYO.COM/api/accounts"),
    ("https://a.klaviyo.com:443/api/accounts", "https://a.klaviyo.com:443/api/accounts"),
]  # fmt: skip


@pytest.fixture(scope="module")
def client() -> Iterator[KlaviyoClient]:
    c = KlaviyoClient(ApiKeyAuth(API_KEY))
    yield c
    c.close()


def lands_on_klaviyo(url: str) -> bool:
    """Where requests (urllib3) and the standard library would both connect: https://a.klaviyo.com:443."""
    seen = parse_url(url)
    parts = urlsplit(url)
    return (
        (seen.scheme or "").lower() == "https"
        and (seen.host or "").lower() == "a.klaviyo.com"
        and seen.port in (None, 443)
        and seen.auth is None
        and (parts.hostname or "") == "a.klaviyo.com"
        and parts.port in (None, 443)
    )


@pytest.mark.parametrize("url", HOSTILE)
def test_hostile_urls_are_refused(client, url):
    with pytest.raises(KlaviyoError) as info:
        client.url_for(url)
    assert info.value.code == "invalid_url"
    assert API_KEY not in info.value.message


@pytest.mark.parametrize(("url", "expected"), ALLOWED)
def test_paths_and_same_host_urls_are_allowed(client, url, expected):
    result = client.url_for(url)
    assert result == expected and lands_on_klaviyo(result)


def test_a_connection_on_another_host_only_reaches_that_host():
    c = KlaviyoClient(ApiKeyAuth(API_KEY), base_url="http://127.0.0.1:8765")
    assert c.url_for("/api/accounts") == "http://127.0.0.1:8765/api/accounts"
    assert c.on_host("http://127.0.0.1:8765/api/profiles?page%5Bcursor%5D=x")
    for url in ("http://127.0.0.1:8766/", "http://127.0.0.1/", "https://127.0.0.1:8765/", "http://localhost:8765/",
                "https://a.klaviyo.com/api/accounts"):  # fmt: skip
        assert not c.on_host(url)
        with pytest.raises(KlaviyoError):
            c.url_for(url)


@pytest.mark.parametrize(
    "location",
    ["https://evil.example/", "//evil.example/x", "https://a.klaviyo.com@evil.example/", "https://a.klaviyo.com:99999/",
     "https://a.klaviyo.com\uff20evil.example/", "http://a.klaviyo.com/api/accounts"],
)  # fmt: skip
def test_redirects_off_the_host_are_refused(location):
    client = KlaviyoClient(ApiKeyAuth(API_KEY))
    with responses.RequestsMock() as mock:
        mock.add("GET", f"{BASE}/api/accounts", status=302, headers={"Location": location})
        with pytest.raises(KlaviyoError) as info:
            client.request("GET", "/api/accounts")
        assert info.value.code == "redirect_refused" and len(mock.calls) == 1


# -- generated URLs ------------------------------------------------------------------------------

FRAGMENTS = [
    "a.klaviyo.com", "A.KLAVIYO.COM", "evil.example", "klaviyo.com", ".", "..", "@", ":", "443", "8443", "/",
    "//", "\\", "?", "#", "&", "=", ";", "%", "%2F", "%2f", "%40", "%5C", "%00", "%0a", "%2e", "\uff20",
    "\uff0f", "\uff0e", "\u3002", "\u2100", "\uff41", "\u043e", "\u200b", "\u202e", "\u00a0", "\t", "\n", "\r",
    " ", "https:", "http:", "HTTPS:", "https://", "http://", "javascript:", "file:", "data:", "user:pass@",
    "[", "]", "::1", "127.0.0.1", "localhost", "api", "accounts", "xn--", "\x00",
]  # fmt: skip
PREFIXES = ["", "/", "//", "https://", "https://a.klaviyo.com", "https://a.klaviyo.com/", "http://", "\\"]


def tricky(choices: list[str]) -> st.SearchStrategy[str]:
    """Mostly one of ``choices``, sometimes any short text."""
    return st.one_of(*[st.sampled_from(choices)] * 4, st.text(max_size=4))


HOSTS = ["a.klaviyo.com", "evil.example", "A.KLAVIYO.COM", "a.klaviyo.com.evil.example", "\uff41.klaviyo.com",
         "a.klaviyo.com.", "127.0.0.1", "[::1]"]  # fmt: skip
# Free-form strings of fragments; URLs assembled part by part; and the userinfo shape
# (scheme://X@Y...) on its own, so that rare combinations come up often.
free_form = st.builds(
    lambda prefix, parts: prefix + "".join(parts),
    st.sampled_from(PREFIXES),
    st.lists(tricky(FRAGMENTS), max_size=8),
)
assembled = st.builds(
    lambda *parts: "".join(parts),
    tricky(["https://", "http://", "HTTPS://", "//", "https:", "https:/", "https:///", "javascript:", "file://", "",
            "https:\\\\"]),
    tricky(["", "user:pass@", "a.klaviyo.com@", "evil.example@", "a.klaviyo.com:443@", "@", ":@", "a.klaviyo.com%40",
            "a.klaviyo.com\uff20", "a.klaviyo.com#@", "a.klaviyo.com\\@"]),
    tricky(HOSTS),
    tricky(["", ":443", ":8443", ":", ":0443", ":abc", ":99999", ":443@evil.example"]),
    st.lists(tricky(["/", "/api/accounts", "?", "#", "@evil.example", "//evil.example", "%2F", "\\"]), max_size=3).map(
        "".join
    ),
)  # fmt: skip
userinfo = st.builds(
    lambda scheme, user, at, host, rest: f"{scheme}{user}{at}{host}{rest}",
    tricky(["https://", "http://", "//"]),
    tricky(HOSTS),
    tricky(["@", ":443@", ":@", "%40", "\uff20", "#@", "?@", "/@", "\\@"]),
    tricky(HOSTS),
    tricky(["", "/api/accounts", ":443/", ":8443/"]),
)
# Paths that look hostile but stay on Klaviyo: they must be sent, and only to Klaviyo.
paths = st.builds(
    lambda parts: "/" + "".join(parts),
    st.lists(
        tricky(["@evil.example", "evil.example", "//", "/", "%2F%2F", "%40", "..", "?", "#", "&", "=", ":", "%",
                "https://evil.example", "\uff20", "\uff0f", "\u2100", "\u00e9", "api/accounts"]),
        max_size=6,
    ),
)  # fmt: skip
urls = st.one_of(free_form, assembled, userinfo, paths)


PROPERTY = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@settings(PROPERTY, max_examples=1500)
@given(url=urls)
def test_url_for_never_yields_another_host(url):
    client = KlaviyoClient(ApiKeyAuth(API_KEY))
    try:
        result = client.url_for(url)
    except KlaviyoError as exc:
        assert exc.code == "invalid_url"
        return
    assert lands_on_klaviyo(result), result


@pytest.fixture
def every_request() -> Iterator[responses.RequestsMock]:
    """Answers (and records) every request to any host and scheme."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for method in ("GET", "POST", "DELETE"):
            mock.add(method, re.compile(r".*"), json={})
        yield mock


@PROPERTY
@given(url=urls, method=st.sampled_from(["GET", "POST", "DELETE"]))
def test_raw_request_never_sends_to_another_host(runner, every_request, url, method):
    before = len(every_request.calls)
    try:
        out = run(runner, "rawRequest", {"url": url, "method": method, "maxRetries": 0})
    except KlaviyoError as exc:
        # Refused before sending, as bad input; never a crash inside the connector.
        assert exc.code == "invalid_input" and exc.field == "URL", exc.to_dict()
        assert len(every_request.calls) == before
        event("refused")
        return
    event("sent")
    assert out["data"]["status"] == 200
    sent = every_request.calls[before:]
    assert len(sent) == 1
    assert lands_on_klaviyo(sent[0].request.url), sent[0].request.url
    assert sent[0].request.headers["Authorization"] == f"Klaviyo-API-Key {API_KEY}"


def _hosts(calls: Any) -> set[str]:
    return {urlsplit(c.request.url).hostname or "" for c in calls}


def test_every_hostile_url_is_refused_through_the_action(runner, every_request):
    for url in HOSTILE:
        if url.strip() != url:
            continue  # form inputs are trimmed: "/api/accounts\t" is just /api/accounts (tested below)
        with pytest.raises(KlaviyoError) as info:
            run(runner, "rawRequest", {"url": url, "method": "GET"})
        assert info.value.code == "invalid_input" and info.value.field == "URL", url
    assert _hosts(every_request.calls) == set()


def test_surrounding_whitespace_is_trimmed_not_sent(runner, every_request):
    for url in ("/api/accounts\t", " /api/accounts\n", "/api/accounts\u2028"):
        run(runner, "rawRequest", {"url": url, "method": "GET"})
    assert [c.request.url for c in every_request.calls] == [f"{BASE}/api/accounts"] * 3
    with pytest.raises(KlaviyoError):
        run(runner, "rawRequest", {"url": "\t//evil.example/", "method": "GET"})
    assert len(every_request.calls) == 3
