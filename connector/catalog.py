"""Facts about every Klaviyo API operation, loaded from the generated ``catalog.json``.

The catalog is produced by ``scripts/gen_catalog.py`` from Klaviyo's OpenAPI spec. It is read on
first use, not at import time, so importing this module stays cheap.

Each entry of ``Operation.parameters`` is a dict with ``name``, ``in``, ``required`` and ``type``,
plus, only when the spec declares them, ``items`` (``type``/``enum``), ``enum``, ``default``,
``minimum``, ``maximum`` and ``explode`` (present only as ``False``). Treat them as read-only.

``Operation.body_enums`` maps a dotted path into the request body (``data.attributes.statistics[]``;
``[]`` is an array's items) to the values the body schema's enum allows there, sorted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "FilterField",
    "Operation",
    "RateLimit",
    "body_enum",
    "match",
    "operation",
    "operations",
    "scopes_for",
    "spec_version",
]

_CATALOG_FILE = Path(__file__).with_name("catalog.json")


@dataclass(frozen=True)
class RateLimit:
    burst: int  # requests per second
    steady: int  # requests per minute
    daily: int | None  # requests per day, when the operation has a daily cap

    def describe(self) -> str:
        """In words, e.g. "10/s, 150/m, 150/d"."""
        return f"{self.burst}/s, {self.steady}/m" + (f", {self.daily}/d" if self.daily else "")


@dataclass(frozen=True)
class FilterField:
    name: str
    operators: tuple[str, ...]
    list_operators: tuple[str, ...]
    single_operators: tuple[str, ...]
    # "string", "date-time", "boolean", "integer", "number", or "none" for value-less operators (has).
    type: str
    enum: tuple[str, ...] | None = None
    none_operators: tuple[str, ...] = ()


@dataclass(frozen=True)
class Operation:
    id: str
    aliases: tuple[str, ...]
    method: str
    path: str
    tag: str | None
    parameters: tuple[dict[str, Any], ...] = field(hash=False, compare=False, repr=False)
    page_size_default: int | None
    page_size_max: int | None
    cursor_param: str | None
    rate_limit: RateLimit | None
    scopes: tuple[str, ...]
    filters: Mapping[str, FilterField] = field(hash=False, compare=False, repr=False)
    filter_required: bool
    sort: tuple[str, ...] | None
    include: tuple[str, ...] | None
    fields: Mapping[str, tuple[str, ...]] = field(hash=False, compare=False, repr=False)
    additional_fields: Mapping[str, tuple[str, ...]] = field(hash=False, compare=False, repr=False)
    success: tuple[int, ...]
    # The shape of data in a 2xx document: "one" resource (or null), "many", or None (no body).
    response_data: str | None
    request_content_type: str | None
    body_required: bool
    body_enums: Mapping[str, tuple[Any, ...]] = field(hash=False, compare=False, repr=False)
    security: bool

    def param(self, name: str) -> dict[str, Any] | None:
        """The parameter called ``name`` (any location), or None."""
        for p in self.parameters:
            if p["name"] == name:
                return p
        return None

    def serves(self, method: str, path: str) -> bool:
        """Whether ``method path`` (a path without its query) is a request to this operation."""
        return (
            method.upper() == self.method and _template_regex(self.path).match(path.rstrip("/")) is not None
        )


def _tuple_or_none(value: list[str] | None) -> tuple[str, ...] | None:
    return None if value is None else tuple(value)


def _build_operation(raw: dict[str, Any]) -> Operation:
    page = raw.get("page_size") or {}
    rl = raw.get("rate_limit")
    filters = {
        name: FilterField(
            name=name,
            operators=tuple(f["operators"]),
            list_operators=tuple(f["list_operators"]),
            single_operators=tuple(f["single_operators"]),
            type=f["type"],
            enum=_tuple_or_none(f.get("enum")),
            none_operators=tuple(f.get("none_operators", ())),
        )
        for name, f in raw["filters"].items()
    }
    return Operation(
        id=raw["id"],
        aliases=tuple(raw["aliases"]),
        method=raw["method"],
        path=raw["path"],
        tag=raw["tag"],
        parameters=tuple(raw["parameters"]),
        page_size_default=page.get("default"),
        page_size_max=page.get("max"),
        cursor_param=raw["cursor_param"],
        rate_limit=RateLimit(rl["burst"], rl["steady"], rl["daily"]) if rl else None,
        scopes=tuple(raw["scopes"]),
        filters=MappingProxyType(filters),
        filter_required=raw["filter_required"],
        sort=_tuple_or_none(raw["sort"]),
        include=_tuple_or_none(raw["include"]),
        fields=MappingProxyType({k: tuple(v) for k, v in raw["fields"].items()}),
        additional_fields=MappingProxyType({k: tuple(v) for k, v in raw["additional_fields"].items()}),
        success=tuple(raw["success"]),
        response_data=raw.get("response_data"),
        request_content_type=raw["request_content_type"],
        body_required=raw["body_required"],
        body_enums=MappingProxyType({k: tuple(v) for k, v in raw["body_enums"].items()}),
        security=raw["security"],
    )


@dataclass(frozen=True)
class _Catalog:
    version: str
    ops: tuple[Operation, ...]
    by_name: Mapping[str, Operation]  # operationIds and aliases


@cache
def _template_regex(path: str) -> re.Pattern[str]:
    parts = [
        "[^/]+" if seg.startswith("{") and seg.endswith("}") else re.escape(seg) for seg in path.split("/")
    ]
    return re.compile("/".join(parts) + r"\Z")


@lru_cache(maxsize=1)
def _catalog() -> _Catalog:
    data = json.loads(_CATALOG_FILE.read_text(encoding="utf-8"))
    ops = tuple(_build_operation(raw) for raw in data["operations"])
    by_name: dict[str, Operation] = {}
    for op in ops:
        by_name[op.id] = op
    for op in ops:
        for alias in op.aliases:
            # An alias must never shadow a current operationId.
            by_name.setdefault(alias, op)
    return _Catalog(version=data["spec_version"], ops=ops, by_name=MappingProxyType(by_name))


@dataclass(frozen=True)
class _Routes:
    literal: Mapping[tuple[str, str], Operation]  # (method, path) for templates without {params}
    templated: Mapping[tuple[str, int], tuple[tuple[re.Pattern[str], Operation], ...]]


@lru_cache(maxsize=1)
def _routes() -> _Routes:
    """The index :func:`match` reads, built on its first use: compiling a pattern per templated
    path took about a third of the catalog's load, which every first action paid."""
    literal: dict[tuple[str, str], Operation] = {}
    buckets: dict[tuple[str, int], list[tuple[tuple[bool, ...], re.Pattern[str], Operation]]] = {}
    for op in _catalog().ops:
        segs = op.path.strip("/").split("/")
        if not any(s.startswith("{") for s in segs):
            literal[(op.method, op.path.rstrip("/"))] = op
            continue
        # Rank by literal-ness per segment, left to right, so the most specific template wins.
        rank = tuple(not s.startswith("{") for s in segs)
        buckets.setdefault((op.method, len(segs)), []).append((rank, _template_regex(op.path), op))
    templated = {
        key: tuple((rx, op) for _, rx, op in sorted(items, key=lambda t: t[0], reverse=True))
        for key, items in buckets.items()
    }
    return _Routes(literal=MappingProxyType(literal), templated=MappingProxyType(templated))


def operation(op_id_or_alias: str) -> Operation:
    """Look up an operation by operationId or by one of its ``x-klaviyo-operation-aliases``."""
    try:
        return _catalog().by_name[op_id_or_alias]
    except KeyError:
        raise KeyError(
            f"unknown Klaviyo operation {op_id_or_alias!r} (not an operationId or alias in the "
            f"{spec_version()} catalog)"
        ) from None


def operations() -> tuple[Operation, ...]:
    """All operations, ordered by operationId."""
    return _catalog().ops


def match(method: str, path: str) -> Operation | None:
    """The operation serving a concrete request path such as ``/api/profiles/01ABC``.

    Accepts a full URL or a path with a query string; a trailing slash is ignored.
    """
    if "://" in path or "?" in path or "#" in path:
        path = urlsplit(path).path
    if not path.startswith("/"):
        path = "/" + path
    path = path.rstrip("/") or "/"
    routes = _routes()
    m = method.upper()
    op = routes.literal.get((m, path))
    if op is not None:
        return op
    for rx, candidate in routes.templated.get((m, path.count("/")), ()):
        if rx.match(path):
            return candidate
    return None


def body_enum(op_id_or_alias: str, path: str) -> tuple[Any, ...]:
    """The values the request body of an operation allows at ``path``, e.g.
    ``body_enum("query_campaign_values", "data.attributes.statistics[]")``."""
    op = operation(op_id_or_alias)
    try:
        return op.body_enums[path]
    except KeyError:
        raise KeyError(f"{op.id}: no enum at {path!r} in the request body") from None


def scopes_for(op_ids: Iterable[str]) -> tuple[str, ...]:
    """Sorted union of the scopes needed by the given operations (ids or aliases)."""
    scopes: set[str] = set()
    for op_id in op_ids:
        scopes.update(operation(op_id).scopes)
    return tuple(sorted(scopes))


def spec_version() -> str:
    """The ``info.version`` of the spec the catalog was generated from, e.g. ``2026-07-15``."""
    return _catalog().version
