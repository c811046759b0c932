"""Requests and responses checked against Klaviyo's spec: one checker for the sandbox and the tests.

The sandbox's pipeline calls :func:`check_request` before any handler runs and answers a
:class:`SpecViolation` as Klaviyo does (400 ``invalid`` naming ``source.pointer`` or
``source.parameter``); ``tests/contract.py`` calls the same functions and turns a violation into
an AssertionError. Facts come from the generated catalog (parameters, filters) and
:mod:`klaviyo_connector.schemas` (bodies), never from the spec file at run time.

What is checked, as Klaviyo's spec states it:

* path parameters: declared, values of the declared type;
* query parameters: declared (an unknown one is refused), not repeated, required ones present,
  values of the declared type, enum (comma-separated lists: every item, no duplicates, no empty
  item), minimum and maximum; ``filter``: every ``operator(field, ...)`` uses a field the
  operation can filter on, with an operator allowed for that field and value shape;
* headers: required ones present (``revision``), ``revision`` shaped ``YYYY-MM-DD[.suffix]``;
* JSON bodies: the operation's request schema (JSON Schema 2020-12: required members, types,
  enums, nullability, ``additionalProperties`` where the spec gives it); multipart forms: the
  declared parts, required ones present.

Body validation is compiled once per schema with fastjsonschema (a 1,000-event
bulk-create-events body checks in a few milliseconds); only a body that fails is walked again by
jsonschema, whose messages name the best-matching error and its path.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .. import schemas

if TYPE_CHECKING:
    from ..catalog import Operation

__all__ = [
    "SpecViolation",
    "body_errors",
    "check_body",
    "check_filter",
    "check_form_parts",
    "check_headers",
    "check_path",
    "check_query",
    "check_request",
    "response_errors",
]

REVISION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[A-Za-z0-9]+)?$")
# Lenient ISO-8601: catches garbage such as "yesterday" without refusing valid offset spellings.
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|z|[+-]\d{2}(:?\d{2})?)?)?$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# `op(field` followed by `,` or `)`; nested and(...)/or(...)/not(...) are skipped by the lookahead.
_FILTER_CALL_RE = re.compile(r"([a-z][a-z-]*)\(\s*(?=([^,()\s]+)\s*(,\s*(\[)?|\)))")
_QUOTED_RE = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_LOGICAL = frozenset({"and", "or", "not"})
_SHOWN = 100  # how much of a client's value a message quotes back


class SpecViolation(ValueError):
    """A request (or response) the spec refuses: ``detail`` in words, and where.

    ``pointer`` is a JSON pointer into the body (``/data/attributes/name``), ``parameter`` a
    path/query parameter or header name (``page[size]``, ``filter``, ``revision``).
    """

    def __init__(self, detail: str, *, pointer: str | None = None, parameter: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.pointer = pointer
        self.parameter = parameter


def _shown(value: str) -> str:
    return value if len(value) <= _SHOWN else value[:_SHOWN] + "..."


def _brief(values: Iterable[Any], limit: int = 15) -> str:
    """A list for messages, cut short so a 100-entry enum does not drown the point."""
    values = list(values)
    if len(values) <= limit:
        return repr(values)
    return repr(values[:limit])[:-1] + f", ... ({len(values)} in total)]"


# -- parameters ---------------------------------------------------------------------------


def _check_value(param: Mapping[str, Any], raw: str) -> None:
    name, where = param["name"], param["in"]
    ptype = param.get("type")
    label = f"{where} parameter {name}={_shown(raw)!r}"

    def fail(problem: str) -> SpecViolation:
        return SpecViolation(f"{label}: {problem}", parameter=name)

    if raw == "":
        raise fail("empty value")
    if ptype == "array":
        if param.get("explode", True) is not False:
            raise fail("exploded arrays are not supported")
        values = raw.split(",")
        enum = (param.get("items") or {}).get("enum")
        for v in values:
            if v == "":
                raise fail("empty item in comma-separated list")
            if enum is not None and v not in enum:
                raise fail(f"{_shown(v)!r} is not one of {_brief(enum)}")
        if len(set(values)) != len(values):
            raise fail("duplicate items")
        return
    if ptype in ("integer", "number"):
        try:
            num: float = int(raw) if ptype == "integer" else float(raw)
        except ValueError:
            raise fail(f"not a valid {ptype}") from None
        if "minimum" in param and num < param["minimum"]:
            raise fail(f"below minimum {param['minimum']}")
        if "maximum" in param and num > param["maximum"]:
            raise fail(f"above maximum {param['maximum']}")
        return
    if ptype == "boolean" and raw not in ("true", "false"):
        raise fail("not 'true' or 'false'")
    enum = param.get("enum")
    if enum is not None and raw not in [e for e in enum if e is not None]:
        raise fail(f"not one of {_brief(enum)}")


def check_path(op: Operation, values: Mapping[str, str]) -> None:
    """Each path parameter's (decoded) value against its declaration."""
    declared = {p["name"]: p for p in op.parameters if p["in"] == "path"}
    for name, value in values.items():
        param = declared.get(name)
        if param is None:
            raise SpecViolation(f"path parameter {{{name}}} is not declared", parameter=name)
        _check_value(param, value)


def check_filter(op: Operation, value: str) -> None:
    """Every ``operator(field, ...)`` in ``value`` uses a filterable field and an allowed operator."""
    stripped = _QUOTED_RE.sub("''", value)
    calls = _FILTER_CALL_RE.findall(stripped)
    if not calls:
        raise SpecViolation(
            f"filter {_shown(value)!r} contains no operator(field, value) expression", parameter="filter"
        )
    for operator, fname, after, bracket in calls:
        if operator in _LOGICAL:
            continue
        spec = op.filters.get(fname)
        if spec is None:
            raise SpecViolation(
                f"filter field {_shown(fname)!r} is not filterable; allowed: {_brief(sorted(op.filters))}",
                parameter="filter",
            )
        if after.startswith(","):
            allowed = spec.list_operators if bracket else spec.single_operators
            kind = "list" if bracket else "single-value"
        else:
            allowed, kind = spec.none_operators, "value-less"
        if operator not in allowed:
            raise SpecViolation(
                f"filter {_shown(operator)}({fname}, ...) is not allowed as a {kind} operator; "
                f"allowed {kind} operators for {fname}: {list(allowed)}",
                parameter="filter",
            )


def check_query(op: Operation, pairs: Sequence[tuple[str, str]]) -> None:
    """The query string's ``(name, value)`` pairs, in order, against the operation's parameters."""
    declared = {p["name"]: p for p in op.parameters if p["in"] == "query"}
    seen: set[str] = set()
    for name, value in pairs:
        param = declared.get(name)
        if param is None:
            raise SpecViolation(
                f"undeclared query parameter {_shown(name)!r}; declared: {_brief(sorted(declared))}",
                parameter=_shown(name),
            )
        if name in seen:
            raise SpecViolation(
                f"query parameter {name!r} repeated (use one comma-separated value)", parameter=name
            )
        seen.add(name)
        _check_value(param, value)
        if name == "filter":
            check_filter(op, value)
    missing = sorted(n for n, p in declared.items() if p.get("required") and n not in seen)
    if missing:
        raise SpecViolation(f"missing required query parameters {missing}", parameter=missing[0])


def check_headers(op: Operation, headers: Mapping[str, str]) -> None:
    """Declared header parameters: required ones present; ``revision`` well formed.

    ``headers`` must have lower-case keys.
    """
    for p in op.parameters:
        if p["in"] != "header":
            continue
        value = headers.get(p["name"].lower())
        if value is None:
            if p.get("required"):
                raise SpecViolation(f"missing required header {p['name']!r}", parameter=p["name"])
            continue
        if p["name"].lower() == "revision" and not REVISION_RE.match(value):
            raise SpecViolation(
                f"revision header {_shown(value)!r} is not YYYY-MM-DD[.suffix]", parameter=p["name"]
            )


# -- bodies -------------------------------------------------------------------------------

_lock = threading.Lock()
_fast: dict[int, Callable[[Any], Any]] = {}
_slow: dict[int, Any] = {}


def _datetime_ok(value: Any) -> bool:
    return not isinstance(value, str) or bool(DATETIME_RE.match(value))


def _date_ok(value: Any) -> bool:
    return not isinstance(value, str) or bool(DATE_RE.match(value))


def _anything(value: Any) -> bool:
    return True


# The formats the spec uses; only date and date-time are checked (as the contract tests always did).
_FORMATS: dict[str, Callable[[Any], bool]] = {
    "date-time": _datetime_ok,
    "date": _date_ok,
    "time": _anything,
    "uri": _anything,
    "binary": _anything,
    "email": _anything,
}


def _fast_validator(schema: dict[str, Any]) -> Callable[[Any], Any]:
    key = id(schema)  # schemas are cached for the process, so their identity is stable
    validator = _fast.get(key)
    if validator is None:
        import fastjsonschema

        with _lock:
            validator = _fast.get(key)
            if validator is None:
                # use_default=False: validation must never write defaults into the body.
                validator = fastjsonschema.compile(schema, formats=_FORMATS, use_default=False)
                _fast[key] = validator
    return validator


def _slow_validator(schema: dict[str, Any]) -> Any:
    key = id(schema)
    validator = _slow.get(key)
    if validator is None:
        from jsonschema import Draft202012Validator, FormatChecker

        checker = FormatChecker(formats=())
        checker.checks("date-time")(_datetime_ok)
        checker.checks("date")(_date_ok)
        validator = Draft202012Validator(schema, format_checker=checker)
        _slow[key] = validator
    return validator


_uses: dict[int, int] = {}
# Compiling a validator costs about as much as checking a few hundred small bodies with jsonschema, so a
# schema is compiled on its second use: a one-off check stays cheap, a hot path (bulk ingestion) fast.
_COMPILE_AFTER = 1


def _errors(schema: dict[str, Any], instance: Any) -> list[tuple[str, str]]:
    import fastjsonschema

    key = id(schema)
    uses = _uses.get(key, 0)
    if uses >= _COMPILE_AFTER or key in _fast:
        try:
            _fast_validator(schema)(instance)
            return []
        except fastjsonschema.JsonSchemaValueException:
            pass
    else:
        _uses[key] = uses + 1
        if _slow_validator(schema).is_valid(instance):
            return []
    found = list(_slow_validator(schema).iter_errors(instance))
    if not found:
        return []
    found.sort(key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    best = _most_specific(found, schema)
    ordered = [best, *(e for e in found if e is not best)]
    return [(_pointer(err.absolute_path), err.message) for err in ordered]


def _pointer(path: Iterable[Any]) -> str:
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _most_specific(errors: Sequence[Any], root: Mapping[str, Any]) -> Any:
    """The error that best says what is wrong: inside an ``anyOf``, the branch the value meant.

    A nullable member is ``anyOf [schema, null]`` and a union of shapes is an ``anyOf`` told
    apart by a member (``type``, ``method``, ``operator``); "is not valid under any of the given
    schemas" names neither the member nor the problem. So descend: drop the branches the value is
    not even the kind of (a type mismatch at the value itself, or another ``type``), then keep
    the branch that declares most of the value's members (fewest errors next). When no branch
    takes the value's ``type``, the error is that ``type``, with the values the branches allow.
    """
    from jsonschema.exceptions import ValidationError, best_match

    from .instances import resolve

    err = best_match(errors)
    while err.parent is not None:  # best_match may have guessed a branch already; choose again
        err = err.parent
    while err.validator == "anyOf" and err.context:
        branches: dict[int, list[Any]] = {}
        for sub in err.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)

        def other_kind(sub: Any) -> bool:
            if len(sub.path) == 0:
                return bool(sub.validator in ("type", "const", "enum"))
            return list(sub.path) == ["type"] and sub.validator in ("const", "enum")

        meant = {i: subs for i, subs in branches.items() if not any(other_kind(sub) for sub in subs)}
        if not meant:
            allowed = sorted(
                {
                    str(v)
                    for sub in err.context
                    if list(sub.path) == ["type"] and sub.validator in ("const", "enum")
                    for v in (sub.validator_value if sub.validator == "enum" else [sub.validator_value])
                    if v is not None
                }
            )
            value = err.instance.get("type") if isinstance(err.instance, dict) else None
            if allowed and value is not None:
                return ValidationError(
                    f"{value!r} is not one of {allowed}", path=[*err.absolute_path, "type"], validator="enum"
                )
            return err
        members = set(err.instance) if isinstance(err.instance, dict) else set()

        branch_schemas = err.validator_value
        scored = [
            (
                len(members & set(resolve(branch_schemas[index], root).get("properties", {}))),
                -len(subs),
                max(len(sub.path) for sub in subs),
                index,
            )
            for index, subs in meant.items()
        ]
        subs = meant[max(scored)[3]]
        err = max(subs, key=lambda sub: (len(sub.path), sub.validator != "anyOf"))
    return err


def body_errors(op_id: str, body: Any) -> list[tuple[str, str]]:
    """``(json_pointer, message)`` for each way ``body`` breaks the request schema, best first.

    Empty when it conforms (or the operation takes no body).
    """
    schema = schemas.request_schema(op_id)
    return [] if schema is None else _errors(schema, body)


def response_errors(op_id: str, status: int, body: Any) -> list[tuple[str, str]]:
    """As :func:`body_errors`, for the body answered with ``status`` (KeyError: undeclared status)."""
    schema = schemas.response_schema(op_id, status)
    return [] if schema is None else _errors(schema, body)


_REQUIRED_RE = re.compile(r"^'([^']*)' is a required property$")


def check_body(op_id: str, body: Any) -> None:
    """A parsed JSON body against the operation's request schema; :class:`SpecViolation` naming
    the member (for a missing required member, the pointer names the member itself)."""
    found = body_errors(op_id, body)
    if not found:
        return
    path, message = found[0]
    missing = _REQUIRED_RE.match(message)
    pointer = path.rstrip("/") + "/" + missing.group(1) if missing else path
    raise SpecViolation(message, pointer=pointer)


def check_form_parts(op_id: str, names: Sequence[str]) -> None:
    """A multipart form's part names against the declared properties and required parts."""
    schema = schemas.request_schema(op_id) or {}
    target = schema
    while "$ref" in target:  # the form's schema is one named component
        target = schema["$defs"][target["$ref"].rsplit("/", 1)[-1]]
    props = target.get("properties", {})
    undeclared = sorted(set(names) - set(props))
    if undeclared:
        raise SpecViolation(
            f"undeclared multipart parts {undeclared}; allowed: {sorted(props)}", pointer=f"/{undeclared[0]}"
        )
    missing = sorted(set(target.get("required", [])) - set(names))
    if missing:
        raise SpecViolation(f"'{missing[0]}' is a required form field.", pointer=f"/{missing[0]}")


def check_request(
    op: Operation,
    path_values: Mapping[str, str],
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
) -> None:
    """Path, query and headers (lower-case keys) of one request; the body is :func:`check_body`."""
    check_path(op, path_values)
    check_query(op, query)
    check_headers(op, headers)
