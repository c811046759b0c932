"""Hosts see the triggers: the manifest entries (kind, forms with picklists, record shape) and the
generated reference pages."""

from __future__ import annotations

import jsonschema
from klaviyo_connector import docs, manifest
from klaviyo_connector.cli import main
from klaviyo_connector.component import component


def test_the_manifest_lists_each_trigger_with_its_kind_form_and_picklists():
    built = manifest.build_manifest(component)
    jsonschema.validate(built, manifest.manifest_schema(), cls=jsonschema.Draft202012Validator)
    entries = {t["key"]: t for t in built["triggers"]}
    assert list(entries) == [
        "newProfile",
        "profileAddedToList",
        "profileAddedToSegment",
        "newEvent",
        "newSubscriber",
        "campaignSent",
        "instantEvent",
    ]
    assert {k: e["kind"] for k, e in entries.items() if e["kind"] == "webhook"} == {"instantEvent": "webhook"}
    assert entries["profileAddedToList"]["picklists"] == [
        {"pointer": "/properties/listId", "dataSource": "selectList"}
    ]
    assert entries["profileAddedToSegment"]["picklists"] == [
        {"pointer": "/properties/segmentId", "dataSource": "selectSegment"}
    ]
    assert entries["newEvent"]["picklists"] == [
        {"pointer": "/properties/metricId", "dataSource": "selectMetric"}
    ]
    assert entries["newEvent"]["inputSchema"]["required"] == ["metricId"]
    assert entries["newEvent"]["inputSchema"]["properties"]["since"]["title"] == "Start From"
    assert entries["instantEvent"]["scopes"] == ["webhooks:write"]
    assert entries["newProfile"]["recordSchema"]["required"] == ["key", "occurred_at", "data"]
    assert (
        "webhooks:write"
        in next(c for c in built["connections"] if c["key"] == "oauth2")["oauth2"]["defaultScopes"]
    )


def test_each_trigger_has_a_reference_page_saying_how_to_run_it():
    pages = docs.generate(component, examples=docs.Examples())
    page = pages["triggers/profileAddedToList.md"]
    assert "`profileAddedToList` · polling trigger ·" in page
    assert (
        "| List ID | `listId` | string | yes |" in page
        and "[Select List](../data-sources/selectList.md)" in page
    )
    assert "klaviyo-connector trigger poll profileAddedToList --state-file FILE" in page
    webhook = pages["triggers/instantEvent.md"]
    assert "`instantEvent` · webhook trigger ·" in webhook
    assert "only available to Advanced KDP customers and Klaviyo app partners" in webhook
    assert "[New Event (Instant)](triggers/instantEvent.md)" in pages["index.md"]


def test_the_cli_lists_and_describes_triggers(capsys):
    import json

    assert main(["triggers", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {"key": "newSubscriber", "label": "New Subscriber"} in listed
    assert main(["describe", "newSubscriber"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert (described["kind"], described["trigger_kind"]) == ("trigger", "polling")
    assert described["inputs"]["properties"]["listId"]["x-data-source"] == "selectList"
    assert described["scopes"] == ["lists:read", "profiles:read"]
    assert main(["run", "newSubscriber"]) == 2
    assert "use `klaviyo-connector trigger poll newSubscriber`" in capsys.readouterr().err
