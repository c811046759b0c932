"""Find steps: the resources whose natural key (a name, an email) matches exactly.

A find step answers "not found" as data, never as an error: ``{"data": null, "found": false}``.
Several matches are not an error either: Klaviyo allows two lists with one name, so every page
is read, the first match is returned (oldest first where the endpoint sorts by creation time)
and ``match_count`` / ``match_ids`` say how many there were.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import catalog, filters
from .context import Context
from .manifest import document_schema, member
from .pagination import iterate_pages
from .writes import Lookup, condition_for

# Most matches one find step reads; a name shared by more records than this is not a lookup.
MAX_MATCHES = 1000


def find_all(ctx: Context, lookup: Lookup, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every resource ``lookup`` confirms (``lookup.same``), in creation order where the endpoint
    sorts by ``lookup.created`` (else by id): ``GET lookup.path?filter=...`` through the one
    pagination iterator, at most :data:`MAX_MATCHES`. Raises the client's KlaviyoError."""
    query: dict[str, Any] = {**(params or {}), "filter": lookup.filter}
    order = catalog.operation(lookup.operation).sort or ()
    sort = lookup.created if lookup.created in order else ("id" if "id" in order else None)
    if sort:
        query["sort"] = sort
    matches: list[dict[str, Any]] = []
    pages = iterate_pages(
        ctx.client, lookup.path, operation=lookup.operation, params=query, max_records=MAX_MATCHES
    )
    for doc in pages:
        matches.extend(dict(item) for item in doc.get("data") or [] if lookup.same(item))
    return matches[:MAX_MATCHES]


def result(matches: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """What a find step returns: the first match as ``data`` (or null), ``found``, ``match_count``
    and ``match_ids``, plus ``extra`` members."""
    return {
        "data": matches[0] if matches else None,
        "found": bool(matches),
        "match_count": len(matches),
        "match_ids": [str(item.get("id")) for item in matches],
        **extra,
    }


def email_condition(operation: str, email: str) -> filters.Comparison:
    """``email`` as given and lower-cased: Klaviyo's filter matches exactly and a profile may be
    stored in either spelling (one ``equals`` when they are the same)."""
    if email.lower() == email:
        return condition_for(operation, "equals", "email", email)
    return filters.condition("any", "email", [email, email.lower()])


def with_member(fields: list[str] | None, name: str) -> list[str] | None:
    """A sparse fieldset that keeps ``name``, the attribute a match is confirmed by."""
    if not fields:
        return None
    return fields if name in fields else [*fields, name]


FOUND = member("boolean", "Whether a match was found; false is an answer, not an error (data is then null).")
MATCH_COUNT = member("integer", "How many records matched exactly (0 when none did).")
MATCH_IDS = member("array", "The IDs of every exact match, the returned one first.", items={"type": "string"})


def find_schema(what: str, **extra: Mapping[str, Any]) -> dict[str, Any]:
    """The output schema of a find step returning ``what`` ("the oldest list with the name")."""
    return document_schema(
        description=f"{what} as data (null when none matched), and how many matched.",
        required=["found", "match_count", "match_ids"],
        found=FOUND,
        match_count=MATCH_COUNT,
        match_ids=MATCH_IDS,
        **extra,
    )
