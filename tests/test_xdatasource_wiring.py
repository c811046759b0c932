"""Every ID input of every action names the picklist that fills it, and that picklist exists.

An input is ID-like when its label (JSON Schema ``title``) ends in " ID" or " IDs"; it must
carry ``x-data-source`` naming a declared data source, unless its label is in ALLOW_LIST.
Nested input models (``$defs``) are checked too, and every ``x-data-source`` anywhere in a
schema must resolve.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from klaviyo_connector.component import component
from klaviyo_connector.inputs import IdField, Inputs, data_source
from pydantic import Field

# ID inputs no picklist can fill, and why.
ALLOW_LIST = {
    "Campaign Message ID": "a message belongs to one campaign; it comes from that campaign's response",
    "Event Unique ID": "a caller-chosen deduplication key, not a Klaviyo record",
    "Unique ID": "a caller-chosen deduplication key, not a Klaviyo record",
    "External ID": "an identifier from the caller's own system",
    "Anonymous ID": "an identifier the caller's own site gives an anonymous visitor",
}
# Asynchronous job IDs come from the response of the call that started the job.
ALLOWED_SUFFIXES = ("Job ID",)


def _is_id_label(title: str) -> bool:
    return title.endswith(" ID") or title.endswith(" IDs")


def _allowed(title: str) -> bool:
    return title in ALLOW_LIST or title.endswith(ALLOWED_SUFFIXES)


def _models(schema: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "", schema
    for name, sub in (schema.get("$defs") or {}).items():
        yield f"{name}.", sub


def _references(node: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every ``x-data-source`` value anywhere in a schema, with where it is."""
    if isinstance(node, dict):
        if "x-data-source" in node:
            yield where, node["x-data-source"]
        for key, value in node.items():
            yield from _references(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _references(value, f"{where}/{i}")


def problems(key: str, model: type[Any], declared: set[str]) -> list[str]:
    """What is wrong with one action's input wiring (empty when all is well)."""
    schema = model.model_json_schema()
    found: list[str] = []
    for prefix, sub in _models(schema):
        for name, prop in (sub.get("properties") or {}).items():
            title = prop.get("title") or ""
            if _is_id_label(title) and "x-data-source" not in prop and not _allowed(title):
                found.append(f"{key}: {prefix}{name} ({title!r}) has no x-data-source")
    for where, ref in _references(schema, key):
        if ref not in declared:
            found.append(f"{where}: x-data-source {ref!r} is not a declared data source")
    return found


def test_every_id_input_names_a_declared_data_source():
    declared = set(component.data_sources)
    found = [p for a in component.actions.values() for p in problems(a.key, a.inputs, declared)]
    assert not found, "ID inputs without a working picklist:\n" + "\n".join(found)


def test_the_allow_list_holds_only_id_labels():
    assert all(_is_id_label(title) for title in ALLOW_LIST)


# -- the checker itself -------------------------------------------------------------------


class _Audience(Inputs):
    listId: str = IdField("List ID", "A list.", "RE83th", "selectList")
    segmentIds: list[str] = Field(title="Segment IDs")  # unwired, nested


class _Sample(Inputs):
    profileId: str = IdField("Profile ID", "A profile.", "01ABC", "selectProfile")
    templateId: str = IdField("Template ID", "A template.", "T1", "selectNothing")
    metricId: str | None = Field(None, title="Metric ID", json_schema_extra=data_source("selectMetric"))
    externalId: str | None = Field(None, title="External ID")
    importJobId: str | None = Field(None, title="Import Job ID")
    audience: _Audience | None = Field(None, title="Audience")
    imageId: str | None = Field(None, title="Image ID")


@pytest.fixture
def declared() -> set[str]:
    return {"selectList", "selectProfile", "selectMetric"}


def test_checker_finds_unwired_ids_top_level_and_nested_and_unknown_sources(declared):
    assert sorted(problems("sample", _Sample, declared)) == sorted(
        [
            "sample: imageId ('Image ID') has no x-data-source",
            "sample: _Audience.segmentIds ('Segment IDs') has no x-data-source",
            "sample/properties/templateId: x-data-source 'selectNothing' is not a declared data source",
        ]
    )


def test_checker_accepts_a_fully_wired_model(declared):
    class Wired(Inputs):
        listId: str = IdField("List ID", "A list.", "RE83th", "selectList")
        eventUniqueId: str | None = Field(None, title="Event Unique ID")

    assert problems("wired", Wired, declared) == []
