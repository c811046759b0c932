"""The sandbox's WSGI application: routing table plus the common request pipeline.

For every request: match the route (404 / 405 otherwise; a path with an empty segment, such as
``//api//profiles``, names no endpoint and is a 404, not a redirect or a guess; one trailing
slash is ignored), then for authenticated routes (all of ``/api/*``):

1. auth: ``Authorization: Klaviyo-API-Key pk_...`` (or a Bearer token through the hook)
   -> the account (401 otherwise); a token's scopes must cover the operation's (403);
2. ``revision`` header: required, ``YYYY-MM-DD[.suffix]``, not retired, not newer than the
   spec the sandbox emulates (400 / 410);
3. injected faults: ``throttle_rate`` -> 429, ``fail_rate`` -> 503;
4. rate limits per account and operation (429 + ``Retry-After``; otherwise
   ``RateLimit-*`` headers for the steady window);
5. body media type: JSON:API or JSON (415 otherwise);
6. the request against the spec (:mod:`.validation`: path and query parameters, filter fields
   and operators, headers, the body's JSON Schema): 400 ``invalid`` naming the parameter or
   body pointer;
7. the route's handler; :class:`~.errors.ApiError` becomes Klaviyo's error document;
8. ``fail_after_commit_rate``: a successful write (POST, PUT, PATCH, DELETE), its changes
   already committed, answers 503 or drops the connection (``fail_after_commit_mode``).

``latency_ms`` is added to every response. Errors always use
``{"errors": [{id, status, code, title, detail, source}]}`` and
``content-type: application/vnd.api+json`` (``/oauth/token`` excepted: OAuth 2.0 clients expect
RFC 6749's ``{"error", "error_description"}``). Whatever goes wrong has that shape: werkzeug's
own HTTP errors (a body cut short: 400; a body stalled past the read timeout: 408; an oversized
form: 413) and any unexpected failure (500), never an HTML page.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import date
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from werkzeug.exceptions import ClientDisconnected, HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .. import catalog, schemas
from ..revision import REVISION
from . import generic, resources
from .auth import BearerAuthenticator, Principal, authenticate
from .context import JSON_TYPES, Reply, RequestContext, Route, iso
from .errors import JSONAPI, ApiError, conflict, invalid, shown
from .handler import RAW_TARGET, DroppedConnection
from .ratelimit import Limits, RateLimiter
from .store import Store
from .validation import SpecViolation, check_body, check_form_parts, check_request

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from .server import SandboxOptions

log = logging.getLogger("klaviyo_connector.sandbox")

_REVISION_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(\.[a-z]+)?$")
OLDEST_REVISION = date(2023, 1, 1)
_PARAM_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _werkzeug_path(template: str) -> str:
    """``/api/profiles/{id}`` -> ``/api/profiles/<id>``."""
    return _PARAM_RE.sub(r"<\1>", template.rstrip("/") or "/")


def latest_revision() -> date:
    """The newest revision the sandbox answers: the spec version the catalog was built from."""
    try:
        return date.fromisoformat(catalog.spec_version())
    except (OSError, ValueError, KeyError):  # pragma: no cover - catalog.json ships with the package
        return date.fromisoformat(REVISION)


def check_revision(value: str | None, latest: date) -> None:
    """Raise the error Klaviyo gives for a missing, malformed, retired or unknown revision."""
    if value is None or not value.strip():
        raise ApiError(
            400,
            "missing_revision",
            "Missing revision header.",
            f"The 'revision' header is required (format YYYY-MM-DD, e.g. {latest.isoformat()}).",
            parameter="revision",
        )
    match = _REVISION_RE.match(value.strip())
    when: date | None = None
    if match:
        try:
            when = date.fromisoformat(match.group(1))
        except ValueError:
            when = None
    if when is None:
        raise ApiError(
            400,
            "invalid_revision",
            "Invalid revision.",
            f"'{shown(value)}' is not a valid revision; use the format YYYY-MM-DD[.suffix], e.g. {latest.isoformat()}.",
            parameter="revision",
        )
    if when < OLDEST_REVISION:
        raise ApiError(
            410,
            "gone",
            "This API revision is no longer available.",
            f"This API revision is no longer available; no valid revisions exist on or before {shown(value)}. "
            f"Use a current revision such as {latest.isoformat()}.",
            parameter="revision",
        )
    if when > latest:
        raise ApiError(
            400,
            "invalid_revision",
            "Invalid revision.",
            f"'{shown(value)}' is not a valid revision; the newest revision is {latest.isoformat()}.",
            parameter="revision",
        )


def throttled(seconds: int) -> ApiError:
    unit = "second" if seconds == 1 else "seconds"
    return ApiError(
        429,
        "throttled",
        "Request was throttled.",
        f"Request was throttled. Expected available in {seconds} {unit}.",
        pointer="/data/",
        headers={"Retry-After": str(seconds)},
    )


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    if body is None:
        response = Response(status=status)
        response.headers.pop("Content-Type", None)
    else:
        # allow_nan=False: NaN or Infinity in an answer is a sandbox bug (a 500), never invalid JSON.
        data = json.dumps(body, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
        response = Response(data, status=status, content_type=JSONAPI)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _route_path(request: Request) -> str | None:
    """The path to route: one trailing slash dropped; None when a segment is empty (``//``).

    http.server and werkzeug both turn a leading ``//api/...`` into ``/api/...``, so the request
    target as sent (kept by the handler) is checked as well as the decoded path.
    """
    environ = request.environ
    raw = str(environ.get(RAW_TARGET) or environ.get("REQUEST_URI") or environ.get("RAW_URI") or "")
    raw_path = raw.split("?", 1)[0] if raw.startswith("/") else ""
    for path in (raw_path, request.path):
        trimmed = path[:-1] if len(path) > 1 and path.endswith("/") else path
        if "//" in trimmed or (len(trimmed) > 1 and trimmed.endswith("/")):
            return None
    # Route on the path as sent: an encoded "/" (%2F) inside an ID is part of that one segment,
    # as the connector means it, never a separator (decoding first let "L1%2Fprofiles" reach
    # another endpoint). The matched values are decoded afterwards (see dispatch).
    path = raw_path or request.path
    return path[:-1] if len(path) > 1 and path.endswith("/") else path


def _http_error(exc: HTTPException) -> ApiError:
    """werkzeug's HTTP errors (raised while reading a body or a form) in Klaviyo's shape."""
    if isinstance(exc, ClientDisconnected):
        if isinstance(exc.__context__, TimeoutError):
            return ApiError(
                408,
                "request_timeout",
                "Request timeout.",
                "The request body did not arrive in time: the client stopped sending before Content-Length bytes.",
            )
        return ApiError(
            400,
            "bad_request",
            "Bad request.",
            "The request body ended before Content-Length bytes arrived.",
        )
    status = exc.code or 500
    title = f"{exc.name}." if exc.name else "Error."
    code = (exc.name or "error").lower().replace(" ", "_")
    return ApiError(status, code, title, exc.description or title)


def check_against_spec(ctx: RequestContext, operation: catalog.Operation) -> None:
    """Path, query, headers and body against the spec (:mod:`.validation`): Klaviyo's 400 otherwise."""
    request = ctx.request
    try:
        check_request(
            operation,
            ctx.params,
            list(request.args.items(multi=True)),
            # werkzeug's headers look names up case-insensitively; copying them costs every request.
            request.headers,  # type: ignore[arg-type]
        )
        content_type = schemas.request_content_type(operation.id)
        if not _has_body(request):
            if content_type is not None and schemas.request_required(operation.id):
                raise SpecViolation("A request body is required.", pointer="/data")
            return
        if content_type is None:
            raise SpecViolation("This operation takes no request body.", pointer="/")
        if request.mimetype == "multipart/form-data":
            check_form_parts(operation.id, [*request.form.keys(), *request.files.keys()])
        else:
            check_body(operation.id, ctx.json_body())
    except SpecViolation as exc:
        if exc.pointer == "/data/type":
            # Klaviyo answers a body of the wrong resource type with a 409, as handlers do.
            raise conflict("conflict", exc.detail, pointer=exc.pointer) from None
        raise invalid(exc.detail, pointer=exc.pointer, parameter=exc.parameter) from None


def _has_body(request: Request) -> bool:
    if request.content_length:
        return True
    return "chunked" in request.headers.get("Transfer-Encoding", "").lower()


class SandboxApp:
    """A WSGI callable serving the routes of ``resources.MODULES`` over one :class:`Store`."""

    def __init__(
        self,
        store: Store,
        options: SandboxOptions,
        *,
        modules: Iterable[str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.options = options
        self.clock: Callable[[], float] = options.clock or time.time
        self.sleep = sleep
        self.limiter = RateLimiter(self.clock, options.rate_limit_scale)
        self.bearer_authenticator: BearerAuthenticator | None = None
        self._rng = random.Random(options.seed)
        self._rng_lock = threading.Lock()
        names = tuple(modules) if modules is not None else resources.MODULES
        self.routes: list[Route] = resources.all_routes(names)
        if modules is None:
            # The spec-driven core serves every operation no hand-written family does.
            self.routes += generic.routes(route.operation_id for route in self.routes)
        self.url_map = Map(
            [
                Rule(_werkzeug_path(route.path), endpoint=index, methods=[route.method])
                for index, route in enumerate(self.routes)
            ],
            strict_slashes=False,
            merge_slashes=False,  # no 308 to a merged path: _route_path refuses empty segments
        )
        self.operations: dict[str, catalog.Operation | None] = {}
        for route in self.routes:
            try:
                self.operations[route.operation_id] = catalog.operation(route.operation_id)
            except KeyError:
                self.operations[route.operation_id] = None
        self.latest_revision = latest_revision()
        resources.init_store(store, names)

    # -- the hook for OAuth and anything else that authenticates ----------------------

    def authenticate(self, request: Request) -> Principal:
        """``(account_id, scopes | None)`` for the request; :class:`ApiError` 401 otherwise."""
        return authenticate(request, self.store, iso(self.clock()), self.bearer_authenticator)

    def reset(self) -> None:
        """Wipe the state and the rate-limit counters."""
        self.store.reset()
        self.limiter.reset()

    # -- WSGI --------------------------------------------------------------------------

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        dropped: DroppedConnection | None = None
        started = time.perf_counter()
        try:
            response = self.dispatch(request)
        except DroppedConnection as exc:
            dropped = exc
        except Exception:  # a sandbox bug; still answer in Klaviyo's shape
            log.exception("sandbox error on %s %s", request.method, request.path)
            error = ApiError(500, "error", "A server error occurred.", "The sandbox hit an internal error.")
            response = _json_response(500, error.document())
        if self.options.latency_ms > 0:
            self.sleep(self.options.latency_ms / 1000.0)
        if log.isEnabledFor(logging.DEBUG):  # `klaviyo-connector sandbox --debug`: one line a request
            # The path only: headers (the key) and the query (filters with emails) stay out of logs.
            status = "dropped" if dropped is not None else str(response.status_code)
            millis = (time.perf_counter() - started) * 1000
            log.debug("%s %s -> %s (%.1f ms)", request.method, request.path, status, millis)
        if dropped is not None:
            raise dropped  # the server closes the connection without a word (see handler.py)
        return response(environ, start_response)

    def _draw(self) -> float:
        with self._rng_lock:
            return self._rng.random()

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        path = _route_path(request)
        if path is None:
            error = ApiError(
                404,
                "not_found",
                "Not found.",
                f"No endpoint matches {shown(request.method)} {shown(request.path)}: the path has an empty "
                "segment ('//').",
            )
            return _json_response(404, error.document())
        try:
            index, params = adapter.match(path_info=path, method=request.method)
            params = {
                name: unquote(value) if isinstance(value, str) else value for name, value in params.items()
            }
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or []))
            error = ApiError(
                405,
                "method_not_allowed",
                "Method not allowed.",
                f'Method "{shown(request.method)}" not allowed on {shown(path)}; allowed: {allowed}.',
            )
            return _json_response(405, error.document(), {"Allow": allowed})
        except NotFound:
            error = ApiError(
                404, "not_found", "Not found.", f"No endpoint matches {shown(request.method)} {shown(path)}."
            )
            return _json_response(404, error.document())
        except HTTPException as exc:  # any other routing outcome (werkzeug's redirects included)
            error = _http_error(exc)
            return _json_response(error.status, error.document())
        route = self.routes[index]
        operation = self.operations.get(route.operation_id)
        ctx = RequestContext(request, self.store, route, params, operation, self.clock)
        rate_headers: dict[str, str] = {}
        try:
            if route.auth:
                principal = self.authenticate(request)
                ctx.account_id, ctx.scopes = principal.account_id, principal.scopes
                if principal.scopes is not None and operation is not None:
                    missing = sorted(set(operation.scopes) - principal.scopes)
                    if missing:
                        raise ApiError(
                            403,
                            "permission_denied",
                            "You do not have permission to perform this action.",
                            f"This request needs the scope(s): {', '.join(missing)}.",
                        )
                check_revision(request.headers.get("revision"), self.latest_revision)
            if self.options.throttle_rate > 0 and self._draw() < self.options.throttle_rate:
                raise throttled(1)
            if self.options.fail_rate > 0 and self._draw() < self.options.fail_rate:
                raise ApiError(
                    503,
                    "service_unavailable",
                    "Service unavailable.",
                    "The service is temporarily unavailable (injected sandbox fault). Please try again.",
                )
            if route.auth:
                rate_headers = self._count(ctx, route, operation)
            if request.method in WRITE_METHODS and _has_body(request):
                if request.mimetype not in route.content_types:
                    raise ApiError(
                        415,
                        "unsupported_media_type",
                        "Unsupported media type.",
                        f'Unsupported media type "{shown(request.mimetype or "none")}" in request; '
                        f"use {' or '.join(route.content_types)}.",
                    )
            if operation is not None:
                check_against_spec(ctx, operation)
            ctx.check_query()
            reply = route.handler(ctx)
            if request.method in WRITE_METHODS and 200 <= reply.status < 300:
                self._fail_after_commit()
        except HTTPException as exc:
            error = _http_error(exc)
            return _json_response(error.status, error.document(), rate_headers)
        except ApiError as exc:
            headers = dict(exc.headers)
            if exc.status != 429:
                headers.update(rate_headers)
            return _json_response(exc.status, exc.document(), headers)
        return _json_response(reply.status, reply.body, {**rate_headers, **reply.headers})

    def _fail_after_commit(self) -> None:
        """The post-commit fault: the handler's changes are saved (each store write commits
        before the handler returns), and the client is told it failed, or told nothing."""
        rate = self.options.fail_after_commit_rate
        if rate <= 0 or self._draw() >= rate:
            return
        if self.options.fail_after_commit_mode == "drop":
            raise DroppedConnection(
                "injected sandbox fault: connection dropped after the write was committed"
            )
        raise ApiError(
            503,
            "service_unavailable",
            "Service unavailable.",
            "The service is temporarily unavailable (injected sandbox fault after the write was committed: "
            "the change was saved). Please try again.",
        )

    def _count(
        self, ctx: RequestContext, route: Route, operation: catalog.Operation | None
    ) -> dict[str, str]:
        if not self.limiter.enabled:  # rate_limit_scale=0: nothing to count, no headers to give
            return {}
        bucket = f"{ctx.account_id}|{route.operation_id}"
        limits: Limits | None = None
        if operation is not None and operation.rate_limit is not None:
            rl = operation.rate_limit
            limits = Limits(rl.burst, rl.steady, rl.daily)
        if route.rate_limit is not None:
            variant = route.rate_limit(ctx)
            if variant is not None:
                suffix, limits = variant
                bucket = f"{bucket}|{suffix}"
        decision = self.limiter.check(bucket, limits)
        if not decision.allowed:
            raise throttled(decision.retry_after or 1)
        return decision.headers


__all__ = ["JSON_TYPES", "Reply", "SandboxApp", "check_revision"]
