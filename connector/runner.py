"""The host runner: finds components, validates inputs, builds clients, runs actions.

One runner keeps one HTTP client (one keep-alive session) per connection and is safe to call
from many threads at once.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .context import Context, Progress, _quiet
from .errors import INTERNAL, KlaviyoError
from .model import Component

ENTRY_POINT_GROUP = "connector.components"
# Connection fields that set the client's limits (see KlaviyoClient for units and defaults).
CONNECTION_LIMITS = {
    "requestTimeout": "request_deadline",
    "actionTimeout": "action_deadline",
    "maxResponseBytes": "max_response_bytes",
}
# on_token_update(connection, token): the host saves a refreshed OAuth token (it may carry a rotated
# refresh token) before the connector uses it.
TokenCallback = Callable[[Mapping[str, Any], dict[str, Any]], None]


def describe_progress(event: str, info: Mapping[str, Any]) -> str:
    """A progress report in words: ``batches: batch 2 of 5, profiles 2000``."""
    parts: list[str] = []
    for key, value in info.items():
        if key == "of" and parts:
            parts[-1] += f" of {value}"
        else:
            parts.append(f"{key.replace('_', ' ')} {value}")
    return f"{event}: {', '.join(parts)}"


def _connection_secrets(connection: Any) -> tuple[str, ...]:
    """Every secret a connection value may hold, before any client exists to say so."""
    if not isinstance(connection, Mapping):
        return ()
    found: list[str] = []
    for part in (connection.get("fields"), connection.get("token")):
        if isinstance(part, Mapping):
            for name in ("apiKey", "clientSecret", "access_token", "refresh_token", "codeVerifier"):
                value = part.get(name)
                if isinstance(value, str):
                    found.append(value)
    return tuple(found)


def _account_credential(connection: Mapping[str, Any]) -> str:
    """What names the Klaviyo account a connection reaches, for its pacing bucket (hashed before
    use): the API key, or an OAuth app's client ID and the grant's refresh token as first given."""
    fields = connection.get("fields") or {}
    token = connection.get("token") or {}
    if fields.get("apiKey"):
        return str(fields["apiKey"])
    grant = token.get("refresh_token") or token.get("access_token") or ""
    return f"{fields.get('clientId', '')}\n{grant}"


def _tracking(progress: Progress) -> tuple[dict[str, Any], Progress]:
    """``(done, tracked)``: ``tracked`` passes each step on to ``progress`` and keeps the latest
    one in ``done``, for :func:`_note_done` to report when a later step fails."""
    done: dict[str, Any] = {}

    def tracked(event: str, info: Mapping[str, Any]) -> None:
        done.update(event=event, info=dict(info))
        progress(event, info)

    return done, tracked


def _note_done(exc: KlaviyoError, done: Mapping[str, Any]) -> None:
    """A multi-request action failed part way: say in ``exc`` (in place) which parts were done."""
    if done:
        exc.meta = {**(exc.meta or {}), "done_before_failure": dict(done)}
        exc.message += f" Done before this failure: {describe_progress(done['event'], done['info'])}."
        exc.args = (exc.message,)


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
    fields = connection.get("fields")
    try:  # the usual connection (text fields) is its own key: no JSON and hash on every call
        # Types included: 1, 1.0 and True are equal keys, but distinct fields.
        items = frozenset((k, type(v), v) for k, v in fields.items()) if fields else None
        quick: Any = (component_key, connection.get("key"), items, type(grant), grant)
        hash(quick)
    except (TypeError, AttributeError):
        quick = None
    if quick is not None:
        cached = _FINGERPRINTS.get(quick)
        if cached is not None:
            return cached
    fingerprint = hashlib.sha256(
        json.dumps(
            [component_key, connection.get("key"), fields, grant], sort_keys=True, default=str
        ).encode()
    ).hexdigest()
    if quick is not None:
        if len(_FINGERPRINTS) >= 1024:  # bounded: a host with many connections re-hashes
            _FINGERPRINTS.clear()
        _FINGERPRINTS[quick] = fingerprint
    return fingerprint


_FINGERPRINTS: dict[Any, str] = {}


class _OnlyKlaviyoErrors:
    """Whatever fails in the block (a malformed connection, a client that cannot be built, a
    defect around ``perform``) leaves as a KlaviyoError, with the connection's secrets masked.
    A class, not a generator context manager: it wraps every call."""

    __slots__ = ("connection", "key")

    def __init__(self, key: str, connection: Any) -> None:
        self.key = key
        self.connection = connection

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if isinstance(exc, KlaviyoError):
            raise exc.scrubbed(_connection_secrets(self.connection)) from None
        if isinstance(exc, Exception):
            raise KlaviyoError(
                f"Internal error in {self.key}: {type(exc).__name__}: {exc}",
                error_class=INTERNAL,
                code="internal_error",
            ).scrubbed(_connection_secrets(self.connection)) from exc


class Runner:
    def __init__(
        self,
        components: Mapping[str, Component] | None = None,
        *,
        client_options: Mapping[str, Any] | None = None,
        on_token_update: TokenCallback | None = None,
        load_token: Callable[[Mapping[str, Any]], Mapping[str, Any] | None] | None = None,
        refresh_lock: Callable[[Mapping[str, Any]], Any] | None = None,
        pacing_redis_url: str | None = None,
        pacing_account: Callable[[Mapping[str, Any]], str | None] | None = None,
    ) -> None:
        """``client_options`` go to every KlaviyoClient (e.g. ``sleep``, ``retry``, ``timeout``;
        ``pacing_scale``: 1 paces requests to Klaviyo's rate limits, the default, 0 turns pacing off).

        ``pacing_redis_url`` (``redis://[:password@]host:port/db``; the ``redis`` extra) keeps the
        pacing buckets in Redis, so every worker process using that server shares each account's
        budget; without it they are this Runner's own. An unreachable Redis is logged once and
        pacing goes on in this process; no action fails because of it.

        ``pacing_account(connection) -> str | None`` names the Klaviyo account a connection
        reaches (e.g. the host's own ID for it); connections given one name share a budget.
        Without it (or when it returns None) the account is the API key, or for OAuth the app's
        client ID and the refresh token the connection first came with, so OAuth workers holding
        different rotations of one grant pace apart unless the host names the account. Either
        way the name is hashed (SHA-256) before use.

        OAuth token hooks, each called with the connection value the client was built from:

        - ``on_token_update(connection, token)``: save a refreshed token (its refresh token may
          have rotated: the old one stops working) before the connector uses it.
        - ``load_token(connection) -> token | None``: the host's latest saved token for this
          connection, a dict like ``{"access_token", "refresh_token", "expires_at", ...}``, or None
          when nothing is saved. Consulted before each refresh, after Klaviyo refuses a refresh
          token (``invalid_grant``) and while the grant is known dead, so a Runner picks up a token
          another worker rotated (or a reconnect) instead of answering "reconnect needed". A token
          this connection already held is ignored, so returning a stale copy is harmless.
        - ``refresh_lock(connection)``: a context manager held around each refresh and the
          ``on_token_update`` save inside it (so the save must not take a non-reentrant lock
          again), shared by every worker using the same store (a file lock, a Redis lock). With
          it, ``load_token`` always sees the other worker's rotation; without it, a worker whose
          refresh races another's before that one is saved still gets "reconnect needed" once,
          then recovers from the store.
        """
        self._components = dict(components) if components is not None else None
        self._client_options = dict(client_options or {})
        self._on_token_update = on_token_update
        self._load_token = load_token
        self._refresh_lock = refresh_lock
        self._clients: dict[str, Any] = {}
        self._pacing_redis_url = pacing_redis_url
        self._pacing_account = pacing_account
        self._pacing: Any = None  # the pacing buckets every client shares, made with the first client
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
        if (
            not isinstance(connection, Mapping)
            or not isinstance(connection.get("key"), str)
            or not isinstance(connection.get("fields") or {}, Mapping)
            or not isinstance(connection.get("token") or {}, Mapping)
        ):
            raise KlaviyoError(
                'A connection is an object like {"key": "apiKey", "fields": {"apiKey": "pk_..."}}: '
                "a key naming the connection type, and its fields as an object.",
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

        def remember(token: Mapping[str, Any]) -> None:
            # The host will pass this token from now on: it must find this same client. Only
            # the first and the latest token stay keys, so rotations don't grow the cache.
            with self._lock:
                client = self._clients.get(fingerprint)
                if client is not None:
                    for old in alias:
                        if old != fingerprint:
                            self._clients.pop(old, None)
                    alias[:] = [_fingerprint(component_key, connection, token)]
                    self._clients[alias[0]] = client

        def token_updated(token: dict[str, Any]) -> None:
            if self._on_token_update is not None:
                self._on_token_update(connection, token)
            remember(token)

        load_token, refresh_lock = self._load_token, self._refresh_lock

        def token_loaded() -> Mapping[str, Any] | None:
            token = load_token(connection) if load_token is not None else None
            if isinstance(token, Mapping) and token:
                remember(token)  # what the store holds is what the host passes next
            return token

        auth = declared.load().build_auth(
            fields,
            connection=connection,
            on_token_update=token_updated,
            load_token=token_loaded if load_token is not None else None,
            refresh_lock=(lambda: refresh_lock(connection)) if refresh_lock is not None else None,
        )
        base_url = fields.get("baseUrl") or DEFAULT_BASE_URL
        options = dict(self._client_options)
        for field, option in CONNECTION_LIMITS.items():  # the connection's own limits win
            if fields.get(field) not in (None, ""):
                options[option] = fields[field]
        if "pacing" not in options:
            from .pacing import Pacing, account_key

            if self._pacing is None:
                self._pacing = Pacing(self._pacing_redis_url)
            options["pacing"] = self._pacing
            named = self._pacing_account(connection) if self._pacing_account is not None else None
            credential = f"host:{named}" if named is not None else _account_credential(connection)
            options.setdefault("pacing_account", account_key(str(base_url), credential))
        return KlaviyoClient(auth, base_url=base_url, **options)

    # -- running ------------------------------------------------------------------------------

    def run_action(
        self,
        component_key: str,
        action_key: str,
        *,
        connection: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        progress: Progress = _quiet,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Run one action: ``{"data": ...}``, or a KlaviyoError (never another exception).

        ``timeout``: the most seconds the whole run may take, every request, retry and wait
        included; by default the connection's Action Timeout field, else the client's
        ``action_deadline`` (300 s).
        """
        with self._only_klaviyo_errors(action_key, connection):
            action, values, client, ctx, done = self._prepare(
                component_key, action_key, connection, inputs, progress, stream=False
            )
            try:
                return {"data": self._perform(action.key, action.perform, ctx, values, client, timeout)}
            except KlaviyoError as exc:
                _note_done(exc, done)
                raise

    def stream_action(
        self,
        component_key: str,
        action_key: str,
        *,
        connection: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        progress: Progress = _quiet,
        timeout: float | None = None,
    ) -> Any:
        """Run a list action a page at a time: an iterator of its records (JSON:API resource
        objects, in Klaviyo's order) that fetches page N+1 only once page N's records are all
        handed out, so one page is in memory however many records Fetch All follows.

        Inputs are checked, and the action found, before this returns (nothing is sent until the
        first record is asked for); a key that is not a list action raises KlaviyoError
        ``not_a_list_action``. Iterating raises only KlaviyoError, with the secrets masked and,
        after some pages, ``meta.done_before_failure`` saying how many (records already handed
        out stay valid). ``timeout`` (as in :meth:`run_action`) bounds the time spent fetching,
        every request, retry and wait included, not the time the caller takes between records.
        The returned :class:`~klaviyo_connector.streaming.ActionStream`'s ``document()`` gives
        the collected document's ``links``, ``meta`` and ``included`` once it is exhausted.
        """
        with self._only_klaviyo_errors(action_key, connection):
            import time

            from .http import positive_seconds
            from .streaming import ActionStream

            action, values, client, ctx, done = self._prepare(
                component_key, action_key, connection, inputs, progress, stream=True
            )
            limit = client.action_deadline if timeout is None else positive_seconds(timeout, "timeout")
            pages = self._perform(action.key, action.perform, ctx, values, client, limit)
            spent = [0.0]  # seconds spent fetching so far: the time limit counts only these

            def fetch(step: Callable[[], Any]) -> Any:
                # A limit already spent still runs the fetch, with a deadline that has passed: the
                # client then fails it as any run past its deadline fails.
                left = None if limit is None else max(limit - spent[0], 1e-6)
                began = time.monotonic()
                try:
                    return self._perform(action.key, lambda _c, _v: step(), ctx, values, client, left)
                except KlaviyoError as exc:
                    _note_done(exc, done)
                    raise
                finally:
                    spent[0] += time.monotonic() - began

            return ActionStream(pages, fetch)

    def _prepare(
        self,
        component_key: str,
        action_key: str,
        connection: Mapping[str, Any],
        inputs: Mapping[str, Any] | None,
        progress: Progress,
        *,
        stream: bool,
    ) -> tuple[Any, Any, Any, Context, dict[str, Any]]:
        """What running an action needs before ``perform``: the action, its checked inputs, the
        connection's client, the Context and the progress record for :func:`_note_done`.
        ``stream`` refuses an action that is not a list action (before checking its inputs)."""
        from .inputs import validate_inputs

        action = self.find_action(component_key, action_key)
        if stream:
            from .listing import ListInputs

            if not issubclass(action.inputs, ListInputs):
                raise KlaviyoError(
                    f"{action.key} is not a list action, so it has no records to stream; use run_action.",
                    code="not_a_list_action",
                )
        values = validate_inputs(action.inputs, inputs)
        client = self.client(component_key, connection)
        done, tracked = _tracking(progress)
        ctx = Context(client=client, connection_key=str(connection["key"]), progress=tracked, stream=stream)
        return action, values, client, ctx, done

    def find_action(self, component_key: str, name: str) -> Any:
        """The action ``name`` names: a key, or (where the component generates an action per
        operation) an operationId, an alias of one or a Composio slug; KlaviyoError otherwise."""
        component = self.component(component_key)
        find = getattr(component, "find_action", None)
        action = find(name) if find is not None else component.actions.get(name)
        if action is None:
            raise KlaviyoError(f"Component {component_key!r} has no action {name!r}.", code="unknown_action")
        return action

    def describe_action(self, component_key: str, name: str) -> dict[str, Any]:
        """One action as JSON, found by any name :meth:`run_action` takes: key, label, description,
        ``inputs`` and ``output`` (JSON Schemas), flags, ``generated``, operations, scopes and rate
        limits."""
        with self._only_klaviyo_errors(name, None):
            return dict(self.find_action(component_key, name).describe())

    def run_data_source(
        self,
        component_key: str,
        data_source_key: str,
        *,
        connection: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Run one data source: ``{"result": [...]}``, or a KlaviyoError (see :meth:`run_action`)."""
        with self._only_klaviyo_errors(data_source_key, connection):
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
            return {"result": self._perform(source.key, source.perform, ctx, values, client, timeout)}

    # -- triggers -----------------------------------------------------------------------------

    def _trigger(self, component_key: str, trigger_key: str, kind: str) -> Any:
        trigger = self.component(component_key).triggers.get(trigger_key)
        if trigger is None:
            raise KlaviyoError(
                f"Component {component_key!r} has no trigger {trigger_key!r}.", code="unknown_trigger"
            )
        if trigger.kind != kind:
            how = (
                "run_trigger"
                if trigger.kind == "polling"
                else "setup_trigger, handle_webhook, teardown_trigger"
            )
            raise KlaviyoError(
                f"{trigger_key} is a {trigger.kind} trigger: use {how}.", code="wrong_trigger_kind"
            )
        return trigger

    def run_trigger(
        self,
        component_key: str,
        trigger_key: str,
        *,
        connection: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        state: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Poll a polling trigger once: ``{"records": [...], "state": {...}}``, or a KlaviyoError.

        ``state`` is what the previous poll returned (``None`` or ``{}`` the first time); store the
        new one only once the records are handled, so a failed run is repeated from the old state.
        Each record is ``{"key": <stable de-duplication key>, "occurred_at": <ISO date-time>,
        "data": <the resource, as the matching get action returns it>}`` (some add members, e.g.
        ``channel``, ``included``). Inputs and state are checked before any request is sent.
        """
        with self._only_klaviyo_errors(trigger_key, connection):
            from .inputs import validate_inputs

            trigger = self._trigger(component_key, trigger_key, "polling")
            values = validate_inputs(trigger.inputs, inputs)
            client = self.client(component_key, connection)
            ctx = Context(client=client, connection_key=str(connection["key"]))
            records, new_state = self._perform(
                trigger.key, lambda c, v: trigger.poll(c, v, state or {}), ctx, values, client, timeout
            )
            return {"records": records, "state": new_state}

    def setup_trigger(
        self,
        component_key: str,
        trigger_key: str,
        *,
        connection: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        endpoint_url: str,
        secret: str,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Create a webhook trigger's Klaviyo webhook, delivering to ``endpoint_url`` signed with
        ``secret`` (at least 16 characters; keep it to verify deliveries): ``{"state": {...}}`` to
        keep for :meth:`teardown_trigger`. Klaviyo requires an https URL (the sandbox also takes
        http on loopback)."""
        with self._only_klaviyo_errors(trigger_key, connection):
            from urllib.parse import urlsplit

            from .errors import input_error
            from .inputs import validate_inputs
            from .webhooks import MIN_SECRET_LENGTH

            trigger = self._trigger(component_key, trigger_key, "webhook")
            values = validate_inputs(trigger.inputs, inputs)
            parts = urlsplit(endpoint_url) if isinstance(endpoint_url, str) else None
            if parts is None or parts.scheme not in ("https", "http") or not parts.hostname:
                raise input_error("Endpoint URL", "must be an absolute https:// URL")
            if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
                raise input_error("Secret", f"must be at least {MIN_SECRET_LENGTH} characters")
            client = self.client(component_key, connection)
            ctx = Context(client=client, connection_key=str(connection["key"]))
            try:
                made = self._perform(
                    trigger.key,
                    lambda c, v: trigger.setup(c, v, endpoint_url, secret),
                    ctx,
                    values,
                    client,
                    timeout,
                )
            except KlaviyoError as exc:  # the secret went out in the body: no error repeats it
                raise exc.scrubbed([secret]) from None
            return {"state": made}

    def teardown_trigger(
        self,
        component_key: str,
        trigger_key: str,
        *,
        connection: Mapping[str, Any],
        inputs: Mapping[str, Any] | None = None,
        state: Mapping[str, Any],
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Delete the webhook :meth:`setup_trigger` made (``state`` is what it returned):
        ``{"deleted": True}``; a webhook already gone counts as deleted."""
        with self._only_klaviyo_errors(trigger_key, connection):
            from .inputs import validate_inputs

            trigger = self._trigger(component_key, trigger_key, "webhook")
            values = validate_inputs(trigger.inputs, inputs)
            client = self.client(component_key, connection)
            ctx = Context(client=client, connection_key=str(connection["key"]))
            self._perform(
                trigger.key, lambda c, v: trigger.teardown(c, v, state), ctx, values, client, timeout
            )
            return {"deleted": True}

    def handle_webhook(
        self,
        component_key: str,
        trigger_key: str,
        *,
        inputs: Mapping[str, Any] | None = None,
        body: bytes | bytearray | memoryview | str,
        headers: Mapping[str, str] | Iterable[tuple[str | bytes, str | bytes]],
        secret: str,
        now: float | None = None,
    ) -> dict[str, Any]:
        """Verify one delivery to a webhook trigger's URL and parse it: ``{"records": [...]}``.

        ``body`` is the raw request body (bytes; a str is taken as its UTF-8 text), ``headers``
        the request's headers (a mapping, or pairs as ASGI gives them), ``secret`` the one
        given to :meth:`setup_trigger`; ``now`` (epoch seconds) defaults to the clock. A bad
        signature, a timestamp outside the replay window (5 minutes) or a body that isn't a
        delivery raises KlaviyoError ``webhook_refused`` (answer the request 401). No request is
        sent to Klaviyo.
        """
        # The secret is masked in any error as a connection's API key would be.
        with self._only_klaviyo_errors(trigger_key, {"fields": {"apiKey": secret}}):
            import time

            from .inputs import validate_inputs
            from .webhooks import request_parts

            trigger = self._trigger(component_key, trigger_key, "webhook")
            values = validate_inputs(trigger.inputs, inputs)
            raw, named = request_parts(body, headers)
            moment = time.time() if now is None else now
            return {"records": trigger.verify(values, raw, named, secret, moment)}

    def test_connection(
        self, component_key: str, *, connection: Mapping[str, Any], timeout: float | None = None
    ) -> dict[str, Any]:
        with self._only_klaviyo_errors("test-connection", connection):
            client = self.client(component_key, connection)
            declared = self.component(component_key).connection(str(connection.get("key")))
            return self._perform(
                "test-connection",
                lambda _ctx, _values: declared.load().test(client),
                None,
                None,
                client,
                timeout,
            )

    @staticmethod
    def _perform(
        key: str,
        perform: Callable[[Any, Any], Any],
        ctx: Any,
        values: Any,
        client: Any,
        timeout: float | None,
    ) -> Any:
        from .deadline import run_deadline
        from .http import positive_seconds, watch_secret_echoes
        from .redact import redact_json

        limit = client.action_deadline if timeout is None else positive_seconds(timeout, "timeout")
        try:
            with run_deadline(limit), watch_secret_echoes() as echoed:
                result = perform(ctx, values)
        except KlaviyoError as exc:
            raise exc.scrubbed(client.secrets()) from None
        except Exception as exc:  # a defect: report it in the connector's error shape, scrubbed
            raise KlaviyoError(
                f"Internal error in {key}: {type(exc).__name__}: {exc}",
                error_class=INTERNAL,
                code="internal_error",
            ).scrubbed(client.secrets()) from exc
        # A response carried a credential (a server echoing it): no output repeats it.
        return redact_json(result, client.secrets()) if echoed[0] else result

    @staticmethod
    def _only_klaviyo_errors(key: str, connection: Any) -> _OnlyKlaviyoErrors:
        return _OnlyKlaviyoErrors(key, connection)

    def close(self) -> None:
        with self._lock:
            for client in {id(c): c for c in self._clients.values()}.values():
                client.close()
            self._clients.clear()
            if self._pacing is not None:
                self._pacing.close()
                self._pacing = None
