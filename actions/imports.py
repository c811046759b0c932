"""Bulk profile import: create or update many profiles in Klaviyo's asynchronous import jobs.

Profiles are sent in as few jobs as the limits allow (10,000 profiles and 5 MB per job, 100 KB
per profile). Optionally the action waits for the jobs to finish and reports the rows Klaviyo
rejected, by their position in the input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from klaviyo_connector import prose_rules as rules
from klaviyo_connector.actions.profiles import Location
from klaviyo_connector.context import Context
from klaviyo_connector.errors import input_error
from klaviyo_connector.http import encode_json
from klaviyo_connector.inputs import AtLeastOne, Email, Inputs, PhoneNumber, collector_paused, data_source
from klaviyo_connector.jsonapi import batches, wire_value
from klaviyo_connector.manifest import acknowledgement_schema, member, resources
from klaviyo_connector.model import Action
from klaviyo_connector.pagination import iterate_pages
from klaviyo_connector.paths import api_path
from pydantic import Field, model_validator

PROFILES_PER_JOB = rules.IMPORT_MAX_PROFILES
BYTES_PER_JOB = rules.FIVE_MB_SAFE
BYTES_PER_PROFILE = rules.IMPORT_MAX_PROFILE_BYTES
MAX_ERRORS = 1000  # import errors fetched per run
POLL_FIRST = 2.0  # seconds before the second status check; grows by POLL_GROWTH up to POLL_MAX
POLL_GROWTH = 1.5
POLL_MAX = 30.0
TERMINAL = ("complete", "cancelled")
JOB_TYPE = "profile-bulk-import-job"
_ROW_POINTER = re.compile(r"^/data/attributes/profiles/data/(\d+)(?:/|$)")
IDENTIFIERS = ("email", "phone_number", "external_id")


class ImportedProfile(Inputs):
    """One profile row, in Klaviyo's attribute names. Rows are matched on id, email, phone or external ID."""

    FORM_RULES = (AtLeastOne("email", "phone_number", "external_id", "id"),)
    FORM_EXAMPLE = {
        "email": "sarah.mason@klaviyo-demo.com",
        "first_name": "Sarah",
        "properties": {"plan": "gold"},
    }

    id: str | None = Field(
        None,
        title="Profile ID",
        description="Update this existing profile.",
        examples=["01J18FVB5H8XR1X9AXEQFVRW7A"],
        json_schema_extra=data_source("selectProfile"),
    )
    email: Email | None = Field(None, title="Email", examples=["sarah.mason@klaviyo-demo.com"])
    phone_number: PhoneNumber | None = Field(None, title="Phone Number", examples=["+15005550006"])
    external_id: str | None = Field(None, title="External ID", examples=["12345"])
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
    def _identified(self) -> ImportedProfile:
        if not (self.id or self.email or self.phone_number or self.external_id):
            raise ValueError("each profile needs an id, email, phone_number or external_id")
        return self

    def wire(self) -> dict[str, Any]:
        attrs = wire_value(self)
        profile_id = attrs.pop("id", None)
        out: dict[str, Any] = {"type": "profile"}
        if profile_id:
            out["id"] = profile_id
        out["attributes"] = attrs
        return out


class ImportProfilesInputs(Inputs):
    profiles: list[ImportedProfile] = Field(
        title="Profiles",
        description='Array of profiles in Klaviyo\'s attribute names: [{"email": "...", "first_name": "...", '
        '"properties": {...}}]. Any number; sent 10,000 (and at most 5 MB) per import job.',
        examples=[
            [{"email": "sarah.mason@klaviyo-demo.com", "first_name": "Sarah", "properties": {"plan": "gold"}}]
        ],
        min_length=1,
        max_length=1_000_000,
    )
    listIds: list[str] | None = Field(
        None,
        title="List IDs",
        description="Add every imported profile to these lists (membership only; consent is unchanged).",
        examples=[["RE83th"]],
        json_schema_extra=data_source("selectList"),
    )
    waitForCompletion: bool = Field(
        False,
        title="Wait For Completion",
        description="Wait until the jobs finish, then report counts and the rows Klaviyo rejected.",
    )
    maxWaitSeconds: int = Field(
        300, title="Max Wait Seconds", ge=1, le=3600, description="Stop waiting after this long."
    )


# -- sending -------------------------------------------------------------------------------------


def _job_body(rows: Sequence[Mapping[str, Any]], list_ids: Sequence[str]) -> dict[str, Any]:
    data: dict[str, Any] = {"type": JOB_TYPE, "attributes": {"profiles": {"data": list(rows)}}}
    if list_ids:
        data["relationships"] = {"lists": {"data": [{"type": "list", "id": lid} for lid in list_ids]}}
    return {"data": data}


def _rows(inputs: ImportProfilesInputs) -> tuple[list[dict[str, Any]], list[int]]:
    """Each profile's wire form and its encoded size in bytes (checked against the limit)."""
    with collector_paused():
        rows = [p.wire() for p in inputs.profiles]
        sizes = [len(encode_json(row)) for row in rows]
    for index, size in enumerate(sizes):
        if size > BYTES_PER_PROFILE:
            raise input_error(
                f"Profiles[{index}]",
                f"is {size} bytes once encoded; Klaviyo accepts at most 100 KB per profile",
            )
    return rows, sizes


def _submit(
    ctx: Context, rows: list[dict[str, Any]], sizes: list[int], list_ids: list[str]
) -> list[tuple[int, int, dict[str, Any]]]:
    """Send the jobs; returns (first row index, row count, job resource) per job."""
    overhead = len(encode_json(_job_body([], list_ids)))
    jobs = []
    sent = 0
    plan = list(batches(rows, PROFILES_PER_JOB, max_bytes=BYTES_PER_JOB, overhead=overhead, sizes=sizes))
    for number, (start, chunk) in enumerate(plan, start=1):
        response = ctx.client.request(
            "POST",
            "/api/profile-bulk-import-jobs",
            json_body=_job_body(chunk, list_ids),
            operation="bulk_import_profiles",
            idempotent=True,  # an import is an upsert: a resent job leaves the same profiles
        )
        jobs.append((start, len(chunk), response.json()["data"]))
        sent += len(chunk)
        ctx.progress("jobs", {"submitted": number, "of": len(plan), "profiles": sent})
    return jobs


# -- waiting -------------------------------------------------------------------------------------


def _status(job: Mapping[str, Any]) -> str:
    return str((job.get("attributes") or {}).get("status") or "")


def _wait(ctx: Context, jobs: dict[str, dict[str, Any]], max_wait: float) -> bool:
    """Poll until every job is complete or cancelled; False when Max Wait Seconds ran out first."""
    waited = 0.0
    delay = POLL_FIRST
    while True:
        for job_id, job in jobs.items():
            if _status(job) in TERMINAL:
                continue
            job = ctx.client.request(
                "GET",
                api_path("/api/profile-bulk-import-jobs/{id}", id=job_id),
                operation="get_bulk_import_profiles_job",
            ).json()["data"]
            jobs[job_id] = job
            attrs = job.get("attributes") or {}
            ctx.progress(
                "waiting",
                {
                    "job_id": job_id,
                    "status": attrs.get("status"),
                    "completed_count": attrs.get("completed_count"),
                    "failed_count": attrs.get("failed_count"),
                    "total_count": attrs.get("total_count"),
                    "waited_seconds": waited,
                },
            )
        if all(_status(job) in TERMINAL for job in jobs.values()):
            return True
        pause = min(delay, max_wait - waited)
        if pause <= 0:
            return False
        ctx.client.sleep(pause)
        waited += pause
        delay = min(delay * POLL_GROWTH, POLL_MAX)


def _row_of(error: Mapping[str, Any], start: int, rows: Sequence[Mapping[str, Any]]) -> int | None:
    """The input index a job error is about: from its pointer, else by the identifiers it echoes."""
    attrs = error.get("attributes") or {}
    match = _ROW_POINTER.match(str((attrs.get("source") or {}).get("pointer") or ""))
    if match and int(match.group(1)) < len(rows):
        return start + int(match.group(1))
    payload = attrs.get("original_payload") or {}
    payload = payload.get("attributes", payload) if isinstance(payload, Mapping) else {}
    for name in IDENTIFIERS:
        value = payload.get(name) if isinstance(payload, Mapping) else None
        if value:
            for offset, row in enumerate(rows):
                if row["attributes"].get(name) == value:
                    return start + offset
    return None


def _errors(
    ctx: Context, job_id: str, start: int, rows: Sequence[Mapping[str, Any]], limit: int
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    pages = iterate_pages(
        ctx.client,
        api_path("/api/profile-bulk-import-jobs/{id}/import-errors", id=job_id),
        operation="get_errors_for_bulk_import_profiles_job",
        max_records=limit,
    )
    for doc in pages:
        for error in doc.get("data") or []:
            attrs = error.get("attributes") or {}
            found.append(
                {
                    "index": _row_of(error, start, rows),
                    "job_id": job_id,
                    "code": attrs.get("code"),
                    "title": attrs.get("title"),
                    "detail": attrs.get("detail"),
                    "pointer": (attrs.get("source") or {}).get("pointer"),
                    "original_payload": attrs.get("original_payload"),
                }
            )
    return found[:limit]


# -- the action ----------------------------------------------------------------------------------


def import_profiles(ctx: Context, inputs: ImportProfilesInputs) -> Any:
    rows, sizes = _rows(inputs)
    list_ids = list(dict.fromkeys(inputs.listIds or []))
    submitted = _submit(ctx, rows, sizes, list_ids)
    jobs = {str(job["id"]): job for _, _, job in submitted}
    out: dict[str, Any] = {
        "accepted": f"Klaviyo accepted {len(rows)} profile(s) in {len(jobs)} import job(s); jobs run "
        "asynchronously.",
        "status": 202,
        "asynchronous": True,
        "job_ids": list(jobs),
        "profile_count": len(rows),
        "list_ids": list_ids,
        "waited": inputs.waitForCompletion,
    }
    if inputs.waitForCompletion:
        finished = _wait(ctx, jobs, float(inputs.maxWaitSeconds))
        errors: list[dict[str, Any]] = []
        for start, count, job in submitted:
            job_id = str(job["id"])
            failed = (jobs[job_id].get("attributes") or {}).get("failed_count") or 0
            if failed and len(errors) < MAX_ERRORS:
                errors.extend(
                    _errors(ctx, job_id, start, rows[start : start + count], MAX_ERRORS - len(errors))
                )
        totals = {"total": 0, "completed": 0, "failed": 0}
        for job in jobs.values():
            attrs = job.get("attributes") or {}
            totals["total"] += attrs.get("total_count") or 0
            totals["completed"] += attrs.get("completed_count") or 0
            totals["failed"] += attrs.get("failed_count") or 0
        out["completed"] = finished
        out["timed_out"] = not finished
        out["statuses"] = {job_id: _status(job) for job_id, job in jobs.items()}
        out["counts"] = totals
        out["errors"] = errors
        out["errors_truncated"] = totals["failed"] > len(errors)
        if not finished:
            out["accepted"] += f" Still running after {inputs.maxWaitSeconds} s; check the jobs later."
    out["jobs"] = list(jobs.values())
    return out


_IMPORT_ERROR = {
    "type": "object",
    "properties": {
        "index": member(
            ["integer", "null"], "The rejected row's index in Profiles (null when it can't be told)."
        ),
        "job_id": member("string", "The import job that rejected the row."),
        "code": member(["string", "null"], "Klaviyo's error code."),
        "title": member(["string", "null"], "Klaviyo's error title."),
        "detail": member(["string", "null"], "Klaviyo's explanation."),
        "pointer": member(
            ["string", "null"], "Where in the row the error is (JSON Pointer), if Klaviyo said."
        ),
        "original_payload": member(None, "The row as Klaviyo received it."),
    },
}
IMPORT_ACKNOWLEDGEMENT = acknowledgement_schema(
    required=["job_ids", "profile_count", "list_ids", "waited", "jobs"],
    omit=["job", "job_id"],
    job_ids=member("array", "The IDs of the import jobs, in submission order.", items={"type": "string"}),
    profile_count=member("integer", "How many profiles were submitted."),
    list_ids=member(
        "array", "The lists the profiles are added to, without repeats.", items={"type": "string"}
    ),
    waited=member("boolean", "Whether the action waited for the jobs (Wait For Completion)."),
    completed=member("boolean", "After waiting: whether every job finished within Max Wait Seconds."),
    timed_out=member("boolean", "After waiting: whether Max Wait Seconds ran out first."),
    statuses=member(
        "object", "After waiting: each job's status by job ID.", additionalProperties={"type": "string"}
    ),
    counts=member(
        "object",
        "After waiting: profile counts summed over the jobs.",
        properties={
            "total": member("integer", "Profiles in the jobs."),
            "completed": member("integer", "Profiles imported."),
            "failed": member("integer", "Profiles rejected."),
        },
    ),
    errors=member("array", f"After waiting: the rejected rows (at most {MAX_ERRORS}).", items=_IMPORT_ERROR),
    errors_truncated=member("boolean", "After waiting: whether more rows were rejected than errors lists."),
    jobs=resources("The import jobs as last read from Klaviyo."),
)


ACTIONS = (
    Action(
        key="importProfiles",
        label="Import Profiles",
        description="Create or update many profiles with Klaviyo's bulk import jobs (10,000 profiles / 5 MB "
        "per job, split automatically), optionally adding them to lists. Can wait for the jobs and report "
        "rejected rows by their index in Profiles.",
        inputs=ImportProfilesInputs,
        perform=import_profiles,
        output_schema=IMPORT_ACKNOWLEDGEMENT,
        operations=(
            "bulk_import_profiles",
            "get_bulk_import_profiles_job",
            "get_errors_for_bulk_import_profiles_job",
        ),
        idempotent=True,
    ),
)
