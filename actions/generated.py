"""Every Klaviyo operation as an action, generated on first use from the catalog and the schema facts.

One action per operation of ``connector/catalog.json`` (345 in revision 2026-07-15), never copied
code or spec prose. The rules:

- **key**: the lowerCamel of the operationId (``get_catalog_items`` -> ``getCatalogItems``). Where
  that key is already a curated action's key (``getProfile``), the curated action keeps it and the
  generated twin's key takes the suffix ``Operation`` (``getProfileOperation``); like every generated
  action it is also reached by its operationId (``get_profile``), aliases and Composio slug.
- **label**: the operationId's words ("Get Catalog Items"); **description**: the operation's
  sentence from :data:`klaviyo_connector.actions.descriptions.DESCRIPTIONS`, then facts from the
  catalog: method and path, scopes, rate-limit tier.
- **inputs** and the request they make: :mod:`klaviyo_connector.operation_inputs`; a list
  operation pages through :func:`klaviyo_connector.listing.list_collection` (Page Size, Fetch All,
  Max Records) like the curated list actions.
- **output**: the spec's response schema of the operation's success status, as the manifest derives
  it for every action (:func:`klaviyo_connector.manifest.result_schema`); a 202/204 answer is
  acknowledged in words (:func:`klaviyo_connector.jsonapi.acknowledgement`).
- flags: ``generated=True`` and ``group`` :data:`GROUP`, so a host lists them apart from (after)
  the curated actions; ``read_only`` for GETs and ``query_*`` reports, ``idempotent`` for GET, PUT,
  PATCH and DELETE, ``destructive`` for deletions and merges.

Resolution (:func:`resolve`): a curated key, then a generated key, then an operationId or one of
the spec's ``x-klaviyo-operation-aliases``, then a Composio slug (``KLAVIYO_GET_PROFILES``,
:mod:`klaviyo_connector.actions.slugs`). An operationId, alias or slug always names the generated
action of that operation (exactly the operation, as the spec types it).

Listing (:func:`entries`) builds no action and no input model; looking one action up builds that
action's model only.
"""

from __future__ import annotations

import functools
import importlib
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from klaviyo_connector import catalog, naming

if TYPE_CHECKING:
    from klaviyo_connector.context import Context
    from klaviyo_connector.model import Action, Component
    from klaviyo_connector.operation_inputs import Plan

GROUP = "All operations"
TWIN_SUFFIX = "Operation"  # the key suffix of a generated action whose plain key is a curated one's
_DESTRUCTIVE_PREFIXES = ("delete_", "bulk_delete_", "remove_", "merge_")


@dataclass(frozen=True)
class Entry:
    """A generated action as a listing shows it, without building it."""

    key: str
    label: str
    operation: str  # the operationId it performs
    group: str = GROUP

    @property
    def description(self) -> str:
        return description(self.operation)


def curated_keys(component: Component) -> frozenset[str]:
    """The curated keys, from the actions package's index when it has one (no module imported)."""
    package = importlib.import_module(component.actions_ref.partition(":")[0])
    index = getattr(package, "MODULE_OF", None)
    return frozenset(index) if isinstance(index, Mapping) else frozenset(component.actions)


def key_for(operation_id: str, curated: frozenset[str]) -> str:
    """The generated action's key (see the module docstring)."""
    key = naming.lower_camel(operation_id)
    return f"{key}{TWIN_SUFFIX}" if key in curated else key


@functools.cache
def _entries(curated: frozenset[str]) -> tuple[Entry, ...]:
    return tuple(Entry(key_for(op.id, curated), naming.label(op.id), op.id) for op in catalog.operations())


def entries(component: Component) -> tuple[Entry, ...]:
    """Every generated action's key, label and operation, in operationId order; nothing is built."""
    return _entries(curated_keys(component))


def description(operation_id: str) -> str:
    """The operation's own sentence, then its method and path, scopes and rate-limit tier."""
    from klaviyo_connector.actions.descriptions import DESCRIPTIONS

    op = catalog.operation(operation_id)
    facts = [f"{op.method} {op.path}"]
    if op.scopes:
        facts.append(f"scopes: {', '.join(op.scopes)}")
    if not op.security:
        facts.append("a public client endpoint: it takes a company ID and is sent no API key")
    if op.rate_limit is not None:
        facts.append(f"rate limit: {op.rate_limit.describe()}")
    return f"{DESCRIPTIONS[op.id]} ({'; '.join(facts)}.)"


def build(operation_id: str, key: str) -> Action:
    """The action performing ``operation_id`` under ``key`` (its input model is built here)."""
    from klaviyo_connector.model import Action
    from klaviyo_connector.operation_inputs import plan

    op = catalog.operation(operation_id)
    the_plan = plan(op.id)

    def perform(ctx: Context, inputs: Any) -> Any:
        return send(the_plan, ctx, inputs)

    return Action(
        key=key,
        label=naming.label(op.id),
        description=description(op.id),
        inputs=the_plan.model,
        perform=perform,
        operations=(op.id,),
        read_only=op.method == "GET" or op.id.startswith("query_"),
        idempotent=op.method in ("GET", "PUT", "PATCH", "DELETE"),
        destructive=op.method == "DELETE" or op.id.startswith(_DESTRUCTIVE_PREFIXES),
        generated=True,
        group=GROUP,
    )


def _query_value(value: Any) -> Any:
    """Booleans as the API spells them (``true``), not as Python does."""
    return ("true" if value else "false") if isinstance(value, bool) else value


def send(plan: Plan, ctx: Context, inputs: Any) -> Any:
    """Make the operation's request from checked inputs; Klaviyo's document, or an acknowledgement."""
    from klaviyo_connector import operation_inputs as oi
    from klaviyo_connector.jsonapi import acknowledgement
    from klaviyo_connector.listing import build_filter, check_choice, list_collection
    from klaviyo_connector.paths import api_path

    op = catalog.operation(plan.operation)
    given = inputs.model_fields_set
    wire = inputs.model_dump(mode="json", exclude={s.key for s in plan.slots if s.where == oi.FILE})
    path: dict[str, Any] = {}
    params: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    meta: dict[str, Any] = {}
    relationships: dict[str, Any] = {}
    form: dict[str, str] = {}
    files: dict[str, Any] = {}
    data_id: str | None = None
    data: Any = None
    for slot in plan.slots:
        value = getattr(inputs, slot.key)
        if slot.where == oi.PATH:
            path[slot.wire] = value
            if slot.wire == plan.id_from_path:
                data_id = value
            continue
        if slot.key not in given or (value is None and not slot.nullable):
            continue
        if slot.where == oi.QUERY:
            params[slot.wire] = _query_value(wire[slot.key])
        elif slot.where == oi.CHOICES:
            params[slot.wire] = check_choice(op.id, slot.wire, value or (), slot.label) or None
        elif slot.where == oi.FILTER:
            params[slot.wire] = build_filter(op.id, value, label=slot.label)
        elif slot.where == oi.ATTRIBUTE:
            attributes[slot.wire] = wire[slot.key]
        elif slot.where == oi.META:
            meta[slot.wire] = wire[slot.key]
        elif slot.where == oi.RELATIONSHIP:
            refs = [{"type": slot.resource_type, "id": i} for i in value] if slot.many else None
            relationships[slot.wire] = {
                "data": refs if slot.many else {"type": slot.resource_type, "id": value}
            }
        elif slot.where == oi.RELATIONSHIP_RAW:
            relationships[slot.wire] = wire[slot.key]
        elif slot.where == oi.DATA_ID:
            data_id = value
        elif slot.where == oi.DATA_IDS:
            data = [{"type": slot.resource_type, "id": i} for i in value]
        elif slot.where == oi.DATA:
            data = wire[slot.key]
        elif slot.where == oi.PART:
            form[slot.wire] = str(_query_value(wire[slot.key]))
        elif slot.where == oi.FILE:
            files[slot.wire] = _file_part(slot.wire, value)
    params = {k: v for k, v in params.items() if v is not None}
    url = api_path(op.path, **path)
    if plan.listing:
        return list_collection(ctx, url, op.id, inputs, params)
    body: Any = None
    if plan.data_type is not None and data is None:
        data = {"type": plan.data_type}
        if data_id is not None:
            data["id"] = data_id
        if attributes or plan.attributes_required:
            data["attributes"] = attributes
        if relationships:
            data["relationships"] = relationships
        if meta:
            data["meta"] = meta
    if data is not None:
        body = {"data": data}
    response = ctx.client.request(
        op.method,
        url,
        params=params or None,
        json_body=body,
        data=form or None,
        files=files or None,
        operation=op.id,
        idempotent=op.method in ("GET", "PUT", "PATCH", "DELETE"),
        authorize=op.security,  # client endpoints take the public company ID, never the private key
    )
    if response.status in (202, 204) or not response.content:
        return acknowledgement(response, f"Klaviyo accepted {naming.label(op.id)} ({op.method} {url}).")
    return response.json()


def _file_part(name: str, content: bytes) -> tuple[str, bytes, str]:
    """A file part: Klaviyo's only multipart operation uploads an image, so the image's own format
    (checked by its first bytes) names the file and its MIME type."""
    from klaviyo_connector.actions.images import image_format

    try:
        fmt, mime = image_format(content, "the file")
    except ValueError as exc:
        from klaviyo_connector.errors import input_error

        raise input_error(naming.label(name), str(exc)) from None
    return f"{name}.{fmt}", content, mime


class GeneratedActions(Mapping[str, "Action"]):
    """The generated actions by key, each built (with its input model) on first access only."""

    def __init__(self, component: Component) -> None:
        self._component = component
        self._built: dict[str, Action] = {}
        self._lock = threading.Lock()

    @functools.cached_property
    def _by_key(self) -> dict[str, Entry]:
        return {e.key: e for e in entries(self._component)}

    @functools.cached_property
    def _by_operation(self) -> dict[str, Entry]:
        return {e.operation: e for e in entries(self._component)}

    def __getitem__(self, key: str) -> Action:
        found = self._built.get(key)
        if found is not None:
            return found
        entry = self._by_key[key]  # KeyError for a key that is not generated
        with self._lock:
            found = self._built.get(key)
            if found is None:
                found = self._built[key] = build(entry.operation, entry.key)
        return found

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def entries(self) -> tuple[Entry, ...]:
        return tuple(self._by_key.values())

    def for_operation(self, name: str) -> Action | None:
        """The generated action performing the operation an operationId, alias or Composio slug names."""
        from klaviyo_connector.actions.slugs import PREFIX, operation_for_slug

        try:
            op_id = catalog.operation(name).id
        except KeyError:
            found = operation_for_slug(name) if name.upper().startswith(PREFIX) else None
            if found is None:
                return None
            op_id = found
        return self[self._by_operation[op_id].key]


def table(component: Component) -> GeneratedActions:
    return GeneratedActions(component)


def resolve(component: Component, name: str) -> Action | None:
    """The action ``name`` names (see the module docstring), or None."""
    curated = _curated(component, name)
    if curated is not None:
        return curated
    generated = component.generated_actions
    if name in generated:
        return generated[name]
    found = generated.for_operation(name) if isinstance(generated, GeneratedActions) else None
    # Last, a curated key the index has not caught up with (a test keeps it from happening).
    return found if found is not None else component.actions.get(name)


def _curated(component: Component, key: str) -> Action | None:
    """A curated action, importing only its own module when the actions package indexes it."""
    package = importlib.import_module(component.actions_ref.partition(":")[0])
    index = getattr(package, "MODULE_OF", None)
    if not isinstance(index, Mapping):
        return component.actions.get(key)
    module = index.get(key)
    if module is None:
        return None
    for action in importlib.import_module(f"{package.__name__}.{module}").ACTIONS:
        if action.key == key:
            return action
    return component.actions.get(key)  # an index that has fallen behind its module
