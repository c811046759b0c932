"""Consent and suppression jobs: subscribe, unsubscribe, suppress, unsuppress.

Each job is processed when it is accepted (Klaviyo processes them a little later):

* subscribe (``/api/profile-subscription-bulk-create-jobs``, at most 1000 profiles, 202 with
  no body): profiles are found by email / phone (or created). Given a double opt-in list, and
  no ``historical_import``, nothing changes yet: a pending confirmation is recorded and the
  profile is neither subscribed nor on the list until it is confirmed (the person clicking
  the link in Klaviyo's email), which the sandbox-only ``POST
  /sandbox/pending-subscriptions/{id}/confirm`` simulates (``GET /sandbox/pending-subscriptions``
  lists them). Otherwise consent becomes SUBSCRIBED on the channels sent, the UNSUBSCRIBE,
  SPAM_COMPLAINT and USER_SUPPRESSED suppressions are lifted, and the profile joins the list.
  ``consented_at`` is accepted only with ``historical_import`` (then it is required and in the
  past), as the spec states (``prose_rules.check_consent_time``). An email or phone number whose
  channel is not in ``subscriptions`` is saved on the profile without consent.
* unsubscribe (``...-bulk-delete-jobs``, at most 100): with a list, members of that list leave
  it and get a list suppression; everyone else (and everyone, without a list) is unsubscribed
  globally on the channels sent.
* suppress / unsuppress (``/api/profile-suppression-bulk-{create,delete}-jobs``, at most 100
  emails, or every member of one list or segment): adds or removes USER_SUPPRESSED; answers
  202 with the job, which ``GET .../{job_id}`` returns.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from ... import filters
from ... import prose_rules as rules
from .. import ids
from ..context import Reply, RequestContext, Route, member, sparse
from ..errors import ApiError, invalid, not_found
from ..store import Resource
from . import lists, profiles

MAX_SUBSCRIBE = rules.SUBSCRIBE_MAX_PROFILES
MAX_UNSUBSCRIBE = rules.UNSUBSCRIBE_MAX_PROFILES
MAX_SUPPRESS = rules.SUPPRESS_MAX_EMAILS
PENDING = "sandbox-pending-subscription"
SUBSCRIBE_JOB = "profile-subscription-bulk-create-job"
UNSUBSCRIBE_JOB = "profile-subscription-bulk-delete-job"
SUPPRESS_JOB = "profile-suppression-bulk-create-job"
UNSUPPRESS_JOB = "profile-suppression-bulk-delete-job"
# channel -> the consent kinds a job may set, and the identifier the channel needs
CHANNELS = {
    "email": (("marketing", "open_tracking"), "email"),
    "sms": (("marketing", "transactional"), "phone_number"),
    "whatsapp": (("marketing", "transactional", "conversational"), "phone_number"),
    "push": (("marketing",), None),
}
LIFTED_BY_SUBSCRIBE = ("UNSUBSCRIBE", "SPAM_COMPLAINT", "USER_SUPPRESSED")


# -- consent state on a profile ------------------------------------------------------------------


def _state(attributes: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(attributes.get("subscriptions") or profiles.default_subscriptions())


def consent_of(attributes: dict[str, Any], channel: str) -> tuple[str, bool]:
    """(consent, can_receive_marketing) of a profile on ``email``, ``sms`` or ``push``."""
    state = _state(attributes)
    key = {"push": "mobile_push"}.get(channel, channel)
    marketing = (state.get(key) or {}).get("marketing") or {}
    can = next((v for k, v in marketing.items() if k.startswith("can_receive")), False)
    return str(marketing.get("consent") or "NEVER_SUBSCRIBED"), bool(can)


def _email_can_receive(marketing: dict[str, Any]) -> bool:
    return marketing.get("consent") == "SUBSCRIBED" and not marketing.get("suppression")


def _save(ctx: RequestContext, profile: Resource, state: dict[str, Any]) -> None:
    ctx.store.update(
        ctx.account_id,
        profiles.TYPE,
        profile.id,
        attributes={**profile.attributes, "subscriptions": state},
        now=ctx.now(),
    )


def _subscribe(ctx: RequestContext, profile: Resource, channels: dict[str, Any], source: str | None) -> None:
    now = ctx.now()
    state = _state(profile.attributes)
    for channel, kinds in channels.items():
        for kind, entry in kinds.items():
            if channel == "email" and kind == "marketing":
                marketing = state["email"]["marketing"]
                marketing["suppression"] = [
                    s
                    for s in marketing.get("suppression") or []
                    if s.get("reason") not in LIFTED_BY_SUBSCRIBE
                ]
                marketing.update(
                    consent="SUBSCRIBED",
                    consent_timestamp=entry.get("consented_at") or now,
                    last_updated=now,
                    method="API",
                    method_detail=source or "API",
                    double_optin=False,
                )
                marketing["can_receive_email_marketing"] = _email_can_receive(marketing)
            elif channel == "sms" and kind in ("marketing", "transactional"):
                target = state["sms"][kind]
                target.update(
                    consent="SUBSCRIBED",
                    consent_timestamp=entry.get("consented_at") or now,
                    last_updated=now,
                    method="API",
                    method_detail=source or "API",
                )
                target[f"can_receive_sms_{kind}"] = True
    _save(ctx, profile, state)


def _unsubscribe(ctx: RequestContext, profile: Resource, channels: dict[str, Any]) -> None:
    now = ctx.now()
    state = _state(profile.attributes)
    for channel, kinds in channels.items():
        for kind in kinds:
            if channel == "email" and kind == "marketing":
                marketing = state["email"]["marketing"]
                marketing.update(consent="UNSUBSCRIBED", last_updated=now, method="API", method_detail="API")
                reasons = {s.get("reason") for s in marketing.get("suppression") or []}
                if "UNSUBSCRIBE" not in reasons:
                    marketing["suppression"] = [
                        *(marketing.get("suppression") or []),
                        {"reason": "UNSUBSCRIBE", "timestamp": now},
                    ]
                marketing["can_receive_email_marketing"] = False
            elif channel == "sms" and kind in ("marketing", "transactional"):
                state["sms"][kind].update(consent="UNSUBSCRIBED", last_updated=now)
                state["sms"][kind][f"can_receive_sms_{kind}"] = False
    _save(ctx, profile, state)


def _suppression(ctx: RequestContext, profile: Resource, add: bool) -> bool:
    """Add or lift USER_SUPPRESSED; False when there was nothing to do (a skipped profile)."""
    state = _state(profile.attributes)
    marketing = state["email"]["marketing"]
    current = marketing.get("suppression") or []
    has = any(s.get("reason") == "USER_SUPPRESSED" for s in current)
    if has == add:
        return False
    if add:
        marketing["suppression"] = [*current, {"reason": "USER_SUPPRESSED", "timestamp": ctx.now()}]
    else:
        marketing["suppression"] = [s for s in current if s.get("reason") != "USER_SUPPRESSED"]
    marketing["can_receive_email_marketing"] = _email_can_receive(marketing)
    _save(ctx, profile, state)
    return True


# -- request checking ----------------------------------------------------------------------------


def _list_relationship(ctx: RequestContext, data: dict[str, Any]) -> Resource | None:
    ref = (((data.get("relationships") or {}).get("list") or {}).get("data")) or None
    if ref is None:
        return None
    if not isinstance(ref, dict) or ref.get("type") != lists.TYPE or not isinstance(ref.get("id"), str):
        raise invalid(
            "The list relationship must be {'type': 'list', 'id': ...}.",
            pointer="/data/relationships/list/data",
        )
    return ctx.get_or_404(lists.TYPE, ref["id"])


def _check_consent_time(raw: Any, historical: bool, now: datetime, pointer: str) -> None:
    when = filters.parse_datetime(raw) if isinstance(raw, str) else None
    if raw is not None and when is None:
        raise invalid("'consented_at' must be an ISO 8601 date-time.", pointer=pointer)
    try:
        rules.check_consent_time(when, historical, now)
    except rules.RuleBroken as broken:
        raise invalid(f"{broken.message[0].upper()}{broken.message[1:]}.", pointer=pointer) from None


def _profile_rows(
    data: dict[str, Any], limit: int, consent: str, historical: bool, now: datetime
) -> list[dict[str, Any]]:
    """The job's profiles, each checked: identifiers, channels, the needed identifier, consent."""
    rows = member(data, "attributes", "profiles", "data") or None
    base = "/data/attributes/profiles/data"
    if not isinstance(rows, list) or not rows:
        raise invalid("'profiles.data' must be a non-empty array.", pointer=base)
    if len(rows) > limit:
        raise invalid(f"A maximum of {limit} profiles can be sent per job; got {len(rows)}.", pointer=base)
    out = []
    for index, row in enumerate(rows):
        pointer = f"{base}/{index}"
        if not isinstance(row, dict) or row.get("type") != profiles.TYPE:
            raise invalid("Each profile must be {'type': 'profile', 'attributes': {...}}.", pointer=pointer)
        attrs = row.get("attributes")
        if not isinstance(attrs, dict):
            raise invalid("'attributes' is required.", pointer=f"{pointer}/attributes")
        allowed = ("email", "phone_number", "subscriptions", "age_gated_date_of_birth")
        for name in attrs:
            if name not in allowed:
                raise invalid(
                    f"'{name}' is not a valid field for the resource 'profile'.",
                    pointer=f"{pointer}/attributes/{name}",
                )
        identity = {k: attrs.get(k) for k in ("email", "phone_number") if attrs.get(k) is not None}
        try:
            profiles.validate_attributes(identity, ("email", "phone_number"))
        except ApiError as exc:  # point at this row rather than at a single profile's body
            exc.pointer = (exc.pointer or "").replace("/data/attributes", f"{pointer}/attributes", 1)
            raise
        channels = attrs.get("subscriptions")
        if not isinstance(channels, dict) or not channels:
            raise invalid(
                "'subscriptions' must name at least one channel.",
                pointer=f"{pointer}/attributes/subscriptions",
            )
        for channel, kinds in channels.items():
            where = f"{pointer}/attributes/subscriptions/{channel}"
            if channel not in CHANNELS or not isinstance(kinds, dict):
                raise invalid(f"'{channel}' is not a valid subscription channel.", pointer=where)
            allowed_kinds, needs = CHANNELS[channel]
            if needs and not identity.get(needs):
                raise invalid(
                    f"'{needs}' must not be empty when the {channel} channel is included.", pointer=where
                )
            for kind, entry in kinds.items():
                if kind == "tokens":
                    continue
                if (
                    kind not in allowed_kinds
                    or not isinstance(entry, dict)
                    or entry.get("consent") != consent
                ):
                    raise invalid(
                        f"'{channel}.{kind}' must be {{'consent': '{consent}'}}.", pointer=f"{where}/{kind}"
                    )
                if consent == "SUBSCRIBED":
                    _check_consent_time(
                        entry.get("consented_at"), historical, now, f"{where}/{kind}/consented_at"
                    )
        if not identity and not row.get("id"):
            raise invalid("Each profile needs an email, a phone_number or an id.", pointer=pointer)
        out.append({"id": row.get("id"), "identity": identity, "channels": channels})
    return out


def _find_or_create(ctx: RequestContext, row: dict[str, Any]) -> Resource:
    profile, _ = profiles.upsert(ctx, dict(row["identity"]), row["id"])
    return profile


# -- subscribe / unsubscribe ---------------------------------------------------------------------


def bulk_subscribe(ctx: RequestContext) -> Reply:
    data = ctx.resource_body(SUBSCRIBE_JOB)
    attrs = data.get("attributes") or {}
    for name in attrs:
        if name not in ("profiles", "custom_source", "historical_import"):
            raise invalid(f"'{name}' is not a valid field for this job.", pointer=f"/data/attributes/{name}")
    historical = attrs.get("historical_import") is True
    source = attrs.get("custom_source") if isinstance(attrs.get("custom_source"), str) else None
    now = filters.parse_datetime(ctx.now())
    assert now is not None
    with ctx.store.transaction():
        target = _list_relationship(ctx, data)
        rows = _profile_rows(data, MAX_SUBSCRIBE, "SUBSCRIBED", historical, now)
        double = (
            target is not None
            and target.attributes.get("opt_in_process") == "double_opt_in"
            and not historical
        )
        for row in rows:
            profile = _find_or_create(ctx, row)
            if double:
                assert target is not None
                pending = {
                    "profile_id": profile.id,
                    "list_id": target.id,
                    "channels": row["channels"],
                    "custom_source": source,
                }
                ctx.store.create(ctx.account_id, PENDING, ids.ulid(ctx.clock()), pending, now=ctx.now())
                continue
            _subscribe(ctx, profile, row["channels"], source)
            if target is not None:
                ctx.store.add_links(
                    ctx.account_id,
                    lists.TYPE,
                    target.id,
                    lists.MEMBER,
                    profiles.TYPE,
                    [profile.id],
                    now=ctx.now(),
                )
    return Reply(202)


def bulk_unsubscribe(ctx: RequestContext) -> Reply:
    data = ctx.resource_body(UNSUBSCRIBE_JOB)
    for name in data.get("attributes") or {}:
        if name != "profiles":
            raise invalid(f"'{name}' is not a valid field for this job.", pointer=f"/data/attributes/{name}")
    now = filters.parse_datetime(ctx.now())
    assert now is not None
    with ctx.store.transaction():
        target = _list_relationship(ctx, data)
        rows = _profile_rows(data, MAX_UNSUBSCRIBE, "UNSUBSCRIBED", False, now)
        members = set(lists.member_times(ctx, lists.TYPE, target.id)) if target is not None else set()
        for row in rows:
            profile = _find_or_create(ctx, row)
            if target is not None and profile.id in members:
                ctx.store.remove_links(
                    ctx.account_id, lists.TYPE, target.id, lists.MEMBER, profiles.TYPE, [profile.id]
                )
                state = _state(profile.attributes)
                marketing = state["email"]["marketing"]
                marketing["list_suppressions"] = [
                    *(marketing.get("list_suppressions") or []),
                    {"list_id": target.id, "reason": "UNSUBSCRIBE", "timestamp": ctx.now()},
                ]
                _save(ctx, profile, state)
            else:  # not on the list, or no list: a global unsubscribe (as Klaviyo warns)
                _unsubscribe(ctx, profile, row["channels"])
    return Reply(202)


# -- pending double opt-in confirmations (sandbox only) -----------------------------------------


def _render_pending(row: Resource) -> dict[str, Any]:
    return {"type": PENDING, "id": row.id, "attributes": {**row.attributes, "created": row.created}}


def get_pending(ctx: RequestContext) -> Reply:
    rows = ctx.store.list_resources(ctx.account_id, PENDING)
    return Reply(200, {"data": [_render_pending(r) for r in rows], "links": ctx.collection_links()})


def confirm_pending(ctx: RequestContext) -> Reply:
    with ctx.store.transaction():
        row = ctx.store.get(ctx.account_id, PENDING, ctx.params["id"])
        if row is None:
            raise not_found(f"No pending subscription {ctx.params['id']}.")
        attrs = row.attributes
        profile = ctx.store.get(ctx.account_id, profiles.TYPE, attrs["profile_id"])
        target = ctx.store.get(ctx.account_id, lists.TYPE, attrs["list_id"])
        if profile is None or target is None:
            ctx.store.delete(ctx.account_id, PENDING, row.id)
            raise not_found("The profile or the list of this pending subscription no longer exists.")
        _subscribe(ctx, profile, attrs["channels"], attrs.get("custom_source"))
        profile = ctx.store.get(ctx.account_id, profiles.TYPE, profile.id)
        assert profile is not None
        state = _state(profile.attributes)
        state["email"]["marketing"]["double_optin"] = True
        _save(ctx, profile, state)
        ctx.store.add_links(
            ctx.account_id, lists.TYPE, target.id, lists.MEMBER, profiles.TYPE, [profile.id], now=ctx.now()
        )
        ctx.store.delete(ctx.account_id, PENDING, row.id)
    return Reply(204)


# -- suppression jobs ----------------------------------------------------------------------------


def _suppression_targets(ctx: RequestContext, data: dict[str, Any]) -> tuple[list[Resource], dict[str, Any]]:
    """The profiles a suppression job acts on, and its relationships (lists / segments)."""
    from . import segments  # segments imports this module for consent state

    attrs = data.get("attributes") or {}
    rels = data.get("relationships") or {}
    emails = (attrs.get("profiles") or {}).get("data") if isinstance(attrs.get("profiles"), dict) else None
    given = [
        name
        for name, present in (
            ("profiles", emails),
            ("list", rels.get("list")),
            ("segment", rels.get("segment")),
        )
        if present
    ]
    if len(given) != 1:
        raise invalid("Give exactly one of: profiles (emails), a list or a segment.", pointer="/data")
    if emails is not None:
        if not isinstance(emails, list) or len(emails) > MAX_SUPPRESS:
            raise invalid(
                f"'profiles.data' must be an array of at most {MAX_SUPPRESS} profiles.",
                pointer="/data/attributes/profiles/data",
            )
        found = []
        for index, row in enumerate(emails):
            email = (row.get("attributes") or {}).get("email") if isinstance(row, dict) else None
            if (
                not isinstance(email, str)
                or row.get("type") != profiles.TYPE
                or not profiles.EMAIL_RE.match(email)
            ):
                raise invalid(
                    "Each profile must be {'type': 'profile', 'attributes': {'email': <valid email>}}.",
                    pointer=f"/data/attributes/profiles/data/{index}",
                )
            profile, _ = profiles.upsert(ctx, {"email": email})
            found.append(profile)
        return found, {}
    name = given[0]
    ref = (rels[name] or {}).get("data") or {}
    if ref.get("type") != name or not isinstance(ref.get("id"), str):
        raise invalid(
            f"The {name} relationship must be {{'type': '{name}', 'id': ...}}.",
            pointer=f"/data/relationships/{name}/data",
        )
    if name == "list":
        group = ctx.get_or_404(lists.TYPE, ref["id"])
        member_ids = list(lists.member_times(ctx, lists.TYPE, group.id))
    else:
        group = ctx.get_or_404(segments.TYPE, ref["id"])
        member_ids = list(segments.refresh_members(ctx, group))
    members = [
        p for p in (ctx.store.get(ctx.account_id, profiles.TYPE, pid) for pid in member_ids) if p is not None
    ]
    return members, {f"{name}s": {"data": [{"type": name, "id": group.id}]}}


def _render_job(ctx: RequestContext, job: Resource, path: str) -> dict[str, Any]:
    attributes = {
        k: job.attributes.get(k)
        for k in ("status", "created_at", "total_count", "completed_count", "completed_at", "skipped_count")
    }
    out: dict[str, Any] = {
        "type": job.type,
        "id": job.id,
        "attributes": sparse(attributes, ctx.fields(job.type)),
        "links": ctx.self_link(f"{path}/{job.id}"),
    }
    if job.relationships:
        out["relationships"] = job.relationships
    return out


def _suppression_job(ctx: RequestContext, job_type: str, path: str, add: bool) -> Reply:
    data = ctx.resource_body(job_type)
    now = ctx.now()
    with ctx.store.transaction():
        targets, relationships = _suppression_targets(ctx, data)
        changed = sum(1 for p in targets if _suppression(ctx, p, add))
        attributes = {
            "status": "complete",
            "created_at": now,
            "total_count": len(targets),
            "completed_count": changed,
            "skipped_count": len(targets) - changed,
            "completed_at": now,
        }
        job = ctx.store.create(
            ctx.account_id, job_type, ids.ulid(ctx.clock()), attributes, relationships, now=now
        )
    return Reply(202, {"data": _render_job(ctx, job, path), "links": ctx.self_link(f"{path}/{job.id}")})


def _get_job(ctx: RequestContext, job_type: str, path: str) -> Reply:
    job = ctx.store.get(ctx.account_id, job_type, ctx.params["job_id"])
    if job is None:
        raise ApiError(404, "not_found", "Not found.", f"No {job_type} with id {ctx.params['job_id']}.")
    return Reply(200, {"data": _render_job(ctx, job, path), "links": ctx.self_link(f"{path}/{job.id}")})


SUPPRESS_PATH = "/api/profile-suppression-bulk-create-jobs"
UNSUPPRESS_PATH = "/api/profile-suppression-bulk-delete-jobs"


def bulk_suppress(ctx: RequestContext) -> Reply:
    return _suppression_job(ctx, SUPPRESS_JOB, SUPPRESS_PATH, add=True)


def bulk_unsuppress(ctx: RequestContext) -> Reply:
    return _suppression_job(ctx, UNSUPPRESS_JOB, UNSUPPRESS_PATH, add=False)


def get_suppress_job(ctx: RequestContext) -> Reply:
    return _get_job(ctx, SUPPRESS_JOB, SUPPRESS_PATH)


def get_unsuppress_job(ctx: RequestContext) -> Reply:
    return _get_job(ctx, UNSUPPRESS_JOB, UNSUPPRESS_PATH)


ROUTES = [
    Route("POST", "/api/profile-subscription-bulk-create-jobs", bulk_subscribe, "bulk_subscribe_profiles"),
    Route(
        "POST", "/api/profile-subscription-bulk-delete-jobs", bulk_unsubscribe, "bulk_unsubscribe_profiles"
    ),
    Route("POST", SUPPRESS_PATH, bulk_suppress, "bulk_suppress_profiles"),
    Route("GET", SUPPRESS_PATH + "/{job_id}", get_suppress_job, "get_bulk_suppress_profiles_job"),
    Route("POST", UNSUPPRESS_PATH, bulk_unsuppress, "bulk_unsuppress_profiles"),
    Route("GET", UNSUPPRESS_PATH + "/{job_id}", get_unsuppress_job, "get_bulk_unsuppress_profiles_job"),
    Route("GET", "/sandbox/pending-subscriptions", get_pending, "sandbox_get_pending_subscriptions"),
    Route(
        "POST",
        "/sandbox/pending-subscriptions/{id}/confirm",
        confirm_pending,
        "sandbox_confirm_pending_subscription",
    ),
]
