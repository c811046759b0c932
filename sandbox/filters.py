"""Evaluating a ``?filter=`` in the sandbox, on the shared grammar of :mod:`klaviyo_connector.filters`.

Usage from a resource module (normally through ``RequestContext.page``)::

    nodes = parse_strict(text, operation.filters)   # FilterError in Klaviyo's words on misuse
    keep = compile_predicate(nodes, getter)         # getter(record, field) -> candidate values
    rows = [r for r in rows if keep(r)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from ..catalog import FilterField
from ..filters import And, FilterError, Node, Not, Or, Quoted, comparisons, parse, parse_datetime, validate


def parse_strict(
    text: str, fields: Mapping[str, FilterField] | None = None, *, resource: str = "resource"
) -> tuple[Node, ...]:
    """Parse ``text`` and, given the operation's ``fields``, validate it as Klaviyo does.

    Only and() combines conditions. The FilterError's message is worded like Klaviyo's.
    """
    try:
        nodes = parse(text)
        if not nodes:
            raise FilterError("the filter is empty")
        if fields is not None:
            unknown = [c.field for c in comparisons(nodes) if c.field not in fields]
            if unknown:
                raise FilterError(f"'{unknown[0]}' is not a valid field for the resource '{resource}'")
            validate(nodes, fields, strict=True, logical=("and",))
    except FilterError as exc:
        raise FilterError(f"Invalid filter provided: {exc}.") from None
    return nodes


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


def compile_predicate(nodes: Iterable[Node], getter: Getter = dotted_values) -> Callable[[Any], bool]:
    """``record -> bool`` for parsed nodes (ANDed); ``getter(record, field)`` lists candidate values."""
    parts = [_compile(node, getter) for node in nodes]
    return lambda record: all(part(record) for part in parts)


def _compile(node: Node, getter: Getter) -> Callable[[Any], bool]:
    if isinstance(node, And):
        return compile_predicate(node.items, getter)
    if isinstance(node, Or):
        parts = [_compile(item, getter) for item in node.items]
        return lambda record: any(part(record) for part in parts)
    if isinstance(node, Not):
        inner = _compile(node.item, getter)
        return lambda record: not inner(record)
    comp = node
    if comp.operator == "has":
        return lambda record: any(bool(v) for v in getter(record, comp.field))
    return lambda record: any(_compare(comp.operator, v, comp.value) for v in getter(record, comp.field))
