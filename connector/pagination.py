"""The one pagination iterator: follows ``links.next`` exactly as Klaviyo gives it."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from . import catalog
from .errors import KlaviyoError
from .http import KlaviyoClient

DEFAULT_MAX_RECORDS = 10_000
# Empty pages in a row, each with a new cursor, after which paging stops: a server that keeps
# handing out cursors to nothing would otherwise be followed forever.
MAX_EMPTY_PAGES = 10


def clamp_page_size(operation: str, requested: int | None) -> int | None:
    """The page size to ask for: the endpoint's maximum unless a smaller one is requested."""
    maximum = catalog.operation(operation).page_size_max
    if maximum is None:
        return None
    if requested is None or requested <= 0:
        return maximum
    return min(requested, maximum)


def iterate_pages(
    client: KlaviyoClient,
    path: str,
    *,
    operation: str,
    params: Mapping[str, Any] | None = None,
    page_size: int | None = None,
    max_records: int | None = DEFAULT_MAX_RECORDS,
    max_pages: int | None = None,
    on_page: Callable[[int, int], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield each page document of a collection, stopping at ``max_records`` or ``max_pages``.

    The first request carries ``params`` (with ``page[size]`` clamped to the endpoint's
    maximum); later ones follow ``links.next`` verbatim, which the client only allows on the
    connection's own host. A ``next`` link seen before is a cursor cycle and raises.
    """
    query = dict(params or {})
    size = clamp_page_size(operation, page_size)
    if size is not None:
        query["page[size]"] = size
    url: str | None = path
    seen: set[str] = set()
    records = pages = empty = 0
    while url is not None:
        doc = (
            client.request(
                "GET",
                url,
                params=query if pages == 0 else None,
                operation=operation,
                authorize=catalog.operation(operation).security,  # a public /client endpoint gets no key
            ).json()
            or {}
        )
        pages += 1
        found = len(doc.get("data") or [])
        records += found
        empty = 0 if found else empty + 1
        if on_page is not None:
            on_page(pages, records)
        yield doc
        if (max_records is not None and records >= max_records) or (
            max_pages is not None and pages >= max_pages
        ):
            return
        nxt = (doc.get("links") or {}).get("next")
        if not nxt:
            return
        if nxt in seen:
            raise KlaviyoError(
                f"Klaviyo returned the same page cursor twice for {path}; stopping to avoid a loop.",
                code="cursor_cycle",
                error_class="retryable",
            )
        if empty >= MAX_EMPTY_PAGES:
            raise KlaviyoError(
                f"Klaviyo returned {empty} empty pages in a row for {path}, each with a new cursor; "
                f"stopping after {records} records to avoid paging forever.",
                code="empty_pages",
                error_class="retryable",
            )
        seen.add(nxt)
        url = nxt


def next_cursor(doc: Mapping[str, Any]) -> str | None:
    """The ``page[cursor]`` value of a document's next link, for manual paging."""
    from urllib.parse import parse_qs, urlsplit

    nxt = (doc.get("links") or {}).get("next")
    if not nxt:
        return None
    values = parse_qs(urlsplit(nxt).query).get("page[cursor]")
    return values[0] if values else None
