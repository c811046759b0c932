"""The host runner: finds components, validates inputs, builds clients, runs actions.

One runner keeps one HTTP client (one keep-alive session) per connection and is safe to call
from many threads at once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Mapping
from typing import Any

from .context import Context, Progress, _quiet
from .errors import INTERNAL, KlaviyoError
from .model import Component

ENTRY_POINT_GROUP = "connector.components"
# on_token_update(connection, token): the host saves a refreshed OAuth token (it may carry a rotated
# refresh token) before the connector uses it.
TokenCallback = Callable[[Mapping[str, Any], dict[str, Any]], None]


def discover_components() -> dict[str, Component]:
    from importlib.metadata import entry_points

    found: dict[str, Component] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        component = ep.load()
        found[component.key] = component
    return found


def _fingerprint(component_key: str, connection: Mapping[str, Any], token: Any) -> str:
    """The client cache key. An OAuth connection is one grant: its fields plus its refresh token
    (two users of one app share fields); rotations register the new token as an alias."""
    grant = None
    if isinstance(token, Mapping):
        grant = token.get("refresh_token") or token.get("access_token")
    return hashlib.sha256(
        json.dumps(
            [component_key, connection.get("key"), connection.get("fields"), grant],
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()


class Runner:
    def __init__(
        self,
        components: Mapping[str, Component] | None = None,
        *,
        client_options: Mapping[str, Any] | None = None,
        on_token_update: TokenCallback | None = None,
    ) -> None:
        """``client_options`` go to every KlaviyoClient (e.g. ``sleep``, ``retry``, ``timeout``)."""
        self._components = dict(components) if components is not None else None
        self._client_options = dict(client_options or {})
        self._on_token_update = on_token_update
        self._clients: dict[str, Any] = {}
        # Re-entrant: building a client (under the lock) may discover components (same lock).
        self._lock = threading.RLock()

    # -- lookup -------------------------------------------------------------------------------

    def component(self, key: str) -> Component:
        if self._components is None:
            with self._lock:
                if self._components is None:
                    self._components = discover_components()
        try:
            return self._components[key]
        except KeyError:
            known = ", ".join(sorted(self._components)) or "none"
            raise KlaviyoError(
                f"No component {key!r} is installed (found: {known}).", code="unknown_component"
            ) from None

    # -- clients ------------------------------------------------------------------------------

    def client(self, component_key: str, connection: Mapping[str, Any]) -> Any:
        """The cached client for this connection, created on first use."""
        if not isinstance(connection, Mapping) or "key" not in connection:
            raise KlaviyoError(
                'A connection is an object like {"key": "apiKey", "fields": {"apiKey": "pk_..."}}.',
                code="invalid_connection",
            )
        fingerprint = _fingerprint(component_key, connection, connection.get("token"))
        client = self._clients.get(fingerprint)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(fingerprint)
            if client is None:
                client = self._build_client(component_key, connection, fingerprint)
                self._clients[fingerprint] = client
        return client

    def _build_client(self, component_key: str, connection: Mapping[str, Any], fingerprint: str) -> Any:
        from .http import DEFAULT_BASE_URL, KlaviyoClient

        declared = self.component(component_key).connection(str(connection["key"]))
        fields = dict(connection.get("fields") or {})

        alias: list[str] = []  # the key of the latest rotated token, replaced on each rotation

        def token_updated(token: dict[str, Any]) -> None:
            if self._on_token_update is not None:
                self._on_token_update(connection, token)
            # The host will pass the new token from now on: it must find this same client. Only
            # the first and the latest token stay keys, so rotations don't grow the cache.
            with self._lock:
                client = self._clients.get(fingerprint)
                if client is not None:
                    for old in alias:
                        if old != fingerprint:
                            self._clients.pop(old, None)
                    alias[:] = [_fingerprint(component_key, connection, token)]
                    self._clients[alias[0]] = client

        auth = declared.load().build_auth(fields, connection=connection, on_token_update=token_updated)
        base_url = fields.get("baseUrl") or DEFAULT_BASE_URL
        return KlaviyoClient(auth, base_url=base_url, **self._client_options)

    # -- running ------------------------------------------------------------------------------

    def run_action(
        self,
        component_key: str,
        action_key: str,
        *,
        connection: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        progress: Progress = _quiet,
    ) -> dict[str, Any]:
        from .inputs import validate_inputs

        component = self.component(component_key)
        action = component.actions.get(action_key)
        if action is None:
            raise KlaviyoError(
                f"Component {component_key!r} has no action {action_key!r}.", code="unknown_action"
            )
        values = validate_inputs(action.inputs, inputs)
        client = self.client(component_key, connection)
        ctx = Context(client=client, connection_key=str(connection["key"]), progress=progress)
        return {"data": self._perform(action.key, action.perform, ctx, values, client)}

    def run_data_source(
        self,
        component_key: str,
        data_source_key: str,
        *,
        connection: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        from .inputs import validate_inputs

        component = self.component(component_key)
        source = component.data_sources.get(data_source_key)
        if source is None:
            raise KlaviyoError(
                f"Component {component_key!r} has no data source {data_source_key!r}.",
                code="unknown_data_source",
            )
        values = validate_inputs(source.inputs, inputs)
        client = self.client(component_key, connection)
        ctx = Context(client=client, connection_key=str(connection["key"]))
        return {"result": self._perform(source.key, source.perform, ctx, values, client)}

    def test_connection(self, component_key: str, *, connection: Mapping[str, Any]) -> dict[str, Any]:
        declared = self.component(component_key).connection(str(connection.get("key")))
        client = self.client(component_key, connection)
        return self._perform(
            "test-connection", lambda _ctx, _values: declared.load().test(client), None, None, client
        )

    @staticmethod
    def _perform(key: str, perform: Callable[[Any, Any], Any], ctx: Any, values: Any, client: Any) -> Any:
        try:
            return perform(ctx, values)
        except KlaviyoError as exc:
            raise exc.scrubbed(client.secrets()) from None
        except Exception as exc:  # a defect: report it in the connector's error shape, scrubbed
            raise KlaviyoError(
                f"Internal error in {key}: {type(exc).__name__}: {exc}",
                error_class=INTERNAL,
                code="internal_error",
            ).scrubbed(client.secrets()) from exc

    def close(self) -> None:
        with self._lock:
            for client in {id(c): c for c in self._clients.values()}.values():
                client.close()
            self._clients.clear()
