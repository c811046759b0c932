"""Fuzz: whatever a host sends and whatever the server answers, only results or KlaviyoErrors.

For every action, inputs are drawn from the action's own JSON Schema (the form a builder
renders) and from arbitrary form values (strings, numbers, nested JSON, JSON text), and run
through the Runner against a mock that answers each request with a drawn status and body
(valid documents, errors, garbage, nothing). A raw Python exception escaping
``Runner.run_action`` fails the test. ``KLAVIYO_FUZZ_EXAMPLES`` raises the examples per
action (default 12, so CI stays fast); runs are derandomized, so CI is repeatable.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from klaviyo_connector import Runner
from klaviyo_connector.component import component
from klaviyo_connector.errors import KlaviyoError

CONNECTION = {"key": "apiKey", "fields": {"apiKey": "pk_" + "f" * 32}}
EXAMPLES = int(os.environ.get("KLAVIYO_FUZZ_EXAMPLES", "12"))
ACTIONS = sorted(component.actions)
TRIED: dict[str, int] = {}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
form_value = (
    json_values
    | json_values.map(json.dumps)
    | st.sampled_from(["", " ", "null", "[", "{", "../x", "1e300", "-1", "inf", "NaN", "true", "2026-13-45"])
    | st.just("[" * 5000)
)
RESOURCE = {
    "type": "profile",
    "id": "01F",
    "attributes": {"email": "a@example.com", "name": "x", "created": "2026-01-01T00:00:00+00:00"},
}
bodies = st.sampled_from(
    [
        json.dumps({"data": RESOURCE}),
        json.dumps({"data": [RESOURCE], "links": {"next": None}}),
        json.dumps({"data": []}),
        json.dumps(
            {"errors": [{"status": "400", "code": "invalid", "detail": "no", "source": {"pointer": "/data"}}]}
        ),
        "",
        "not json",
        json.dumps([1, 2]),
        json.dumps({"data": "x"}),
        json.dumps({"data": {"id": None}}),
        json.dumps({"data": [None, 3]}),
    ]
)
answers = st.tuples(st.sampled_from([200, 201, 202, 204, 400, 403, 404, 409, 429, 500, 503]), bodies)


def from_schema(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values shaped by a pydantic JSON Schema: its enums, examples, types, arrays and objects
    (refs resolved). Loose on purpose: values near the schema find more than exact ones."""
    if "$ref" in schema:
        return st.deferred(lambda: from_schema(defs[schema["$ref"].rsplit("/", 1)[-1]], defs))
    options: list[st.SearchStrategy[Any]] = []
    if "enum" in schema:
        options.append(st.sampled_from(schema["enum"]))
    if "const" in schema:
        options.append(st.just(schema["const"]))
    if schema.get("examples"):
        options.append(st.sampled_from(schema["examples"]))
    for key in ("anyOf", "oneOf", "allOf"):
        options.extend(from_schema(sub, defs) for sub in schema.get(key, ()))
    kind = schema.get("type")
    if kind == "string":
        fmt = {"email": st.emails(), "date-time": st.datetimes().map(lambda d: d.isoformat())}
        options.append(fmt.get(schema.get("format", ""), st.text(max_size=30)))
    elif kind in ("integer", "number"):
        options.append(st.integers(-(10**6), 10**6) if kind == "integer" else st.floats(allow_nan=False))
    elif kind == "boolean":
        options.append(st.booleans())
    elif kind == "null":
        options.append(st.none())
    elif kind == "array":
        options.append(st.lists(from_schema(schema.get("items", {}), defs), max_size=3))
    elif kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        options.append(
            st.fixed_dictionaries(
                {k: from_schema(v, defs) for k, v in props.items() if k in required},
                optional={k: from_schema(v, defs) for k, v in props.items() if k not in required},
            )
            if props
            else st.dictionaries(st.text(max_size=8), json_values, max_size=3)
        )
    return st.one_of(options) if options else json_values


def _schema_inputs(key: str) -> st.SearchStrategy[dict[str, Any]]:
    schema = component.actions[key].inputs.model_json_schema()
    return from_schema(schema, schema.get("$defs", {}))


def _form_inputs(key: str) -> st.SearchStrategy[dict[str, Any]]:
    names = list(component.actions[key].inputs.model_fields) + ["notAnInput"]
    return st.dictionaries(st.sampled_from(names), form_value, max_size=len(names))


@pytest.mark.parametrize("key", ACTIONS)
def test_only_results_or_klaviyo_errors_come_out(key):
    runner = Runner(client_options={"sleep": lambda _s: None, "random": lambda: 0.0})

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(
        inputs=st.one_of(_schema_inputs(key), _form_inputs(key)),
        script=st.lists(answers, min_size=1, max_size=4),
    )
    def run(inputs: dict[str, Any], script: list[tuple[int, str]]) -> None:
        TRIED[key] = TRIED.get(key, 0) + 1
        calls = iter(script * 50)

        def answer(_request: Any) -> tuple[int, dict[str, str], str]:
            status, body = next(calls, (500, ""))
            return status, {"Content-Type": "application/vnd.api+json", "Retry-After": "0"}, body

        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            for method in ("GET", "POST", "PATCH", "PUT", "DELETE", "HEAD", "OPTIONS"):
                mock.add_callback(method, re.compile(r"https://a\.klaviyo\.com/.*"), callback=answer)
            try:
                out = runner.run_action("klaviyo", key, connection=CONNECTION, inputs=inputs, timeout=30)
            except KlaviyoError as exc:
                json.dumps(exc.to_dict(), allow_nan=False)  # the error is plain JSON for hosts
                assert exc.error_class != "internal", exc.message
            else:
                json.dumps(out, default=str)

    run()
    assert TRIED[key] >= min(EXAMPLES, 5)
