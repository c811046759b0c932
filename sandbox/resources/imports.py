"""Bulk profile import jobs and data-privacy deletion jobs.

* ``POST /api/profile-bulk-import-jobs`` (at most 10,000 profiles and 5 MB; 202 with the job,
  status ``queued``). The body's shape is checked at once (400); the rows are processed the
  first time the job (or its errors) is read, like Klaviyo's asynchronous processing: each
  row is an upsert (as ``/api/profile-import``) and joins the job's lists. A row with a bad
  email or phone number, no identifier, an unknown id, identifiers of two different profiles
  or more than 100 KB becomes an ``import-error`` (``GET .../{id}/import-errors``) whose
  ``source.pointer`` names the row, and counts in ``failed_count``.
* ``POST /api/data-privacy-deletion-jobs``: exactly one of ``id``, ``email``,
  ``phone_number``; every matching profile is deleted at once (Klaviyo takes a while). 202
  with no body, whether or not a profile matched.
"""

from __future__ import annotations

import json
from typing import Any

from ... import prose_rules as rules
from .. import ids
from ..context import Reply, RequestContext, Route, member, sparse
from ..errors import ApiError, invalid, not_found
from ..store import Resource
from . import lists, profiles

JOB = "profile-bulk-import-job"
ERROR = "import-error"
DELETION_JOB = "data-privacy-deletion-job"
PATH = "/api/profile-bulk-import-jobs"
MAX_PROFILES = rules.IMPORT_MAX_PROFILES
MAX_BYTES = rules.FIVE_MB
MAX_PROFILE_BYTES = rules.IMPORT_MAX_PROFILE_BYTES
ROW_KEYS = ("type", "id", "attributes", "meta")
JOB_ATTRIBUTES = (
    "status",
    "created_at",
    "total_count",
    "completed_count",
    "failed_count",
    "completed_at",
    "expires_at",
    "started_at",
)


def _row_pointer(index: int) -> str:
    return f"/data/attributes/profiles/data/{index}"


def render_job(ctx: RequestContext, job: Resource) -> dict[str, Any]:
    attributes = {k: job.attributes.get(k) for k in JOB_ATTRIBUTES if k in job.attributes}
    base = f"{PATH}/{job.id}"
    relationships: dict[str, Any] = {
        "import-errors": {"links": {"related": ctx.url(f"{base}/import-errors/")}}
    }
    list_ids = job.attributes.get("_list_ids") or []
    if list_ids:
        relationships["lists"] = {"data": [{"type": lists.TYPE, "id": lid} for lid in list_ids]}
    return {
        "type": JOB,
        "id": job.id,
        "attributes": sparse(attributes, ctx.fields(JOB)),
        "relationships": relationships,
        "links": ctx.self_link(base),
    }


def _check_body(ctx: RequestContext) -> tuple[list[Any], list[str]]:
    """The rows and list ids of an import request; 400 / 404 / 413 for a malformed request."""
    if (ctx.request.content_length or 0) > MAX_BYTES:
        raise ApiError(413, "payload_too_large", "Payload too large.", "The request body exceeds 5 MB.")
    data = ctx.resource_body(JOB)
    attributes = data.get("attributes") or {}
    for name in attributes:
        if name != "profiles":
            raise invalid(f"'{name}' is not a valid field for this job.", pointer=f"/data/attributes/{name}")
    rows = (
        (attributes.get("profiles") or {}).get("data")
        if isinstance(attributes.get("profiles"), dict)
        else None
    )
    if not isinstance(rows, list) or not rows:
        raise invalid("'profiles.data' must be a non-empty array.", pointer="/data/attributes/profiles/data")
    if len(rows) > MAX_PROFILES:
        raise invalid(
            f"A maximum of {MAX_PROFILES} profiles can be imported per job; got {len(rows)}.",
            pointer="/data/attributes/profiles/data",
        )
    for index, row in enumerate(rows):
        if (
            not isinstance(row, dict)
            or row.get("type") != profiles.TYPE
            or not isinstance(row.get("attributes"), dict)
        ):
            raise invalid(
                "Each profile must be {'type': 'profile', 'attributes': {...}}.", pointer=_row_pointer(index)
            )
        extra = [k for k in row if k not in ROW_KEYS]
        if extra:
            raise invalid(
                f"'{extra[0]}' is not allowed in a profile.", pointer=f"{_row_pointer(index)}/{extra[0]}"
            )
    refs = member(data, "relationships", "lists", "data") or []
    if not isinstance(refs, list):
        raise invalid("'lists.data' must be an array.", pointer="/data/relationships/lists/data")
    list_ids = []
    for index, ref in enumerate(refs):
        if not isinstance(ref, dict) or ref.get("type") != lists.TYPE or not isinstance(ref.get("id"), str):
            raise invalid(
                "Each list must be {'type': 'list', 'id': ...}.",
                pointer=f"/data/relationships/lists/data/{index}",
            )
        list_ids.append(ctx.get_or_404(lists.TYPE, ref["id"]).id)
    return rows, list(dict.fromkeys(list_ids))


def _import_row(ctx: RequestContext, row: dict[str, Any]) -> str:
    """Upsert one row; ApiError (whose pointer is relative to the row) when it is rejected."""
    if len(json.dumps(row)) > MAX_PROFILE_BYTES:
        raise ApiError(413, "payload_too_large", "Payload too large.", "A profile may be at most 100 KB.")
    attributes = profiles.validate_attributes(dict(row["attributes"]), (*profiles.WRITABLE, "_kx"))
    profile_id = row.get("id")
    if profile_id is None and not any(attributes.get(name) for name in profiles.IDENTIFIERS):
        raise invalid(
            "A profile id or at least one identifier (email, phone_number, external_id) is required."
        )
    profile, _ = profiles.upsert(ctx, attributes, profile_id, row.get("meta"))
    return profile.id


def process(ctx: RequestContext, job: Resource) -> Resource:
    """Run a queued job's rows (once); returns the job as it is afterwards."""
    with ctx.store.transaction():  # two reads at once must not run the rows twice
        current = ctx.store.get(ctx.account_id, JOB, job.id)
        if current is None or current.attributes.get("status") != "queued":
            return current or job
        started = ctx.now()
        rows = current.attributes.get("_rows") or []
        list_ids = [
            lid
            for lid in current.attributes.get("_list_ids") or []
            if ctx.store.get(ctx.account_id, lists.TYPE, lid)
        ]
        imported: list[str] = []
        error_ids: list[str] = []
        for index, row in enumerate(rows):
            try:
                profile_id = _import_row(ctx, row)  # writes nothing when it raises
            except ApiError as exc:
                relative = exc.pointer.removeprefix("/data") if exc.pointer else ""
                error = {
                    "code": exc.code,
                    "title": exc.title,
                    "detail": exc.detail,
                    "source": {"pointer": _row_pointer(index) + relative},
                    "original_payload": row.get("attributes"),
                }
                error_id = ids.ulid(ctx.clock())
                ctx.store.create(ctx.account_id, ERROR, error_id, error, now=ctx.now())
                error_ids.append(error_id)
                continue
            for list_id in list_ids:
                ctx.store.add_links(
                    ctx.account_id,
                    lists.TYPE,
                    list_id,
                    lists.MEMBER,
                    profiles.TYPE,
                    [profile_id],
                    now=ctx.now(),
                )
            imported.append(profile_id)
        done = ctx.now()
        ctx.store.add_links(ctx.account_id, JOB, job.id, "profiles", profiles.TYPE, imported, now=done)
        ctx.store.add_links(ctx.account_id, JOB, job.id, "import-errors", ERROR, error_ids, now=done)
        attributes = {k: v for k, v in current.attributes.items() if k != "_rows"}
        attributes.update(
            status="complete",
            started_at=started,
            completed_at=done,
            completed_count=len(imported),
            failed_count=len(error_ids),
        )
        updated = ctx.store.update(ctx.account_id, JOB, job.id, attributes=attributes, now=done)
    assert updated is not None
    return updated


def _job_or_404(ctx: RequestContext, job_id: str) -> Resource:
    job = ctx.store.get(ctx.account_id, JOB, job_id)
    if job is None:
        raise not_found(f"A profile import job with id {job_id} does not exist.")
    return process(ctx, job)


# -- handlers ------------------------------------------------------------------------------------


def bulk_import(ctx: RequestContext) -> Reply:
    rows, list_ids = _check_body(ctx)
    now = ctx.now()
    attributes = {
        "status": "queued",
        "created_at": now,
        "total_count": len(rows),
        "completed_count": 0,
        "failed_count": 0,
        "_rows": rows,
        "_list_ids": list_ids,
    }
    job = ctx.store.create(ctx.account_id, JOB, ids.ulid(ctx.clock()), attributes, now=now)
    return Reply(202, {"data": render_job(ctx, job), "links": ctx.self_link(f"{PATH}/{job.id}")})


def get_job(ctx: RequestContext) -> Reply:
    job = _job_or_404(ctx, ctx.params["job_id"])
    included = None
    if "lists" in ctx.includes():
        found = [
            ctx.store.get(ctx.account_id, lists.TYPE, lid) for lid in job.attributes.get("_list_ids") or []
        ]
        included = [lists.render(ctx, row, []) for row in found if row is not None]
    return Reply.document(render_job(ctx, job), ctx.self_link(f"{PATH}/{job.id}"), included)


def get_errors(ctx: RequestContext) -> Reply:
    job = _job_or_404(ctx, ctx.params["id"])
    page, links = ctx.page_stored(ERROR, member_of=(JOB, job.id, "import-errors"), default_order="l.rowid")
    fields = ctx.fields(ERROR)
    data = [{"type": ERROR, "id": e.id, "attributes": sparse(e.attributes, fields)} for e in page]
    return Reply(200, {"data": data, "links": links})


def request_deletion(ctx: RequestContext) -> Reply:
    data = ctx.resource_body(DELETION_JOB)
    ref = member(data, "attributes", "profile", "data")
    pointer = "/data/attributes/profile/data"
    if not isinstance(ref, dict) or ref.get("type") != profiles.TYPE:
        raise invalid("'profile.data' must be {'type': 'profile', ...}.", pointer=pointer)
    attrs = ref.get("attributes")
    if attrs is not None and not isinstance(attrs, dict):
        raise invalid("'attributes' must be an object.", pointer=f"{pointer}/attributes")
    attrs = attrs or {}
    given = {
        k: v
        for k, v in (
            ("id", ref.get("id")),
            ("email", attrs.get("email")),
            ("phone_number", attrs.get("phone_number")),
        )
        if v
    }
    if len(given) != 1:
        raise invalid("Exactly one of id, email or phone_number must be provided.", pointer=pointer)
    ((key, value),) = given.items()
    if not isinstance(value, str):
        where = pointer + ("/id" if key == "id" else f"/attributes/{key}")
        raise invalid(f"'{key}' must be a string.", pointer=where)
    with ctx.store.transaction():
        if key == "id":
            matches = [p for p in [ctx.store.get(ctx.account_id, profiles.TYPE, value)] if p is not None]
        else:
            matches = ctx.store.find(ctx.account_id, profiles.TYPE, key, value)
        for profile in matches:
            ctx.store.delete(ctx.account_id, profiles.TYPE, profile.id)
    return Reply(202)


ROUTES = [
    Route("POST", PATH, bulk_import, "bulk_import_profiles"),
    Route("GET", PATH + "/{job_id}", get_job, "get_bulk_import_profiles_job"),
    Route("GET", PATH + "/{id}/import-errors", get_errors, "get_errors_for_bulk_import_profiles_job"),
    Route("POST", "/api/data-privacy-deletion-jobs", request_deletion, "request_profile_deletion"),
]
