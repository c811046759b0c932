"""Klaviyo's ``?filter=`` grammar: parse, check against an endpoint's catalog entry, render.

``equals(email,'a@b.co')``, ``any(id,['a','b'])``, ``greater-than(created,2024-01-01T00:00:00Z)``,
``has(profile)``; expressions separated by commas, or inside ``and(...)``, are ANDed. Strings
are quoted; datetimes are not (Klaviyo rejects quoted datetimes), and are rendered in UTC.
The sandbox evaluates the same parse tree, so client and emulator agree on the grammar.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

COMBINATORS = ("and", "or", "not")
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<punct>[(),\[\]])
      | (?P<word>[^\s(),\[\]'"]+)
    )""",
    re.VERBOSE,
)
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$")


class FilterError(ValueError):
    """A filter that is malformed or not allowed on the endpoint; the message says why."""


@dataclass(frozen=True)
class Condition:
    operator: str
    field: str
    value: Any = None  # str | int | float | bool | None | datetime | list of those
    has_value: bool = True


@dataclass(frozen=True)
class Group:
    operator: str  # and / or / not
    items: tuple[Node, ...]


Node = Condition | Group


def parse_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise FilterError(f"unexpected character {text[pos]!r} at position {pos}")
        kind = m.lastgroup or ""
        out.append((kind, m.group(kind)))
        pos = m.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, want: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise FilterError("the filter ends too early" + (f"; expected {want!r}" if want else ""))
        if want is not None and tok[1] != want:
            raise FilterError(f"expected {want!r} but found {tok[1]!r}")
        self.i += 1
        return tok

    def expressions(self) -> list[Node]:
        nodes = [self.expression()]
        while self.peek() is not None and self.peek() == ("punct", ","):
            self.take(",")
            nodes.append(self.expression())
        return nodes

    def expression(self) -> Node:
        kind, name = self.take()
        if kind != "word":
            raise FilterError(f"expected an operator like equals( but found {name!r}")
        op = name.lower()
        self.take("(")
        if op in COMBINATORS:
            items = self.expressions()
            self.take(")")
            return Group(op, tuple(items))
        fkind, field = self.take()
        if fkind != "word":
            raise FilterError(f"{op}(): expected a field name but found {field!r}")
        if self.peek() == ("punct", ")"):
            self.take(")")
            return Condition(op, field, None, has_value=False)
        self.take(",")
        value = self.value()
        self.take(")")
        return Condition(op, field, value)

    def value(self) -> Any:
        kind, text = self.take()
        if kind == "punct" and text == "[":
            items: list[Any] = []
            if self.peek() == ("punct", "]"):
                self.take("]")
                return items
            while True:
                items.append(self.value())
                if self.take()[1] == "]":
                    return items
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", text[1:-1])
        if kind != "word":
            raise FilterError(f"expected a value but found {text!r}")
        low = text.lower()
        if low in ("true", "false"):
            return low == "true"
        if low == "null":
            return None
        if _DATETIME.match(text):
            try:
                return parse_datetime(text)
            except ValueError:
                raise FilterError(f"{text!r} is not a valid ISO-8601 datetime") from None
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            raise FilterError(
                f"the value {text} must be quoted, like '{text}' (only numbers, booleans and datetimes are unquoted)"
            ) from None


def parse(text: str) -> list[Node]:
    """Top-level expressions (ANDed). Raises FilterError with a readable reason."""
    if not text or not text.strip():
        return []
    p = _Parser(text)
    nodes = p.expressions()
    if p.peek() is not None:
        raise FilterError(f"unexpected {p.peek()[1]!r} after the end of the filter")  # type: ignore[index]
    return nodes


# -- checking against the catalog -----------------------------------------------------------------


def _coerce(value: Any, value_type: str, field: str) -> Any:
    if isinstance(value, list):
        return [_coerce(v, value_type, field) for v in value]
    if value_type == "date-time":
        if isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return parse_datetime(value)
            except ValueError:
                pass
        raise FilterError(f"{field} takes an ISO-8601 datetime such as 2024-01-01T00:00:00Z, not {value!r}")
    if value_type == "boolean" and not isinstance(value, bool):
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise FilterError(f"{field} takes true or false, not {value!r}")
    if value_type in ("integer", "number") and (
        isinstance(value, bool) or not isinstance(value, (int, float))
    ):
        raise FilterError(f"{field} takes a number, not {value!r}")
    if value_type == "string" and not isinstance(value, str):
        if value is None:
            return None
        return str(value)  # e.g. an ID typed without quotes in a form
    return value


def check(nodes: Iterable[Node], allowed: Mapping[str, Any]) -> list[Node]:
    """Validate against an operation's filter table (catalog ``Operation.filters``).

    Returns the nodes with values coerced to the field's type (quoted datetimes become
    datetimes, so they are rendered unquoted).
    """
    out: list[Node] = []
    for node in nodes:
        if isinstance(node, Group):
            out.append(Group(node.operator, tuple(check(node.items, allowed))))
            continue
        spec = allowed.get(node.field)
        if spec is None:
            fields = ", ".join(sorted(allowed)) or "none"
            raise FilterError(
                f"filtering on {node.field!r} is not supported here; filterable fields: {fields}"
            )
        is_list = isinstance(node.value, list)
        # equals(field,'x') and equals(field,['x']) are different operators to Klaviyo.
        ops = (spec.list_operators if is_list else spec.single_operators) if node.has_value else spec.operators
        if node.operator not in ops and node.operator in spec.operators and node.has_value:
            form = "a single value" if is_list else "a list, like " + f"{node.operator}({node.field},['...'])"
            raise FilterError(f"{node.field}: {node.operator}() takes {form} here")
        if node.operator not in ops:
            shown = ", ".join(spec.operators)
            raise FilterError(f"{node.field} cannot be used with {node.operator}(); allowed: {shown}")
        value = _coerce(node.value, spec.type, node.field) if node.has_value else None
        out.append(Condition(node.operator, node.field, value, node.has_value))
    return out


# -- rendering ----------------------------------------------------------------------------------


def _render_value(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ",".join(_render_value(v) for v in value) + "]"
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if "'" in text and '"' not in text:
        return '"' + text + '"'
    return "'" + text.replace("'", "\\'") + "'"


def render(nodes: Iterable[Node]) -> str:
    parts = []
    for node in nodes:
        if isinstance(node, Group):
            parts.append(f"{node.operator}({render(node.items)})")
        elif node.has_value:
            parts.append(f"{node.operator}({node.field},{_render_value(node.value)})")
        else:
            parts.append(f"{node.operator}({node.field})")
    return ",".join(parts)


def condition(operator: str, field: str, value: Any) -> Condition:
    return Condition(operator, field, value)
