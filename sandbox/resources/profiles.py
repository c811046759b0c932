"""Profiles: list, create, get, update (PATCH) and create-or-update (``/api/profile-import``).

Identity rules as Klaviyo applies them: ``email``, ``phone_number`` and ``external_id`` are
each unique within an account; a create or update that would give a second profile one of
them answers 409 ``duplicate_profile`` with ``meta.duplicate_profile_id``. On PATCH and
profile-import an omitted attribute is left alone and ``null`` clears it; ``location`` and
``properties`` merge key by key. ``meta.patch_properties`` (``append`` / ``unappend`` /
``unset``) edits custom properties.
"""

from __future__ import annotations

import re
from typing import Any

from ... import prose_rules as rules
from .. import ids
from ..context import Reply, RequestContext, Route, member, sparse
from ..errors import ApiError, conflict, invalid
from ..ratelimit import Limits
from ..store import Resource, Store

TYPE = "profile"
IDENTIFIERS = rules.PROFILE_IDENTIFIERS
STRING_ATTRIBUTES = (
    "email",
    "phone_number",
    "external_id",
    "first_name",
    "last_name",
    "organization",
    "locale",
    "title",
    "image",
)
WRITABLE = (*STRING_ATTRIBUTES, "location", "properties")
LOCATION_KEYS = (
    "address1",
    "address2",
    "city",
    "country",
    "latitude",
    "longitude",
    "region",
    "zip",
    "timezone",
    "ip",
)
PREDICTIVE_KEYS = (
    "historic_clv",
    "predicted_clv",
    "total_clv",
    "historic_number_of_orders",
    "predicted_number_of_orders",
    "average_days_between_orders",
    "average_order_value",
    "churn_probability",
    "expected_date_of_next_order",
    "ranked_channel_affinity",
)
RELATIONSHIPS = ("lists", "segments", "push-tokens", "conversations")
MAX_PAYLOAD = rules.PROFILE_MAX_PAYLOAD

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^\+[1-9]\d{6,14}$")


def init_store(store: Store) -> None:
    for name in IDENTIFIERS:
        store.ensure_index(TYPE, name)


# -- validation --------------------------------------------------------------------------


def _check_payload(ctx: RequestContext) -> None:
    if (ctx.request.content_length or 0) > MAX_PAYLOAD:
        raise ApiError(413, "payload_too_large", "Payload too large.", "The request body exceeds 100 KB.")


def validate_attributes(attributes: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, Any]:
    """Check a request's profile attributes; returns them unchanged (400 on the first problem)."""
    for name, value in attributes.items():
        pointer = f"/data/attributes/{name}"
        if name not in allowed:
            raise invalid(f"'{name}' is not a valid field for the resource '{TYPE}'.", pointer=pointer)
        if name in STRING_ATTRIBUTES or name == "_kx":
            if value is not None and not isinstance(value, str):
                raise invalid(f"'{name}' must be a string or null.", pointer=pointer)
        if name == "email" and value is not None and not EMAIL_RE.match(value):
            raise invalid(f"Invalid email address: '{value}'.", pointer=pointer)
        if name == "phone_number" and value is not None and not PHONE_RE.match(value):
            raise invalid(
                f"Invalid phone number format: '{value}'; use E.164 (example of a valid format: +13239169023).",
                pointer=pointer,
            )
        if name == "properties" and value is not None and not isinstance(value, dict):
            raise invalid("'properties' must be an object or null.", pointer=pointer)
        if name == "location" and value is not None:
            if not isinstance(value, dict):
                raise invalid("'location' must be an object or null.", pointer=pointer)
            for key, item in value.items():
                if key not in LOCATION_KEYS:
                    raise invalid(
                        f"'{key}' is not a valid field for a profile location.", pointer=f"{pointer}/{key}"
                    )
                numeric_ok = key in ("latitude", "longitude") and isinstance(item, (int, float))
                if item is not None and not isinstance(item, str) and not numeric_ok:
                    raise invalid(f"'location.{key}' must be a string or null.", pointer=f"{pointer}/{key}")
    return attributes


def _identified(
    attributes: dict[str, Any], profile_id: str | None = None, *, id_allowed: bool = False
) -> None:
    try:
        rules.check_profile_identified(attributes, profile_id, id_allowed=id_allowed)
    except rules.RuleBroken as broken:
        raise invalid(
            f"{broken.message[0].upper()}{broken.message[1:]}.", pointer="/data/attributes"
        ) from None


def blank() -> dict[str, Any]:
    """The stored attributes of a new profile: every attribute present and empty."""
    attributes: dict[str, Any] = dict.fromkeys(STRING_ATTRIBUTES)
    attributes["location"] = dict.fromkeys(LOCATION_KEYS)
    attributes["properties"] = {}
    attributes["last_event_date"] = None
    return attributes


def apply_changes(current: dict[str, Any], changes: dict[str, Any], meta: Any = None) -> dict[str, Any]:
    """The attributes after an update: omitted keys kept, null clears, location/properties merge."""
    result = {**current}
    for name, value in changes.items():
        if name == "_kx":
            continue
        if name == "location":
            location = dict.fromkeys(LOCATION_KEYS)
            if value is not None:
                location.update(current.get("location") or {})
                location.update(value)
            result["location"] = location
        elif name == "properties":
            result["properties"] = {} if value is None else {**(current.get("properties") or {}), **value}
        else:
            result[name] = value
    if isinstance(meta, dict) and isinstance(meta.get("patch_properties"), dict):
        result["properties"] = _patch_properties(
            dict(result.get("properties") or {}), meta["patch_properties"]
        )
    return result


def _patch_properties(properties: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in (patch.get("append") or {}).items():
        existing = properties.get(key)
        items = existing if isinstance(existing, list) else ([] if existing is None else [existing])
        items = items + (value if isinstance(value, list) else [value])
        properties[key] = items
    for key, value in (patch.get("unappend") or {}).items():
        existing = properties.get(key)
        if isinstance(existing, list):
            drop = value if isinstance(value, list) else [value]
            properties[key] = [item for item in existing if item not in drop]
    unset = patch.get("unset")
    for key in [unset] if isinstance(unset, str) else (unset or []):
        properties.pop(key, None)
    return properties


def find_duplicate(ctx: RequestContext, attributes: dict[str, Any], exclude: str | None) -> str | None:
    """The id of another profile already holding one of these identifiers, if any."""
    for name in IDENTIFIERS:
        value = attributes.get(name)
        if value is None:
            continue
        for other in ctx.store.find(ctx.account_id, TYPE, name, value):
            if other.id != exclude:
                return other.id
    return None


def duplicate_error(profile_id: str) -> ApiError:
    return conflict(
        "duplicate_profile",
        "A profile already exists with one of these identifiers.",
        pointer="/data/attributes",
        meta={"duplicate_profile_id": profile_id},
    )


# -- rendering ---------------------------------------------------------------------------


def default_subscriptions() -> dict[str, Any]:
    """Consent for a profile nobody subscribed: every channel NEVER_SUBSCRIBED."""
    never = "NEVER_SUBSCRIBED"
    return {
        "email": {
            "marketing": {
                "can_receive_email_marketing": False,
                "consent": never,
                "consent_timestamp": None,
                "last_updated": None,
                "method": None,
                "method_detail": None,
                "custom_method_detail": None,
                "double_optin": None,
                "suppression": [],
                "list_suppressions": [],
            }
        },
        "sms": {
            "marketing": {
                "can_receive_sms_marketing": False,
                "consent": never,
                "consent_timestamp": None,
                "method": None,
                "method_detail": None,
                "last_updated": None,
            },
            "transactional": {
                "can_receive_sms_transactional": False,
                "consent": never,
                "consent_timestamp": None,
                "method": None,
                "method_detail": None,
                "last_updated": None,
            },
        },
        "mobile_push": {
            "marketing": {"can_receive_push_marketing": False, "consent": never, "consent_timestamp": None}
        },
    }


def render(
    ctx: RequestContext,
    profile: Resource,
    *,
    additional: set[str] | None = None,
    include: list[str] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A profile resource object as the spec's profile response schemas describe it.

    ``extra`` adds attributes some endpoints have (``joined_group_at`` for list members).
    """
    stored = profile.attributes
    attributes: dict[str, Any] = {name: stored.get(name) for name in STRING_ATTRIBUTES}
    attributes["created"] = profile.created
    attributes["updated"] = profile.updated
    attributes["last_event_date"] = stored.get("last_event_date")
    attributes["location"] = {**dict.fromkeys(LOCATION_KEYS), **(stored.get("location") or {})}
    attributes["properties"] = stored.get("properties") or {}
    attributes.update(extra or {})
    additional = additional or set()
    if "subscriptions" in additional:
        attributes["subscriptions"] = stored.get("subscriptions") or default_subscriptions()
    if "predictive_analytics" in additional:
        attributes["predictive_analytics"] = stored.get("predictive_analytics") or dict.fromkeys(
            PREDICTIVE_KEYS
        )
    base = f"/api/profiles/{profile.id}"
    relationships: dict[str, Any] = {
        name: {"links": ctx.relationship_links(base, name)} for name in RELATIONSHIPS
    }
    for name in include or []:
        related_type = {"lists": "list", "segments": "segment", "push-tokens": "push-token"}.get(
            name, "conversation"
        )
        related = ctx.store.linking_ids(ctx.account_id, TYPE, profile.id, "profiles", related_type)
        relationships[name]["data"] = [{"type": related_type, "id": rid} for rid in related]
    return {
        "type": TYPE,
        "id": profile.id,
        "attributes": sparse(attributes, ctx.fields(TYPE)),
        "relationships": relationships,
        "links": ctx.self_link(base),
    }


def _included(ctx: RequestContext, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Related resources named in relationships' ``data``, rendered generically from the store."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in objects:
        for rel in obj["relationships"].values():
            for ref in rel.get("data") or []:
                key = (ref["type"], ref["id"])
                if key in seen:
                    continue
                row = ctx.store.get(ctx.account_id, ref["type"], ref["id"])
                if row is not None:
                    seen[key] = {
                        "type": row.type,
                        "id": row.id,
                        "attributes": {**row.attributes, "created": row.created, "updated": row.updated},
                        "links": ctx.self_link(f"/api/{row.type}s/{row.id}"),
                    }
    return list(seen.values())


def _document(ctx: RequestContext, profile: Resource, status: int, additional: set[str]) -> Reply:
    include = ctx.includes() if ctx.operation and ctx.operation.include else []
    data = render(ctx, profile, additional=additional, include=include)
    links = ctx.self_link(f"/api/profiles/{profile.id}")
    return Reply.document(data, links, _included(ctx, [data]) if include else None, status)


# -- handlers ----------------------------------------------------------------------------


def get_profiles(ctx: RequestContext) -> Reply:
    additional = ctx.additional_fields(TYPE)
    include = ctx.includes()
    page, links = ctx.page_stored(TYPE)
    data = [render(ctx, row, additional=additional, include=include) for row in page]
    return Reply.document(data, links, _included(ctx, data) if include else None)


def get_profile(ctx: RequestContext) -> Reply:
    additional = ctx.additional_fields(TYPE)
    return _document(ctx, ctx.get_or_404(TYPE, ctx.params["id"]), 200, additional)


def create_profile(ctx: RequestContext) -> Reply:
    _check_payload(ctx)
    additional = ctx.additional_fields(TYPE)
    data = ctx.resource_body(TYPE)
    attributes = validate_attributes(dict(data.get("attributes") or {}), WRITABLE)
    _identified(attributes)
    now = ctx.now()
    with ctx.store.transaction():
        duplicate = find_duplicate(ctx, attributes, None)
        if duplicate:
            raise duplicate_error(duplicate)
        stored = apply_changes(blank(), attributes)
        profile = ctx.store.create(ctx.account_id, TYPE, ids.ulid(ctx.clock()), stored, now=now)
    return _document(ctx, profile, 201, additional)


def update_profile(ctx: RequestContext) -> Reply:
    _check_payload(ctx)
    additional = ctx.additional_fields(TYPE)
    profile_id = ctx.params["id"]
    data = ctx.update_body(TYPE)
    attributes = validate_attributes(dict(data.get("attributes") or {}), WRITABLE)
    with ctx.store.transaction():
        profile = ctx.get_or_404(TYPE, profile_id)
        merged = apply_changes(profile.attributes, attributes, data.get("meta"))
        duplicate = find_duplicate(ctx, merged, profile_id)
        if duplicate:
            raise duplicate_error(duplicate)
        updated = ctx.store.update(ctx.account_id, TYPE, profile_id, attributes=merged, now=ctx.now())
    assert updated is not None
    return _document(ctx, updated, 200, additional)


def upsert(
    ctx: RequestContext, attributes: dict[str, Any], profile_id: str | None = None, meta: Any = None
) -> tuple[Resource, bool]:
    """Create or update one profile as ``/api/profile-import`` does: ``(profile, created)``.

    The target is ``profile_id`` (404 if unknown) or the first profile matching an identifier;
    409 ``duplicate_profile`` when the result would share an identifier with another profile.
    Bulk imports and subscription jobs use it too. ``attributes`` must already be validated.
    """
    now = ctx.now()
    with ctx.store.transaction():
        target: Resource | None = None
        if profile_id is not None:
            target = ctx.get_or_404(TYPE, profile_id)
        else:
            for name in IDENTIFIERS:
                value = attributes.get(name)
                matches = ctx.store.find(ctx.account_id, TYPE, name, value) if value else []
                if matches:
                    target = matches[0]
                    break
        if target is None:
            duplicate = find_duplicate(ctx, attributes, None)
            if duplicate:  # pragma: no cover - the identifier search above would have found it
                raise duplicate_error(duplicate)
            stored = apply_changes(blank(), attributes, meta)
            return ctx.store.create(ctx.account_id, TYPE, ids.ulid(ctx.clock()), stored, now=now), True
        merged = apply_changes(target.attributes, attributes, meta)
        duplicate = find_duplicate(ctx, merged, target.id)
        if duplicate:
            raise duplicate_error(duplicate)
        updated = ctx.store.update(ctx.account_id, TYPE, target.id, attributes=merged, now=now)
        assert updated is not None
        return updated, False


def create_or_update_profile(ctx: RequestContext) -> Reply:
    _check_payload(ctx)
    additional = ctx.additional_fields(TYPE)
    data = ctx.resource_body(TYPE)
    attributes = validate_attributes(dict(data.get("attributes") or {}), (*WRITABLE, "_kx"))
    profile_id = data.get("id")
    if profile_id is not None and not isinstance(profile_id, str):
        raise invalid("'id' must be a string.", pointer="/data/id")
    _identified(attributes, profile_id, id_allowed=True)
    profile, created = upsert(ctx, attributes, profile_id, data.get("meta"))
    status = 201 if created else 200
    return _document(ctx, profile, status, additional)


def create_client_profile(ctx: RequestContext) -> Reply:
    """``POST /client/profiles``: create or update by identifiers, for the account ``company_id``
    names; 202 with no body, as Klaviyo answers."""
    ctx.use_client_account()
    _check_payload(ctx)
    data = ctx.resource_body(TYPE)
    attributes = validate_attributes(dict(data.get("attributes") or {}), (*WRITABLE, "anonymous_id", "_kx"))
    if not any(attributes.get(name) for name in (*IDENTIFIERS, "anonymous_id", "_kx")):
        _identified(attributes)  # says which identifiers would do
    upsert(ctx, attributes, None, data.get("meta"))
    return Reply(202, None)


def merge_profiles(ctx: RequestContext) -> Reply:
    """``POST /api/profile-merge``: fold the related profiles into the one ``data.id`` names.

    The destination keeps every attribute it has and takes, from each source in turn, the ones
    it lacks (identifiers included, once the source is gone); the sources' list and segment
    memberships and events move to it; the sources are deleted.
    """
    data = ctx.resource_body("profile-merge", require_id=True)
    sources = member(data, "relationships", "profiles", "data")
    if not isinstance(sources, list) or not sources:
        raise invalid("At least one source profile is required.", pointer="/data/relationships/profiles/data")
    with ctx.store.transaction():
        destination = ctx.get_or_404(TYPE, str(data["id"]))
        merged = dict(destination.attributes)
        for i, ref in enumerate(sources):
            source_id = member(ref, "id")
            if not isinstance(source_id, str) or source_id == destination.id:
                raise invalid(
                    "Each source must be another profile's id.",
                    pointer=f"/data/relationships/profiles/data/{i}/id",
                )
            source = ctx.get_or_404(TYPE, source_id)
            for name, value in source.attributes.items():
                if merged.get(name) in (None, "", {}, []) and value not in (None, "", {}, []):
                    merged[name] = value
            ctx.store.retarget_links(ctx.account_id, TYPE, source.id, destination.id)
            ctx.store.replace_attribute(ctx.account_id, "event", "profile_id", source.id, destination.id)
            ctx.store.delete(ctx.account_id, TYPE, source.id)
        ctx.store.update(ctx.account_id, TYPE, destination.id, attributes=merged, now=ctx.now())
    links = ctx.self_link(f"/api/profiles/{destination.id}")
    return Reply(201, {"data": {"type": TYPE, "id": destination.id, "links": links}, "links": links})


# -- option-dependent rate-limit tiers (stated in the operations' descriptions) -----------


def _predictive_tier(ctx: RequestContext) -> tuple[str, Limits] | None:
    if "predictive_analytics" in (ctx.arg(f"additional-fields[{TYPE}]") or ""):
        return ("predictive_analytics", Limits(10, 150))
    return None


def _include_tier(ctx: RequestContext) -> tuple[str, Limits] | None:
    include = {name.strip() for name in (ctx.arg("include") or "").split(",")}
    if include & {"lists", "segments"}:
        return ("include_lists_segments", Limits(1, 15))
    return None


ROUTES = [
    Route("GET", "/api/profiles", get_profiles, "get_profiles", rate_limit=_predictive_tier),
    Route("POST", "/api/profiles", create_profile, "create_profile"),
    Route("GET", "/api/profiles/{id}", get_profile, "get_profile", rate_limit=_include_tier),
    Route("PATCH", "/api/profiles/{id}", update_profile, "update_profile"),
    Route("POST", "/api/profile-import", create_or_update_profile, "create_or_update_profile"),
    Route("POST", "/client/profiles", create_client_profile, "create_client_profile", auth=False),
    Route("POST", "/api/profile-merge", merge_profiles, "merge_profiles"),
]
