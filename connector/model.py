"""The plugin model: plain immutable declarations a host runner loads.

Nothing here imports pydantic or requests, so loading the component through its entry point
stays cheap; action and data-source tables are imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .context import Context

Perform = Callable[["Context", Any], Any]
# A polling trigger's poll(context, inputs, state) -> (records, new state); state is JSON.
Poll = Callable[["Context", Any, Mapping[str, Any]], "tuple[list[dict[str, Any]], dict[str, Any]]"]
TRIGGER_KINDS = ("polling", "webhook")


def rate_limit_tiers(operations: tuple[str, ...]) -> dict[str, dict[str, int | None]]:
    """Each operation's rate-limit tier from the catalog, as ``describe`` gives it:
    ``{operationId: {"burst_per_second", "steady_per_minute", "daily"}}``."""
    from .catalog import operation

    tiers: dict[str, dict[str, int | None]] = {}
    for op_id in operations:
        rl = operation(op_id).rate_limit
        if rl is not None:
            tiers[op_id] = {"burst_per_second": rl.burst, "steady_per_minute": rl.steady, "daily": rl.daily}
    return tiers


@dataclass(frozen=True)
class Action:
    """One action: data plus a ``perform(context, inputs)`` function."""

    key: str
    label: str
    description: str
    inputs: type[BaseModel]
    perform: Perform
    operations: tuple[str, ...] = ()  # Klaviyo operationIds it calls (scopes, rate limits)
    read_only: bool = False
    idempotent: bool = False
    destructive: bool = False
    # JSON Schema of what ``perform`` returns, for an action whose result the catalog's response
    # shape for its operations doesn't tell (None: the docs and manifest derive it from the catalog).
    output_schema: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)
    # Generated from the catalog, one per operation (actions/generated.py), not written by hand; a
    # host lists them after the curated actions, under ``group``.
    generated: bool = False
    group: str | None = None

    @property
    def scopes(self) -> tuple[str, ...]:
        from .catalog import scopes_for

        return scopes_for(self.operations)

    def input_schema(self) -> dict[str, Any]:
        """The form a builder renders for the inputs (JSON Schema), titled with this action's label."""
        from .inputs import form_schema

        return form_schema(self.inputs, self.label)

    def describe(self) -> dict[str, Any]:
        """The action as JSON: inputs (JSON Schema), ``output`` (the JSON Schema of what the runner
        returns, ``{"data": ...}``), flags, operations, their scopes and rate limits."""
        from .manifest import output_schema

        return {
            "key": self.key,
            "label": self.label,
            "description": self.description,
            "inputs": self.input_schema(),
            "output": output_schema(self),
            "read_only": self.read_only,
            "idempotent": self.idempotent,
            "destructive": self.destructive,
            "generated": self.generated,
            "group": self.group,
            "operations": list(self.operations),
            "scopes": list(self.scopes),
            "rate_limits": rate_limit_tiers(self.operations),
        }


@dataclass(frozen=True)
class DataSource:
    """A picklist: ``perform`` returns ``[{"key": id, "label": text}, ...]``."""

    key: str
    label: str
    description: str
    inputs: type[BaseModel]
    perform: Perform
    operations: tuple[str, ...] = ()

    @property
    def scopes(self) -> tuple[str, ...]:
        from .catalog import scopes_for

        return scopes_for(self.operations)

    def input_schema(self) -> dict[str, Any]:
        """The form a builder renders for the inputs (JSON Schema), titled with this picklist's label."""
        from .inputs import form_schema

        return form_schema(self.inputs, self.label)


@dataclass(frozen=True)
class Trigger:
    """What starts a workflow: new records found by polling, or Klaviyo webhook deliveries.

    ``kind="polling"``: ``poll(context, inputs, state) -> (records, new_state)``; the host keeps
    the state (a JSON object) between polls and passes ``{}`` the first time.
    ``kind="webhook"``: ``setup(context, inputs, endpoint_url, secret) -> state`` creates the
    Klaviyo webhook, ``verify(inputs, body, headers, secret, now) -> records`` checks one delivery
    (raises KlaviyoError for a bad signature or a stale timestamp) and parses it, and
    ``teardown(context, inputs, state)`` deletes the webhook. Each record is
    ``{"key": <stable de-duplication key>, "occurred_at": <ISO date-time>, "data": <resource>}``.
    """

    key: str
    label: str
    description: str
    inputs: type[BaseModel]
    kind: str  # one of TRIGGER_KINDS
    operations: tuple[str, ...] = ()  # Klaviyo operationIds it calls (scopes, rate limits)
    poll: Poll | None = field(default=None, hash=False, compare=False)
    setup: Callable[..., dict[str, Any]] | None = field(default=None, hash=False, compare=False)
    verify: Callable[..., list[dict[str, Any]]] | None = field(default=None, hash=False, compare=False)
    teardown: Callable[..., None] | None = field(default=None, hash=False, compare=False)
    # JSON Schema of one record's ``data`` (the resource), for the docs and the manifest.
    record_schema: Mapping[str, Any] | None = field(default=None, hash=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in TRIGGER_KINDS:
            raise ValueError(f"trigger {self.key}: kind must be one of {TRIGGER_KINDS}, not {self.kind!r}")
        needs = ("poll",) if self.kind == "polling" else ("setup", "verify", "teardown")
        missing = [name for name in needs if getattr(self, name) is None]
        if missing:
            raise ValueError(f"trigger {self.key} ({self.kind}) needs {', '.join(missing)}")

    @property
    def scopes(self) -> tuple[str, ...]:
        from .catalog import scopes_for

        return scopes_for(self.operations)

    def input_schema(self) -> dict[str, Any]:
        """The form a builder renders for the inputs (JSON Schema), titled with this trigger's label."""
        from .inputs import form_schema

        return form_schema(self.inputs, self.label)

    def describe(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "description": self.description,
            "trigger_kind": self.kind,
            "inputs": self.input_schema(),
            "operations": list(self.operations),
            "scopes": list(self.scopes),
            "rate_limits": rate_limit_tiers(self.operations),
        }


@dataclass(frozen=True)
class ConnectionField:
    key: str
    label: str
    description: str = ""
    secret: bool = False
    required: bool = True
    default: str | None = None


@dataclass(frozen=True)
class Connection:
    """A way to authenticate. ``module`` names the code that builds and tests it."""

    key: str
    label: str
    description: str
    fields: tuple[ConnectionField, ...]
    module: str  # "klaviyo_connector.connections.api_key": exports build_auth(), test()

    def load(self) -> Any:
        return importlib.import_module(self.module)


def _load(ref: str) -> Any:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class Component:
    """The component a host loads: its connections, actions, data sources and triggers."""

    key: str
    label: str
    description: str
    version: str
    connections: tuple[Connection, ...]
    actions_ref: str  # "module:ATTR" of the actions tuple, imported on first use
    data_sources_ref: str
    triggers_ref: str | None = None  # None: the component has no triggers
    # The module generating an action per catalog operation (``table(component)``, ``resolve(component,
    # name)``); None: the component has only its curated actions.
    generated_ref: str | None = None

    @cached_property
    def triggers(self) -> Mapping[str, Trigger]:
        return {t.key: t for t in _load(self.triggers_ref)} if self.triggers_ref else {}

    @cached_property
    def actions(self) -> Mapping[str, Action]:
        return {a.key: a for a in _load(self.actions_ref)}

    @cached_property
    def generated_actions(self) -> Mapping[str, Action]:
        """One action per catalog operation, by key; each is built (with its input model) when it is
        first looked up, so listing the keys builds nothing."""
        if self.generated_ref is None:
            return {}
        return importlib.import_module(self.generated_ref).table(self)

    def all_actions(self) -> dict[str, Action]:
        """Curated actions first, then every generated one (this builds every input model)."""
        return {**self.actions, **{k: a for k, a in self.generated_actions.items() if k not in self.actions}}

    def find_action(self, name: str) -> Action | None:
        """The action ``name`` names: a curated key, a generated key, an operationId, an alias of one
        (``x-klaviyo-operation-aliases``) or a Composio slug (``KLAVIYO_GET_PROFILES``); else None."""
        if self.generated_ref is None:
            return self.actions.get(name)
        found = self._found_actions.get(name)
        if found is None:
            found = importlib.import_module(self.generated_ref).resolve(self, name)
            if found is not None:  # a name resolves to the same action for the process's life
                self._found_actions[name] = found
        return found

    @cached_property
    def _found_actions(self) -> dict[str, Action]:
        return {}

    @cached_property
    def data_sources(self) -> Mapping[str, DataSource]:
        return {d.key: d for d in _load(self.data_sources_ref)}

    def connection(self, key: str) -> Connection:
        for conn in self.connections:
            if conn.key == key:
                return conn
        known = ", ".join(c.key for c in self.connections)
        from .errors import KlaviyoError

        raise KlaviyoError(
            f"Unknown connection type {key!r}; this component has: {known}.", code="unknown_connection"
        )
