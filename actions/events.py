"""Events: create one, create many (split, checked, de-duplicated), get and list.

Every event sent carries a ``time`` and a ``unique_id``. Klaviyo's default ``unique_id`` is the
time to the second, so two events of one profile and metric in the same second collide; when the
caller gives no ID one is derived from the event's content (SHA-256 of metric, profile identifiers,
time, value and properties), so same-second events differ and a re-run batch is de-duplicated by
Klaviyo instead of recorded twice. A missing time is the time the action started.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Annotated, Any

from klaviyo_connector import prose_rules as rules
from klaviyo_connector.actions.profiles import Location
from klaviyo_connector.context import Context
from klaviyo_connector.errors import OUTCOME_UNKNOWN, KlaviyoError, input_error
from klaviyo_connector.http import Response, encode_json, json_default, settle_outcome
from klaviyo_connector.inputs import (
    NONBLANK,
    TIME_HELP,
    AtLeastOne,
    Email,
    EnumHint,
    FormHint,
    IdField,
    Inputs,
    PhoneNumber,
    ResourceId,
    UtcDatetime,
    collector_paused,
    data_source,
    utc_iso,
)
from klaviyo_connector.jsonapi import acknowledgement, batches, wire_value
from klaviyo_connector.listing import list_collection, list_inputs
from klaviyo_connector.manifest import acknowledgement_schema, member
from klaviyo_connector.model import Action
from klaviyo_connector.paths import api_path
from klaviyo_connector.reads import get_one, query_input, read_params
from pydantic import AfterValidator, Field, model_validator

MAX_METRIC_NAME = rules.EVENT_MAX_METRIC_NAME
MAX_PROPERTIES = rules.EVENT_MAX_PROPERTIES
MAX_STRING_BYTES = rules.EVENT_MAX_STRING_BYTES
MAX_BULK_EVENTS = rules.EVENT_BULK_MAX_EVENTS
MAX_BULK_BYTES = rules.FIVE_MB_SAFE
EARLIEST = rules.EVENT_EARLIEST
LATEST_AHEAD = rules.EVENT_LATEST_AHEAD
IDENTIFIERS = ("id", "email", "phone_number", "external_id", "anonymous_id")
EVENTS_LABEL = "Events Array"
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_BULK_POINTER = re.compile(r"^/data/attributes/events-bulk-create/data/(\d+)(?:/attributes(/.*)?)?$")
_EVENT_POINTER = re.compile(r"^/events/data/(\d+)(?:/attributes)?(/.*)?$")


def now() -> datetime:
    """The current time; tests replace this function to pin "now"."""
    return datetime.now(timezone.utc)


# -- value checks (pydantic validators, so errors name the input's label) --------------------------


def _event_time(value: datetime) -> datetime:
    """Truncated to the second as Klaviyo does; after 1990, at most a year ahead (shown in UTC)."""
    value = value.astimezone(timezone.utc).replace(microsecond=0)
    if value <= EARLIEST:
        raise ValueError(f"must be after 1990-01-01T00:00:00Z (got {iso(value)})")
    latest = now() + LATEST_AHEAD
    if value > latest:
        raise ValueError(
            f"must be at most one year in the future, i.e. not after {iso(latest)} (got {iso(value)})"
        )
    return value


def _metric_name(value: str) -> str:
    if not value:
        raise ValueError("is required")
    if len(value) > MAX_METRIC_NAME:
        raise ValueError(f"must be fewer than 128 characters (got {len(value)})")
    return value


def _currency(value: str) -> str:
    code = value.upper()
    if not _CURRENCY.match(code):
        raise ValueError(f"must be a three-letter ISO 4217 currency code such as USD (got {value!r})")
    return code


def _oversized_string(value: Any, path: str) -> str | None:
    """The path of the first string over Klaviyo's 100 KB limit, if any."""
    if isinstance(value, str):
        return path if len(value.encode("utf-8")) > MAX_STRING_BYTES else None
    if isinstance(value, Mapping):
        items: Sequence[tuple[str, Any]] = [(f"{path}.{k}", v) for k, v in value.items()]
    elif isinstance(value, (list, tuple)):
        items = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    else:
        return None
    for sub_path, item in items:
        found = _oversized_string(item, sub_path)
        if found:
            return found
    return None


def _properties(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_PROPERTIES:
        raise ValueError(f"may have at most {MAX_PROPERTIES} properties (got {len(value)})")
    problem: Exception | None = None
    try:  # workflow values (Decimal, datetime, ...) become JSON here, so a bad one fails now
        size = len(encode_json(value))
    except (TypeError, ValueError, KlaviyoError) as exc:  # KlaviyoError: NaN, Infinity, too deep
        size, problem = MAX_STRING_BYTES + 1, exc
    # A string over the limit makes the whole encoding longer than it: only then look for it
    # (an oversized string is reported before a value that can't be encoded, as it always was).
    where = _oversized_string(value, "") if size > MAX_STRING_BYTES else None
    if where:
        raise ValueError(f"the string at {where.lstrip('.')} is larger than Klaviyo's 100 KB limit")
    if isinstance(problem, KlaviyoError):
        raise problem
    if problem is not None:
        raise ValueError(f"cannot be sent as JSON ({problem})") from None
    return value


EventTime = Annotated[UtcDatetime, AfterValidator(_event_time)]
MetricName = Annotated[
    str, AfterValidator(_metric_name), FormHint(minLength=1, maxLength=MAX_METRIC_NAME, pattern=NONBLANK)
]
# The run upper-cases a code before matching it: the form takes either case.
Currency = Annotated[
    str, AfterValidator(_currency), FormHint(pattern=_CURRENCY.pattern.replace("A-Z", "A-Za-z"))
]
Properties = Annotated[dict[str, Any], AfterValidator(_properties), FormHint(maxProperties=MAX_PROPERTIES)]
Value = Annotated[float, Field(allow_inf_nan=False)]


def iso(value: datetime) -> str:
    return utc_iso(value.replace(microsecond=0))


# -- inputs ----------------------------------------------------------------------------------------


class EventProfile(Inputs):
    """The profile an event belongs to (created or updated by identifier). Wire names."""

    FORM_RULES = (AtLeastOne("email", "phone_number", "external_id", "anonymous_id", "id"),)

    id: str | None = Field(
        None,
        title="Profile ID",
        description="Klaviyo profile ID.",
        examples=["01J18FVB5H8XR1X9AXEQFVRW7A"],
        json_schema_extra=data_source("selectProfile"),
    )
    email: Email | None = Field(None, title="Email", examples=["sarah.mason@klaviyo-demo.com"])
    phone_number: PhoneNumber | None = Field(None, title="Phone Number", examples=["+15005550006"])
    external_id: str | None = Field(None, title="External ID", examples=["12345"])
    anonymous_id: str | None = Field(None, title="Anonymous ID", examples=["visitor-7f3a9c"])
    first_name: str | None = Field(None, title="First Name", examples=["Sarah"])
    last_name: str | None = Field(None, title="Last Name", examples=["Mason"])
    organization: str | None = Field(None, title="Organization", examples=["Example Corporation"])
    title: str | None = Field(None, title="Title", examples=["Regional Manager"])
    locale: str | None = Field(None, title="Locale", examples=["en-US"])
    image: str | None = Field(
        None, title="Image", examples=["https://images.pexels.com/photos/3760854/pexels-photo-3760854.jpeg"]
    )
    location: Location | None = Field(None, title="Location")
    properties: dict[str, Any] | None = Field(None, title="Properties", examples=[{"plan": "gold"}])

    @model_validator(mode="after")
    def _has_identifier(self) -> EventProfile:
        if not any(getattr(self, name) for name in IDENTIFIERS):
            raise ValueError(
                "needs at least one identifier: id, email, phone_number, external_id or anonymous_id"
            )
        return self

    def wire(self) -> dict[str, Any]:
        """``{"data": {"type": "profile", "id"?, "attributes": {...}}}`` with only given members."""
        attrs = wire_value(self)
        profile_id = attrs.pop("id", None)
        data: dict[str, Any] = {"type": "profile"}
        if profile_id:
            data["id"] = profile_id
        data["attributes"] = attrs
        return {"data": data}

    def identifiers(self) -> list[tuple[str, str]]:
        return [(name, str(getattr(self, name))) for name in IDENTIFIERS if getattr(self, name)]


PROFILE_HELP = (
    "The profile the event belongs to: at least one of id, email, phone_number (E.164), external_id or "
    "anonymous_id, plus any profile attributes to set (first_name, location, properties, ...). A profile "
    "that doesn't exist is created."
)


class CreateEventInputs(Inputs):
    eventName: MetricName = Field(
        title="Event Name",
        description="Name of the event (the metric); fewer than 128 characters.",
        examples=["Viewed Product"],
    )
    eventProfile: EventProfile = Field(
        title="Event Profile",
        description=PROFILE_HELP,
        examples=[{"email": "sarah.mason@klaviyo-demo.com", "first_name": "Sarah"}],
    )
    eventProperties: Properties | None = Field(
        None,
        title="Event Properties",
        description="The properties of the event (at most 400; each string at most 100 KB).",
        examples=[{"ProductName": "Winnie the Pooh", "Price": 9.99}],
    )
    eventTime: EventTime | None = Field(
        None,
        title="Event Time",
        description="When this event occurred. Truncated to the second; after 1990 and at most a year ahead. "
        "Default: when the action runs. " + TIME_HELP,
        examples=["2024-07-10T14:48:00.000Z"],
    )
    eventValue: Value | None = Field(
        None,
        title="Event Value",
        description="A numeric, monetary value to associate with this event.",
        examples=[10],
    )
    eventValueCurrency: Currency | None = Field(
        None,
        title="Event Value Currency",
        description="The ISO 4217 currency code of the value associated with the event.",
        examples=["USD"],
    )
    eventUniqueId: str | None = Field(
        None,
        title="Event Unique ID",
        description="A unique identifier for this event; Klaviyo records only the first event with a given ID "
        "for the same profile and metric. Default: derived from the event's content, so a retry is not "
        "recorded twice.",
        examples=["123"],
    )


class BulkEvent(Inputs):
    """One row of Events Array (wire names)."""

    metric: MetricName = Field(
        title="Metric", description="The event (metric) name.", examples=["Placed Order"]
    )
    profile: EventProfile = Field(title="Profile", description=PROFILE_HELP)
    properties: Properties = Field(default_factory=dict, title="Properties", examples=[{"OrderId": "1001"}])
    time: EventTime | None = Field(
        None,
        title="Time",
        description="When it occurred (default: when the action runs). " + TIME_HELP,
        examples=["2024-07-10T14:48:00Z"],
    )
    value: Value | None = Field(None, title="Value", examples=[29.98])
    value_currency: Currency | None = Field(None, title="Value Currency", examples=["USD"])
    unique_id: str | None = Field(None, title="Unique ID", examples=["order-1001"])


class BulkCreateEventsInputs(Inputs):
    eventsArray: list[BulkEvent] = Field(
        title=EVENTS_LABEL,
        min_length=1,
        description="An array of events to create, each {metric, profile, properties, time, value, "
        "value_currency, unique_id}; metric and a profile identifier are required. Sent in requests of at "
        "most 1,000 events and 5 MB. time: " + TIME_HELP,
        examples=[
            [
                {
                    "metric": "Placed Order",
                    "profile": {"email": "sarah.mason@klaviyo-demo.com"},
                    "properties": {"OrderId": "1001"},
                    "time": "2024-07-10T14:48:00Z",
                    "value": 29.98,
                    "value_currency": "USD",
                }
            ]
        ],
    )


EVENT_FIELDS_HELP = "Event fields to include in the response (datetime, event_properties, timestamp, uuid)."
METRIC_FIELDS_HELP = "Metric fields to include in the response (name, created, updated, integration)."
PROFILE_FIELDS_HELP = "Profile fields to include in the response, e.g. email,first_name,location.city."
# resource -> (label, help, example) of the input naming the fields of that resource to return
_SPARSE = {
    "event": ("Event Fields", EVENT_FIELDS_HELP, ["datetime", "event_properties"]),
    "metric": ("Metric Fields", METRIC_FIELDS_HELP, ["name"]),
    "profile": ("Profile Fields", PROFILE_FIELDS_HELP, ["email", "first_name"]),
}


def sparse_fields(operation: str, resource: str) -> Any:
    """The input naming which fields of ``resource`` an action reading events returns."""
    label, help_text, example = _SPARSE[resource]
    return Field(
        None,
        title=label,
        description=help_text,
        examples=[example],
        json_schema_extra=EnumHint(operation, query=f"fields[{resource}]"),
    )


def include_attributions() -> Any:
    return Field(
        False,
        title="Include Attributions",
        description="Also include the event's attributions (the campaigns and flows credited with it); the "
        "metric and profile are always included.",
    )


def attribution_fields(operation: str) -> Any:
    return query_input(
        operation,
        "fields[attribution]",
        "Attribution Fields",
        "Fields of the included attributions to return (with Include Attributions), e.g. id.",
        ["id"],
    )


class GetEventInputs(Inputs):
    eventId: ResourceId = IdField("Event ID", "The ID of the event.", "5nJKMJuHUQy", "selectEvent")
    eventFields: list[str] | None = sparse_fields("get_event", "event")
    metricFields: list[str] | None = sparse_fields("get_event", "metric")
    profileFields: list[str] | None = sparse_fields("get_event", "profile")
    includeAttributions: bool = include_attributions()
    attributionFields: list[str] | None = attribution_fields("get_event")


class ListEventsInputs(list_inputs("get_events")):
    eventFields: list[str] | None = sparse_fields("get_events", "event")
    metricFields: list[str] | None = sparse_fields("get_events", "metric")
    profileFields: list[str] | None = sparse_fields("get_events", "profile")
    includeAttributions: bool = include_attributions()
    attributionFields: list[str] | None = attribution_fields("get_events")


# -- wire format -----------------------------------------------------------------------------------


def derive_unique_id(
    metric: str,
    profile: EventProfile,
    time: datetime,
    properties: Mapping[str, Any],
    value: float | None = None,
    currency: str | None = None,
    identifiers: list[tuple[str, str]] | None = None,
) -> str:
    """A stable ID from the event's content: the same event always gets the same ID.
    ``identifiers``: ``profile.identifiers()``, when the caller has them already."""
    ids = profile.identifiers() if identifiers is None else identifiers
    return _unique_id(_canonical(metric, ids, time, properties, value, currency))


def _canonical(
    metric: str,
    identifiers: list[tuple[str, str]],
    time: datetime,
    properties: Mapping[str, Any],
    value: float | None,
    currency: str | None,
) -> bytes:
    """The event's content as sorted, compact UTF-8 JSON: what its derived ID is a hash of."""
    content = {
        "metric": metric,
        "profile": dict(identifiers),
        "time": iso(time),
        "properties": properties,
        "value": value,
        "value_currency": currency,
    }
    return _CANONICAL.encode(content).encode("utf-8")


def _unique_id(canonical: bytes) -> str:
    return hashlib.sha256(canonical).hexdigest()


# One encoder for every ID (json.dumps with options builds one per call; bulk rows felt it).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=json_default)


def event_attributes(
    metric: str,
    properties: Mapping[str, Any],
    time: datetime,
    unique_id: str,
    value: float | None,
    currency: str | None,
) -> dict[str, Any]:
    attrs: dict[str, Any] = {
        "properties": dict(properties),
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
        "time": iso(time),
    }
    if value is not None:
        attrs["value"] = value
    if currency is not None:
        attrs["value_currency"] = currency
    attrs["unique_id"] = unique_id
    return attrs


# -- createEvent -----------------------------------------------------------------------------------


def _rerun_is_new(err: KlaviyoError) -> KlaviyoError:
    """Retries within the run resend the same unique_id (safe), but a re-run of the action stamps
    a new time, hence a new unique_id: a failure that may have been applied is no longer one a
    host may simply repeat."""
    settle_outcome(err)
    if err.error_class == OUTCOME_UNKNOWN:
        err.message += " Give an event time (or unique ID) so that running the action again is de-duplicated."
        err.args = (err.message,)
    return err


def create_event(ctx: Context, inputs: CreateEventInputs) -> Any:
    time = inputs.eventTime or now().replace(microsecond=0)
    properties = inputs.eventProperties or {}
    unique_id = inputs.eventUniqueId or derive_unique_id(
        inputs.eventName,
        inputs.eventProfile,
        time,
        properties,
        inputs.eventValue,
        inputs.eventValueCurrency,
    )
    attrs = event_attributes(
        inputs.eventName, properties, time, unique_id, inputs.eventValue, inputs.eventValueCurrency
    )
    attrs["profile"] = inputs.eventProfile.wire()
    # The same body sent again is de-duplicated by its unique_id, so retrying it is safe.
    try:
        response = ctx.client.request(
            "POST",
            "/api/events",
            json_body={"data": {"type": "event", "attributes": attrs}},
            operation="create_event",
            idempotent=True,
        )
    except KlaviyoError as err:
        if inputs.eventTime is None and inputs.eventUniqueId is None:
            raise _rerun_is_new(err) from None
        raise
    return acknowledgement(
        response,
        "Event accepted for processing.",
        metric=inputs.eventName,
        time=attrs["time"],
        unique_id=unique_id,
    )


# -- bulkCreateEvents ------------------------------------------------------------------------------


def _group_item(profile: Mapping[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "event-bulk-create",
        "attributes": {"profile": dict(profile), "events": {"data": events}},
    }


def _job_body(groups: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": {
            "type": "event-bulk-create-job",
            "attributes": {"events-bulk-create": {"data": groups}},
        }
    }


# The bytes a group adds around its profile and its one event: what a row alone takes is this
# plus the two encodings (compact JSON, so the parts' lengths add up exactly).
_GROUP_BYTES = len(encode_json(_group_item({}, []))) - len(b"{}")


# What an event's JSON adds to its content's canonical JSON, at most: its keys and nesting
# ({"type":"event","attributes":{...,"metric":{"data":{"type":"metric",...}}}}, about 150 bytes)
# and its unique_id. The canonical JSON holds every other member (with the same encoding).
_EVENT_SLACK = 256


class _Row:
    """One checked input row. Its event is built when its request is (:meth:`event`); until then
    ``size`` may be an upper bound of what it adds to a request (``exact`` says which)."""

    __slots__ = (
        "_event",
        "exact",
        "identifiers",
        "index",
        "metric",
        "profile",
        "profile_key",
        "size",
        "source",
        "time",
        "timed_now",
        "unique_id",
    )

    def __init__(self, index: int, event: BulkEvent, started: datetime) -> None:
        self.index = index
        self.source = event
        self.time = event.time or started
        # Its unique_id then depends on when the action ran: a re-run would make another event.
        self.timed_now = event.time is None and event.unique_id is None
        self.identifiers = event.profile.identifiers()
        self.metric = event.metric
        self.profile = event.profile.wire()
        self.profile_key = encode_json(self.profile)
        self._event: dict[str, Any] | None = None
        if event.unique_id:
            self.unique_id = event.unique_id
            self.measure()
        else:
            canonical = _canonical(
                event.metric, self.identifiers, self.time, event.properties, event.value, event.value_currency
            )
            self.unique_id = _unique_id(canonical)
            self.size = _GROUP_BYTES + len(self.profile_key) + len(canonical) + _EVENT_SLACK
            self.exact = False

    def event(self) -> dict[str, Any]:
        if self._event is None:
            e = self.source
            attributes = event_attributes(
                e.metric, e.properties, self.time, self.unique_id, e.value, e.value_currency
            )
            self._event = {"type": "event", "attributes": attributes}
        return self._event

    def measure(self) -> None:
        """``size``: exactly the bytes it adds to a request alone in a group of its own (an upper
        bound of what it adds beside others)."""
        self.size = _GROUP_BYTES + len(self.profile_key) + len(encode_json(self.event()))
        self.exact = True


def _check_duplicates(rows: list[_Row]) -> None:
    """Klaviyo fails a whole request when a unique_id repeats for one profile and metric."""
    seen: dict[tuple[str, str, str, str], int] = {}
    for row in rows:
        for kind, value in row.identifiers:
            key = (row.metric, kind, value, row.unique_id)
            first = seen.get(key)
            if first is not None:
                raise input_error(
                    f"{EVENTS_LABEL}[{row.index}]",
                    f"repeats the unique_id of {EVENTS_LABEL}[{first}] for the same profile ({kind} {value}) "
                    f"and metric {row.metric!r}; Klaviyo would reject the whole request. Give each event its "
                    "own unique_id (without one, identical events get identical IDs).",
                )
        for kind, value in row.identifiers:
            seen.setdefault((row.metric, kind, value, row.unique_id), row.index)


def _grouped(rows: list[_Row]) -> tuple[dict[str, Any], list[list[int]]]:
    """A request body grouping rows per profile, and each group's input row numbers."""
    order: dict[bytes, int] = {}
    groups: list[dict[str, Any]] = []
    members: list[list[int]] = []
    for row in rows:
        position = order.get(row.profile_key)
        if position is None:
            position = order[row.profile_key] = len(groups)
            groups.append(_group_item(row.profile, []))
            members.append([])
        groups[position]["attributes"]["events"]["data"].append(row.event())
        members[position].append(row.index)
    return _job_body(groups), members


def _wire_path_to_input(rest: str) -> str:
    """``/metric/data/attributes/name`` -> ``.metric``; ``/profile/data/attributes/email`` -> ``.profile.email``."""
    parts = [p for p in rest.split("/") if p]
    if parts[:1] == ["metric"]:
        return ".metric"
    if parts[:1] == ["profile"]:
        tail = [p for p in parts[1:] if p not in ("data", "attributes")]
        return ".profile" + "".join(f".{p}" for p in tail)
    return "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in parts)


def _locate(pointer: str | None, members: list[list[int]]) -> tuple[str, list[int]] | None:
    """Map a request's error pointer to ``(input path, rows)``."""
    match = _BULK_POINTER.match(pointer or "")
    if not match or int(match.group(1)) >= len(members):
        return None
    rows = members[int(match.group(1))]
    rest = match.group(2) or ""
    event = _EVENT_POINTER.match(rest)
    if event and int(event.group(1)) < len(rows):
        row = rows[int(event.group(1))]
        return f"{EVENTS_LABEL}[{row}]{_wire_path_to_input(event.group(2) or '')}", [row]
    return f"{EVENTS_LABEL}[{rows[0]}]{_wire_path_to_input(rest)}", rows


def _request_failed(
    err: KlaviyoError, members: list[list[int]], sent: int, total: int, request_no: int, stable: bool
) -> KlaviyoError:
    located = _locate((err.source or {}).get("pointer"), members)
    rows = sorted(i for group in members for i in group)
    where = f"{EVENTS_LABEL}[{rows[0]}..{rows[-1]}]"
    shared = ""
    if located:
        where, hit = located
        if len(hit) > 1:
            shared = f" (rows {', '.join(map(str, hit))} share this profile)"
    if not sent:
        earlier = ""
    elif stable:
        earlier = (
            f" {sent} of {total} events were accepted by earlier requests; re-running the batch will not "
            "duplicate them (their unique IDs don't change)."
        )
    else:
        earlier = (
            f" {sent} of {total} events were accepted by earlier requests; re-running the whole batch would "
            "record them again (events without a time get a new one, hence a new unique ID): re-run only the "
            "rest, or give every event a time or unique_id."
        )
    meta = dict(err.meta or {})
    meta.update({"rows": located[1] if located else rows, "events_accepted": sent, "request": request_no})
    return KlaviyoError(
        f"{where}{shared}: {err.message}{earlier}",
        error_class=err.error_class,
        status=err.status,
        code=err.code,
        title=err.title,
        detail=err.detail,
        source=err.source,
        error_id=err.error_id,
        method=err.method,
        path=err.path,
        field=where,
        retry_after=err.retry_after,
        rate_limit=err.rate_limit,
        meta=meta,
        errors=err.errors,
    )


def _planned(inputs: BulkCreateEventsInputs) -> tuple[list[_Row], list[list[_Row]]]:
    """Every row checked and sized, then split into requests: nothing is sent before this returns."""
    started = now().replace(microsecond=0)
    rows = [_Row(i, event, started) for i, event in enumerate(inputs.eventsArray)]
    _check_duplicates(rows)
    overhead = len(encode_json(_job_body([])))
    # Size bounds only stand in for sizes when no row can come near a limit: a full request of
    # the largest bound then fits, so requests split by count alone, as exact sizes would split
    # them. Otherwise every row is measured.
    if MAX_BULK_EVENTS * (max(r.size for r in rows) + 1) + overhead > MAX_BULK_BYTES:
        for row in rows:
            if not row.exact:
                row.measure()
    for row in rows:
        size = overhead + row.size
        if size > MAX_BULK_BYTES:
            raise input_error(
                f"{EVENTS_LABEL}[{row.index}]",
                f"this event alone makes a {size:,}-byte request; Klaviyo accepts at most 5 MB per request",
            )
    # Sized as if each event had its own profile group: grouping only shrinks a request.
    chunks = [
        items
        for _start, items in batches(
            rows, MAX_BULK_EVENTS, max_bytes=MAX_BULK_BYTES, overhead=overhead, sizes=[r.size for r in rows]
        )
    ]
    return rows, chunks


def bulk_create_events(ctx: Context, inputs: BulkCreateEventsInputs) -> Any:
    with collector_paused():  # tens of thousands of rows: see collector_paused
        rows, chunks = _planned(inputs)
    total, sent = len(rows), 0
    response: Response | None = None
    for number, chunk in enumerate(chunks, start=1):
        body, members = _grouped(chunk)
        try:
            # Every event has a unique_id, so a repeated request is de-duplicated, not doubled.
            response = ctx.client.request(
                "POST",
                "/api/event-bulk-create-jobs",
                json_body=body,
                operation="bulk_create_events",
                idempotent=True,
            )
        except KlaviyoError as err:
            stable = not any(row.timed_now for row in rows)
            if not stable:
                _rerun_is_new(err)
            raise _request_failed(err, members, sent, total, number, stable) from err
        sent += len(chunk)
        ctx.progress("rows", {"sent": sent, "total": total, "requests": number, "of_requests": len(chunks)})
    assert response is not None  # eventsArray has at least one row
    return acknowledgement(
        response,
        f"{total} events accepted for processing in {len(chunks)} request(s).",
        events=total,
        requests=len(chunks),
    )


# -- getEvent / listEvents -------------------------------------------------------------------------


READS = {
    "fields[event]": "eventFields",
    "fields[metric]": "metricFields",
    "fields[profile]": "profileFields",
    "fields[attribution]": "attributionFields",
}


def _include(inputs: GetEventInputs | ListEventsInputs) -> dict[str, str]:
    """An event is read with its metric and profile, and its attributions on request."""
    return {"include": "metric,profile,attributions" if inputs.includeAttributions else "metric,profile"}


def get_event(ctx: Context, inputs: GetEventInputs) -> Any:
    path = api_path("/api/events/{id}", id=inputs.eventId)
    return get_one(ctx, path, "get_event", inputs, READS, _include(inputs))


def list_events(ctx: Context, inputs: ListEventsInputs) -> Any:
    params = {**_include(inputs), **read_params("get_events", inputs, READS)}
    return list_collection(ctx, "/api/events", "get_events", inputs, params)


CREATE_EVENT_ACKNOWLEDGEMENT = acknowledgement_schema(
    required=["metric", "time", "unique_id"],
    metric=member("string", "The event's metric name (Event Name)."),
    time=member("string", "When the event happened, as sent (ISO 8601, UTC)."),
    unique_id=member("string", "The unique ID Klaviyo de-duplicates the event by (given or derived)."),
)
BULK_CREATE_EVENTS_ACKNOWLEDGEMENT = acknowledgement_schema(
    required=["events", "requests"],
    events=member("integer", "How many events were sent."),
    requests=member("integer", "How many bulk requests carried them."),
)


ACTIONS = (
    Action(
        key="createEvent",
        label="Create Event",
        description="Create a new event to track a profile's activity; creates or updates the profile. "
        "Klaviyo accepts the event for processing (202) and records it shortly after.",
        inputs=CreateEventInputs,
        perform=create_event,
        output_schema=CREATE_EVENT_ACKNOWLEDGEMENT,
        operations=("create_event",),
    ),
    Action(
        key="bulkCreateEvents",
        label="Bulk Create Events",
        description="Create a batch of events for one or more profiles. Rows are checked first (a bad row is "
        "named), split into requests of at most 1,000 events and 5 MB, and given stable unique IDs so a re-run "
        "doesn't record them twice.",
        inputs=BulkCreateEventsInputs,
        perform=bulk_create_events,
        output_schema=BULK_CREATE_EVENTS_ACKNOWLEDGEMENT,
        operations=("bulk_create_events",),
    ),
    Action(
        key="getEvent",
        label="Get Event",
        description="Get an event with the given event ID, with its metric and profile.",
        inputs=GetEventInputs,
        perform=get_event,
        operations=("get_event",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="listEvents",
        label="List Events",
        description="Get events in the account with their metrics and profiles: filter (metric_id, profile_id, "
        "datetime), sort, one page (up to 1,000) or all pages up to a cap.",
        inputs=ListEventsInputs,
        perform=list_events,
        operations=("get_events",),
        read_only=True,
        idempotent=True,
    ),
)
