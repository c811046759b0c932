"""The polling cursor every polling trigger shares: exactly-once records from a Klaviyo collection.

A :class:`Feed` names a list endpoint, the date-time field it filters and sorts on (``created``,
``datetime``, ``joined_group_at``, ...; which fields each endpoint allows is in the catalog) and
how a resource becomes records. :func:`poll` reads the collection from the state's boundary on
and returns the new records, oldest first, with the next state.

State (a JSON object the host keeps between polls; ``{}`` the first time)::

    {"v": 1, "trigger": "newProfile", "boundary": "2026-05-01T09:00:00+00:00" | null,
     "seen": ["<record key>", ...]}

``boundary`` is the time of the newest record returned so far and ``seen`` the keys of the
records returned at exactly that time, so a record written in the same second as the last one
returned is neither repeated nor missed (Klaviyo's times are whole seconds). A record's time is
never later than its resource's cursor field (a consent is given before the profile's
``updated``), so filtering the cursor field from the boundary on finds every candidate.

- First poll: from now (the newest existing record becomes the boundary and nothing is
  returned), or from ``since`` (records at or after it are returned).
- A poll pages as far as it needs (all pages, or until the cap is filled and the boundary second
  is complete) and returns at most ``max_records``; the rest waits for the next poll.
- Records written while a poll runs are returned by the next one (their time is at or after the
  boundary the poll leaves).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from . import catalog, filters
from .context import Context
from .errors import input_error
from .pagination import iterate_pages

STATE_VERSION = 1
STATE_LABEL = "State"


@dataclass(frozen=True)
class Candidate:
    """One record a resource yields: its de-duplication key, its time and the record itself."""

    key: str
    time: datetime
    record: dict[str, Any]


# A resource (and the page document it came in, for ``included``) -> the records it yields.
Expand = Callable[[Mapping[str, Any], Mapping[str, Any]], Iterable[Candidate]]


@dataclass(frozen=True)
class Feed:
    """Where a polling trigger's records come from.

    ``cursor`` is a date-time field of ``operation`` that is both filterable and a sort key
    (None: the endpoint can't narrow by time, so every poll reads the whole filtered collection).
    ``filters`` are conditions ANDed to every request; ``params`` extra query parameters
    (``include``, ``additional-fields[...]``). ``same_time`` says each record's time is its
    resource's cursor value, which lets a poll stop paging once its cap is filled.
    """

    operation: str
    path: str
    cursor: str | None
    expand: Expand
    filters: tuple[filters.Node, ...] = ()
    params: Mapping[str, Any] = field(default_factory=dict)
    same_time: bool = True


def parse_time(value: Any) -> datetime | None:
    """An aware UTC datetime from Klaviyo's ISO text, or None."""
    if not isinstance(value, str):
        return None
    moment = filters.parse_datetime(value)
    return moment.astimezone(timezone.utc) if moment is not None else None


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


def record(
    key: str,
    moment: datetime,
    resource: Mapping[str, Any],
    included: Sequence[Mapping[str, Any]] = (),
    **extra: Any,
) -> Candidate:
    """A candidate whose record is ``{"key", "occurred_at", **extra, "data"[, "included"]}``: ``data``
    is the resource as the matching get action returns it in its ``data`` member."""
    out: dict[str, Any] = {"key": key, "occurred_at": iso(moment), **extra, "data": dict(resource)}
    if included:
        out["included"] = [dict(item) for item in included]
    return Candidate(key, moment, out)


def by_id(time_attribute: str, key: Callable[[Mapping[str, Any], str], str] | None = None) -> Expand:
    """The usual expansion: one record per resource, timed by its ``time_attribute`` (a resource
    without that time yields nothing) and keyed by its ID, or by ``key(resource, time_text)``."""

    def expand(resource: Mapping[str, Any], _doc: Mapping[str, Any]) -> Iterable[Candidate]:
        moment = parse_time((resource.get("attributes") or {}).get(time_attribute))
        if moment is None:
            return ()
        name = key(resource, iso(moment)) if key is not None else str(resource.get("id"))
        return (record(name, moment, resource),)

    return expand


def _check_state(state: Mapping[str, Any] | None, trigger: str) -> tuple[datetime | None, set[str], bool]:
    """``(boundary, seen keys, first poll)`` from a host's state; an input error for a state that
    isn't one this trigger wrote."""
    if not state:
        return None, set(), True
    if not isinstance(state, Mapping):
        raise input_error(STATE_LABEL, "must be the JSON object the previous poll returned")
    if state.get("v") != STATE_VERSION or state.get("trigger") != trigger:
        raise input_error(
            STATE_LABEL, f"was not written by the {trigger} trigger (start again with an empty state: {{}})"
        )
    raw, seen = state.get("boundary"), state.get("seen")
    boundary = parse_time(raw)
    if (raw is not None and boundary is None) or not isinstance(seen, list):
        raise input_error(STATE_LABEL, "is damaged: boundary must be a date-time or null, seen a list")
    return boundary, {str(k) for k in seen}, False


def _state(trigger: str, boundary: datetime | None, seen: Iterable[str]) -> dict[str, Any]:
    return {
        "v": STATE_VERSION,
        "trigger": trigger,
        "boundary": iso(boundary) if boundary else None,
        "seen": sorted(set(seen)),
    }


def _from(feed: Feed, boundary: datetime) -> filters.Node:
    """``cursor >= boundary`` in the operators the endpoint allows (profiles' ``created`` only has
    greater-than: a second earlier, and what is before the boundary is dropped afterwards)."""
    assert feed.cursor is not None
    allowed = catalog.operation(feed.operation).filters[feed.cursor].operators
    if "greater-or-equal" in allowed:
        return filters.Comparison("greater-or-equal", feed.cursor, boundary)
    return filters.Comparison("greater-than", feed.cursor, boundary - timedelta(seconds=1))


def _pages(
    ctx: Context, feed: Feed, extra: Sequence[filters.Node], descending: bool = False
) -> Iterator[Any]:
    query: dict[str, Any] = dict(feed.params)
    nodes = filters.validate([*feed.filters, *extra], catalog.operation(feed.operation).filters)
    rendered = filters.render(nodes)
    if rendered:
        query["filter"] = rendered
    if feed.cursor is not None:
        query["sort"] = f"-{feed.cursor}" if descending else feed.cursor
    return iterate_pages(
        ctx.client,
        feed.path,
        operation=feed.operation,
        params=query,
        max_records=None,
        on_page=lambda n, rows: ctx.progress("pages", {"pages": n, "records": rows}),
    )


def _candidates(feed: Feed, doc: Mapping[str, Any]) -> Iterator[tuple[datetime | None, Candidate]]:
    """Each resource's cursor time with each record it yields."""
    for resource in doc.get("data") or []:
        cursor_time = parse_time((resource.get("attributes") or {}).get(feed.cursor)) if feed.cursor else None
        for candidate in feed.expand(resource, doc):
            yield cursor_time, candidate


def _start_from_now(ctx: Context, feed: Feed, trigger: str) -> dict[str, Any]:
    """The first poll's state with no Start From: the newest record's time, every record at it seen."""
    newest: datetime | None = None
    seen: set[str] = set()
    if feed.cursor is None:
        for doc in _pages(ctx, feed, ()):
            for _, c in _candidates(feed, doc):
                if newest is None or c.time > newest:
                    newest, seen = c.time, {c.key}
                elif c.time == newest:
                    seen.add(c.key)
        return _state(trigger, newest, seen)
    top: datetime | None = None  # the newest cursor value
    for doc in _pages(ctx, feed, (), descending=True):
        done = False
        for cursor_time, c in _candidates(feed, doc):
            if cursor_time is None:
                continue
            if top is None:
                top = cursor_time
            if cursor_time < top:
                done = True
                break
            if newest is None or c.time > newest:
                newest, seen = c.time, {c.key}
            elif c.time == newest:
                seen.add(c.key)
        if done:
            break
    # Every existing record is at or before the newest cursor value; with none at it, that value
    # is still the boundary (what comes later is new).
    if newest is None or (top is not None and newest < top):
        return _state(trigger, top, seen if newest == top else ())
    return _state(trigger, newest, seen)


def poll(
    ctx: Context,
    feed: Feed,
    *,
    trigger: str,
    state: Mapping[str, Any] | None,
    max_records: int,
    since: datetime | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The records after ``state`` (oldest first, at most ``max_records``) and the next state.

    ``since`` (aware) applies to the first poll only: records at or after it are returned instead
    of starting from now. Raises KlaviyoError: a state this trigger did not write (input error,
    before any request), or whatever the requests raise.
    """
    boundary, seen, first = _check_state(state, trigger)
    if first:
        if since is None:
            return [], _start_from_now(ctx, feed, trigger)
        boundary = since.astimezone(timezone.utc)
    extra = [_from(feed, boundary)] if (boundary is not None and feed.cursor is not None) else []
    found: list[Candidate] = []
    for doc in _pages(ctx, feed, extra):
        last_cursor: datetime | None = None
        for cursor_time, c in _candidates(feed, doc):
            last_cursor = cursor_time or last_cursor
            if boundary is not None and (c.time < boundary or (c.time == boundary and c.key in seen)):
                continue
            found.append(c)
        if feed.same_time and feed.cursor is not None and len(found) >= max_records and last_cursor:
            # Sorted by the cursor: once past the cap's last time, nothing later can come before it.
            cap_time = sorted(c.time for c in found)[max_records - 1]
            if last_cursor > cap_time:
                break
    unique: dict[str, Candidate] = {}
    for c in sorted(found, key=lambda c: (c.time, c.key)):
        unique.setdefault(c.key, c)
    chosen = list(unique.values())[:max_records]
    if not chosen:
        return [], _state(trigger, boundary, seen)
    newest = chosen[-1].time
    at_newest = {c.key for c in chosen if c.time == newest}
    if newest == boundary:
        at_newest |= seen
    return [c.record for c in chosen], _state(trigger, newest, at_newest)
