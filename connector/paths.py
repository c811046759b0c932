"""Request paths built from input: each value becomes exactly one path segment, nothing more.

An ID typed into a form (``../templates/T1``, ``a/b``, ``x?y=1``, ``%2e%2e``) must never change
which endpoint a request reaches. :func:`api_path` percent-encodes every value so it can only be
the one segment it stands for, and refuses the dot segments ``.`` and ``..``, which servers and
proxies resolve against the path whether or not they are encoded.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from .errors import KlaviyoError

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
DOT_SEGMENTS = frozenset({".", ".."})


def segment(value: object, *, name: str = "id") -> str:
    """``value`` percent-encoded as one path segment (``/``, ``?``, ``#``, ``%`` included).

    Raises ``KlaviyoError`` (user_fixable, ``invalid_input``) for an empty value or a dot segment.
    """
    text = value if isinstance(value, str) else str(value)
    if text == "" or text in DOT_SEGMENTS:
        raise KlaviyoError(
            f"{name}: {text!r} is not a valid ID (an ID cannot be empty, '.' or '..').",
            code="invalid_input",
            field=name,
            detail="an ID cannot be empty, '.' or '..'",
        )
    return quote(text, safe="")


def api_path(template: str, **values: object) -> str:
    """Fill ``template`` (``/api/lists/{id}/profiles``) with ``values``, one segment each.

    >>> api_path("/api/lists/{id}", id="../accounts")
    '/api/lists/..%2Faccounts'
    """

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        return segment(values[name], name=name)

    return _PARAM.sub(fill, template)


def has_dot_segment(path: str) -> bool:
    """Whether ``path`` has a ``.`` or ``..`` segment, plain or percent-encoded (``%2e%2E``)."""
    if "." not in path and "%" not in path:  # the usual path: nothing to decode
        return False
    return any(unquote(part) in DOT_SEGMENTS for part in path.split("/"))
