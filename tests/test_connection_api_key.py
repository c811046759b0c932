"""The apiKey connection: shape checks before any call, and test-connection that says what is wrong."""

from __future__ import annotations

import pytest
from conftest import API_KEY, BASE, CONNECTION
from klaviyo_connector.errors import KlaviyoError

ACCOUNTS = {
    "data": [
        {
            "type": "account",
            "id": "AbC123",
            "attributes": {"contact_information": {"organization_name": "Acme"}},
            "links": {"self": "x"},
        }
    ],
    "links": {"self": "x"},
}


@pytest.mark.parametrize(
    ("key", "code", "fragment"),
    [
        ("", "missing_api_key", "is required"),
        ("AbC123", "public_key_given", "public key"),
        ("sk_live_12345678901234", "malformed_api_key", "starts with pk_"),
        ("pk_short", "malformed_api_key", "starts with pk_"),
    ],
)
def test_key_shape_is_checked_before_any_call(runner, klaviyo, key, code, fragment):
    with pytest.raises(KlaviyoError) as info:
        runner.run_action("klaviyo", "listAccounts", connection={"key": "apiKey", "fields": {"apiKey": key}})
    assert info.value.code == code and fragment in info.value.message and info.value.field == "API Key"
    assert len(klaviyo.calls) == 0


def test_test_connection_ok(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/accounts", json=ACCOUNTS)
    assert runner.test_connection("klaviyo", connection=CONNECTION) == {
        "ok": True,
        "account_id": "AbC123",
        "organization": "Acme",
    }


@pytest.mark.parametrize(
    ("status", "error_class", "fragment"),
    [(401, "reauth_required", "API key was rejected"), (403, "user_fixable", "accounts:read")],
)
def test_test_connection_says_what_is_wrong(runner, klaviyo, status, error_class, fragment):
    body = {"errors": [{"id": "1", "code": "x", "title": "t", "detail": "nope"}]}
    klaviyo.add("GET", f"{BASE}/api/accounts", status=status, json=body)
    with pytest.raises(KlaviyoError) as info:
        runner.test_connection("klaviyo", connection=CONNECTION)
    assert info.value.error_class == error_class and fragment in info.value.message


def test_auth_repr_hides_the_key():
    from klaviyo_connector.connections.api_key import ApiKeyAuth

    assert API_KEY not in repr(ApiKeyAuth(API_KEY))
