"""The generated API catalog: freshness against the spec, and facts the connector relies on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from generated_files import assert_current
from klaviyo_connector import catalog

REPO = Path(__file__).resolve().parents[1]
CATALOG_JSON = REPO / "connector" / "catalog.json"


def test_catalog_json_is_up_to_date(tmp_path: Path) -> None:
    assert_current("gen_catalog.py", CATALOG_JSON, tmp_path)


def test_import_does_not_read_catalog() -> None:
    code = "import klaviyo_connector.catalog as c; assert c._catalog.cache_info().currsize == 0"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr


def test_counts_and_version() -> None:
    ops = catalog.operations()
    assert len(ops) == 345
    assert [o.id for o in ops] == sorted(o.id for o in ops)
    assert catalog.spec_version() == json.loads(CATALOG_JSON.read_text())["spec_version"]


def test_page_sizes() -> None:
    def sizes(op_id: str) -> tuple[int | None, int | None]:
        op = catalog.operation(op_id)
        return op.page_size_default, op.page_size_max

    assert sizes("get_profiles") == (20, 100)
    assert sizes("get_lists") == (10, 10)
    assert sizes("get_events") == (200, 1000)
    assert sizes("get_metrics") == (None, None)
    assert catalog.operation("get_profiles").cursor_param == "page[cursor]"
    assert catalog.operation("query_campaign_values").cursor_param == "page_cursor"


def test_rate_limits() -> None:
    assert catalog.operation("create_list").rate_limit == catalog.RateLimit(10, 150, 150)
    assert catalog.operation("query_campaign_values").rate_limit == catalog.RateLimit(1, 2, 225)
    assert catalog.operation("get_profiles").rate_limit == catalog.RateLimit(75, 750, None)


def test_scopes() -> None:
    assert {"lists:read", "profiles:read"} <= set(catalog.operation("get_profiles_for_list").scopes)
    assert catalog.scopes_for(["get_profiles", "create_list"]) == ("lists:write", "profiles:read")
    assert catalog.scopes_for([]) == ()


def test_filters() -> None:
    op = catalog.operation("get_profiles")
    email = op.filters["email"]
    assert {"equals", "any"} <= set(email.operators)
    assert "any" in email.list_operators and "equals" in email.single_operators
    created = op.filters["created"]
    assert {"greater-than", "less-than"} <= set(created.operators)
    assert created.type == "date-time"
    assert catalog.operation("get_events").filters["profile"].operators == ("has",)
    assert catalog.operation("get_campaigns").filter_required is True
    assert catalog.operation("get_profiles").filter_required is False


def test_sort_include_fields() -> None:
    op = catalog.operation("get_profiles")
    assert op.sort is not None and "-created" in op.sort
    assert op.include == ("conversations", "push-tokens")
    assert "email" in op.fields["profile"]
    assert op.additional_fields["profile"] == ("subscriptions", "predictive_analytics")
    size = op.param("page[size]")
    assert size is not None and size["maximum"] == 100 and size["in"] == "query"
    assert op.param("nope") is None
    assert catalog.operation("get_metrics").sort is None


def test_bodies_and_security() -> None:
    create = catalog.operation("create_profile")
    assert (create.method, create.path, create.success) == ("POST", "/api/profiles", (201,))
    assert create.request_content_type == "application/vnd.api+json" and create.body_required
    assert catalog.operation("upload_image_from_file").request_content_type == "multipart/form-data"
    assert catalog.operation("get_profiles").request_content_type is None
    client_ops = [o for o in catalog.operations() if not o.security]
    assert len(client_ops) == 12 and all(o.path.startswith("/client/") for o in client_ops)


def test_aliases() -> None:
    assert catalog.operation("spawn_bulk_profile_import_job").id == "bulk_import_profiles"
    assert catalog.operation("spawn_bulk_profile_import_job") is catalog.operation("bulk_import_profiles")
    with pytest.raises(KeyError, match="unknown Klaviyo operation 'no_such_op'"):
        catalog.operation("no_such_op")


def test_match() -> None:
    def op_id(method: str, path: str) -> str | None:
        op = catalog.match(method, path)
        return op.id if op else None

    assert op_id("GET", "/api/profiles/abc") == "get_profile"
    assert op_id("POST", "/api/profile-import") == "create_or_update_profile"
    assert op_id("DELETE", "/api/lists/X/relationships/profiles") == "remove_profiles_from_list"
    assert op_id("get", "https://a.klaviyo.com/api/profiles/?page[size]=5") == "get_profiles"
    assert op_id("GET", "/api/profiles/abc/lists") == "get_lists_for_profile"
    assert op_id("PUT", "/api/profiles") is None
    assert op_id("GET", "/api/nothing-here") is None


def test_match_every_template() -> None:
    import re

    for op in catalog.operations():
        concrete = re.sub(r"\{[^}]+\}", "01HX", op.path)
        assert catalog.match(op.method, concrete) is op, op.id


def _walk_keys(node: Any) -> set[str]:
    keys: set[str] = set()
    if isinstance(node, dict):
        keys.update(node)
        for value in node.values():
            keys |= _walk_keys(value)
    elif isinstance(node, list):
        for value in node:
            keys |= _walk_keys(value)
    return keys


def test_catalog_has_no_prose() -> None:
    keys = _walk_keys(json.loads(CATALOG_JSON.read_text(encoding="utf-8")))
    assert not keys & {"description", "summary", "example", "examples"}


def test_body_enums() -> None:
    op = catalog.operation("query_campaign_values")
    statistics = op.body_enums["data.attributes.statistics[]"]
    assert {"recipients", "open_rate", "conversion_value"} <= set(statistics)
    assert list(statistics) == sorted(statistics)
    throttle = catalog.body_enum("create_campaign", "data.attributes.send_strategy.throttle_percentage")
    assert throttle == (1, 2, 5, 10, 11, 13, 14, 17, 20, 25, 33, 50)
    # oneOf branches merge into one path: every send strategy's method.
    methods = catalog.body_enum("update_campaign", "data.attributes.send_strategy.method")
    assert methods == ("immediate", "smart_send_time", "static", "throttled")
    assert catalog.body_enum("create_list", "data.attributes.opt_in_process") == (
        "double_opt_in",
        "single_opt_in",
    )
    assert catalog.operation("get_profiles").body_enums == {}
    with pytest.raises(KeyError, match="create_list: no enum at 'data.attributes.name'"):
        catalog.body_enum("create_list", "data.attributes.name")


def test_generator_body_enums_follow_refs_branches_items_and_stop_at_recursion(monkeypatch) -> None:
    import importlib.util

    monkeypatch.syspath_prepend(str(REPO / "scripts"))  # as when the script runs: its folder first
    spec = importlib.util.spec_from_file_location("gen_catalog", REPO / "scripts" / "gen_catalog.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    schemas = {
        "Node": {
            "type": "object",
            "properties": {
                "kind": {"type": "string", "enum": ["leaf", "branch"]},
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
            },
        },
        "Flag": {"type": "boolean", "enum": [True, False]},
    }
    body = {
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "node": {"$ref": "#/components/schemas/Node"},
                        "level": {
                            "oneOf": [
                                {"type": "integer", "enum": [2, 1]},
                                {"$ref": "#/components/schemas/Flag"},
                            ]
                        },
                        "tags": {
                            "type": "object",
                            "additionalProperties": {"type": "string", "enum": ["b", "a"]},
                        },
                    },
                }
            }
        }
    }
    assert gen._body_enums(body, schemas) == {
        "node.kind": ["branch", "leaf"],
        "level": [False, True, 1, 2],  # True and 1 stay distinct values
        "tags.*": ["a", "b"],
    }
    assert gen._body_enums(None, schemas) == {}
