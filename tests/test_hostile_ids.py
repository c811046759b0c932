"""Security: an ID typed into any action can never change where the request goes.

Every action with an ID input is run with hostile IDs against a catch-all mock; every request
it sends must be one of the action's own operations (method and path template), with the ID
percent-encoded as one segment. ``.`` and ``..`` are refused before anything is sent.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
import responses
from klaviyo_connector import Runner, catalog
from klaviyo_connector.component import component
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.paths import api_path

BASE = "https://a.klaviyo.com"
CONNECTION = {"key": "apiKey", "fields": {"apiKey": "pk_" + "a1" * 16}}
HOSTILE = [
    "../accounts",
    "../templates/T1",
    "a/b",
    "x?y=1",
    "x#frag",
    "%2e%2e",
    "..%2Faccounts",
    "x/../../accounts",
    "a b",
    "//evil.example/x",
    "https://evil.example/",
    "ok\\..\\accounts",
]
DOTS = [".", ".."]

# Inputs that the first example of each required field does not satisfy on its own.
BASE_INPUTS: dict[str, dict[str, Any]] = {
    "addProfilesToList": {"emails": ["a@example.com"]},
    "removeProfilesFromList": {"profileIds": ["01P"]},
    "assignCampaignTemplate": {"campaignMessageId": "01M"},
    "subscribeProfiles": {"profiles": [{"email": "a@example.com"}]},
    "unsubscribeProfiles": {"profiles": [{"email": "a@example.com"}]},
    "suppressProfiles": {},
    "unsuppressProfiles": {},
    "requestProfileDeletion": {},
}


def id_inputs(action: Any) -> list[str]:
    return [name for name in action.inputs.model_fields if re.search(r"[a-z]Id$", name)]


def is_resource_id(action: Any, name: str) -> bool:
    """Typed ResourceId: an ID that lands in a request path."""
    return "_resource_id" in repr(action.inputs.model_fields[name])


def base_inputs(action: Any) -> dict[str, Any]:
    inputs = {
        name: field.examples[0]
        for name, field in action.inputs.model_fields.items()
        if field.is_required() and field.examples
    }
    inputs.update(BASE_INPUTS.get(action.key, {}))
    return inputs


CASES = [
    (key, name)
    for key, action in component.actions.items()
    for name in id_inputs(action)
    if key != "rawRequest"
]
PATH_CASES = [(key, name) for key, name in CASES if is_resource_id(component.actions[key], name)]


def test_every_id_input_is_covered():
    # Catches an ID input named some other way being left out of the hostile runs.
    assert len(CASES) >= 30 and len(PATH_CASES) >= 25
    assert {"deleteList", "getProfile", "deleteTemplate", "updateFlowStatus"} <= {k for k, _ in CASES}


def run(key: str, inputs: dict[str, Any]) -> tuple[list[Any], KlaviyoError | None]:
    runner = Runner(client_options={"sleep": lambda _s: None})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        doc = {"data": {"type": "x", "id": "X1", "attributes": {}, "relationships": {}}, "links": {}}
        for method in ("GET", "POST", "PATCH", "PUT", "DELETE"):
            mock.add(method, re.compile(r".*"), json=doc, status=200)
        try:
            runner.run_action("klaviyo", key, connection=CONNECTION, inputs=inputs)
            error = None
        except KlaviyoError as exc:
            error = exc
        return list(mock.calls), error


@pytest.mark.parametrize(("key", "name"), CASES, ids=[f"{k}.{n}" for k, n in CASES])
def test_hostile_ids_never_change_the_request(key, name):
    action = component.actions[key]
    own = [catalog.operation(op) for op in action.operations]
    for hostile in HOSTILE + ([] if is_resource_id(action, name) else DOTS):
        calls, error = run(key, {**base_inputs(action), name: hostile})
        assert error is None or error.code != "path_mismatch", (hostile, error)
        for call in calls:
            parts = urlsplit(call.request.url)
            assert f"{parts.scheme}://{parts.netloc}" == BASE
            method = call.request.method
            assert any(op.serves(method, parts.path) for op in own), (hostile, method, parts.path)
            # The hostile value, where it was sent, is one whole segment.
            segments = [unquote(s) for s in parts.path.split("/")]
            assert ".." not in segments and "." not in segments


@pytest.mark.parametrize(("key", "name"), PATH_CASES, ids=[f"{k}.{n}" for k, n in PATH_CASES])
def test_dot_segment_ids_are_refused_before_sending(key, name):
    action = component.actions[key]
    for dots in DOTS:
        calls, error = run(key, {**base_inputs(action), name: dots})
        assert calls == []
        assert error is not None and error.code == "invalid_input"
        assert "'.' and '..' are refused" in error.message or "cannot be empty, '.' or '..'" in error.message


def test_the_issue_examples():
    # deleteList with List ID ../templates/<id> deleted a template; getProfile ../accounts read the account.
    calls, _ = run("deleteList", {"listId": "../templates/T1"})
    assert [(c.request.method, urlsplit(c.request.url).path) for c in calls] == [
        ("DELETE", "/api/lists/..%2Ftemplates%2FT1")
    ]
    calls, _ = run("getProfile", {"profileId": "../accounts"})
    assert [urlsplit(c.request.url).path for c in calls] == ["/api/profiles/..%2Faccounts"]


def test_api_path_encodes_each_value_as_one_segment():
    assert (
        api_path("/api/lists/{id}/profiles", id="a/b?c#d%e f") == "/api/lists/a%2Fb%3Fc%23d%25e%20f/profiles"
    )
    for bad in ("", ".", ".."):
        with pytest.raises(KlaviyoError, match="cannot be empty"):
            api_path("/api/lists/{id}", id=bad)


def test_client_refuses_a_path_that_is_not_the_operations_template():
    from klaviyo_connector.http import KlaviyoClient

    client = KlaviyoClient(None)
    with pytest.raises(KlaviyoError) as caught:
        client.request("DELETE", "/api/templates/T1", operation="delete_list")
    assert caught.value.code == "path_mismatch"


@pytest.mark.parametrize("path", ["/api/lists/../accounts", "/api/./accounts", "/api/lists/%2e%2E/accounts"])
def test_dot_segments_in_any_url_are_refused(path):
    from klaviyo_connector.http import KlaviyoClient

    with pytest.raises(KlaviyoError, match="'.' or '..' path segment"):
        KlaviyoClient(None).url_for(path)


def test_the_sandbox_keeps_an_encoded_slash_inside_its_segment():
    # The connector encodes "L1/profiles" as one segment; a server that decoded before routing
    # would answer the list's profiles, or delete "L1" for "L1/".
    import secrets

    from klaviyo_connector.sandbox import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(rate_limit_scale=0)) as box:
        conn = {"key": "apiKey", "fields": {"apiKey": "pk_" + secrets.token_hex(16), "baseUrl": box.base_url}}
        runner = Runner(client_options={"sleep": lambda _s: None})
        list_id = runner.run_action("klaviyo", "createList", connection=conn, inputs={"listName": "A"})[
            "data"
        ]["data"]["id"]
        for key, value in (("getList", f"{list_id}/profiles"), ("deleteList", f"{list_id}/")):
            with pytest.raises(KlaviyoError) as caught:
                runner.run_action("klaviyo", key, connection=conn, inputs={"listId": value})
            assert caught.value.status == 404 and f"{value} does not exist" in caught.value.message
        got = runner.run_action("klaviyo", "getList", connection=conn, inputs={"listId": list_id})
        assert got["data"]["data"]["id"] == list_id  # still there
