"""The OpenAPI contract validator must catch contract violations, not just pass valid traffic."""

from __future__ import annotations

import pytest
from contract import load_spec, time_validation, validate_request, validate_response

BASE = "https://a.klaviyo.com"
HEADERS = {
    "revision": "2026-07-15",
    "Content-Type": "application/vnd.api+json",
    "Accept": "application/vnd.api+json",
    "Authorization": "Klaviyo-API-Key pk_test",
}
PROFILE = {
    "data": {
        "type": "profile",
        "attributes": {
            "email": "sarah.mason@example.com",
            "phone_number": None,
            "location": {"city": "Boston"},
            "properties": {"tier": "gold"},
        },
    }
}


@pytest.fixture(autouse=True)
def _spec() -> None:
    load_spec()  # skips every test here when the spec is absent


def test_valid_create_profile_passes() -> None:
    assert validate_request("POST", f"{BASE}/api/profiles", HEADERS, PROFILE) == "create_profile"
    assert (
        validate_request("POST", "/api/profiles/", HEADERS, '{"data":{"type":"profile","attributes":{}}}')
        == "create_profile"
    )


def test_body_missing_type_fails() -> None:
    # The spec declares no additionalProperties: false, so camelCase keys would slip through;
    # a missing required `type` member is what the schema can catch.
    with pytest.raises(AssertionError, match=r"at /data: 'type' is a required property"):
        validate_request(
            "POST", f"{BASE}/api/profiles", HEADERS, {"data": {"attributes": {"email": "a@b.c"}}}
        )


def test_body_wrong_type_and_bad_json_fail() -> None:
    bad = {"data": {"type": "profile", "attributes": {"email": 5}}}
    with pytest.raises(AssertionError, match=r"/data/attributes/email: 5 is not of type"):
        validate_request("POST", f"{BASE}/api/profiles", HEADERS, bad)
    with pytest.raises(AssertionError, match="not valid JSON"):
        validate_request("POST", f"{BASE}/api/profiles", HEADERS, b"{nope")
    with pytest.raises(AssertionError, match="request body is required"):
        validate_request("POST", f"{BASE}/api/profiles", HEADERS, None)


def test_body_on_bodyless_operation_fails() -> None:
    with pytest.raises(AssertionError, match="takes no request body"):
        validate_request("GET", f"{BASE}/api/profiles", HEADERS, {"data": {}})


def test_wrong_content_type_fails() -> None:
    headers = {**HEADERS, "Content-Type": "application/json"}
    with pytest.raises(AssertionError, match="Content-Type 'application/json' not accepted"):
        validate_request("POST", f"{BASE}/api/profiles", headers, PROFILE)


def test_undeclared_query_param_fails() -> None:
    with pytest.raises(AssertionError, match="undeclared query parameter 'pageSize'"):
        validate_request("GET", f"{BASE}/api/profiles?pageSize=10", HEADERS, None)


def test_missing_revision_header_fails() -> None:
    headers = {k: v for k, v in HEADERS.items() if k != "revision"}
    with pytest.raises(AssertionError, match="missing required header 'revision'"):
        validate_request("GET", f"{BASE}/api/profiles", headers, None)
    with pytest.raises(AssertionError, match="not YYYY-MM-DD"):
        validate_request("GET", f"{BASE}/api/profiles", {**HEADERS, "revision": "latest"}, None)


def test_bad_fields_enum_fails() -> None:
    url = f"{BASE}/api/profiles?fields%5Bprofile%5D=email,phoneNumber"
    with pytest.raises(AssertionError, match="'phoneNumber' is not one of"):
        validate_request("GET", url, HEADERS, None)


def test_page_size_limits() -> None:
    assert validate_request("GET", f"{BASE}/api/profiles?page[size]=100", HEADERS, None) == "get_profiles"
    with pytest.raises(AssertionError, match="above maximum 100"):
        validate_request("GET", f"{BASE}/api/profiles?page[size]=101", HEADERS, None)
    with pytest.raises(AssertionError, match="not a valid integer"):
        validate_request("GET", f"{BASE}/api/profiles?page[size]=ten", HEADERS, None)


def test_required_query_param_and_filter_grammar() -> None:
    with pytest.raises(AssertionError, match=r"missing required query parameters \['filter'\]"):
        validate_request("GET", f"{BASE}/api/campaigns", HEADERS, None)
    ok = "/api/campaigns?filter=equals(messages.channel,'email')"
    assert validate_request("GET", ok, HEADERS, None) == "get_campaigns"
    good = "/api/profiles?filter=any(email,['a@b.c','d@e.f']),greater-than(created,2024-01-01T00:00:00Z)"
    assert validate_request("GET", good, HEADERS, None) == "get_profiles"
    with pytest.raises(AssertionError, match="filter field 'mail' is not filterable"):
        validate_request("GET", "/api/profiles?filter=equals(mail,'a')", HEADERS, None)
    with pytest.raises(AssertionError, match=r"any\(created, \.\.\.\) is not allowed as a list operator"):
        validate_request("GET", "/api/profiles?filter=any(created,['x'])", HEADERS, None)


def test_unknown_path_and_client_auth_leak() -> None:
    with pytest.raises(AssertionError, match="no operation in the Klaviyo spec"):
        validate_request("GET", f"{BASE}/api/nothing", HEADERS, None)
    body = {"data": {"type": "event", "attributes": {}}}
    with pytest.raises(AssertionError, match="must not send an Authorization header"):
        validate_request("POST", f"{BASE}/client/events?company_id=AbC123", HEADERS, body)
    with pytest.raises(AssertionError, match="Authorization must be"):
        headers = {k: v for k, v in HEADERS.items() if k != "Authorization"}
        validate_request("GET", f"{BASE}/api/profiles", headers, None, require_auth=True)


def test_multipart_image_upload() -> None:
    boundary = "XyZ"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="file"; filename="a.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
        "\x89PNG\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="name"\r\n\r\n'
        "logo\r\n"
        f"--{boundary}--\r\n"
    ).encode("latin-1")
    headers = {**HEADERS, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    assert validate_request("POST", f"{BASE}/api/image-upload", headers, body) == "upload_image_from_file"
    no_file = body.replace(b'name="file"; filename="a.png"', b'name="image"; filename="a.png"')
    with pytest.raises(AssertionError, match="undeclared multipart parts"):
        validate_request("POST", f"{BASE}/api/image-upload", headers, no_file)


def test_responses() -> None:
    ok = {"data": [], "links": {"self": f"{BASE}/api/profiles"}}
    validate_response("GET", f"{BASE}/api/profiles", 200, ok)
    err = {"errors": [{"id": "e1", "status": 400, "code": "invalid", "title": "Invalid", "detail": "bad"}]}
    validate_response("GET", f"{BASE}/api/profiles", 400, err)
    validate_response("GET", f"{BASE}/api/profiles", 503, err)
    validate_response("POST", f"{BASE}/api/events", 202, b"")
    with pytest.raises(AssertionError, match="status 201 is not declared"):
        validate_response("GET", f"{BASE}/api/profiles", 201, ok)
    with pytest.raises(AssertionError, match="/data/0: 'attributes' is a required property"):
        validate_response("GET", f"{BASE}/api/profiles", 200, {"data": [{"type": "profile", "id": "1"}]})
    with pytest.raises(AssertionError, match="'detail' is a required property"):
        validate_response(
            "GET", f"{BASE}/api/profiles", 429, {"errors": [{"id": "1", "code": "t", "title": "t"}]}
        )
    with pytest.raises(AssertionError, match="declared without a body"):
        validate_response("POST", f"{BASE}/api/events", 202, {"data": None})


def test_validation_is_fast() -> None:
    per_call = time_validation(50, validate_request, "POST", f"{BASE}/api/profiles", HEADERS, PROFILE)
    assert per_call < 0.05, f"{per_call * 1000:.1f} ms per request"
