"""A list action's records one page at a time: what ``Runner.stream_action`` and ``run --output``
iterate instead of one collected document.

:func:`~klaviyo_connector.listing.list_collection` returns a :class:`RecordPages` when the
action's :class:`~klaviyo_connector.context.Context` asks for a stream. It pages with the one
pagination iterator, lazily: no request is sent until the first page is asked for, and page N+1
is fetched only once page N's records are handed out, so one page is in memory at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .pagination import next_cursor


class RecordPages:
    """The pages of one list call, each as its list of records (JSON:API resource objects).

    ``limit`` caps the records handed out (Fetch All's Max Records; None: no cap). After the
    pages run out, :meth:`document` gives the rest of the JSON:API document the collected call
    would have returned: ``links`` and ``meta`` of the last page (``meta.pages``,
    ``meta.records``, ``meta.next_cursor``) and ``included``. Included resources are kept, one
    per type and ID, so they grow with the distinct related resources, not with the records.
    """

    def __init__(self, pages: Iterator[dict[str, Any]], limit: int | None) -> None:
        self._pages = pages
        self._limit = limit
        self._last: dict[str, Any] = {}
        self._included: dict[tuple[Any, Any], Any] = {}
        self.pages = 0
        self.records = 0

    def __iter__(self) -> Iterator[list[Any]]:
        for doc in self._pages:
            self.pages += 1
            self._last = {"links": doc.get("links"), "meta": doc.get("meta")}
            for item in doc.get("included") or []:
                self._included.setdefault((item.get("type"), item.get("id")), item)
            rows: list[Any] = doc.get("data") or []
            if self._limit is not None and self.records + len(rows) > self._limit:
                rows = rows[: self._limit - self.records]
            self.records += len(rows)
            yield rows

    def document(self) -> dict[str, Any]:
        """``{"links", "meta"[, "included"]}``: the collected document less its ``data``."""
        out: dict[str, Any] = {"links": self._last.get("links") or {}}
        if self._included:
            out["included"] = list(self._included.values())
        meta = dict(self._last.get("meta") or {})
        meta.update({"pages": self.pages, "records": self.records, "next_cursor": next_cursor(self._last)})
        out["meta"] = meta
        return out


class ActionStream:
    """The records of one list action run, as :meth:`Runner.stream_action` returns them: an
    iterator that fetches page N+1 only once page N's records are all handed out.

    Each fetch runs under the run's checks (errors leave as KlaviyoError, secrets masked, the
    time limit counted over the fetches). Once the iterator is exhausted, :meth:`document` gives
    the JSON:API document's ``links``, ``meta`` and ``included`` (see :class:`RecordPages`).
    """

    def __init__(self, pages: RecordPages, fetch: Callable[[Callable[[], Any]], Any]) -> None:
        self._pages = pages
        self._fetch = fetch  # runs one page fetch under the run's deadline and error handling
        self._records = self._generate()

    def _generate(self) -> Iterator[Any]:
        pages = iter(self._pages)
        while True:
            rows = self._fetch(lambda: next(pages, None))
            if rows is None:
                return
            yield from rows

    def __iter__(self) -> ActionStream:
        return self

    def __next__(self) -> Any:
        return next(self._records)

    def close(self) -> None:
        """Stop: no further page is fetched."""
        self._records.close()

    def document(self) -> dict[str, Any]:
        """``{"links", "meta"[, "included"]}`` of the pages fetched so far."""
        return self._pages.document()
