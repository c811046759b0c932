"""The sandbox's resource families: one small module per family, each registering its routes.

How to add a family (lists, segments, campaigns, ...)
====================================================

1. Create ``sandbox/resources/<family>.py`` exporting ``ROUTES``, a list of
   :class:`~klaviyo_connector.sandbox.context.Route`::

       ROUTES = [
           Route("GET", "/api/lists", get_lists, "get_lists"),
           Route("POST", "/api/lists", create_list, "create_list"),
           Route("GET", "/api/lists/{id}", get_list, "get_list"),
       ]

   ``path`` is the spec's template (``{id}`` becomes a path parameter in ``ctx.params``);
   ``operation_id`` is the spec's operationId: the pipeline looks it up in
   ``klaviyo_connector.catalog`` for rate limits, scopes, page sizes, filterable fields,
   sort keys and sparse-fieldset enums, so a handler never hard-codes them. Optional Route
   members: ``auth=False`` (no API key, no per-account limits: ``/oauth/*``, ``/client/*``),
   ``rate_limit=`` a ``ctx -> (bucket_suffix, Limits) | None`` picking a stricter tier from
   request options, ``content_types=`` for non-JSON bodies (``multipart/form-data``).

   Optionally export ``init_store(store)`` (called once per app, e.g. to
   ``store.ensure_index("list", "name")``).

2. Add the module name to :data:`MODULES` below.

3. Write handlers as ``def handler(ctx: RequestContext) -> Reply``. By then the request is
   authenticated (``ctx.account_id``), the revision and content type are checked and the
   rate limit is counted. Inside a handler:

   * state: ``ctx.store`` (:class:`~klaviyo_connector.sandbox.store.Store`):
     ``get(account, type, id)``, ``list_resources(account, type)``, ``find(account, type,
     attribute, value)``, ``create(account, type, id, attributes, relationships, now=)``,
     ``update(account, type, id, attributes=, relationships=, now=)``, ``delete(...)``;
     to-many relationships with ``add_links`` / ``remove_links`` / ``linked_ids`` /
     ``linking_ids``; wrap check-then-write sequences in ``with ctx.store.transaction():``.
     Rows are :class:`~klaviyo_connector.sandbox.store.Resource` (``attributes`` is a dict;
     ``created`` / ``updated`` are kept by the store in Klaviyo's ISO format).
     Convention for memberships: link from the container to the member under the
     member's plural, e.g. ``add_links(acct, "list", list_id, "profiles", "profile", ids)``;
     ``profiles.py`` answers ``include=lists`` with
     ``linking_ids(acct, "profile", pid, "profiles", "list")`` (same for segments).
   * ids: ``ids.ulid(ctx.clock())`` (26 chars, profiles, events, ...) or ``ids.short_id()``
     (6 chars: lists, ...). Times: ``ctx.now()``.
   * a stored row or Klaviyo's 404: ``ctx.get_or_404("list", list_id)`` (``ctx.delete_or_404`` to
     delete one).
   * body: ``data = ctx.resource_body("list", require_id=False)`` (a PATCH to ``.../{id}``:
     ``ctx.update_body("list")``, which also requires the body's id to be the URL's); raise
     ``errors.invalid(detail, pointer="/data/attributes/name")`` for bad members,
     ``errors.not_found()``, ``errors.conflict(code, detail, meta=...)``.
   * collections: ``page, links = ctx.page(rows, rtype="list", getter=resource_values)``
     applies ``filter`` (parsed and checked by :mod:`~klaviyo_connector.sandbox.filters`
     against the operation's filterable fields), ``sort``, ``page[size]`` and
     ``page[cursor]``, and builds absolute ``self`` / ``next`` / ``prev`` links. Pass your
     own ``getter(row, field) -> list of values`` when a filter field isn't a plain
     (dotted) attribute.
   * rendering: build each object as ``{"type", "id", "attributes": sparse(attrs,
     ctx.fields("list")), "relationships": {...: {"links": ctx.relationship_links(...)}},
     "links": ctx.self_link(f"/api/lists/{id}")}`` and return
     ``Reply(200, {"data": obj, "links": ctx.self_link(...)})`` or
     ``Reply(200, {"data": [...], "links": links})`` (``Reply.document(data, links, included)``
     adds ``included`` when the request asked for it). Produce every member the spec's
     response schema marks required; ``tests/test_sandbox_contract.py`` validates
     responses against the spec.

``accounts.py`` (read-only, one resource per account) and ``profiles.py`` (full CRUD with
duplicates, upsert, filters, sorting, sparse fields) are the worked examples.

A family is only needed where Klaviyo's semantics go beyond the generic core
(:mod:`klaviyo_connector.sandbox.generic`), which answers every operation no family serves with
create / get / list / update / delete and relationship semantics on the same Store; a route here
takes priority over it. Requests reach a handler already checked against the spec
(:mod:`klaviyo_connector.sandbox.validation`).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..context import Route
    from ..store import Store

MODULES: tuple[str, ...] = (
    "accounts",
    "profiles",
    "tags",
    "oauth",
    "events",
    "metrics",
    "flows",
    "templates",
    "images",
    "campaigns",
    "reports",
    "lists",
    "segments",
    "subscriptions",
    "imports",
    "webhooks",
)


def load_modules(names: tuple[str, ...] = MODULES) -> list[ModuleType]:
    return [importlib.import_module(f"{__name__}.{name}") for name in names]


def all_routes(names: tuple[str, ...] = MODULES) -> list[Route]:
    """Every route of the named families, in module order."""
    routes: list[Route] = []
    for module in load_modules(names):
        routes.extend(module.ROUTES)
    return routes


def init_store(store: Store, names: tuple[str, ...] = MODULES) -> None:
    """Run each family's optional ``init_store(store)`` hook (indexes and the like)."""
    for module in load_modules(names):
        hook = getattr(module, "init_store", None)
        if hook is not None:
            hook(store)
