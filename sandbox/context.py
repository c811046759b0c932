"""What a resource handler sees: :class:`Route`, :class:`Reply` and :class:`RequestContext`.

A handler is ``handler(ctx: RequestContext) -> Reply``. By the time it runs, the pipeline in
``app.py`` has authenticated the request (``ctx.account_id``, ``ctx.scopes``), checked the
``revision`` header, the content type, faults and rate limits, and looked the operation up
in the catalog (``ctx.operation``: page sizes, filterable fields, sort keys, sparse fields).
Handlers raise :class:`~.errors.ApiError` for any 4xx.

Hostile input is a 400, never a crash: a JSON body must be standard JSON (no ``NaN`` or
``Infinity``), hold no number beyond a double's range and nest at most :data:`MAX_JSON_DEPTH`
arrays and objects; ``page[size]`` is plain ASCII digits; sparse fieldsets are checked before
the handler runs, whether or not there are rows to render.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sys
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from itertools import accumulate
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar
from urllib.parse import quote, urlencode

from werkzeug.exceptions import HTTPException

from ..filters import And, Comparison, FilterError, Node, Quoted
from .errors import ApiError, conflict, invalid, not_found, shown
from .filters import compile_predicate, dotted_values, parse_strict
from .ratelimit import Limits
from .store import Resource, Store

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from ..catalog import Operation

JSON_TYPES = ("application/vnd.api+json", "application/json")

R = TypeVar("R")


@dataclass
class Reply:
    """A handler's answer: status, a JSON-serializable body (None = no body) and extra headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def document(
        cls, data: Any, links: dict[str, str], included: list[Any] | None = None, status: int = 200
    ) -> Reply:
        """A JSON:API document; pass ``included`` (even empty) only when the request asked for
        related resources."""
        body: dict[str, Any] = {"data": data, "links": links}
        if included is not None:
            body["included"] = included
        return cls(status, body)


Handler = Callable[["RequestContext"], Reply]
# A route's optional rate-limit variant: (bucket suffix, limits) when request options change the tier.
RateLimitVariant = Callable[["RequestContext"], "tuple[str, Limits] | None"]


class Route(NamedTuple):
    """One endpoint: ``Route("GET", "/api/profiles/{id}", get_profile, "get_profile")``.

    ``path`` uses the spec's ``{param}`` templates; a trailing slash on the request is
    ignored. ``auth=False`` skips API-key auth and the per-account rate limit (``/oauth/*``,
    ``/client/*``). ``rate_limit`` picks a different tier from request options.
    ``content_types`` are the accepted body media types (415 otherwise).
    """

    method: str
    path: str
    handler: Handler
    operation_id: str
    auth: bool = True
    rate_limit: RateLimitVariant | None = None
    content_types: tuple[str, ...] = JSON_TYPES


def iso(moment: float) -> str:
    """Klaviyo's timestamp format: ``2024-06-27T18:13:27+00:00``."""
    return datetime.fromtimestamp(moment, tz=timezone.utc).isoformat(timespec="seconds")


def resource_values(resource: Resource, name: str) -> list[Any]:
    """Default filter/sort getter: ``id``, stored ``created``/``updated``, else dotted attributes."""
    if name == "id":
        return [resource.id]
    if name in ("created", "updated") and name not in resource.attributes:
        return [getattr(resource, name)]
    return dotted_values(resource.attributes, name)


def member(value: Any, *names: str) -> Any:
    """``value[a][b]...`` through JSON objects only: None where a step is missing or is not an
    object. For optional body members, where ``(x.get("a") or {}).get("b")`` would raise on a
    client's ``{"a": "text"}``."""
    for name in names:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value


def sparse(attributes: Mapping[str, Any], names: Sequence[str] | None) -> dict[str, Any]:
    """Only the requested attributes; dotted names pick nested members (``location.city``)."""
    if names is None:
        return dict(attributes)
    out: dict[str, Any] = {}
    for name in names:
        if name == "id":
            continue
        parts = name.split(".")
        source: Any = attributes
        for part in parts:
            if not isinstance(source, Mapping) or part not in source:
                source = _MISSING
                break
            source = source[part]
        if source is _MISSING:
            continue
        target = out
        for part in parts[:-1]:
            existing = target.get(part)
            if not isinstance(existing, dict):
                existing = {}
                target[part] = existing
            target = existing
        target[parts[-1]] = source
    return out


_MISSING = object()
# What may stand unencoded in a URL path (RFC 3986 pchar and "/"): Klaviyo's ids such as
# $custom:::$default:::SKU stay as they are; spaces, "%", "?", "#" and the like are encoded.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_CURSOR_RE = re.compile(r"^[A-Za-z0-9_-]{4,4000}$")
_PAGE_SIZE_RE = re.compile(r"^[0-9]{1,9}$")
# Bodies Klaviyo takes nest about a dozen levels (a bulk job's event properties); 80 leaves room
# for the connector's deepest input (inputs.MAX_INPUT_DEPTH, 64) inside a request's envelope, so
# what the connector accepts the sandbox accepts too, while keeping every recursive walk of a
# body far from the recursion limit.
MAX_JSON_DEPTH = 80


class _BodyError(ValueError):
    """A JSON body that parses but that the sandbox refuses (too large a number, NaN)."""


def _refuse_constant(name: str) -> Any:
    raise _BodyError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise _BodyError(f"the number {shown(text, 40)} is too large")
    return value


def _bounded_int(text: str) -> int:
    value = int(text)  # CPython refuses over 4,300 digits itself (a ValueError)
    if abs(value) > sys.float_info.max:  # float(value) would raise OverflowError downstream
        raise _BodyError(f"the number {shown(text, 40)} is too large")
    return value


# A JSON string, written as an unrolled loop (runs of plain characters, then one escape): twice as
# fast as an alternation that steps one character at a time.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_BRACKET_STEPS = bytes.maketrans(b"[{]}", bytes([1, 1, 255, 255]))


def _too_deep(raw: bytes, limit: int) -> bool:
    """Whether the JSON text ``raw`` nests more than ``limit`` arrays/objects.

    Strings are cut out, the brackets left become +1/-1 steps and the deepest running sum is
    the nesting depth: every loop runs in C, so a 1,000-event bulk body costs about a
    millisecond, not a walk over every member in Python.
    """
    brackets = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    steps = array("b", brackets.translate(_BRACKET_STEPS))
    return max(accumulate(steps), default=0) > limit


def parse_json(raw: bytes) -> Any:
    """A request body's JSON; :class:`ApiError` 400 for anything malformed or hostile."""
    try:
        value = json.loads(
            raw, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int
        )
    except RecursionError:  # json's C scanner gives up on a few hundred nested levels
        raise _nested_too_deep() from None
    except _BodyError as exc:
        raise ApiError(400, "parse_error", "Malformed request body.", f"JSON parse error: {exc}.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "parse_error", "Malformed request body.", f"JSON parse error: {exc}") from None
    # Counting brackets is cheap and rules out deep nesting for nearly every body.
    if isinstance(value, (dict, list)) and raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH:
        if _too_deep(raw, MAX_JSON_DEPTH):
            raise _nested_too_deep()
    return value


def _nested_too_deep() -> ApiError:
    return ApiError(
        400,
        "parse_error",
        "Malformed request body.",
        f"The request body nests arrays and objects more than {MAX_JSON_DEPTH} levels deep.",
    )


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sandbox::offset::{offset}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The offset in a cursor made by :func:`encode_cursor`; ValueError for anything else."""
    if not _CURSOR_RE.match(cursor):
        raise ValueError(cursor)
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(cursor) from exc
    prefix, _, number = text.rpartition("::")
    if prefix != "sandbox::offset" or not number.isdigit():
        raise ValueError(cursor)
    return int(number)


def cursor_offset(cursor: str | None, *, pointer: str | None = None, parameter: str | None = None) -> int:
    """The offset a request's page cursor names (0 without one); a 400 naming where the cursor
    was sent (``pointer`` or ``parameter``) for one this sandbox did not make."""
    if cursor is None:
        return 0
    try:
        return decode_cursor(cursor)
    except ValueError:
        raise invalid("The page cursor is not valid.", pointer=pointer, parameter=parameter) from None


class RequestContext:
    """One request as seen by a handler (see the module docstring)."""

    def __init__(
        self,
        request: Request,
        store: Store,
        route: Route,
        params: Mapping[str, str],
        operation: Operation | None,
        clock: Callable[[], float],
    ) -> None:
        self.request = request
        self.store = store
        self.route = route
        self.params = dict(params)
        self.operation = operation
        self.clock = clock
        self.account_id: str = ""
        self.scopes: frozenset[str] | None = None
        self._body: Any = _MISSING
        self._base_url: str | None = None

    # -- basics ------------------------------------------------------------------------

    def now(self) -> str:
        """The current time in Klaviyo's format (from the sandbox's clock)."""
        return iso(self.clock())

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` as the client addressed us (links use it)."""
        if self._base_url is None:
            env = self.request.environ
            host = (
                env.get("HTTP_HOST")
                or f"{env.get('SERVER_NAME', '127.0.0.1')}:{env.get('SERVER_PORT', '80')}"
            )
            self._base_url = f"{env.get('wsgi.url_scheme', 'http')}://{host}"
        return self._base_url

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (raw ids in it are percent-encoded: ``bad id`` -> ``bad%20id``)."""
        return self.base_url + quote(path, safe=_PATH_SAFE)

    def self_link(self, path: str) -> dict[str, str]:
        """``{"self": <absolute url>/}``; Klaviyo's resource links end with a slash."""
        return {"self": self.url(path.rstrip("/") + "/")}

    def relationship_links(self, base_path: str, name: str) -> dict[str, str]:
        base = base_path.rstrip("/")
        return {"self": self.url(f"{base}/relationships/{name}/"), "related": self.url(f"{base}/{name}/")}

    def use_client_account(self) -> None:
        """Act for the account ``company_id`` names: ``/client/*`` requests carry no key, only
        the account's public id (400 for an unknown one)."""
        company = self.arg("company_id") or ""
        if self.store.get(company, "account", company) is None:
            raise invalid(f"'{shown(company)}' is not a valid company_id.", parameter="company_id")
        self.account_id = company

    def arg(self, name: str) -> str | None:
        return self.request.args.get(name)

    # -- body --------------------------------------------------------------------------

    def json_body(self) -> Any:
        """The parsed JSON body; 400 if it is missing or not JSON."""
        if self._body is _MISSING:
            try:
                raw = self.request.get_data(cache=True)
            except HTTPException:
                raise  # werkzeug's own (a disconnect mid-body is a 408, see app._http_error)
            except (OSError, ValueError):  # e.g. a chunk size that is not hexadecimal
                raise invalid("The request body is not framed correctly (a malformed chunk).") from None
            if not raw.strip():
                raise invalid("A request body is required.", pointer="/data")
            self._body = parse_json(raw)
        return self._body

    def resource_body(self, rtype: str, *, require_id: bool = False) -> dict[str, Any]:
        """``body["data"]`` checked: an object whose ``type`` is ``rtype`` (and with ``id``)."""
        body = self.json_body()
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise invalid("The request body must be an object with a 'data' object.", pointer="/data")
        data: dict[str, Any] = body["data"]
        if data.get("type") != rtype:
            raise ApiError(
                409,
                "conflict",
                "Conflict.",
                f"The type of resource in the request body must be '{rtype}', got {data.get('type')!r}.",
                pointer="/data/type",
            )
        if require_id and not isinstance(data.get("id"), str):
            raise invalid("'id' is a required field for the resource.", pointer="/data/id")
        attributes = data.get("attributes", {})
        if not isinstance(attributes, dict):
            raise invalid("'attributes' must be an object.", pointer="/data/attributes")
        return data

    def get_or_404(self, rtype: str, rid: str) -> Resource:
        """The account's ``rtype`` with id ``rid``; 404 ("A campaign message with id ... does not
        exist.") when there is none."""
        row = self.store.get(self.account_id, rtype, rid)
        if row is None:
            raise _missing(rtype, rid)
        return row

    def delete_or_404(self, rtype: str, rid: str) -> None:
        """Delete the account's ``rtype`` with id ``rid``; the same 404 as :meth:`get_or_404`."""
        if not self.store.delete(self.account_id, rtype, rid):
            raise _missing(rtype, rid)

    def update_body(self, rtype: str) -> dict[str, Any]:
        """:meth:`resource_body` of a PATCH to ``.../{id}``: the body's ``id`` must be the URL's."""
        data = self.resource_body(rtype, require_id=True)
        if data["id"] != self.params["id"]:
            raise conflict(
                "conflict",
                f"The id in the request body ({data['id']}) does not match the id in the URL "
                f"({self.params['id']}).",
                pointer="/data/id",
            )
        return data

    # -- query parameters --------------------------------------------------------------

    def fields(self, rtype: str) -> list[str] | None:
        """``fields[rtype]`` as a list (None when absent), checked against the operation's enum."""
        param = f"fields[{rtype}]"
        raw = self.request.args.get(param)
        if raw is None:
            return None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        allowed = self.operation.fields.get(rtype) if self.operation else None
        if allowed is not None:
            for name in names:
                if name not in allowed:
                    raise invalid(
                        f"'{shown(name)}' is not a valid field for the resource '{rtype}'.", parameter=param
                    )
        return names

    def additional_fields(self, rtype: str) -> set[str]:
        param = f"additional-fields[{rtype}]"
        raw = self.request.args.get(param)
        if raw is None:
            return set()
        names = {n.strip() for n in raw.split(",") if n.strip()}
        allowed = self.operation.additional_fields.get(rtype) if self.operation else None
        if allowed is not None:
            for name in sorted(names - set(allowed)):
                raise invalid(
                    f"'{shown(name)}' is not a valid additional field for '{rtype}'.", parameter=param
                )
        return names

    def includes(self) -> list[str]:
        raw = self.request.args.get("include")
        if raw is None:
            return []
        names = [n.strip() for n in raw.split(",") if n.strip()]
        allowed = self.operation.include if self.operation else None
        for name in names:
            if allowed is None or name not in allowed:
                raise invalid(f"'{shown(name)}' is not a valid relationship to include.", parameter="include")
        return names

    def check_query(self) -> None:
        """Reject ``fields[x]`` / ``additional-fields[x]`` for types the operation doesn't have, and
        names the operation doesn't list for a type, before the handler runs (so an empty
        collection refuses them as a full one does)."""
        if self.operation is None:
            return
        for key in self.request.args:
            for prefix, known in (
                ("fields[", self.operation.fields),
                ("additional-fields[", self.operation.additional_fields),
            ):
                if not (key.startswith(prefix) and key.endswith("]")):
                    continue
                rtype = key[len(prefix) : -1]
                if rtype not in known:
                    raise invalid(
                        f"'{shown(key)}' is not a valid query parameter for this endpoint.",
                        parameter=shown(key),
                    )
                if prefix == "fields[":
                    self.fields(rtype)
                else:
                    self.additional_fields(rtype)

    # -- collections -------------------------------------------------------------------

    def page_size(self) -> int:
        """``page[size]`` within the operation's limits (default when absent)."""
        op = self.operation
        default = op.page_size_default if op and op.page_size_default else 20
        maximum = op.page_size_max if op and op.page_size_max else default
        raw = self.request.args.get("page[size]")
        if raw is None:
            return default
        if not _PAGE_SIZE_RE.match(raw):  # int() would also take " 5", "+5", "5_0" and other scripts' digits
            raise invalid(f"page[size] must be an integer, got '{shown(raw)}'.", parameter="page[size]")
        size = int(raw)
        if size < 1 or size > maximum:
            raise invalid(f"page[size] must be between 1 and {maximum}, got {size}.", parameter="page[size]")
        return size

    def _filter_nodes(
        self, rtype: str, check_filter: Callable[[tuple[Node, ...]], None] | None
    ) -> tuple[Node, ...] | None:
        """The request's ``filter``, parsed and checked against the operation's fields; None without one."""
        op = self.operation
        text = self.request.args.get("filter")
        if text is None:
            if op is not None and op.filter_required:
                raise invalid("A filter is required for this endpoint.", parameter="filter")
            return None
        allowed = op.filters if op else {}
        if not allowed:
            raise invalid("This endpoint does not support filtering.", parameter="filter")
        try:
            nodes = parse_strict(text, allowed, resource=rtype)
        except FilterError as exc:
            raise invalid(str(exc), parameter="filter") from None
        if check_filter is not None:
            check_filter(nodes)
        return nodes

    def _sort(self) -> str | None:
        """The request's ``sort`` (``name`` or ``-name``), checked against the operation's enum."""
        op = self.operation
        sort = self.request.args.get("sort")
        if sort is not None and (not op or not op.sort or sort not in op.sort):
            allowed_sorts = ", ".join(op.sort) if op and op.sort else "none"
            raise invalid(f"'{shown(sort)}' is not a valid sort; allowed: {allowed_sorts}.", parameter="sort")
        return sort

    def page(
        self,
        records: Sequence[R],
        *,
        rtype: str,
        getter: Callable[[R, str], list[Any]],
        fixed_size: int | None = None,
        check_filter: Callable[[tuple[Node, ...]], None] | None = None,
    ) -> tuple[list[R], dict[str, str]]:
        """Filter, sort and page ``records`` (already in memory) per the query; the page and ``links``.

        For stored resources use :meth:`page_stored`, which reads only the rows a page needs.
        ``fixed_size`` is the page size of endpoints that take no ``page[size]`` (metrics: 200).
        ``check_filter(nodes)`` sees the parsed filter and raises :class:`ApiError` for what
        Klaviyo refuses beyond the grammar (e.g. a metric id that doesn't exist).

        ``filter`` is checked against the operation's filterable fields, ``sort`` against its
        enum; cursors are opaque offsets. ``links`` has ``self`` and, where they exist,
        ``next`` and ``prev`` (absolute, same host, same query with a new ``page[cursor]``).
        """
        items = list(records)
        nodes = self._filter_nodes(rtype, check_filter)
        if nodes is not None:
            keep = compile_predicate(nodes, getter)
            items = [item for item in items if keep(item)]
        sort = self._sort()
        if sort is not None:
            key = sort.lstrip("-")
            items.sort(key=lambda item: _sort_key(getter(item, key)), reverse=sort.startswith("-"))
        size = self.page_size() if fixed_size is None else fixed_size
        cursor = self.request.args.get("page[cursor]")
        offset = cursor_offset(cursor, parameter="page[cursor]")
        page = items[offset : offset + size]
        links = {"self": self._link_with_cursor(cursor)}
        if offset + size < len(items):
            links["next"] = self._link_with_cursor(encode_cursor(offset + size))
        if offset > 0:
            links["prev"] = self._link_with_cursor(encode_cursor(max(0, offset - size)))
        return page, links

    def page_stored(
        self,
        rtype: str,
        *,
        getter: Callable[[Resource, str], list[Any]] = resource_values,
        columns: Mapping[str, str] | None = None,
        member_of: tuple[str, str, str] | None = None,
        default_order: str | None = None,
        keep: Callable[[Resource], bool] | None = None,
        fixed_size: int | None = None,
        check_filter: Callable[[tuple[Node, ...]], None] | None = None,
    ) -> tuple[list[Resource], dict[str, str]]:
        """One page of this account's stored ``rtype`` resources, per the query; the page and ``links``.

        Reads only what the page needs: rows stream from SQLite in the sort order from the
        cursor on (keyset cursors: a page costs the same at record 100,000 as at record 0),
        and the filter, ``keep(row)`` and ``getter`` decide which are kept, exactly as
        :meth:`page` would. Equality filters on ``id`` and on indexed attributes
        (:meth:`Store.ensure_index`) are looked up in the index first.

        ``member_of=(container_type, container_id, name)`` lists only the resources linked from
        that container under ``name`` (a list's profiles: ``("list", list_id, "profiles")``).
        ``columns`` maps a sort field to an SQL expression over the row ``r`` (and the link
        ``l`` with ``member_of``) when it is not a plain attribute, e.g.
        ``{"joined_group_at": "l.created"}``; with a custom ``getter``, a sort field missing
        from ``columns`` falls back to sorting in memory. Without a ``sort``, rows come in
        insertion order, or ``default_order`` (an SQL expression, e.g. ``"l.rowid"``: join order).
        """
        nodes = self._filter_nodes(rtype, check_filter)
        sort = self._sort()
        size = self.page_size() if fixed_size is None else fixed_size
        columns = dict(columns or {})
        order: list[tuple[str, bool]] = []
        if sort is not None:
            name = sort.lstrip("-")
            # A dotted field may cross an array (its first element sorts), which SQL can't follow.
            plain = getter is resource_values and "." not in name
            expression = columns.get(name) or (_attribute_sql(name) if plain else None)
            if expression is None:
                return self._page_in_memory(rtype, getter, member_of, keep, fixed_size, check_filter)
            order.append((expression, sort.startswith("-")))
        elif default_order is not None:
            order.append((default_order, False))
        predicate = compile_predicate(nodes, getter) if nodes else None

        def wanted(row: Resource) -> bool:
            return (keep is None or keep(row)) and (predicate is None or predicate(row))

        where = _index_lookups(nodes or (), self.store.indexed(rtype)) if getter is resource_values else []
        cursor = self.request.args.get("page[cursor]")
        backwards, position = _keyset_cursor(cursor)
        forward = [*order, ("r.seq", False)]
        reverse = [(sql, not desc) for sql, desc in forward]

        def take(keys: list[tuple[str, bool]], start: tuple[Any, ...] | None, count: int) -> list[Any]:
            found: list[tuple[Resource, tuple[Any, ...]]] = []
            scan = self.store.scan(
                self.account_id,
                rtype,
                order=keys,
                after=start,
                member_of=member_of,
                where=where,
                chunk=max(count, 100),
            )
            for row, key in scan:
                if wanted(row):
                    found.append((row, key))
                    if len(found) == count:
                        break
            scan.close()
            return found

        if backwards:
            rows = take(reverse, position, size + 1)
            more_before = len(rows) > size
            rows = rows[:size][::-1]
            more_after = True
        else:
            rows = take(forward, position, size + 1)
            more_after = len(rows) > size
            rows = rows[:size]
            more_before = position is not None and bool(take(reverse, rows[0][1], 1) if rows else True)
        links = {"self": self._link_with_cursor(cursor)}
        if rows and more_after:
            links["next"] = self._link_with_cursor(_encode_keyset("a", rows[-1][1]))
        if rows and more_before:
            links["prev"] = self._link_with_cursor(_encode_keyset("b", rows[0][1]))
        return [row for row, _ in rows], links

    def _page_in_memory(
        self,
        rtype: str,
        getter: Callable[[Resource, str], list[Any]],
        member_of: tuple[str, str, str] | None,
        keep: Callable[[Resource], bool] | None,
        fixed_size: int | None,
        check_filter: Callable[[tuple[Node, ...]], None] | None,
    ) -> tuple[list[Resource], dict[str, str]]:
        """:meth:`page_stored` for a sort only ``getter`` can compute: every row, sorted in memory."""
        rows = [
            row
            for row, _ in self.store.scan(self.account_id, rtype, member_of=member_of, chunk=1000)
            if keep is None or keep(row)
        ]
        return self.page(rows, rtype=rtype, getter=getter, fixed_size=fixed_size, check_filter=check_filter)

    def _link_with_cursor(self, cursor: str | None) -> str:
        pairs = [(k, v) for k, v in self.request.args.items(multi=True) if k != "page[cursor]"]
        if cursor is not None:
            pairs.append(("page[cursor]", cursor))
        query = urlencode(pairs)
        return self.url(self.request.path) + (f"?{query}" if query else "")

    def collection_links(self) -> dict[str, str]:
        """``links`` for an unpaginated collection (just ``self``)."""
        return {"self": self._link_with_cursor(self.request.args.get("page[cursor]"))}


def _missing(rtype: str, rid: str) -> ApiError:
    noun = rtype.replace("-", " ")
    article = "An" if noun[0] in "aeiou" else "A"
    return not_found(f"{article} {noun} with id {rid} does not exist.")


def _sort_key(values: list[Any]) -> tuple[int, Any]:
    value = values[0] if values else None
    if value is None:
        return (0, "")
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, (int, float)):
        return (2, value)
    return (3, str(value))


_SAFE_FIELD = re.compile(r"^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$")


def _attribute_sql(name: str) -> str | None:
    """The SQL value :func:`resource_values` gives ``name``: ``id``, the stored times, else the
    (dotted) attribute; None for a name that is not a plain field."""
    if name == "id":
        return "r.id"
    if not _SAFE_FIELD.match(name):
        return None
    path = "$" + "".join(f'."{part}"' for part in name.split("."))
    if name in ("created", "updated"):
        return f"coalesce(json_extract(r.attributes, '{path}'), r.{name})"
    return f"json_extract(r.attributes, '{path}')"


def _index_lookups(nodes: Sequence[Node], indexed: frozenset[str]) -> list[tuple[str, list[Any]]]:
    """SQL conditions that narrow rows before the filter runs: the top-level ``equals`` and
    ``any`` on ``id`` or an indexed (scalar) attribute, with string values. The filter still
    decides; these only let SQLite use its indexes."""
    out: list[tuple[str, list[Any]]] = []
    for node in nodes:
        if isinstance(node, And):
            out.extend(_index_lookups(node.items, indexed))
            continue
        if not isinstance(node, Comparison) or node.operator not in ("equals", "any"):
            continue
        if node.field != "id" and node.field not in indexed:
            continue
        literals = node.value if isinstance(node.value, list) else [node.value]
        if not literals or not all(isinstance(v, Quoted) for v in literals):
            continue
        sql = _attribute_sql(node.field)
        if sql is None:
            continue
        marks = ", ".join("?" for _ in literals)
        out.append((f"{sql} IN ({marks})", [v.text for v in literals]))
    return out


def _encode_keyset(direction: str, key: tuple[Any, ...]) -> str:
    """A page cursor: the key of the row to start after (``a``) or before (``b``)."""
    text = json.dumps([direction, list(key)], separators=(",", ":"), ensure_ascii=False)
    return base64.urlsafe_b64encode(("sandbox::keyset::" + text).encode()).decode().rstrip("=")


def _keyset_cursor(cursor: str | None) -> tuple[bool, tuple[Any, ...] | None]:
    """``(backwards, key)`` from a cursor made by :func:`_encode_keyset`; 400 for anything else."""
    if cursor is None:
        return False, None
    try:
        if not _CURSOR_RE.match(cursor):
            raise ValueError(cursor)
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, body = text.partition("::keyset::")
        if prefix != "sandbox":
            raise ValueError(cursor)
        direction, key = json.loads(body)
        if direction not in ("a", "b") or not isinstance(key, list) or not key:
            raise ValueError(cursor)
        if not all(v is None or isinstance(v, (str, int, float)) for v in key):
            raise ValueError(cursor)
    except (ValueError, binascii.Error, UnicodeDecodeError, TypeError):
        raise invalid("The page cursor is not valid.", parameter="page[cursor]") from None
    return direction == "b", tuple(key)
