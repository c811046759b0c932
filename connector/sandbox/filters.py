"""Klaviyo's ``?filter=`` grammar: parse to an AST, check it against an operation, evaluate it.

Grammar (what Klaviyo documents and its spec examples use)::

    filter     := expression ("," expression)*          # comma = AND
    expression := "and(" filter ")" | "or(" filter ")" | "not(" expression ")"
                | operator "(" field ["," value] ")"    # has(field) takes no value
    value      := 'single quoted' | "double quoted" | "[" value ("," value)* "]"
                | true | false | null | number | unquoted ISO-8601 date-time

Datetimes are unquoted (``greater-than(created,2024-01-01T00:00:00Z)``); a quoted string
given for a date-time field is rejected, as Klaviyo does.

Usage from a resource module (normally through ``RequestContext.collection_query``)::

    node = filters.parse("equals(email,'a@b.c'),greater-than(created,2024-01-01T00:00:00Z)")
    filters.validate(node, operation.filters, resource="profile")   # FilterError on misuse
    keep = filters.compile_predicate(node, getter)                  # getter(record, field)
    rows = [r for r in rows if keep(r)]

``validate`` takes the operation's allowed fields as a mapping of field name to an object
with ``single_operators``, ``list_operators`` and ``type`` (the catalog's ``FilterField``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

LOGICAL = ("and", "or", "not")
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


class FilterError(ValueError):
    """The filter can't be parsed or isn't allowed here; ``detail`` is the message for the user."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class FilterFieldLike(Protocol):
    """What :func:`validate` needs to know about an allowed field (the catalog's FilterField)."""

    @property
    def single_operators(self) -> Sequence[str]: ...

    @property
    def list_operators(self) -> Sequence[str]: ...

    @property
    def type(self) -> str: ...


@dataclass(frozen=True)
class Comparison:
    """``operator(field, value)``; ``is_list`` when the value is a ``[...]`` list."""

    operator: str
    field: str
    value: Any = None
    has_value: bool = True
    is_list: bool = False


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


@dataclass(frozen=True)
class Quoted:
    """A quoted string literal (kept apart from unquoted tokens for type checks)."""

    text: str


_NAME = re.compile(r"[a-z][a-z-]*")
_FIELD = re.compile(r"[A-Za-z_$][A-Za-z0-9_.$-]*")
_NUMBER = re.compile(r"-?\d+(\.\d+)?([eE][+-]?\d+)?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?")


def parse_datetime(text: str) -> datetime | None:
    """An aware datetime from ISO-8601 text (date only = midnight UTC; naive = UTC), else None."""
    text = text.strip()
    if not (_DATETIME.fullmatch(text) or _DATE.fullmatch(text)):
        return None
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> FilterError:
        return FilterError(f"Invalid filter provided: {what} at position {self.pos} of '{self.text}'.")

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos] in " \t":
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.text[self.pos]) if self.pos < len(self.text) else "end of filter"
            raise self.fail(f"expected '{char}' but found {found}")
        self.pos += 1

    def parse_list_of_expressions(self) -> list[Node]:
        items = [self.parse_expression()]
        while self.peek() == ",":
            self.pos += 1
            items.append(self.parse_expression())
        return items

    def parse_expression(self) -> Node:
        self.skip_space()
        match = _NAME.match(self.text, self.pos)
        if not match:
            raise self.fail("expected an operator such as equals(...)")
        name = match.group(0)
        self.pos = match.end()
        if name not in LOGICAL and name not in COMPARISONS:
            raise FilterError(f"Invalid filter provided: unknown operator '{name}'.")
        self.expect("(")
        node: Node
        if name in ("and", "or"):
            items = tuple(self.parse_list_of_expressions())
            node = And(items) if name == "and" else Or(items)
        elif name == "not":
            node = Not(self.parse_expression())
        else:
            self.skip_space()
            fmatch = _FIELD.match(self.text, self.pos)
            if not fmatch:
                raise self.fail(f"expected a field name in {name}(...)")
            self.pos = fmatch.end()
            if self.peek() == ",":
                self.pos += 1
                value = self.parse_value()
                node = Comparison(name, fmatch.group(0), value, True, isinstance(value, list))
            else:
                node = Comparison(name, fmatch.group(0), None, False, False)
        self.expect(")")
        return node

    def parse_value(self) -> Any:
        char = self.peek()
        if char == "[":
            self.pos += 1
            values: list[Any] = []
            if self.peek() == "]":
                self.pos += 1
                return values
            while True:
                item = self.parse_value()
                if isinstance(item, list):
                    raise self.fail("nested lists are not allowed")
                values.append(item)
                if self.peek() == ",":
                    self.pos += 1
                    continue
                self.expect("]")
                return values
        if char in ("'", '"'):
            return Quoted(self.parse_quoted(char))
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] not in ",)]":
            self.pos += 1
        token = self.text[start : self.pos].strip()
        if not token:
            raise self.fail("expected a value")
        if token in ("true", "false"):
            return token == "true"
        if token == "null":
            return None
        if _NUMBER.fullmatch(token):
            return float(token) if any(c in token for c in ".eE") else int(token)
        moment = parse_datetime(token)
        if moment is not None:
            return moment
        raise FilterError(
            f"Invalid filter provided: '{token}' is not a valid value; quote strings and write "
            "datetimes as unquoted ISO-8601 (e.g. 2024-01-01T00:00:00Z)."
        )

    def parse_quoted(self, quote: str) -> str:
        self.pos += 1
        out: list[str] = []
        while self.pos < len(self.text):
            char = self.text[self.pos]
            if char == "\\" and self.pos + 1 < len(self.text):
                out.append(self.text[self.pos + 1])
                self.pos += 2
                continue
            if char == quote:
                self.pos += 1
                return "".join(out)
            out.append(char)
            self.pos += 1
        raise self.fail("unterminated string")


def parse(text: str) -> Node:
    """Parse a filter expression; comma-separated expressions become one :class:`And`."""
    if not text or not text.strip():
        raise FilterError("Invalid filter provided: the filter is empty.")
    parser = _Parser(text)
    items = parser.parse_list_of_expressions()
    if parser.peek():
        raise parser.fail("unexpected text after the filter")
    return items[0] if len(items) == 1 else And(tuple(items))


def comparisons(node: Node) -> list[Comparison]:
    """Every comparison in the tree, left to right."""
    if isinstance(node, Comparison):
        return [node]
    if isinstance(node, Not):
        return comparisons(node.item)
    out: list[Comparison] = []
    for item in node.items:
        out.extend(comparisons(item))
    return out


def _type_kind(type_name: str) -> str:
    lowered = (type_name or "string").lower()
    if "date" in lowered:
        return "datetime"
    if "bool" in lowered:
        return "boolean"
    if "int" in lowered or "number" in lowered or "float" in lowered:
        return "number"
    return "string"


def _check_value(value: Any, kind: str, comp: Comparison) -> None:
    where = f"'{comp.operator}' on '{comp.field}'"
    ok = {
        "datetime": isinstance(value, datetime),
        "boolean": isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool),
        "string": isinstance(value, Quoted),
    }[kind]
    if ok:
        return
    if kind == "datetime":
        hint = "a date-time, unquoted ISO-8601 (e.g. 2024-01-01T00:00:00Z)"
    elif kind == "string":
        hint = "a quoted string"
    else:
        hint = f"a {kind}"
    raise FilterError(f"Invalid filter provided: {where} expects {hint}.")


def validate(
    node: Node,
    fields: Mapping[str, FilterFieldLike],
    *,
    resource: str,
    allow_or: bool = False,
    allow_not: bool = False,
) -> None:
    """Check fields, operators and value types against what the operation allows."""
    if isinstance(node, Or) and not allow_or:
        raise FilterError("Invalid filter provided: the 'or' operator is not supported for this endpoint.")
    if isinstance(node, Not) and not allow_not:
        raise FilterError("Invalid filter provided: the 'not' operator is not supported for this endpoint.")
    if isinstance(node, Not):
        validate(node.item, fields, resource=resource, allow_or=allow_or, allow_not=allow_not)
        return
    if isinstance(node, (And, Or)):
        for item in node.items:
            validate(item, fields, resource=resource, allow_or=allow_or, allow_not=allow_not)
        return
    spec = fields.get(node.field)
    if spec is None:
        allowed = ", ".join(sorted(fields)) or "none"
        raise FilterError(
            f"Invalid filter provided: '{node.field}' is not a valid field for the resource '{resource}'. "
            f"Filterable fields: {allowed}."
        )
    none_operators = tuple(getattr(spec, "none_operators", ()) or ())
    if not node.has_value:
        operators = none_operators
    else:
        operators = tuple(spec.list_operators if node.is_list else spec.single_operators)
    if node.operator not in operators:
        others = tuple(spec.single_operators) + tuple(spec.list_operators) + none_operators
        if node.operator in others:
            if node.operator in none_operators:
                shape = "no value"
            elif node.is_list:
                shape = "a single value"
            else:
                shape = "a list" if node.has_value else "a value"
            raise FilterError(f"Invalid filter provided: '{node.operator}' on '{node.field}' takes {shape}.")
        allowed_ops = ", ".join(dict.fromkeys(others)) or "none"
        raise FilterError(
            f"Invalid filter provided: operator '{node.operator}' is not allowed for field '{node.field}' "
            f"(allowed: {allowed_ops})."
        )
    if not node.has_value:
        return
    kind = _type_kind(spec.type)
    enum = getattr(spec, "enum", None)
    for value in node.value if node.is_list else [node.value]:
        _check_value(value, kind, node)
        if enum and isinstance(value, Quoted) and value.text not in enum:
            raise FilterError(
                f"Invalid filter provided: '{value.text}' is not a valid value for '{node.field}' "
                f"(allowed: {', '.join(enum)})."
            )


# -- evaluation ------------------------------------------------------------------------

Getter = Callable[[Any, str], list[Any]]


def dotted_values(record: Mapping[str, Any], path: str) -> list[Any]:
    """The values at a dotted path; arrays on the way are walked (so each element counts).

    ``dotted_values({"a": {"b": [{"c": 1}, {"c": 2}]}}, "a.b.c") == [1, 2]``. A missing
    member gives ``[None]`` so ``equals(field, null)``-style checks and sorting still work.
    """
    current: list[Any] = [record]
    for part in path.split("."):
        nxt: list[Any] = []
        for item in current:
            if isinstance(item, list):
                for element in item:
                    if isinstance(element, Mapping):
                        nxt.append(element.get(part))
            elif isinstance(item, Mapping):
                nxt.append(item.get(part))
        current = nxt
    return current or [None]


def _plain(value: Any) -> Any:
    return value.text if isinstance(value, Quoted) else value


def _coerce(candidate: Any, literal: Any) -> Any:
    """Make a stored value comparable with a literal (ISO strings -> datetimes)."""
    if isinstance(literal, datetime):
        if isinstance(candidate, datetime):
            return candidate
        if isinstance(candidate, str):
            return parse_datetime(candidate)
        if isinstance(candidate, (int, float)) and not isinstance(candidate, bool):
            return datetime.fromtimestamp(candidate, tz=timezone.utc)
        return None
    return candidate


def _compare(operator: str, candidate: Any, literal: Any) -> bool:
    if operator in ("any", "equals") and isinstance(literal, list):
        return any(_compare("equals", candidate, item) for item in literal)
    if operator == "contains-any":
        return isinstance(candidate, list) and any(_plain(v) in candidate for v in literal)
    if operator == "contains-all":
        return isinstance(candidate, list) and all(_plain(v) in candidate for v in literal)
    literal = _plain(literal)
    value = _coerce(candidate, literal)
    if operator == "equals":
        return value == literal
    if operator == "contains":
        if isinstance(value, str) and isinstance(literal, str):
            return literal in value
        return isinstance(value, list) and literal in value
    if operator == "starts-with":
        return isinstance(value, str) and isinstance(literal, str) and value.startswith(literal)
    if operator == "ends-with":
        return isinstance(value, str) and isinstance(literal, str) and value.endswith(literal)
    if value is None or literal is None:
        return False
    try:
        if operator == "greater-than":
            return bool(value > literal)
        if operator == "greater-or-equal":
            return bool(value >= literal)
        if operator == "less-than":
            return bool(value < literal)
        if operator == "less-or-equal":
            return bool(value <= literal)
    except TypeError:
        return False
    raise FilterError(f"Invalid filter provided: unknown operator '{operator}'.")


def compile_predicate(node: Node, getter: Getter = dotted_values) -> Callable[[Any], bool]:
    """A function ``record -> bool`` for the AST; ``getter(record, field)`` lists candidate values."""
    if isinstance(node, And):
        parts = [compile_predicate(item, getter) for item in node.items]
        return lambda record: all(part(record) for part in parts)
    if isinstance(node, Or):
        parts = [compile_predicate(item, getter) for item in node.items]
        return lambda record: any(part(record) for part in parts)
    if isinstance(node, Not):
        inner = compile_predicate(node.item, getter)
        return lambda record: not inner(record)
    comp = node
    if comp.operator == "has":
        return lambda record: any(bool(v) for v in getter(record, comp.field))
    return lambda record: any(_compare(comp.operator, v, comp.value) for v in getter(record, comp.field))


def build_predicate(
    text: str,
    fields: Mapping[str, FilterFieldLike],
    *,
    resource: str,
    getter: Getter = dotted_values,
) -> Callable[[Any], bool]:
    """parse + validate + compile in one call."""
    node = parse(text)
    validate(node, fields, resource=resource)
    return compile_predicate(node, getter)
