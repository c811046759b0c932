"""Every generated action, run by the Runner against the sandbox's spec-driven core over HTTP.

Inputs are built from each action's own input schema (as in test_generated_actions.py), with the
account's real company ID for client endpoints. Every request the connector sends is validated
against the spec and so is every answer; an action either succeeds (its output validates against
its output schema) or the sandbox refuses it the way Klaviyo would (a 4xx for a made-up ID or a
business rule such as "a profile needs an identifier"), never because of the request's shape,
never with a 5xx, never by the connector's own checks.

Skipped until the sandbox answers every operation (its spec-driven core, ``sandbox/generic.py``).
"""

from __future__ import annotations

import importlib.util
from typing import Any

import jsonschema
import pytest
from contract import spec_path, validate_request, validate_response
from klaviyo_connector import Runner
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.http import KlaviyoClient
from klaviyo_connector.manifest import output_schema
from test_generated_actions import OPERATIONS, _action, _inputs

pytestmark = [
    pytest.mark.skipif(spec_path() is None, reason="Klaviyo OpenAPI spec not found"),
    pytest.mark.skipif(
        importlib.util.find_spec("klaviyo_connector.sandbox.generic") is None,
        reason="the sandbox does not answer every operation yet (no spec-driven core)",
    ),
]


def test_every_generated_action_runs_against_the_sandbox(sandbox_connection, monkeypatch):
    exchanges: list[Any] = []
    original = KlaviyoClient._exchange

    def recorded(self: Any, *args: Any, **kwargs: Any) -> Any:
        response = original(self, *args, **kwargs)
        exchanges.append(response)
        return response

    monkeypatch.setattr(KlaviyoClient, "_exchange", recorded)
    runner = Runner(client_options={"sleep": lambda _s: None, "pacing_scale": 0})
    company = runner.run_action("klaviyo", "getAccounts", connection=sandbox_connection)["data"]["data"][0][
        "id"
    ]
    outcomes: dict[str, int] = {"ok": 0, "refused": 0}
    problems: list[str] = []
    try:
        for op_id in OPERATIONS:
            action = _action(op_id)
            inputs = _inputs(action, False)
            if "companyId" in inputs:
                inputs["companyId"] = company
            exchanges.clear()
            try:
                out = runner.run_action("klaviyo", action.key, connection=sandbox_connection, inputs=inputs)
            except KlaviyoError as exc:
                if exc.status is None or exc.status >= 500:
                    problems.append(f"{op_id}: {exc}")
                    continue
                outcomes["refused"] += 1
            else:
                outcomes["ok"] += 1
                try:
                    jsonschema.validate(out, output_schema(action))
                except jsonschema.ValidationError as exc:
                    problems.append(f"{op_id}: output: {exc.message}")
            for response in exchanges:
                sent = response.request
                try:
                    assert validate_request(sent.method, sent.url, sent.headers, sent.body) == op_id
                    validate_response(sent.method, sent.url, response.status_code, response.content)
                except AssertionError as exc:
                    problems.append(f"{op_id}: {str(exc)[:300]}")
    finally:
        runner.close()
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    assert outcomes["ok"] + outcomes["refused"] == len(OPERATIONS)
    assert outcomes["ok"] >= 80, outcomes  # made-up IDs leave the rest a 404, business rules a 400
