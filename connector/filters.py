"""Klaviyo's ``?filter=`` grammar, shared by the client and the sandbox: parse, validate, render.

Grammar (what Klaviyo documents and its spec examples use)::

    filter     := expression ("," expression)*          # comma = AND
    expression := "and(" filter ")" | "or(" filter ")" | "not(" expression ")"
                | operator "(" field ["," value] ")"    # has(field) takes no value
    value      := 'single quoted' | "double quoted" | "[" value ("," value)* "]"
                | true | false | null | number | unquoted ISO-8601 date-time

:func:`parse` gives the top-level expressions (ANDed) as :class:`Comparison`, :class:`And`,
:class:`Or` and :class:`Not` nodes. Quoted strings are :class:`Quoted`, so a quoted datetime
stays distinguishable from an unquoted one. :func:`validate` checks nodes against an
operation's filterable fields (the catalog's ``FilterField``):

* lenient (the client) first coerces values to the field's type: a quoted datetime on a
  date-time field becomes a datetime (so it is rendered unquoted, in UTC), a number on a string
  field a string, ``'true'`` on a boolean field ``true``, an enum value in another case the
  enum's spelling;
* strict (the sandbox) refuses what Klaviyo refuses, e.g. a quoted datetime.

:func:`render` writes nodes back: strings quoted, datetimes unquoted UTC. Messages are phrased
for people; the client adds the input's label, the sandbox Klaviyo's "Invalid filter provided".
The sandbox evaluates the same nodes (:mod:`klaviyo_connector.sandbox.filters`).

Limits, the same for the client and the sandbox because both parse here: and(), or() and not()
nest at most :data:`MAX_DEPTH` levels; numbers must be finite and at most :data:`MAX_DIGITS`
digits long; datetimes must stay within year 1 to 9999 once converted to UTC. Anything beyond
is a :class:`FilterError`, never a crash.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from .catalog import FilterField

LOGICAL = ("and", "or", "not")
# Real filters nest two or three levels; the cap keeps parsing, checking, rendering and the
# sandbox's evaluation (all recursive) far from Python's recursion limit.
MAX_DEPTH = 32
# int() refuses longer digit strings anyway (CPython's 4,300-digit guard), with a ValueError.
MAX_DIGITS = 64
COMPARISONS = (
    "equals",
    "any",
    "greater-than",
    "greater-or-equal",
    "less-than",
    "less-or-equal",
    "contains",
    "contains-any",
    "contains-all",
    "starts-with",
    "ends-with",
    "has",
)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<punct>[(),\[\]])
      | (?P<word>[^\s(),\[\]'"]+)
    )""",
    re.VERBOSE,
)
_FIELD = re.compile(r"[A-Za-z_$][A-Za-z0-9_.$-]*")
# re.ASCII: \d would also take other scripts' digits, which Klaviyo doesn't read as numbers.
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?", re.ASCII)
_DATETIME = re.compile(
    r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?", re.ASCII
)


class FilterError(ValueError):
    """A filter that is malformed or not allowed on the endpoint; the message says why."""


@dataclass(frozen=True)
class Quoted:
    """A quoted string literal; unquoted values are bool, None, int, float or datetime."""

    text: str

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True)
class Comparison:
    """``operator(field, value)``, or ``operator(field)`` when ``has_value`` is false."""

    operator: str
    field: str
    value: Any = None  # a literal (Quoted, bool, None, int, float, datetime) or a list of them
    has_value: bool = True

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Comparison | And | Or | Not


def parse_datetime(text: str) -> datetime | None:
    """An aware datetime from ISO-8601 text (date only = midnight UTC; naive = UTC), else None."""
    text = text.strip()
    if not _DATETIME.fullmatch(text):
        return None
    try:
        value = datetime.fromisoformat(text.replace(" ", "T").replace("Z", "+00:00"))
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        value.astimezone(timezone.utc)  # 9999-12-31T23:00-05:00 has no UTC form: refuse it here
    except (ValueError, OverflowError):
        return None
    return value


# -- parsing ------------------------------------------------------------------------------------


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


def _too_deep() -> FilterError:
    return FilterError(f"and(), or() and not() may be nested at most {MAX_DEPTH} levels deep")


def naive_time(text: str) -> bool:
    """Whether ``text`` is a date-time with a time of day but no UTC offset (a day alone is not)."""
    value = parse_datetime(text)
    return value is not None and "T" in text.strip().replace(" ", "T") and not _OFFSET.search(text.strip())


_OFFSET = re.compile(r"(?:[zZ]|[+-]\d{2}:?\d{2})$")


def _naive_time_error(text: str) -> FilterError:
    from .inputs import TIME_RULE  # one wording of the rule for every time input

    return FilterError(f"the date-time {text} has no UTC offset: {TIME_RULE}")


class _Parser:
    def __init__(self, text: str, naive_times: bool = True) -> None:
        self.toks = _tokens(text)
        self.naive_times = naive_times
        self.i = 0
        self.depth = 0  # and()/or()/not() levels open around the current expression

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

    def expressions(self) -> tuple[Node, ...]:
        nodes = [self.expression()]
        while self.peek() == ("punct", ","):
            self.take(",")
            nodes.append(self.expression())
        return tuple(nodes)

    def expression(self) -> Node:
        kind, name = self.take()
        if kind != "word":
            raise FilterError(f"expected an operator like equals( but found {name!r}")
        op = name.lower()
        if op not in LOGICAL and op not in COMPARISONS:
            raise FilterError(f"{name!r} is not a filter operator; use one of: {', '.join(COMPARISONS)}")
        self.take("(")
        node: Node
        if op in LOGICAL:
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _too_deep()
            node = Not(self.expression()) if op == "not" else (And if op == "and" else Or)(self.expressions())
            self.depth -= 1
        else:
            fkind, field = self.take()
            if fkind != "word" or not _FIELD.fullmatch(field):
                raise FilterError(f"{op}(): expected a field name but found {field!r}")
            if self.peek() == ("punct", ","):
                self.take(",")
                node = Comparison(op, field, self.value())
            else:
                node = Comparison(op, field, has_value=False)
        self.take(")")
        return node

    def value(self, in_list: bool = False) -> Any:
        kind, text = self.take()
        if kind == "punct" and text == "[":
            if in_list:
                raise FilterError("nested lists are not allowed")
            items: list[Any] = []
            if self.peek() == ("punct", "]"):
                self.take("]")
                return items
            items.append(self.value(in_list=True))
            while self.peek() == ("punct", ","):
                self.take(",")
                items.append(self.value(in_list=True))
            self.take("]")
            return items
        if kind == "str":
            return Quoted(re.sub(r"\\(.)", r"\1", text[1:-1]))
        if kind != "word":
            raise FilterError(f"expected a value but found {text!r}")
        low = text.lower()
        if low in ("true", "false"):
            return low == "true"
        if low == "null":
            return None
        if _NUMBER.fullmatch(text):
            return _number(text)
        if _DATETIME.fullmatch(text):
            if not self.naive_times and naive_time(text):
                raise _naive_time_error(text)
            moment = parse_datetime(text)
            if moment is None:
                raise FilterError(f"{text!r} is not a valid ISO-8601 datetime")
            return moment
        raise FilterError(
            f"the value {text} must be quoted, like '{text}' (only numbers, booleans and datetimes are unquoted)"
        )


def _number(text: str) -> int | float:
    if sum(c.isdigit() for c in text) > MAX_DIGITS:
        raise FilterError(f"the number {text[:20]}... is too long (at most {MAX_DIGITS} digits)")
    if not any(c in text for c in ".eE"):
        return int(text)
    value = float(text)
    if math.isinf(value):
        raise FilterError(f"the number {text} is too large")
    return value


def parse(text: str, *, naive_times: bool = True) -> tuple[Node, ...]:
    """The top-level expressions (ANDed); none for blank text. FilterError says what is wrong.

    A date-time with no UTC offset is read as UTC, as Klaviyo reads it; with ``naive_times``
    off (the connector's own inputs) it is refused instead, by the rule every time input follows.
    """
    if not text or not text.strip():
        return ()
    parser = _Parser(text, naive_times)
    nodes = parser.expressions()
    extra = parser.peek()
    if extra is not None:
        raise FilterError(f"unexpected {extra[1]!r} after the end of the filter")
    return nodes


def _literal(value: Any) -> Any:
    """A Python value as a filter literal: strings become :class:`Quoted`, lists item by item."""
    if isinstance(value, list):
        return [_literal(v) for v in value]
    return Quoted(value) if isinstance(value, str) else value


def condition(operator: str, field: str, value: Any) -> Comparison:
    """``operator(field, value)`` built in code, e.g. ``condition("any", "email", ["a@b.co"])``."""
    return Comparison(operator, field, _literal(value))


def comparisons(nodes: Iterable[Node]) -> list[Comparison]:
    """Every comparison in the nodes, left to right."""
    out: list[Comparison] = []
    for node in nodes:
        if isinstance(node, Comparison):
            out.append(node)
        elif isinstance(node, Not):
            out.extend(comparisons([node.item]))
        else:
            out.extend(comparisons(node.items))
    return out


# -- validation against an operation's filterable fields ----------------------------------------


def validate(
    nodes: Iterable[Node],
    fields: Mapping[str, FilterField],
    *,
    strict: bool = False,
    logical: Collection[str] = LOGICAL,
) -> tuple[Node, ...]:
    """Check fields, operators and values; ``logical`` are the combinators allowed.

    Returns the nodes with values coerced to their field's type (lenient) or as given (strict).
    Nodes built in code are held to :data:`MAX_DEPTH` as parsed ones are.
    """
    return tuple(_validate(node, fields, strict, logical, 0) for node in nodes)


def _validate(
    node: Node, fields: Mapping[str, FilterField], strict: bool, logical: Collection[str], depth: int
) -> Node:
    if not isinstance(node, Comparison):
        if depth >= MAX_DEPTH:
            raise _too_deep()
        name = "not" if isinstance(node, Not) else "and" if isinstance(node, And) else "or"
        if name not in logical:
            allowed = " and ".join(f"{n}()" for n in logical) or "nothing"
            raise FilterError(f"{name}() is not supported here; only {allowed} can combine conditions")
        if isinstance(node, Not):
            return Not(_validate(node.item, fields, strict, logical, depth + 1))
        return replace(
            node, items=tuple(_validate(item, fields, strict, logical, depth + 1) for item in node.items)
        )
    spec = fields.get(node.field)
    if spec is None:
        known = ", ".join(sorted(fields)) or "none"
        raise FilterError(f"filtering on {node.field!r} is not supported here; filterable fields: {known}")
    _check_operator(node, spec)
    if not node.has_value:
        return node
    if node.is_list:
        return replace(node, value=[_value(v, spec, strict) for v in node.value])
    return replace(node, value=_value(node.value, spec, strict))


def _check_operator(node: Comparison, spec: FilterField) -> None:
    # equals(field,'x') and equals(field,['x']) are different operators to Klaviyo.
    if not node.has_value:
        operators = spec.none_operators
    else:
        operators = spec.list_operators if node.is_list else spec.single_operators
    if node.operator in operators:
        return
    if node.operator not in spec.operators:
        raise FilterError(
            f"{node.field} cannot be used with {node.operator}(); allowed: {', '.join(spec.operators)}"
        )
    if node.operator in spec.none_operators:
        form = "no value"
    elif node.is_list:
        form = "a single value"
    elif node.has_value:
        form = f"a list, like {node.operator}({node.field},['...'])"
    else:
        form = "a value"
    raise FilterError(f"{node.field}: {node.operator}() takes {form} here")


def _value(value: Any, spec: FilterField, strict: bool) -> Any:
    field, shown = spec.name, _render_value(value)
    if spec.type == "date-time":
        if isinstance(value, datetime):
            return value
        if isinstance(value, Quoted) and not strict and naive_time(value.text):
            raise _naive_time_error(value.text)
        moment = parse_datetime(value.text) if isinstance(value, Quoted) and not strict else None
        if moment is None:
            raise FilterError(
                f"{field} takes an unquoted ISO-8601 date-time such as 2024-01-01T00:00:00Z, not {shown}"
            )
        return moment
    if spec.type == "boolean":
        if isinstance(value, bool):
            return value
        if not strict and isinstance(value, Quoted) and value.text.lower() in ("true", "false"):
            return value.text.lower() == "true"
        raise FilterError(f"{field} takes true or false, not {shown}")
    if spec.type in ("integer", "number"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        raise FilterError(f"{field} takes a number, not {shown}")
    if not isinstance(value, Quoted):
        if strict:
            raise FilterError(f"{field} takes a quoted string, not {shown}")
        if value is None:
            return None
        value = Quoted(value if isinstance(value, str) else shown)  # e.g. an ID typed without quotes
    return _enum_value(value, spec, strict)


def _enum_value(value: Quoted, spec: FilterField, strict: bool) -> Quoted:
    if not spec.enum or value.text in spec.enum:
        return value
    same = [e for e in spec.enum if e.lower() == value.text.lower()]
    if len(same) == 1 and not strict:
        return Quoted(same[0])
    raise FilterError(f"{spec.name} takes {', '.join(spec.enum)}, not {_render_value(value)}")


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
    """The filter text: top-level nodes comma-separated (ANDed)."""
    parts = []
    for node in nodes:
        if isinstance(node, Not):
            parts.append(f"not({render([node.item])})")
        elif isinstance(node, (And, Or)):
            parts.append(f"{'and' if isinstance(node, And) else 'or'}({render(node.items)})")
        elif node.has_value:
            parts.append(f"{node.operator}({node.field},{_render_value(node.value)})")
        else:
            parts.append(f"{node.operator}({node.field})")
    return ",".join(parts)
