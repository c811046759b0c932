"""Events: record one (``POST /api/events``) or a batch (``POST /api/event-bulk-create-jobs``),
get one and list them; metrics are created here the first time an event names them.

Recording an event creates or updates its profile by identifier (``id``, then ``email``,
``phone_number``, ``external_id``, ``anonymous_id``) and its metric by name, then stores it
unless the profile and metric already have an event with the same ``unique_id`` (default: the
time to the second), as Klaviyo de-duplicates. A batch that repeats a ``unique_id`` for one
profile and metric fails as a whole with 400, before anything is recorded. Both answer 202
with no body; the sandbox records synchronously.

Stored ``event`` rows hold ``metric_id``, ``profile_id``, ``datetime`` (ISO, to the second),
``timestamp`` (epoch seconds), ``uuid``, ``event_properties`` (the request's properties plus
``$value``, ``$value_currency`` and ``$event_id``), ``value`` and ``dedupe`` (profile, metric
and unique ID); ``metrics.py`` aggregates over them.

Listing events with ``equals(metric_id,"...")`` for a metric the account doesn't have is a 400
naming the filter, as Klaviyo answers, not an empty page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ... import prose_rules as rules
from ...filters import Node, Quoted, comparisons, parse_datetime
from .. import ids
from ..context import Reply, RequestContext, Route, sparse
from ..errors import ApiError, invalid
from ..store import Resource, Store
from . import profiles

TYPE = "event"
METRIC_TYPE = "metric"
MAX_PAYLOAD = rules.FIVE_MB
MAX_BULK_EVENTS = rules.EVENT_BULK_MAX_EVENTS
MAX_STRING_BYTES = rules.EVENT_MAX_STRING_BYTES
MAX_PROPERTIES = rules.EVENT_MAX_PROPERTIES
MAX_METRIC_NAME = rules.EVENT_MAX_METRIC_NAME
EARLIEST = rules.EVENT_EARLIEST
IDENTIFIERS = ("email", "phone_number", "external_id", "anonymous_id")
EVENT_ATTRIBUTES = (
    "properties",
    "time",
    "value",
    "value_currency",
    "unique_id",
    "backfill",
    "metric",
    "profile",
)
PROFILE_ATTRIBUTES = (*profiles.WRITABLE, "anonymous_id", "_kx")
# The integration Klaviyo reports for metrics created through the API.
API_INTEGRATION = {"object": "integration", "id": "0rG4eQ", "key": "api", "name": "API", "category": "API"}


def init_store(store: Store) -> None:
    store.ensure_index(TYPE, "dedupe")
    store.ensure_index(METRIC_TYPE, "name")
    store.ensure_index(profiles.TYPE, "anonymous_id")


# -- request checks ----------------------------------------------------------------------


@dataclass
class EventIn:
    """One checked event of a request."""

    metric: str
    properties: dict[str, Any]
    time: datetime
    value: float | None
    currency: str | None
    unique_id: str | None
    pointer: str  # of the event's attributes, for errors


@dataclass
class ProfileIn:
    """The checked profile of a request."""

    id: str | None
    attributes: dict[str, Any]
    meta: Any
    pointer: str  # of the profile member


def _check_payload(ctx: RequestContext) -> None:
    if (ctx.request.content_length or 0) > MAX_PAYLOAD:
        raise ApiError(413, "payload_too_large", "Payload too large.", "The request body exceeds 5 MB.")


def _oversized_string(value: Any) -> bool:
    if isinstance(value, str):
        return len(value.encode("utf-8")) > MAX_STRING_BYTES
    if isinstance(value, dict):
        return any(_oversized_string(v) for v in value.values())
    if isinstance(value, list):
        return any(_oversized_string(v) for v in value)
    return False


def _object(value: Any, pointer: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid(f"'{what}' must be an object.", pointer=pointer)
    return value


def _resource_object(member: Any, pointer: str, rtype: str) -> dict[str, Any]:
    """``member`` is ``{"data": {"type": rtype, ...}}``; returns the data object."""
    data = _object(
        _object(member, pointer, pointer.rsplit("/", 1)[-1]).get("data"), f"{pointer}/data", "data"
    )
    if data.get("type") != rtype:
        raise invalid(f"The type must be '{rtype}'.", pointer=f"{pointer}/data/type")
    return data


def check_event(ctx: RequestContext, attributes: dict[str, Any], pointer: str) -> EventIn:
    """Validate an event's attributes (everything but ``profile``) as Klaviyo does."""
    for name in attributes:
        if name not in EVENT_ATTRIBUTES:
            raise invalid(
                f"'{name}' is not a valid field for the resource 'event'.", pointer=f"{pointer}/{name}"
            )
    if "properties" not in attributes:
        raise invalid(
            "'properties' is a required field for the resource 'event'.", pointer=f"{pointer}/properties"
        )
    properties = _object(attributes["properties"], f"{pointer}/properties", "properties")
    if len(properties) > MAX_PROPERTIES:
        raise invalid(
            f"An event may have at most {MAX_PROPERTIES} properties.", pointer=f"{pointer}/properties"
        )
    if _oversized_string(properties):
        raise invalid("A single string cannot exceed 100KB.", pointer=f"{pointer}/properties")
    if "metric" not in attributes:
        raise invalid("'metric' is a required field for the resource 'event'.", pointer=f"{pointer}/metric")
    metric = _resource_object(attributes["metric"], f"{pointer}/metric", "metric")
    metric_attrs = _object(metric.get("attributes"), f"{pointer}/metric/data/attributes", "attributes")
    name = metric_attrs.get("name")
    name_pointer = f"{pointer}/metric/data/attributes/name"
    if not isinstance(name, str) or not name.strip():
        raise invalid("The metric name is required.", pointer=name_pointer)
    if len(name) > MAX_METRIC_NAME:
        raise invalid("The metric name must be less than 128 characters.", pointer=name_pointer)
    time = _check_time(ctx, attributes.get("time"), f"{pointer}/time")
    value = attributes.get("value")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
        raise invalid("'value' must be a number.", pointer=f"{pointer}/value")
    for member in ("value_currency", "unique_id"):
        if attributes.get(member) is not None and not isinstance(attributes[member], str):
            raise invalid(f"'{member}' must be a string.", pointer=f"{pointer}/{member}")
    if attributes.get("backfill") is not None and not isinstance(attributes["backfill"], bool):
        raise invalid("'backfill' must be a boolean.", pointer=f"{pointer}/backfill")
    return EventIn(
        metric=name,
        properties=properties,
        time=time,
        value=float(value) if value is not None else None,
        currency=attributes.get("value_currency"),
        unique_id=attributes.get("unique_id"),
        pointer=pointer,
    )


def _check_time(ctx: RequestContext, raw: Any, pointer: str) -> datetime:
    current = datetime.fromtimestamp(ctx.clock(), tz=timezone.utc)
    if raw is None:
        return current.replace(microsecond=0)
    moment = parse_datetime(raw) if isinstance(raw, str) else None
    if moment is None:
        raise invalid(f"'{raw}' is not a valid ISO 8601 datetime.", pointer=pointer)
    moment = moment.astimezone(timezone.utc).replace(microsecond=0)
    if moment <= EARLIEST:
        raise invalid("The event time must be after the year 1990.", pointer=pointer)
    if moment > current + rules.EVENT_LATEST_AHEAD:
        raise invalid("The event time can only be up to 1 year in the future.", pointer=pointer)
    return moment


def check_profile(member: Any, pointer: str) -> ProfileIn:
    data = _resource_object(member, pointer, profiles.TYPE)
    profile_id = data.get("id")
    if profile_id is not None and not isinstance(profile_id, str):
        raise invalid("'id' must be a string.", pointer=f"{pointer}/data/id")
    attributes = dict(_object(data.get("attributes"), f"{pointer}/data/attributes", "attributes"))
    try:
        profiles.validate_attributes(attributes, PROFILE_ATTRIBUTES)
    except ApiError as exc:  # its pointers are relative to a profile body: put them under ours
        exc.pointer = f"{pointer}/data{(exc.pointer or '/data/attributes').removeprefix('/data')}"
        raise
    for name in ("anonymous_id", "_kx"):
        if attributes.get(name) is not None and not isinstance(attributes[name], str):
            raise invalid(f"'{name}' must be a string.", pointer=f"{pointer}/data/attributes/{name}")
    if not profile_id and not any(attributes.get(name) for name in (*IDENTIFIERS, "_kx")):
        raise invalid(
            "The profile needs at least one identifier: id, email, phone_number, external_id or anonymous_id.",
            pointer=f"{pointer}/data/attributes",
        )
    return ProfileIn(profile_id or None, attributes, data.get("meta"), pointer)


# -- recording ---------------------------------------------------------------------------


class ProfileWriter:
    """The profiles of one request's events: looked up, created and updated as a run of
    one-at-a-time upserts would, with the store touched a few times per request.

    Every identifier value the request uses is looked up once (one query per identifier and 500
    values). A profile is then found as a sequential upsert would find it: by its id, else by the
    first identifier (email, phone number, external ID, anonymous ID) that an existing profile, or
    one this request made, holds. New profiles are kept in memory until :meth:`store` inserts them
    in one statement; an identifier that belongs to another profile is never moved.
    """

    def __init__(self, ctx: RequestContext, refs: list[ProfileIn], now: str) -> None:
        self.ctx = ctx
        self.now = now
        self.holders: dict[tuple[str, Any], Resource] = {}  # (identifier, value) -> its profile
        for name in IDENTIFIERS:
            values = [ref.attributes[name] for ref in refs if ref.attributes.get(name)]
            for row in ctx.store.find_many(ctx.account_id, profiles.TYPE, name, values):
                self.holders.setdefault((name, row.attributes.get(name)), row)  # oldest first
        self.new: dict[str, Resource] = {}
        self.changed: dict[str, Resource] = {}

    def find(self, ref: ProfileIn) -> Resource | None:
        """The profile ``ref`` names; a 400 for an id that does not exist."""
        if ref.id is not None:
            known = self.new.get(ref.id) or self.changed.get(ref.id)
            profile = known or self.ctx.store.get(self.ctx.account_id, profiles.TYPE, ref.id)
            if profile is None:
                raise invalid(f"A profile with id {ref.id} does not exist.", pointer=f"{ref.pointer}/data/id")
            return profile
        for name in IDENTIFIERS:
            value = ref.attributes.get(name)
            if value and (name, value) in self.holders:
                return self.holders[(name, value)]
        return None

    def key(self, ref: ProfileIn) -> tuple[str, str]:
        """Who the profile is before anything is written: its id when it exists, else its first identifier."""
        existing = self.find(ref)
        if existing is not None:
            return ("id", existing.id)
        name = next(n for n in (*IDENTIFIERS, "_kx") if ref.attributes.get(n))
        return (name, str(ref.attributes[name]))

    def upsert(self, ref: ProfileIn, last_event: datetime) -> Resource:
        """Create the profile ``ref`` names, or update it; a new one gets ``last_event_date``."""
        changes = {k: v for k, v in ref.attributes.items() if k != "_kx"}
        target = self.find(ref)
        if target is None:
            stored = profiles.apply_changes(profiles.blank(), changes, ref.meta)
            stored["last_event_date"] = last_event.isoformat()
            made = Resource(
                self.ctx.account_id, profiles.TYPE, ids.ulid(self.ctx.clock()), stored, {}, self.now, self.now
            )
            self.new[made.id] = made
            self._hold(made)
            return made
        for name in IDENTIFIERS:  # an identifier another profile holds is not moved to this one
            value = changes.get(name)
            holder = self.holders.get((name, value)) if value else None
            if holder is not None and holder.id != target.id:
                changes.pop(name)
        target.attributes = profiles.apply_changes(target.attributes, changes, ref.meta)
        target.updated = self.now
        if target.id not in self.new:
            self.changed[target.id] = target
        self._hold(target)
        return target

    def _hold(self, profile: Resource) -> None:
        for name in IDENTIFIERS:
            value = profile.attributes.get(name)
            if value:
                self.holders.setdefault((name, value), profile)

    def store(self) -> None:
        """Write what :meth:`upsert` made and changed (inside the request's transaction)."""
        ctx = self.ctx
        rows = [(p.id, p.attributes) for p in self.new.values()]
        ctx.store.create_many(ctx.account_id, profiles.TYPE, rows, now=self.now)
        for profile in self.changed.values():
            ctx.store.update(
                ctx.account_id, profiles.TYPE, profile.id, attributes=profile.attributes, now=self.now
            )


def default_unique_id(event: EventIn) -> str:
    """Klaviyo's default: the time to the second."""
    return event.time.isoformat()


class Recorder:
    """Events of one request, stored together: metrics looked up once per name, duplicates
    (same profile, metric and unique_id, in the store or earlier in the request) dropped with
    one query per 500 events, the rest inserted in one statement, and each profile's
    ``last_event_date`` moved forward once. Call inside ``ctx.store.transaction()``."""

    def __init__(self, ctx: RequestContext, now: str) -> None:
        self.ctx = ctx
        self.now = now
        self.metrics: dict[str, Resource] = {}
        self.pending: list[tuple[str, Resource, EventIn, dict[str, Any]]] = []

    def metric(self, name: str) -> Resource:
        """The account's metric called ``name``, created on first use."""
        found = self.metrics.get(name)
        if found is None:
            ctx = self.ctx
            matches = ctx.store.find(ctx.account_id, METRIC_TYPE, "name", name)
            if matches:
                found = matches[0]
            else:
                attributes = {"name": name, "integration": dict(API_INTEGRATION)}
                found = ctx.store.create(
                    ctx.account_id, METRIC_TYPE, ids.short_id(), attributes, now=self.now
                )
            self.metrics[name] = found
        return found

    def add(self, profile: Resource, event: EventIn) -> None:
        metric = self.metric(event.metric)
        unique_id = event.unique_id or default_unique_id(event)
        properties = dict(event.properties)
        if event.value is not None:
            properties["$value"] = event.value
        if event.currency is not None:
            properties["$value_currency"] = event.currency
        properties["$event_id"] = unique_id
        dedupe = f"{profile.id}|{metric.id}|{unique_id}"
        attributes = {
            "metric_id": metric.id,
            "profile_id": profile.id,
            "datetime": event.time.isoformat(),
            "timestamp": int(event.time.timestamp()),
            "uuid": ids.uuid4(),
            "event_properties": properties,
            "value": event.value,
            "dedupe": dedupe,
        }
        self.pending.append((dedupe, profile, event, attributes))

    def flush(self) -> list[Resource]:
        """Store what was added; the events stored (duplicates are not)."""
        ctx = self.ctx
        taken = ctx.store.existing_values(ctx.account_id, TYPE, "dedupe", [d for d, *_ in self.pending])
        rows: list[tuple[str, dict[str, Any]]] = []
        latest: dict[str, tuple[datetime, Resource]] = {}
        for dedupe, profile, event, attributes in self.pending:
            if dedupe in taken:
                continue
            taken.add(dedupe)
            rows.append((ids.short_id(11), attributes))
            if profile.id not in latest or latest[profile.id][0] < event.time:
                latest[profile.id] = (event.time, profile)
        self.pending = []
        stored = ctx.store.create_many(ctx.account_id, TYPE, rows, now=self.now)
        for when, profile in latest.values():
            known = profile.attributes.get("last_event_date")
            if known is not None and (parse_datetime(known) or EARLIEST) >= when:
                continue  # already as late (a profile this request created with it)
            current = ctx.store.get(ctx.account_id, profiles.TYPE, profile.id) or profile
            last = current.attributes.get("last_event_date")
            if last is None or (parse_datetime(last) or EARLIEST) < when:
                ctx.store.update(
                    ctx.account_id,
                    profiles.TYPE,
                    current.id,
                    attributes={**current.attributes, "last_event_date": when.isoformat()},
                    now=current.updated,
                )
        return stored


# -- rendering ---------------------------------------------------------------------------


def render_metric(ctx: RequestContext, metric: Resource) -> dict[str, Any]:
    base = f"/api/metrics/{metric.id}"
    attributes = {
        "name": metric.attributes.get("name"),
        "created": metric.created,
        "updated": metric.updated,
        "integration": metric.attributes.get("integration"),
    }
    return {
        "type": METRIC_TYPE,
        "id": metric.id,
        "attributes": sparse(attributes, ctx.fields(METRIC_TYPE)),
        "relationships": {"flow-triggers": {"links": ctx.relationship_links(base, "flow-triggers")}},
        "links": ctx.self_link(base),
    }


def render(ctx: RequestContext, event: Resource, include: list[str]) -> dict[str, Any]:
    stored = event.attributes
    attributes = {
        "timestamp": stored.get("timestamp"),
        "event_properties": stored.get("event_properties") or {},
        "datetime": stored.get("datetime"),
        "uuid": stored.get("uuid"),
    }
    base = f"/api/events/{event.id}"
    relationships: dict[str, Any] = {
        "profile": {
            "data": {"type": profiles.TYPE, "id": stored.get("profile_id")},
            "links": ctx.relationship_links(base, "profile"),
        },
        "metric": {
            "data": {"type": METRIC_TYPE, "id": stored.get("metric_id")},
            "links": ctx.relationship_links(base, "metric"),
        },
        "attributions": {"links": ctx.relationship_links(base, "attributions")},
    }
    if "attributions" in include:  # the sandbox attributes no events to campaigns or flows
        relationships["attributions"]["data"] = []
    return {
        "type": TYPE,
        "id": event.id,
        "attributes": sparse(attributes, ctx.fields(TYPE)),
        "relationships": relationships,
        "links": ctx.self_link(base),
    }


def _included(ctx: RequestContext, events: list[Resource], include: list[str]) -> list[dict[str, Any]]:
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        if "metric" in include:
            metric_id = event.attributes.get("metric_id")
            metric = ctx.store.get(ctx.account_id, METRIC_TYPE, metric_id) if metric_id else None
            if metric is not None:
                out.setdefault((METRIC_TYPE, metric.id), render_metric(ctx, metric))
        if "profile" in include:
            profile_id = event.attributes.get("profile_id")
            profile = ctx.store.get(ctx.account_id, profiles.TYPE, profile_id) if profile_id else None
            if profile is not None:
                out.setdefault((profiles.TYPE, profile.id), profiles.render(ctx, profile))
    return list(out.values())


# Sort fields as SQL, for :meth:`RequestContext.page_stored` (the same values event_values gives).
SORT_COLUMNS = {
    "datetime": "json_extract(r.attributes, '$.datetime')",
    "timestamp": "json_extract(r.attributes, '$.timestamp')",
}


def event_values(event: Resource, name: str) -> list[Any]:
    """Filter and sort getter: ``metric``/``profile`` (for has) are the related ids."""
    if name == "id":
        return [event.id]
    if name in ("metric", "metric_id"):
        return [event.attributes.get("metric_id")]
    if name in ("profile", "profile_id"):
        return [event.attributes.get("profile_id")]
    return [event.attributes.get(name)]


# -- handlers ----------------------------------------------------------------------------


def _known_metrics(ctx: RequestContext) -> Callable[[tuple[Node, ...]], None]:
    """A filter check: every ``metric_id`` compared must be one of the account's metrics."""

    def check(nodes: tuple[Node, ...]) -> None:
        wanted = [c.value for c in comparisons(nodes) if c.field == "metric_id"]
        missing = [
            v.text
            for v in wanted
            if isinstance(v, Quoted) and ctx.store.get(ctx.account_id, METRIC_TYPE, v.text) is None
        ]
        if missing:
            raise invalid(f"Metric IDs {missing!r} do not exist.", parameter="filter")

    return check


def get_events(ctx: RequestContext) -> Reply:
    include = ctx.includes()
    page, links = ctx.page_stored(
        TYPE, getter=event_values, columns=SORT_COLUMNS, check_filter=_known_metrics(ctx)
    )
    data = [render(ctx, row, include) for row in page]
    return Reply.document(data, links, _included(ctx, page, include) if include else None)


def get_event(ctx: RequestContext) -> Reply:
    include = ctx.includes()
    event = ctx.get_or_404(TYPE, ctx.params["id"])
    return Reply.document(
        render(ctx, event, include),
        ctx.self_link(f"/api/events/{event.id}"),
        _included(ctx, [event], include) if include else None,
    )


def create_event(ctx: RequestContext) -> Reply:
    _check_payload(ctx)
    data = ctx.resource_body(TYPE)
    attributes = dict(data.get("attributes") or {})
    if "profile" not in attributes:
        raise invalid(
            "'profile' is a required field for the resource 'event'.", pointer="/data/attributes/profile"
        )
    ref = check_profile(attributes.pop("profile"), "/data/attributes/profile")
    event = check_event(ctx, attributes, "/data/attributes")
    record_batch(ctx, [(ref, [event])])
    return Reply(202, None)


def _bulk_item(ctx: RequestContext, item: Any, at: str) -> tuple[ProfileIn, list[EventIn]]:
    """One ``event-bulk-create`` resource object (a profile and its events), checked."""
    item = _object(item, at, "data")
    if item.get("type") != "event-bulk-create":
        raise invalid("The type must be 'event-bulk-create'.", pointer=f"{at}/type")
    item_attrs = _object(item.get("attributes"), f"{at}/attributes", "attributes")
    for required in ("profile", "events"):
        if required not in item_attrs:
            raise invalid(f"'{required}' is a required field.", pointer=f"{at}/attributes/{required}")
    ref = check_profile(item_attrs["profile"], f"{at}/attributes/profile")
    events = _object(item_attrs["events"], f"{at}/attributes/events", "events").get("data")
    if not isinstance(events, list) or not events:
        raise invalid("'data' must be a non-empty array.", pointer=f"{at}/attributes/events/data")
    checked = []
    for j, event in enumerate(events):
        event_at = f"{at}/attributes/events/data/{j}"
        event = _object(event, event_at, "data")
        if event.get("type") != TYPE:
            raise invalid("The type must be 'event'.", pointer=f"{event_at}/type")
        event_attrs = dict(_object(event.get("attributes"), f"{event_at}/attributes", "attributes"))
        if "profile" in event_attrs:
            raise invalid("'profile' is not a valid field here.", pointer=f"{event_at}/attributes/profile")
        checked.append(check_event(ctx, event_attrs, f"{event_at}/attributes"))
    return ref, checked


def bulk_create_events(ctx: RequestContext) -> Reply:
    _check_payload(ctx)
    data = ctx.resource_body("event-bulk-create-job")
    attributes = data.get("attributes") or {}
    base = "/data/attributes/events-bulk-create"
    if "events-bulk-create" not in attributes:
        raise invalid("'events-bulk-create' is a required field.", pointer=base)
    items = _object(attributes["events-bulk-create"], base, "events-bulk-create").get("data")
    if not isinstance(items, list) or not items:
        raise invalid("'data' must be a non-empty array.", pointer=f"{base}/data")
    batch = [_bulk_item(ctx, item, f"{base}/data/{i}") for i, item in enumerate(items)]
    total = sum(len(events) for _, events in batch)
    if total > MAX_BULK_EVENTS:
        raise invalid(
            f"At most {MAX_BULK_EVENTS} events may be sent in one request; got {total}.",
            pointer=f"{base}/data",
        )
    record_batch(ctx, batch)
    return Reply(202, None)


def record_batch(ctx: RequestContext, batch: list[tuple[ProfileIn, list[EventIn]]]) -> None:
    """Store checked (profile, events) items in one transaction: upsert each profile, then its
    events, as a bulk-create job does (a unique_id repeated for one profile and metric is a 400)."""
    now = ctx.now()
    with ctx.store.transaction():
        writer = ProfileWriter(ctx, [ref for ref, _ in batch], now)
        seen: set[tuple[tuple[str, str], str, str]] = set()
        for ref, events in batch:
            key = writer.key(ref)
            for event in events:
                if event.unique_id is None:
                    continue
                identity = (key, event.metric, event.unique_id)
                if identity in seen:
                    raise invalid(
                        f"The unique_id '{event.unique_id}' is repeated for the same profile and metric; no "
                        "events were processed.",
                        pointer=f"{event.pointer}/unique_id",
                    )
                seen.add(identity)
        recorder = Recorder(ctx, now)
        for ref, events in batch:
            profile = writer.upsert(ref, max(event.time for event in events))
            for event in events:
                recorder.add(profile, event)
        writer.store()
        recorder.flush()


def create_client_event(ctx: RequestContext) -> Reply:
    """``POST /client/events``: the server's create, for the account ``company_id`` names."""
    ctx.use_client_account()
    return create_event(ctx)


def bulk_create_client_events(ctx: RequestContext) -> Reply:
    """``POST /client/event-bulk-create``: one profile and its events, for ``company_id``'s account."""
    ctx.use_client_account()
    _check_payload(ctx)
    record_batch(ctx, [_bulk_item(ctx, ctx.json_body().get("data"), "/data")])
    return Reply(202, None)


ROUTES = [
    Route("GET", "/api/events", get_events, "get_events"),
    Route("POST", "/api/events", create_event, "create_event"),
    Route("GET", "/api/events/{id}", get_event, "get_event"),
    Route("POST", "/api/event-bulk-create-jobs", bulk_create_events, "bulk_create_events"),
    Route("POST", "/client/events", create_client_event, "create_client_event", auth=False),
    Route(
        "POST",
        "/client/event-bulk-create",
        bulk_create_client_events,
        "bulk_create_client_events",
        auth=False,
    ),
]
