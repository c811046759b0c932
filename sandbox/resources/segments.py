"""Segments: CRUD (``/api/segments``) with the definition stored as sent, and membership.

Membership is evaluated over the account's stored profiles whenever it is read (segment
profiles, ``profile_count``, suppressing a segment) and kept as ``profiles`` links, so a
profile's ``include=segments`` and campaign audiences see the last evaluation. Condition
groups are ANDed; the conditions inside a group are ORed. Evaluated condition types:

* ``profile-group-membership`` (lists and other segments; ``timeframe_filter`` on join time),
* ``profile-property`` (well-known fields, ``location.*`` and ``properties['Name']``; string,
  numeric, boolean, existence, list and date filters; anniversaries and phone country codes
  match nothing),
* ``profile-marketing-consent`` (channel, can_receive_marketing and subscription; the
  optional consent ``filters`` are not evaluated).

Other condition types (metrics, predictive analytics, regions, ...) are stored and returned
but match no profile: the sandbox keeps no data to evaluate them.

A definition is evaluated on every read, so what the evaluator reads is checked when it is
written (400, with the member's pointer): a property condition's ``filter`` and a group
condition's ``timeframe_filter`` are objects with string ``type`` and ``operator``, a date
filter's ``quantity`` / relative ``start`` / ``end`` are integers and its static ``date`` /
``start`` / ``end`` are strings; a consent condition's ``consent`` is an object naming its
``channel``. The evaluator also never raises on what it stores: a member of the wrong shape
matches nothing, and a relative date too far for the calendar means "since ever".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from ... import catalog, filters
from .. import ids
from ..context import Reply, RequestContext, Route, member, resource_values, sparse
from ..errors import invalid
from ..filters import dotted_values
from ..store import Resource
from . import lists, profiles, subscriptions

TYPE = "segment"
# Members each condition type must have (the spec's "required" lists); the types themselves
# are the spec's enum, read from the catalog.
REQUIRED = {
    "profile-group-membership": ("is_member", "group_ids"),
    "profile-metric": ("metric_id", "measurement", "measurement_filter", "timeframe_filter"),
    "profile-marketing-consent": ("consent",),
    "profile-postal-code-distance": ("country_code", "postal_code", "unit", "filter"),
    "profile-property": ("property", "filter"),
    "profile-region": ("in_region", "region"),
    "profile-predictive-analytics": ("dimension", "filter"),
    "profile-has-custom-object": ("object_type_id", "object_type_relationship_id", "filter", "filters"),
    "profile-permissions": ("permission", "channel"),
    "profile-metric-funnel": ("timeframe_filter", "steps"),
}
WRITABLE = ("name", "definition", "is_starred", "is_active")
MAX_DEPTH = 5  # segments of segments
_CUSTOM = re.compile(r"""^properties\[(?:'(.*)'|"(.*)")\]$""")
_UNIT = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
_EARLIEST = datetime.min.replace(tzinfo=timezone.utc)
_LATEST = datetime.max.replace(tzinfo=timezone.utc)


# -- validation ----------------------------------------------------------------------------------


def _check_definition(ctx: RequestContext, definition: Any) -> dict[str, Any]:
    base = "/data/attributes/definition"
    if not isinstance(definition, dict) or not isinstance(definition.get("condition_groups"), list):
        raise invalid("'definition' must be an object with a 'condition_groups' array.", pointer=base)
    groups = definition["condition_groups"]
    known = catalog.body_enum(
        "create_segment", "data.attributes.definition.condition_groups[].conditions[].type"
    )
    if not groups:
        raise invalid("'condition_groups' must not be empty.", pointer=f"{base}/condition_groups")
    for g, group in enumerate(groups):
        where = f"{base}/condition_groups/{g}/conditions"
        conditions = group.get("conditions") if isinstance(group, dict) else None
        if not isinstance(conditions, list) or not conditions:
            raise invalid("Each condition group needs a non-empty 'conditions' array.", pointer=where)
        for c, condition in enumerate(conditions):
            pointer = f"{where}/{c}"
            kind = condition.get("type") if isinstance(condition, dict) else None
            if kind not in known:
                raise invalid(
                    f"'{kind}' is not a valid condition type; use one of: {', '.join(known)}.",
                    pointer=f"{pointer}/type",
                )
            for name in REQUIRED[kind]:
                if name not in condition:
                    raise invalid(
                        f"'{name}' is required for a {kind} condition.", pointer=f"{pointer}/{name}"
                    )
            if kind == "profile-group-membership":
                _check_groups(ctx, condition, pointer)
                if condition.get("timeframe_filter") is not None:
                    _check_filter(
                        condition["timeframe_filter"], f"{pointer}/timeframe_filter", date_only=True
                    )
            elif kind == "profile-property":
                if not isinstance(condition.get("property"), str):
                    raise invalid("'property' must be a string.", pointer=f"{pointer}/property")
                _check_filter(condition.get("filter"), f"{pointer}/filter")
            elif kind == "profile-marketing-consent":
                consent = condition.get("consent")
                if not isinstance(consent, dict) or not isinstance(consent.get("channel"), str):
                    raise invalid(
                        "'consent' must be an object with a 'channel'.", pointer=f"{pointer}/consent"
                    )
                status = consent.get("consent_status")
                if status is not None and not isinstance(status, dict):
                    raise invalid(
                        "'consent_status' must be an object.", pointer=f"{pointer}/consent/consent_status"
                    )
    return definition


def _check_filter(flt: Any, pointer: str, *, date_only: bool = False) -> None:
    """The members of a condition filter the evaluator reads, typed as the spec types them."""
    if (
        not isinstance(flt, dict)
        or not isinstance(flt.get("type"), str)
        or not isinstance(flt.get("operator"), str)
    ):
        raise invalid("The filter must be an object with a string 'type' and 'operator'.", pointer=pointer)
    if date_only and flt["type"] != "date":
        raise invalid("The filter must be a date filter.", pointer=f"{pointer}/type")
    if flt["type"] != "date":
        return
    relative = flt["operator"] == "between"
    integers = ("quantity", "start", "end") if relative else ("quantity", "value")
    for name in integers:
        value = flt.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise invalid(f"'{name}' must be an integer.", pointer=f"{pointer}/{name}")
    for name in () if relative else ("date", "start", "end"):
        value = flt.get(name)
        if value is not None and not isinstance(value, str):
            raise invalid(f"'{name}' must be an ISO 8601 date-time string.", pointer=f"{pointer}/{name}")


def _check_groups(ctx: RequestContext, condition: dict[str, Any], pointer: str) -> None:
    group_ids = condition.get("group_ids")
    if not isinstance(group_ids, list) or not group_ids or not all(isinstance(i, str) for i in group_ids):
        raise invalid(
            "'group_ids' must be a non-empty array of list or segment ids.", pointer=f"{pointer}/group_ids"
        )
    if not isinstance(condition.get("is_member"), bool):
        raise invalid("'is_member' must be true or false.", pointer=f"{pointer}/is_member")
    for gid in group_ids:
        if (
            ctx.store.get(ctx.account_id, lists.TYPE, gid) is None
            and ctx.store.get(ctx.account_id, TYPE, gid) is None
        ):
            raise invalid(
                f"'{gid}' is not a list or segment in this account.", pointer=f"{pointer}/group_ids"
            )


def _attributes(ctx: RequestContext, data: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    attributes = dict(data.get("attributes") or {})
    allowed = ("name", "definition", "is_starred") if creating else WRITABLE
    for name in attributes:
        if name not in allowed:
            raise invalid(
                f"'{name}' is not a valid field for the resource 'segment'.",
                pointer=f"/data/attributes/{name}",
            )
    if creating:
        for name in ("name", "definition"):
            if attributes.get(name) is None:
                raise invalid(
                    f"'{name}' is a required field for the resource 'segment'.",
                    pointer=f"/data/attributes/{name}",
                )
    if attributes.get("is_active") is False and len(attributes) > 1:
        raise invalid(
            "When deactivating a segment, 'is_active' must be the only attribute in the request.",
            pointer="/data/attributes/is_active",
        )
    name = attributes.get("name")
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise invalid("'name' must be a non-empty string.", pointer="/data/attributes/name")
    for flag in ("is_starred", "is_active"):
        if attributes.get(flag) is not None and not isinstance(attributes[flag], bool):
            raise invalid(f"'{flag}' must be true or false.", pointer=f"/data/attributes/{flag}")
    if attributes.get("definition") is not None:
        _check_definition(ctx, attributes["definition"])
    return {k: v for k, v in attributes.items() if v is not None}


# -- evaluation ----------------------------------------------------------------------------------


def _date(value: Any) -> datetime | None:
    return filters.parse_datetime(value) if isinstance(value, str) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _integer(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _shift(now: datetime, unit: timedelta, quantity: int) -> datetime:
    """``now + unit * quantity``, or the calendar's end when that falls off it."""
    try:
        return now + unit * quantity
    except OverflowError:
        return _LATEST if quantity > 0 else _EARLIEST


def _date_matches(flt: Any, value: Any, now: datetime) -> bool:
    if not isinstance(flt, Mapping):
        return False
    moment = _date(value)
    op = flt.get("operator")
    if op == "alltime":
        return True
    if moment is None:
        return False
    unit = _UNIT.get(str(flt.get("unit")), timedelta(days=1))
    quantity = _integer(flt.get("quantity"))
    if op in ("after", "before"):
        bound = _date(flt.get("date"))
        return bound is not None and (moment > bound if op == "after" else moment < bound)
    if op == "between-static":
        start, end = _date(flt.get("start")), _date(flt.get("end"))
        return start is not None and end is not None and start <= moment <= end
    if op == "in-the-last":
        return _shift(now, unit, -quantity) <= moment <= now
    if op == "at-least":
        return moment <= _shift(now, unit, -quantity)
    if op == "in-the-next":
        return now <= moment <= _shift(now, unit, quantity)
    if op == "between":  # relative: between `start` and `end` units ago
        older, newer = sorted((_integer(flt.get("start")), _integer(flt.get("end"))), reverse=True)
        return _shift(now, unit, -older) <= moment <= _shift(now, unit, -newer)
    if op == "calendar-month":
        return moment.month == flt.get("value")
    return False  # anniversaries


def _filter_matches(flt: Any, value: Any, now: datetime) -> bool:
    """One property filter against one stored value; a missing value only matches not-set."""
    if not isinstance(flt, Mapping):
        return False
    ftype, op, expected = flt.get("type"), flt.get("operator"), flt.get("value")
    present = value is not None and value != "" and value != []
    if ftype == "existence":
        return present if op == "is-set" else not present
    if not present:
        return False
    if ftype == "date":
        return _date_matches(flt, value, now)
    if ftype == "boolean":
        if isinstance(value, bool):
            return value == expected
        text = str(value).lower()
        return text in ("true", "false") and (text == "true") == expected
    if ftype == "numeric":
        actual, wanted = _number(value), _number(expected)
        if actual is None or wanted is None:
            return False
        return {
            "equals": actual == wanted,
            "not-equals": actual != wanted,
            "greater-than": actual > wanted,
            "greater-than-or-equal": actual >= wanted,
            "less-than": actual < wanted,
            "less-than-or-equal": actual <= wanted,
        }.get(str(op), False)
    if ftype == "list":
        if not isinstance(value, list):
            return False
        if op in ("contains", "not-contains"):
            return (expected in value) == (op == "contains")
        if str(op).startswith("length-"):  # length-greater-than -> numeric greater-than on the length
            numeric = {"type": "numeric", "operator": str(op).removeprefix("length-"), "value": expected}
            return _filter_matches(numeric, len(value), now)
        return False
    if ftype == "string":
        text = str(value)
        if op in ("in", "not-in"):
            inside = text.lower() in {
                str(v).lower() for v in (expected if isinstance(expected, list) else [])
            }
            return inside == (op == "in")
        if op in ("regex", "nregex"):
            try:
                found = re.search(str(expected), text) is not None
            except re.error:
                return False
            return found == (op == "regex")
        needle, hay = str(expected or "").lower(), text.lower()
        positive = op.removeprefix("not-") if isinstance(op, str) else ""
        result = {
            "equals": hay == needle,
            "contains": needle in hay,
            "starts-with": hay.startswith(needle),
            "ends-with": hay.endswith(needle),
        }.get(positive)
        if result is None:
            return False  # phone country codes
        return result != str(op).startswith("not-")
    return False


def _property(profile: Resource, name: str) -> Any:
    custom = _CUSTOM.match(name)
    if custom:
        return (profile.attributes.get("properties") or {}).get(custom.group(1) or custom.group(2))
    if name in ("created", "updated"):
        return getattr(profile, name)
    if name in profiles.LOCATION_KEYS:
        return (profile.attributes.get("location") or {}).get(name)
    values = dotted_values(profile.attributes, name)
    return values[0] if values else None


class _Evaluator:
    """Evaluates definitions for one request, caching group memberships."""

    def __init__(self, ctx: RequestContext) -> None:
        self.ctx = ctx
        now = filters.parse_datetime(ctx.now())
        assert now is not None  # ctx.now() is ISO-8601
        self.now = now
        self.groups: dict[str, dict[str, str]] = {}
        self.active: set[str] = set()

    def group_members(self, group_id: str, depth: int) -> dict[str, str]:
        """Profile id -> joined time for a list, or for a segment (evaluated, links refreshed)."""
        if group_id in self.groups:
            return self.groups[group_id]
        ctx = self.ctx
        if ctx.store.get(ctx.account_id, lists.TYPE, group_id) is not None:
            found = lists.member_times(ctx, lists.TYPE, group_id)
        else:
            segment = ctx.store.get(ctx.account_id, TYPE, group_id)
            if segment is None or group_id in self.active or depth > MAX_DEPTH:
                return {}  # deleted, or a cycle of segments
            found = self.refresh(segment, depth + 1)
        self.groups[group_id] = found
        return found

    def refresh(self, segment: Resource, depth: int = 0) -> dict[str, str]:
        """Evaluate ``segment`` and bring its ``profiles`` links up to date; returns them."""
        ctx = self.ctx
        self.active.add(segment.id)
        try:
            definition = segment.attributes.get("definition") or {}
            candidates = ctx.store.list_resources(ctx.account_id, profiles.TYPE)
            if not segment.attributes.get("is_active", True):
                candidates = []  # an inactive segment has no members
            matching = [p.id for p in candidates if self.matches(definition, p, depth)]
        finally:
            self.active.discard(segment.id)
        with ctx.store.transaction():
            current = lists.member_times(ctx, TYPE, segment.id)
            keep = set(matching)
            gone = [pid for pid in current if pid not in keep]
            ctx.store.remove_links(ctx.account_id, TYPE, segment.id, lists.MEMBER, profiles.TYPE, gone)
            ctx.store.add_links(
                ctx.account_id, TYPE, segment.id, lists.MEMBER, profiles.TYPE, matching, now=ctx.now()
            )
            found = lists.member_times(ctx, TYPE, segment.id)
        self.groups[segment.id] = found
        return found

    def matches(self, definition: Any, profile: Resource, depth: int) -> bool:
        groups = member(definition, "condition_groups")
        return (
            isinstance(groups, list)
            and bool(groups)
            and all(
                any(self.condition(c, profile, depth) for c in member(group, "conditions") or [])
                for group in groups
            )
        )

    def condition(self, condition: Any, profile: Resource, depth: int) -> bool:
        if not isinstance(condition, Mapping):
            return False
        kind = condition.get("type")
        if kind == "profile-group-membership":
            group_ids = condition.get("group_ids")
            joined = [
                self.group_members(g, depth).get(profile.id)
                for g in (group_ids if isinstance(group_ids, list) else [])
                if isinstance(g, str)
            ]
            joined_at = [j for j in joined if j is not None]
            if not condition.get("is_member"):
                return not joined_at
            timeframe = condition.get("timeframe_filter")
            if timeframe:
                return any(_date_matches(timeframe, j, self.now) for j in joined_at)
            return bool(joined_at)
        if kind == "profile-property":
            return _filter_matches(
                condition.get("filter"), _property(profile, str(condition.get("property"))), self.now
            )
        if kind == "profile-marketing-consent":
            consent = condition.get("consent")
            if not isinstance(consent, Mapping):
                return False
            state, can_receive = subscriptions.consent_of(profile.attributes, str(consent.get("channel")))
            if bool(consent.get("can_receive_marketing")) != can_receive:
                return False
            wanted = str(member(consent, "consent_status", "subscription"))
            return wanted == "any" or wanted.upper() == state
        return False  # not evaluated by the sandbox (see the module docstring)


def refresh_members(ctx: RequestContext, segment: Resource) -> dict[str, str]:
    """Re-evaluate a segment now; profile id -> joined_group_at. Other modules use this too."""
    return _Evaluator(ctx).refresh(segment)


# -- rendering and handlers ---------------------------------------------------------------------


def render(
    ctx: RequestContext, row: Resource, include: list[str], profile_count: bool = False
) -> dict[str, Any]:
    stored = row.attributes
    attributes: dict[str, Any] = {
        "name": stored.get("name"),
        "definition": stored.get("definition"),
        "created": row.created,
        "updated": row.updated,
        "is_active": stored.get("is_active", True),
        "is_processing": False,
        "is_starred": stored.get("is_starred", False),
    }
    if profile_count:
        attributes["profile_count"] = len(refresh_members(ctx, row))
    return {
        "type": TYPE,
        "id": row.id,
        "attributes": sparse(attributes, ctx.fields(TYPE)),
        "relationships": lists.group_relationships(ctx, TYPE, row.id, include),
        "links": ctx.self_link(f"/api/segments/{row.id}"),
    }


def get_segments(ctx: RequestContext) -> Reply:
    def getter(row: Resource, name: str) -> list[Any]:
        if name in ("is_active", "is_starred"):
            return [row.attributes.get(name, name == "is_active")]
        return resource_values(row, name)

    return lists.get_groups(ctx, TYPE, render, getter)


def create_segment(ctx: RequestContext) -> Reply:
    data = ctx.resource_body(TYPE)
    attributes = _attributes(ctx, data, creating=True)
    attributes.setdefault("is_starred", False)
    # is_processing is stored too, so generic renderings (a profile's included segments) carry it
    attributes.update(is_active=True, is_processing=False)
    row = ctx.store.create(ctx.account_id, TYPE, ids.short_id(), attributes, now=ctx.now())
    return lists.group_document(ctx, row, 201, render)


def get_segment(ctx: RequestContext) -> Reply:
    return lists.get_group(ctx, TYPE, render)


def update_segment(ctx: RequestContext) -> Reply:
    return lists.update_group(ctx, TYPE, render, lambda data: _attributes(ctx, data, creating=False))


def delete_segment(ctx: RequestContext) -> Reply:
    return lists.delete_group(ctx, TYPE)


def get_profiles_for_segment(ctx: RequestContext) -> Reply:
    row = ctx.get_or_404(TYPE, ctx.params["id"])
    return lists.members_page(ctx, TYPE, row.id, refresh_members(ctx, row))


ROUTES = [
    Route("GET", "/api/segments", get_segments, "get_segments"),
    Route("POST", "/api/segments", create_segment, "create_segment"),
    Route("GET", "/api/segments/{id}", get_segment, "get_segment", rate_limit=lists.profile_count_tier),
    Route("PATCH", "/api/segments/{id}", update_segment, "update_segment"),
    Route("DELETE", "/api/segments/{id}", delete_segment, "delete_segment"),
    Route("GET", "/api/segments/{id}/profiles", get_profiles_for_segment, "get_profiles_for_segment"),
]
