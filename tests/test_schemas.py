"""Generated request/response schemas: freshness against the spec, no prose, self-contained JSON Schemas."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from generated_files import assert_current
from jsonschema import Draft202012Validator
from klaviyo_connector import catalog, schemas

REPO = Path(__file__).resolve().parents[1]
SCHEMAS_JSON = REPO / "connector" / "schemas.json"


def test_schemas_json_is_up_to_date(tmp_path: Path) -> None:
    assert_current("gen_schemas.py", SCHEMAS_JSON, tmp_path)


def test_import_does_not_read_schemas() -> None:
    code = "import klaviyo_connector.schemas as s; assert s._data.cache_info().currsize == 0"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stderr


def _keys_outside_properties(node: Any) -> set[str]:
    keys: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties":
                for sub in value.values():
                    keys |= _keys_outside_properties(sub)
            elif key not in ("enum", "default", "const"):
                keys.add(key)
                keys |= _keys_outside_properties(value)
    elif isinstance(node, list):
        for value in node:
            keys |= _keys_outside_properties(value)
    return keys


def test_no_prose_and_compact() -> None:
    text = SCHEMAS_JSON.read_text(encoding="utf-8")
    data = json.loads(text)
    assert ", " not in text[:2000] and ": " not in text[:2000]
    keywords = set()
    for name in ("operations", "responses", "schemas"):
        keywords |= _keys_outside_properties(data[name])
    assert not keywords & {"description", "summary", "title", "example", "examples", "externalDocs"}
    assert not {k for k in keywords if k.startswith("x-")}
    assert len(data["operations"]) == 345 == len(catalog.operations())
    assert data["spec_version"] == catalog.spec_version()


def test_every_schema_is_a_valid_self_contained_2020_12_schema() -> None:
    checked: set[str] = set()
    for op in catalog.operations():
        found = [schemas.request_schema(op.id)]
        for status in schemas.response_statuses(op.id):
            code = int(status.replace("XX", "00"))
            found.append(schemas.response_schema(op.id, code))
        for schema in filter(None, found):
            assert schema["$schema"] == schemas.DIALECT
            # Each component is checked once: the meta-schema check is slow on 1,000+ shared $defs.
            Draft202012Validator.check_schema({k: v for k, v in schema.items() if k != "$defs"})
            for name in set(schema["$defs"]) - checked:
                Draft202012Validator.check_schema(schema["$defs"][name])
                checked.add(name)
            text = json.dumps(schema)
            assert "#/components/" not in text and '"nullable"' not in text and '"oneOf"' not in text, op.id
            # Every reference resolves inside the document itself.
            for ref in {part.split('"')[0] for part in text.split('"$ref": "#/$defs/')[1:]}:
                assert ref in schema["$defs"], (op.id, ref)


def test_request_schema_checks_bodies() -> None:
    schema = schemas.request_schema("create_list")
    assert schema is not None and schemas.request_content_type("create_list") == "application/vnd.api+json"
    assert schemas.request_required("create_list") is True
    validator = Draft202012Validator(schema)
    good = {"data": {"type": "list", "attributes": {"name": "VIP", "opt_in_process": "double_opt_in"}}}
    assert list(validator.iter_errors(good)) == []
    bad_enum = {"data": {"type": "list", "attributes": {"name": "VIP", "opt_in_process": "maybe"}}}
    assert [e.message for e in validator.iter_errors(bad_enum)] == [
        "'maybe' is not one of ['double_opt_in', 'single_opt_in', None]"
    ]
    missing = {"data": {"type": "list", "attributes": {}}}
    assert [e.message for e in validator.iter_errors(missing)] == ["'name' is a required property"]
    # nullable -> union with null
    profile = Draft202012Validator(schemas.request_schema("create_profile"))
    assert not list(profile.iter_errors({"data": {"type": "profile", "attributes": {"phone_number": None}}}))
    assert list(profile.iter_errors({"data": {"type": "profile", "attributes": {"phone_number": 5}}}))
    assert (
        schemas.request_schema("get_profiles") is None
        and schemas.request_content_type("get_profiles") is None
    )
    assert schemas.request_content_type("upload_image_from_file") == "multipart/form-data"


def test_response_schemas() -> None:
    doc = schemas.response_schema("get_list", 200)
    assert doc is not None and doc["$ref"] == "#/$defs/GetListRetrieveResponseCompoundDocument"
    assert doc["$defs"]["GetListRetrieveResponseCompoundDocument"]["required"] == ["data"]
    assert schemas.response_schema("create_event", 202) is None
    error = schemas.response_schema("get_list", 404)
    assert error is not None and error["properties"]["errors"]["items"]["required"] == [
        "id",
        "code",
        "title",
        "detail",
    ]
    assert schemas.response_schema("get_list", 200) is doc  # cached per operation and status
    with pytest.raises(KeyError, match=r"get_list: status 201 is not declared"):
        schemas.response_schema("get_list", 201)
    with pytest.raises(KeyError, match="unknown Klaviyo operation 'no_such_op'"):
        schemas.request_schema("no_such_op")
    assert schemas.spec_version() == catalog.spec_version()
