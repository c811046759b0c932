"""Writing a streamed list result as it arrives: one JSON document, or one record a line.

Both write each record as its page arrives and keep nothing but the current page, so paging
through 100k records costs the memory of one page, not of the whole text.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from .streaming import ActionStream


def _dumps(value: Any, indent: int | None) -> str:
    # The CLI's JSON conventions (as cli._print_json): UTF-8 text as is, unknown types as str.
    if indent is None:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return json.dumps(value, indent=indent, ensure_ascii=False, default=str)


def _nested(value: Any, depth: int) -> str:
    """``value`` indented by 2 as if it stood ``depth`` levels deep in an indented document.
    A JSON text has no raw newline inside a string, so every newline starts a line."""
    return _dumps(value, 2).replace("\n", "\n" + "  " * depth)


def write_json(records: ActionStream, out: TextIO) -> None:
    """The collected JSON:API document ``{"data", "links"[, "included"], "meta"}``, indented by 2
    and ending in a newline, character for character what printing the collected result with
    ``json.dumps(doc, indent=2, ensure_ascii=False)`` gives, written record by record.

    Nothing is written before the first page has come: if that fails, the output is empty. If a
    later one fails, what was written stays unterminated (no closing brackets), so no JSON
    parser takes it for the whole result; the KlaviyoError propagates.
    """
    first = True
    for record in records:
        out.write('{\n  "data": [\n    ' if first else ",\n    ")
        out.write(_nested(record, 2))
        first = False
    out.write('{\n  "data": []' if first else "\n  ]")
    for key, value in records.document().items():
        out.write(f",\n  {_dumps(key, None)}: {_nested(value, 1)}")
    out.write("\n}\n")


def write_ndjson(records: ActionStream, out: TextIO) -> dict[str, Any]:
    """One record a line (compact JSON, UTF-8 as is), each written as its page arrives; returns
    the document's ``links``, ``meta`` and ``included``, which the lines leave out."""
    for record in records:
        out.write(_dumps(record, None) + "\n")
    return records.document()
