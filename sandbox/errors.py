"""Errors in Klaviyo's shape: ``{"errors": [{id, status, code, title, detail, source}]}``.

Anything in the sandbox may raise :class:`ApiError`; the request pipeline in ``app.py``
turns it into a JSON:API error document with ``content-type: application/vnd.api+json``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

JSONAPI = "application/vnd.api+json"
MAX_SHOWN = 100  # how much of a client's value an error message quotes back


def shown(value: str, limit: int = MAX_SHOWN) -> str:
    """``value`` as quoted in an error detail: cut to ``limit`` characters (a 64 KB query
    parameter shouldn't come back in full)."""
    return value if len(value) <= limit else value[:limit] + "..."


class ApiError(Exception):
    """An HTTP error answered in Klaviyo's error shape.

    ``pointer`` names a body member (``/data/attributes/email``), ``parameter`` a query
    parameter or header (``page[size]``, ``filter``, ``revision``); ``meta`` is added to
    the error object as is (``{"duplicate_profile_id": ...}``); ``headers`` go on the
    response (``Retry-After``).
    """

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str,
        *,
        pointer: str | None = None,
        parameter: str | None = None,
        meta: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.pointer = pointer
        self.parameter = parameter
        self.meta = dict(meta) if meta else None
        self.headers = dict(headers) if headers else {}

    def to_object(self) -> dict[str, Any]:
        """The error object that goes into ``errors[]``."""
        source: dict[str, str] = {}
        if self.pointer is not None:
            source["pointer"] = self.pointer
        if self.parameter is not None:
            source["parameter"] = self.parameter
        obj: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "status": self.status,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "source": source,
        }
        if self.meta:
            obj["meta"] = self.meta
        return obj

    def document(self) -> dict[str, Any]:
        return {"errors": [self.to_object()]}


def invalid(detail: str, *, pointer: str | None = None, parameter: str | None = None) -> ApiError:
    """A 400 ``invalid`` error, the usual answer to a bad body member or query parameter."""
    return ApiError(400, "invalid", "Invalid input.", detail, pointer=pointer, parameter=parameter)


def not_found(detail: str = "Not found.") -> ApiError:
    return ApiError(404, "not_found", "Not found.", detail)


def conflict(
    code: str, detail: str, *, pointer: str | None = None, meta: Mapping[str, Any] | None = None
) -> ApiError:
    return ApiError(409, code, "Conflict.", detail, pointer=pointer, meta=meta)
