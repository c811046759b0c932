"""Every one of the spec's operations, answered by a real sandbox over HTTP and validated against the spec.

Inputs are built from the spec: request bodies are the smallest instance of the operation's
request schema (klaviyo_connector.sandbox.instances.minimal, the same builder the sandbox uses to
fill members it never stored), with the ids of resources made earlier in the run; path ids come
from creating what the API can create, otherwise from seeding the store. Each request is checked
by tests/contract.py before it is sent and each answer after.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from contract import load_spec, validate_response
from klaviyo_connector import catalog, schemas
from klaviyo_connector.sandbox import Sandbox, SandboxOptions, generic
from klaviyo_connector.sandbox.instances import minimal
from sandbox_helpers import Client

# What a real caller sends where the smallest valid body is not enough: required filters, and
# members the hand-written behaviour needs (an identifier, a non-empty list, a real id).
REQUIRED_QUERY: dict[str, dict[str, str]] = {
    "get_campaigns": {"filter": "equals(messages.channel,'email')"},
    "get_coupon_codes": {"filter": "any(coupon.id,['EVERY10'])"},
}
EMAIL = {
    "channel": "email",
    "label": "Main",
    "content": {"subject": "Hi", "from_email": "store@example.com", "from_label": "Store"},
}


def _attrs(body: dict[str, Any]) -> dict[str, Any]:
    return body["data"]["attributes"]


def _profiles(emails: list[str]) -> dict[str, Any]:
    return {"data": [{"type": "profile", "attributes": {"email": e}} for e in emails]}


def _subscribers(emails: list[str], consent_status: str = "SUBSCRIBED") -> dict[str, Any]:
    consent = {"email": {"marketing": {"consent": consent_status}}}
    return {
        "data": [{"type": "profile", "attributes": {"email": e, "subscriptions": consent}} for e in emails]
    }


def _event(run: Run, profile: bool = True) -> dict[str, Any]:
    event: dict[str, Any] = {
        "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}},
        "properties": {"sku": "EVERY"},
        "time": "2026-07-01T10:00:00Z",
    }
    if profile:
        event["profile"] = {"data": {"type": "profile", "attributes": {"email": "buyer@example.com"}}}
    return event


BODIES: dict[str, Any] = {
    "create_profile": lambda run, b: _attrs(b).update(email="every@example.com"),
    "create_or_update_profile": lambda run, b: _attrs(b).update(email="upsert@example.com"),
    "create_list": lambda run, b: _attrs(b).update(name="Every"),
    "create_coupon": lambda run, b: _attrs(b).update(external_id="EVERY10"),
    "create_template": lambda run, b: _attrs(b).update(
        name="Every", editor_type="CODE", html="<html><body>Hi</body></html>"
    ),
    "create_campaign": lambda run, b: _attrs(b).update(
        name="Every",
        audiences={"included": [run.ensure("list")]},
        **{
            "campaign-messages": {"data": [{"type": "campaign-message", "attributes": {"definition": EMAIL}}]}
        },
    ),
    "create_segment": lambda run, b: _attrs(b).update(
        name="Every",
        definition={
            "condition_groups": [
                {
                    "conditions": [
                        {
                            "type": "profile-property",
                            "property": "email",
                            "filter": {"type": "existence", "operator": "is-set"},
                        }
                    ]
                }
            ]
        },
    ),
    "create_webhook": lambda run, b: (
        _attrs(b).update(endpoint_url="https://example.com/hook", secret_key="every-operation-secret"),
        b["data"].update(
            relationships={
                "webhook-topics": {"data": [{"type": "webhook-topic", "id": run.ensure("webhook-topic")}]}
            }
        ),
    ),
    "send_campaign": lambda run, b: b["data"].update(id=run.ensure("campaign")),
    "upload_image_from_url": lambda run, b: _attrs(b).update(
        import_from_url="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
    ),
    "assign_template_to_campaign_message": lambda run, b: b["data"].update(
        id=run.ensure("campaign-message"),
        relationships={"template": {"data": {"type": "template", "id": run.ensure("template")}}},
    ),
    "merge_profiles": lambda run, b: b["data"].update(
        id=run.ensure("profile"),
        relationships={"profiles": {"data": [{"type": "profile", "id": run.second_profile()}]}},
    ),
    "bulk_import_profiles": lambda run, b: _attrs(b).update(profiles=_profiles(["imported@example.com"])),
    "bulk_suppress_profiles": lambda run, b: _attrs(b).update(profiles=_profiles(["suppressed@example.com"])),
    "bulk_unsuppress_profiles": lambda run, b: _attrs(b).update(
        profiles=_profiles(["suppressed@example.com"])
    ),
    "bulk_subscribe_profiles": lambda run, b: _attrs(b).update(profiles=_subscribers(["sub@example.com"])),
    "bulk_unsubscribe_profiles": lambda run, b: _attrs(b).update(
        profiles=_subscribers(["sub@example.com"], "UNSUBSCRIBED")
    ),
    "bulk_create_events": lambda run, b: _attrs(b).update(
        **{
            "events-bulk-create": {
                "data": [
                    {
                        "type": "event-bulk-create",
                        "attributes": {
                            "profile": {
                                "data": {"type": "profile", "attributes": {"email": "bulk@example.com"}}
                            },
                            "events": {"data": [{"type": "event", "attributes": _event(run, profile=False)}]},
                        },
                    }
                ]
            }
        }
    ),
    "create_event": lambda run, b: _attrs(b).update(_event(run)),
    "create_client_event": lambda run, b: _attrs(b).update(_event(run)),
    "create_client_profile": lambda run, b: _attrs(b).update(email="client@example.com"),
    "bulk_create_client_events": lambda run, b: _attrs(b).update(
        profile={"data": {"type": "profile", "attributes": {"email": "client-bulk@example.com"}}},
        events={"data": [{"type": "event", "attributes": _event(run, profile=False)}]},
    ),
    "request_profile_deletion": lambda run, b: _attrs(b).update(
        profile={"data": {"type": "profile", "attributes": {"email": "gone@example.com"}}}
    ),
    "query_campaign_values": lambda run, b: _attrs(b).update(
        statistics=["recipients"],
        timeframe={"key": "last_30_days"},
        conversion_metric_id=run.ensure("metric"),
    ),
    "query_metric_aggregates": lambda run, b: _attrs(b).update(
        metric_id=run.ensure("metric"),
        measurements=["count"],
        filter=["greater-or-equal(datetime,2026-06-01T00:00:00)", "less-than(datetime,2026-07-15T00:00:00)"],
    ),
    "add_profiles_to_list": lambda run, b: b.update(data=[{"type": "profile", "id": run.ensure("profile")}]),
    "remove_profiles_from_list": lambda run, b: b.update(
        data=[{"type": "profile", "id": run.ensure("profile")}]
    ),
    "update_flow": lambda run, b: _attrs(b).update(status="draft"),
    "cancel_campaign_send": lambda run, b: _attrs(b).update(action="cancel"),
}
# Where the spec lets one kind of operation depend on another: writes before reads, deletes last.
_ORDER = (
    "create",
    "named",
    "accept",
    "update",
    "link",
    "job",
    "query",
    "list",
    "get",
    "related",
    "relationship",
)


def _ordered() -> list[catalog.Operation]:
    def key(op: catalog.Operation) -> tuple[int, int, str]:
        kind = generic.shape(op).kind
        if op.method == "DELETE":
            # Links first, then what hangs on others (coupon codes before coupons).
            return (len(_ORDER) + (0 if kind == "link" else 1), -len(op.path), op.id)
        if op.id == "cancel_campaign_send":  # cancelling sends the campaign first: after its update
            kind = "job"
        return (_ORDER.index(kind), 0, op.id)

    return sorted(catalog.operations(), key=key)


class Run:
    def __init__(self, box: Sandbox, call: Client, account_id: str) -> None:
        self.box, self.call, self.account_id = box, call, account_id
        self.made: dict[str, str] = {"account": account_id}
        self.answered: dict[str, Any] = {}
        self.failures: list[str] = []

    def ensure(self, rtype: str, enum: list[str] | None = None) -> str:
        """An id of an existing ``rtype``: made earlier in the run, else made now by the operation that
        creates one, else read from its collection, else seeded in the store."""
        rid = self.made.get(rtype)
        if rid is not None and (enum is None or rid in enum):
            return rid
        if enum is None:
            for op in catalog.operations():
                spec = generic.shape(op)
                if op.method == "POST" and spec.rtype == rtype and spec.kind in ("create", "job"):
                    self.run(op)
                    if rtype in self.made:
                        return self.made[rtype]
            for op in catalog.operations():
                if generic.shape(op) == generic.Shape("list", rtype):
                    self.run(op)
                    if rtype in self.made:
                        return self.made[rtype]
        rid = enum[0] if enum else f"{rtype[:3].upper()}seed1"
        if self.box.store.get(self.account_id, rtype, rid) is None:
            self.box.store.create(self.account_id, rtype, rid, {}, now="2026-07-01T00:00:00+00:00")
        self.made[rtype] = rid
        return rid

    def second_profile(self) -> str:
        r = self.call(
            "POST", "/api/profiles", {"data": {"type": "profile", "attributes": {"email": "two@example.com"}}}
        )
        return str(r.json()["data"]["id"])

    def path(self, op: catalog.Operation) -> str:
        parts = op.path.strip("/").split("/")
        rtype = generic._collections().get("/" + "/".join(parts[:2]))
        params = {p["name"]: p for p in op.parameters if p["in"] == "path"}
        out = []
        for seg in parts:
            if seg.startswith("{"):
                assert rtype is not None, op.id
                out.append(self.ensure(rtype, params[seg[1:-1]].get("enum")))
            else:
                out.append(seg)
        return "/" + "/".join(out)

    def body(self, op: catalog.Operation, path: str) -> Any:
        schema = schemas.request_schema(op.id)
        if schema is None or schemas.request_content_type(op.id) != "application/vnd.api+json":
            return None
        body = minimal(schema, schema, now="2026-07-01T00:00:00Z")
        data = body.get("data")
        if generic.shape(op).kind in ("create", "job", "accept"):
            # The ids the body refers to; its own id is the new resource's (or set by BODIES).
            for value in data.values() if isinstance(data, dict) else [data]:
                self._fill_ids(value)
        else:
            self._fill_ids(body)
        rtype = generic.shape(op).rtype
        if isinstance(data, dict) and op.method == "PATCH" and data.get("type") == rtype:
            data["id"] = path.rstrip("/").split("/")[3]
        if op.id in BODIES:
            BODIES[op.id](self, body)
        return body

    def _fill_ids(self, node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("type"), str) and node.get("id") == "sandbox":
                node["id"] = self.ensure(node["type"])
            for value in node.values():
                self._fill_ids(value)
        elif isinstance(node, list):
            for value in node:
                self._fill_ids(value)

    def query(self, op: catalog.Operation) -> dict[str, str]:
        params = dict(REQUIRED_QUERY.get(op.id, {}))
        if not op.security:
            params["company_id"] = self.account_id
        for p in op.parameters:
            if p["in"] == "query" and p["required"] and p["name"] not in params:
                params[p["name"]] = str(p.get("enum", ["sandbox"])[0])
        return params

    def link_seeded(self, op: catalog.Operation, path: str) -> None:
        """A to-one relationship read on a resource that has none yet: link one in the store, as
        the API that makes it (a flow message's action, a form version's form) would have."""
        spec = generic.shape(op)
        if spec.kind not in ("related", "relationship") or op.response_data != "one":
            return
        root = schemas.response_schema(op.id, 200)
        target, _ = generic._data(root)
        ttype = generic._type_of(target, root or {})
        rid = path.strip("/").split("/")[2]
        row = self.box.store.get(self.account_id, str(spec.rtype), rid)
        if row is None or ttype is None or row.relationships.get(str(spec.relation)):
            return
        if not row.attributes.get(f"{str(spec.relation).replace('-', '_')}_id"):
            relationships = {**row.relationships, str(spec.relation): self.ensure(ttype)}
            self.box.store.update(
                self.account_id, row.type, rid, relationships=relationships, now="2026-07-01T00:00:00+00:00"
            )

    def send(self, op: catalog.Operation) -> Any:
        path = self.path(op)
        self.link_seeded(op, path)
        if op.id == "upload_image_from_file":
            return self._upload(path)
        body = self.body(op, path)
        headers = None
        if not op.security:
            headers = {"revision": "2026-07-15", "Accept": "application/vnd.api+json"}
            if body is not None:
                headers["Content-Type"] = "application/vnd.api+json"
        r = self.call(op.method, path, body, params=self.query(op), headers=headers)
        if r.status_code < 300 and r.content:
            self._remember(r.json().get("data"))
        return r

    def _remember(self, data: Any) -> None:
        for item in data if isinstance(data, list) else [data]:
            if (
                isinstance(item, dict)
                and isinstance(item.get("id"), str)
                and isinstance(item.get("type"), str)
            ):
                self.made.setdefault(item["type"], item["id"])
                for rel in (item.get("relationships") or {}).values():
                    if isinstance(rel, dict) and rel.get("data"):
                        self._remember(rel["data"])

    def _upload(self, path: str) -> Any:
        sent = {k: v for k, v in self.call.headers.items() if k != "Content-Type"}
        files = {"file": ("a.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png")}
        r = self.call.session.post(self.call.base_url + path, files=files, headers=sent, timeout=10)
        validate_response("POST", self.call.base_url + path, r.status_code, r.content or None)
        return r

    def run(self, op: catalog.Operation) -> None:
        if op.id in self.answered:
            return
        self.answered[op.id] = None  # a dependency cycle stops here
        try:
            r = self.send(op)
        except AssertionError as exc:  # the contract check of the request or the response
            self.failures.append(f"{op.id}: {str(exc)[:400]}")
            return
        self.answered[op.id] = r.status_code
        if not 200 <= r.status_code < 300:
            self.failures.append(f"{op.id}: {r.status_code} {r.text[:400]}")


@pytest.fixture
def run() -> Iterator[Run]:
    load_spec()
    box = Sandbox(SandboxOptions(state_path=":memory:", rate_limit_scale=0))
    url = box.start()
    call = Client(url)
    account_id = call("GET", "/api/accounts").json()["data"][0]["id"]
    yield Run(box, call, account_id)
    box.stop()


def test_every_operation_answers_2xx_and_validates(run: Run) -> None:
    for op in _ordered():
        run.run(op)
    assert run.failures == [], "\n".join(run.failures)
    assert sum(1 for status in run.answered.values() if status and 200 <= status < 300) == 345
    assert len(catalog.operations()) == 345
