"""Action inputs: the one coercion path from form values to validated pydantic models.

Low-code forms send strings. Every action, data source and the raw request validate through
:func:`validate_inputs`: blank strings mean "not given", JSON text becomes objects and arrays,
comma-separated text becomes lists, and pydantic's lax mode turns "10" into 10 and "true"
into True. A failure becomes a :class:`KlaviyoError` naming the field by its label.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from . import catalog
from .errors import USER_FIXABLE, KlaviyoError
from .paths import DOT_SEGMENTS

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# The deepest nesting of objects and arrays an input may have, counting the input value itself.
MAX_INPUT_DEPTH = 64
TOO_DEEP = f"nests objects or arrays more than {MAX_INPUT_DEPTH} levels deep (the limit)"
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types inside Optional / Union / Annotated."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return [t for arg in get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _kind(annotation: Any) -> str:
    """'json' for objects and models, 'list' for arrays, '' otherwise."""
    kinds = set()
    for t in _unwrap(annotation):
        origin = get_origin(t) or t
        if origin in (list, tuple, set, frozenset):
            kinds.add("list")
        elif origin in (dict, Mapping) or (isinstance(origin, type) and issubclass(origin, BaseModel)):
            kinds.add("json")
    if "list" in kinds:
        return "list"
    return "json" if "json" in kinds else ""


class Inputs(BaseModel):
    """Base of every input model. Field names are the input keys; ``title`` is the label."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _coerce_form_values(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        out: dict[str, Any] = {}
        for name, value in data.items():
            info = cls.model_fields.get(name)
            if info is None or not isinstance(value, str):
                out[name] = value
                continue
            text = value.strip()
            if text == "" and not info.is_required():
                continue  # a blank form field means "not given"
            kind = _kind(info.annotation)
            if kind and text.startswith(("[", "{")):
                label = info.title or name
                try:
                    value = json.loads(text)
                except ValueError as exc:
                    raise ValueError(f"{label}|is not valid JSON ({exc.msg} at position {exc.pos})") from None
                except RecursionError:  # deeper than the parser goes, far past the limit
                    raise ValueError(f"{label}|{TOO_DEEP}") from None
            elif kind == "list":
                value = [part.strip() for part in text.split(",") if part.strip()]
            elif text in ("null", "None") and not info.is_required():
                value = None
            out[name] = value
        return out


def label_of(model: type[BaseModel], name: str) -> str:
    info = model.model_fields.get(name)
    return (info.title if info and info.title else name) if info else name


def _describe(model: type[BaseModel], error: Mapping[str, Any]) -> tuple[str, str]:
    loc = [str(p) for p in error.get("loc", ())]
    msg = str(error.get("msg", "is invalid"))
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if not loc and "|" in msg:  # raised by the form coercion, which knows the label
        label, _, msg = msg.partition("|")
        return label, msg
    label = label_of(model, loc[0]) if loc else "Input"
    where = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in loc[1:])
    if error.get("type") == "extra_forbidden":
        if len(loc) > 1:
            return label + where, "is not an allowed member here"
        known = ", ".join(f"{n} ({label_of(model, n)})" for n in model.model_fields)
        return loc[0] if loc else "Input", f"is not an input of this action; the inputs are: {known}"
    if error.get("type") == "missing":
        msg = "is required"
    return label + where, msg


def nesting_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether objects and arrays in ``value`` nest more than ``limit`` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, Mapping) else item
        for child in children:
            if isinstance(child, (Mapping, list, tuple)):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _parse_and_check_depth(model: type[BaseModel], raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with JSON text of object and array inputs parsed (once: the coercion takes the
    parsed value as it is), refusing any value nested deeper than :data:`MAX_INPUT_DEPTH`."""
    data = dict(raw)
    for name, value in data.items():
        info = model.model_fields.get(name) if isinstance(name, str) else None
        label = (info.title or name) if info else str(name)
        if isinstance(value, str) and info is not None and value.lstrip().startswith(("[", "{")):
            text = value.strip()
            if _kind(info.annotation):
                try:
                    value = data[name] = json.loads(text)
                except ValueError:
                    continue  # the coercion reports where the JSON breaks
                except RecursionError:
                    raise _too_deep(label) from None
        if isinstance(value, (Mapping, list, tuple)) and nesting_depth_exceeds(value, MAX_INPUT_DEPTH - 1):
            raise _too_deep(label)
    return data


def _too_deep(label: str) -> KlaviyoError:
    return KlaviyoError(
        f"Invalid input. {label}: {TOO_DEEP}", code="invalid_input", field=label, detail=TOO_DEEP
    )


def validate_inputs(model: type[BaseModel], raw: Mapping[str, Any] | None) -> Any:
    """Coerce and validate ``raw`` into ``model``; raise KlaviyoError naming the field's label.

    Objects and arrays (or JSON text of them) nested more than :data:`MAX_INPUT_DEPTH` levels
    are refused first: nothing Klaviyo takes nests that deep, and deeper input would exhaust
    the parser's recursion.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise KlaviyoError("Inputs must be an object of input keys to values.", code="invalid_input")
    data = _parse_and_check_depth(model, raw)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(model, e) for e in exc.errors(include_url=False, include_input=False)]
        text = "; ".join(f"{label}: {msg}" for label, msg in problems)
        raise KlaviyoError(
            f"Invalid input. {text}",
            error_class=USER_FIXABLE,
            code="invalid_input",
            field=problems[0][0],
            detail=text,
            errors=[{"field": label, "detail": msg} for label, msg in problems],
        ) from None


# -- shared field types --------------------------------------------------------------------------


def _e164(value: str) -> str:
    compact = _PHONE_PUNCTUATION.sub("", value)
    if not E164.match(compact):
        raise ValueError(f"must be an E.164 phone number such as +15005550006 (got {value!r})")
    return compact


def _email(value: str) -> str:
    from email_validator import EmailNotValidError, validate_email  # imported on first use

    try:
        return validate_email(value, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"is not a valid email address ({exc})") from None


def _resource_id(value: str) -> str:
    """IDs land in request paths: a dot segment would change which endpoint is called."""
    if value in DOT_SEGMENTS:
        raise ValueError(
            f"{value!r} is not a valid ID ('.' and '..' are refused: they change the request path)"
        )
    return value


PhoneNumber = Annotated[str, AfterValidator(_e164)]
ResourceId = Annotated[str, AfterValidator(_resource_id)]
Email = Annotated[str, AfterValidator(_email)]


# -- time inputs: one rule for every date-time -----------------------------------------------------
#
# A date-time without a UTC offset is refused, never guessed. Reading it as UTC would shift it
# by the writer's own offset without a word (consent backdated by hours west of UTC, a send
# time hours late east of it). Every such field states TIME_HELP and every error about such a
# value names TIME_RULE. A day (YYYY-MM-DD) is not a time: fields that take days keep them.

TIME_EXAMPLES = "2026-05-01T09:00:00Z or 2026-05-01T09:00:00-05:00"
TIME_RULE = f"include a UTC offset, e.g. {TIME_EXAMPLES}; a time without an offset is not guessed"
TIME_HELP = (
    f"A date-time needs a UTC offset (Z or ±HH:MM), e.g. {TIME_EXAMPLES}; a time without an offset is "
    "refused, not guessed."
)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@functools.cache
def _datetime_adapter() -> TypeAdapter[dt.datetime]:
    return TypeAdapter(dt.datetime)


def _shown(value: Any) -> str:
    text = value.isoformat() if isinstance(value, dt.date) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _time_error(value: Any, problem: str) -> ValueError:
    return ValueError(f"{problem} (got {_shown(value)}); {TIME_RULE}")


def _offset_required(moment: dt.datetime, value: Any) -> dt.datetime:
    if moment.utcoffset() is None:
        raise _time_error(value, "has no UTC offset")
    return moment


def _parse_time(value: Any, handler: ValidatorFunctionWrapHandler) -> dt.datetime:
    try:
        moment = handler(value)
    except ValidationError:  # pydantic's own message never says what form is wanted
        raise _time_error(value, "is not an ISO 8601 date-time") from None
    return _offset_required(moment, value)


UtcDatetime = Annotated[dt.datetime, WrapValidator(_parse_time)]
"""A date-time input under the rule: aware, with the offset it was given."""


def aware_datetime(value: Any, what: str = "an ISO 8601 date-time") -> dt.datetime:
    """One date-time under the rule, for values outside a typed field (JSON passed through)."""
    try:
        moment = _datetime_adapter().validate_python(value)
    except ValidationError:
        raise _time_error(value, f"is not {what}") from None
    return _offset_required(moment, value)


def _day_or_time(value: Any, handler: ValidatorFunctionWrapHandler) -> dt.date | dt.datetime:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _DAY.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"is not a valid day (got {value!r}); write a day as YYYY-MM-DD") from None
    return aware_datetime(value, "a day (YYYY-MM-DD) or an ISO 8601 date-time")


DayOrTime = Annotated[dt.date | dt.datetime, WrapValidator(_day_or_time)]
"""A day (``date``) or a date-time under the rule (aware ``datetime``)."""

DAY_OR_TIME_HELP = "A day (YYYY-MM-DD) or a date-time. " + TIME_HELP


def utc_iso(moment: dt.datetime) -> str:
    """An aware date-time as Klaviyo's UTC form, for messages: 2026-05-01T14:00:00Z."""
    return moment.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class BodyEnum:
    """``Annotated[str, BodyEnum(operation, path)]``: the value must be one the spec's enum
    allows at ``path`` of the operation's request body (see ``catalog.body_enum``).

    The catalog is read when a value is checked or the JSON schema is built, not at import,
    and the schema carries the enum, so a form can offer the values as a picklist.
    """

    operation: str
    path: str

    def allowed(self) -> tuple[Any, ...]:
        return catalog.body_enum(self.operation, self.path)

    def _check(self, value: Any) -> Any:
        allowed = self.allowed()
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(map(str, allowed))}")
        return value

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out["enum"] = list(self.allowed())
        return out


def data_source(name: str) -> dict[str, Any]:
    """JSON Schema extra naming the picklist that fills an ID input."""
    return {"x-data-source": name}


def IdField(label: str, description: str, example: str, source: str | None = None) -> Any:  # noqa: N802
    """A required resource ID input, wired to its picklist."""
    return Field(
        title=label,
        description=description,
        examples=[example],
        min_length=1,
        json_schema_extra=data_source(source) if source else None,
    )


def exactly_one(*inputs: tuple[str, object]) -> None:
    """Refuse unless exactly one of these ``(label, value)`` inputs is given, naming what was."""
    given = [label for label, value in inputs if value]
    if len(given) != 1:
        labels = [label for label, _ in inputs]
        got = f" (got {', '.join(given)})" if given else ""
        raise ValueError(f"give exactly one of {', '.join(labels[:-1])} or {labels[-1]}{got}")
