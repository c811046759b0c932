"""Action inputs: the one coercion path from form values to validated pydantic models.

Low-code forms send strings. Every action, data source and the raw request validate through
:func:`validate_inputs`: blank strings mean "not given", JSON text becomes objects and arrays,
comma-separated text becomes lists, and pydantic's lax mode turns "10" into 10 and "true"
into True. A failure becomes a :class:`KlaviyoError` naming the field by its label.
"""

from __future__ import annotations

import datetime as dt
import functools
import gc
import json
import re
import types
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)
from pydantic.json_schema import DEFAULT_REF_TEMPLATE, GenerateJsonSchema, JsonSchemaMode, JsonSchemaValue
from pydantic_core import CoreSchema, core_schema

from . import catalog
from .errors import USER_FIXABLE, KlaviyoError
from .naming import ACRONYMS
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


# -- form schemas: the JSON Schema a builder renders --------------------------------------------
#
# Every input model's schema is made by FormSchema, so every action, data source and nested model
# gets the same form: required inputs first (declared order otherwise); an optional input typed as
# its own type, with no null alternative (blank or null still validates as "not given", but a
# renderer shows no type picker); titles that are labels, never class names; an example for every
# field and every model; and the model's cross-field rules as JSON Schema plus sentences naming
# the labels (``x-rules``) for renderers that don't evaluate combinators.

_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
# Where a model's schema lists the inputs its derived example needs; removed before it is returned.
_EXAMPLE_FIELDS = "x-example-fields"
# Values, not schemas: their keys keep the order they were written in.
_DATA_KEYS = frozenset({"const", "default", "enum", "examples"})
_NO_EXAMPLE = object()


def form_label(model: type[BaseModel]) -> str:
    """A model's label: its own ``FORM_LABEL``, else its class name in words without "Inputs"
    (``CreateProfileInputs`` -> "Create Profile", ``CampaignIdInputs`` -> "Campaign ID")."""
    own = vars(model).get("FORM_LABEL")
    if own:
        return str(own)
    words = _WORDS.findall(model.__name__)
    if len(words) > 1 and words[-1].lower() in ("input", "inputs"):
        words = words[:-1]
    return " ".join(ACRONYMS.get(w.lower(), w.capitalize() if w.islower() else w) for w in words)


def listed(labels: Sequence[str], last: str = "or") -> str:
    """``a, b or c`` (``last`` joins the last two)."""
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} {last} {labels[-1]}"


def field_label(model: type[BaseModel], name: str) -> str:
    """The label a form shows for an input: its title, else its name in words as pydantic titles it."""
    info = model.model_fields.get(name)
    return info.title if info is not None and info.title else name.replace("_", " ").title()


def _required(*names: str) -> dict[str, Any]:
    return {"required": list(names)}


# Text that is not blank; the coercion treats blank text as "not given" (inputs are stripped).
NONBLANK = r"\S"
# What "given" means to a rule: present, and not blank text nor an empty list (as validators see it).
_GIVEN_VALUE = {"pattern": NONBLANK, "minItems": 1}


def _given(name: str) -> dict[str, Any]:
    """The schema of ``name`` being given: present with a value that is not blank nor empty."""
    return {"required": [name], "properties": {name: dict(_GIVEN_VALUE)}}


class FormRule(ABC):
    """A cross-field rule shown in a form schema: a sentence naming the inputs by label and,
    where JSON Schema can say it, the schema that says it.

    Declared on a model as ``FORM_RULES``. Showing a rule changes no validation: the model's
    own validators (or its action) enforce it, with their own messages.
    """

    fields: tuple[str, ...] = ()

    @abstractmethod
    def sentence(self, model: type[BaseModel]) -> str:
        """The rule in words, naming the inputs by their labels."""

    def schema(self) -> dict[str, Any] | None:
        """The rule in JSON Schema, or None where only the sentence can say it."""
        return None

    def example_fields(self) -> tuple[str, ...]:
        """The inputs a model's smallest example includes to keep this rule."""
        return ()

    def _labels(self, model: type[BaseModel], names: Sequence[str]) -> list[str]:
        return [field_label(model, name) for name in names]


class AtLeastOne(FormRule):
    """At least one of these inputs is given (``note`` says why, when it helps)."""

    def __init__(self, *fields: str, note: str = "") -> None:
        self.fields = fields
        self.note = note

    def sentence(self, model: type[BaseModel]) -> str:
        why = f": {self.note}" if self.note else ""
        return f"Give at least one of {listed(self._labels(model, self.fields))}{why}."

    def schema(self) -> dict[str, Any]:
        return {"anyOf": [_given(name) for name in self.fields]}

    def example_fields(self) -> tuple[str, ...]:
        return self.fields[:1]


class ExactlyOne(FormRule):
    """Exactly one of these inputs is given."""

    def __init__(self, *fields: str) -> None:
        self.fields = fields

    def sentence(self, model: type[BaseModel]) -> str:
        return f"Give exactly one of {listed(self._labels(model, self.fields))}."

    def schema(self) -> dict[str, Any]:
        return {"oneOf": [_given(name) for name in self.fields]}

    def example_fields(self) -> tuple[str, ...]:
        return self.fields[:1]


class NotTogether(FormRule):
    """``field`` is not given together with any of ``others``."""

    def __init__(self, field: str, *others: str) -> None:
        self.fields = (field, *others)

    def sentence(self, model: type[BaseModel]) -> str:
        first, *others = self._labels(model, self.fields)
        return f"{first} cannot be combined with {listed(others)}."

    def schema(self) -> dict[str, Any]:
        # Given as the validators see it: blank text and empty lists are "not given".
        first, *others = self.fields
        if len(others) == 1:
            return {"not": {"allOf": [_given(first), _given(others[0])]}}
        return {"not": {**_given(first), "anyOf": [_given(name) for name in others]}}


class Requires(FormRule):
    """``field`` is given only with all of ``needs``."""

    def __init__(self, field: str, *needs: str) -> None:
        self.fields = (field, *needs)

    def sentence(self, model: type[BaseModel]) -> str:
        first, *needs = self._labels(model, self.fields)
        return f"{first} needs {listed(needs, 'and')}."

    def schema(self) -> dict[str, Any]:
        first, *needs = self.fields
        return {"dependentRequired": {first: list(needs)}}


class Stated(FormRule):
    """Any other rule: its sentence as written and, when JSON Schema can say it, its schema."""

    def __init__(self, text: str, schema: Mapping[str, Any] | None = None) -> None:
        self.text = text
        self._schema = dict(schema) if schema is not None else None

    def sentence(self, model: type[BaseModel]) -> str:
        return self.text

    def schema(self) -> dict[str, Any] | None:
        return json.loads(json.dumps(self._schema)) if self._schema is not None else None


def _sorted_schema(value: Any, parent: str | None = None) -> Any:
    """Keys of schema objects sorted (as pydantic does), but not the order of properties nor
    anything inside a value (defaults, examples, enums)."""
    if parent in _DATA_KEYS:
        return value
    if isinstance(value, dict):
        keys = list(value) if parent == "properties" else sorted(value)
        named = parent in ("properties", "$defs", "dependentRequired")
        return {k: _sorted_schema(value[k], None if named else k) for k in keys}
    if isinstance(value, list):
        return [_sorted_schema(item, parent) for item in value]
    return value


class FormSchema(GenerateJsonSchema):
    """The JSON Schema of an input model as a form (see the section comment above)."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        if schema.get("default", ...) is None:  # "not given": the form leaves the field empty
            out = self.generate_inner(schema["schema"])
        else:
            out = super().default_schema(schema)
        if isinstance(out.get("pattern"), str):  # blank text is "not given" (the default), not a bad value
            out["pattern"] = f"^\\s*$|{out['pattern']}"
        return out

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        out = super().str_schema(schema)
        if out.get("minLength", 0) >= 1 and "pattern" not in out:  # inputs are stripped: " " is ""
            out["pattern"] = NONBLANK
        return out

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        out = super().model_schema(schema)
        cls = schema["cls"]
        out["title"] = form_label(cls)
        required = list(out.get("required", ()))
        props = out.get("properties")
        if props:
            for name, value in props.items():  # a nested object's input keeps a label of its own
                if not value.get("title"):
                    value["title"] = field_label(cls, name)
            first = {name: value for name, value in props.items() if name in required}
            out["properties"] = {**first, **{n: v for n, v in props.items() if n not in first}}
        rules: Sequence[FormRule] = getattr(cls, "FORM_RULES", ())
        checks = [check for check in (rule.schema() for rule in rules) if check]
        if len(checks) == 1 and not set(checks[0]) & set(out):
            out.update(checks[0])
        elif checks:
            out["allOf"] = checks
        if rules:
            out["x-rules"] = [rule.sentence(cls) for rule in rules]
        example = getattr(cls, "FORM_EXAMPLE", None)
        if example is not None:
            out["examples"] = [example]
        else:
            extra = [name for rule in rules for name in rule.example_fields() if name not in required]
            out[_EXAMPLE_FIELDS] = required + list(dict.fromkeys(extra))
        return out

    def sort(self, value: JsonSchemaValue, parent_key: str | None = None) -> JsonSchemaValue:
        return _sorted_schema(value, parent_key)

    def handle_ref_overrides(self, json_schema: JsonSchemaValue) -> JsonSchemaValue:
        # An input's label stays on the input even when its object's title reads the same.
        title = json_schema.get("title")
        out = super().handle_ref_overrides(json_schema)
        if title is not None and "$ref" in out:
            out["title"] = title
        return out

    def generate(self, schema: CoreSchema, mode: JsonSchemaMode = "validation") -> JsonSchemaValue:
        out = super().generate(schema, mode)
        _complete_examples(out)
        return out


def _complete_examples(root: dict[str, Any]) -> None:
    """Give every property and every model of ``root`` an example where none was written: the
    value a closed set offers first (a const, the default or first enum value, a boolean), the
    default, the referenced model's example, or an array of its item's example. A model's own
    example is its required inputs plus the first input of each presence rule."""
    defs: dict[str, Any] = root.get("$defs") or {}

    def model_example(node: dict[str, Any], seen: frozenset[int]) -> Any:
        needed = node.get(_EXAMPLE_FIELDS)
        if node.get("examples"):
            return node["examples"][0]
        if id(node) in seen:
            return _NO_EXAMPLE
        props = node.get("properties") or {}
        example: dict[str, Any] = {}
        for name in needed or ():
            value = example_of(props.get(name, {}), seen | {id(node)})
            if value is _NO_EXAMPLE:
                return _NO_EXAMPLE
            example[name] = value
        node["examples"] = [example]
        return example

    def example_of(node: dict[str, Any], seen: frozenset[int]) -> Any:
        if node.get("examples"):
            return node["examples"][0]
        if "$ref" in node:
            target = defs.get(node["$ref"].rsplit("/", 1)[-1])
            return _NO_EXAMPLE if target is None else model_example(target, seen)
        if "const" in node:
            return node["const"]
        if node.get("enum"):
            return node["default"] if node.get("default") in node["enum"] else node["enum"][0]
        if "default" in node:
            return node["default"]
        if "properties" in node:
            return model_example(node, seen)
        if node.get("type") == "boolean":
            return True
        if node.get("type") == "array" and isinstance(node.get("items"), dict):
            item = example_of(node["items"], seen)
            return _NO_EXAMPLE if item is _NO_EXAMPLE else [item]
        options = [example_of(option, seen) for option in node.get("oneOf") or node.get("anyOf") or ()]
        found = [option for option in options if option is not _NO_EXAMPLE]
        return min(found, key=lambda o: len(json.dumps(o, default=str))) if found else _NO_EXAMPLE

    models = [root, *defs.values()]
    for model in models:
        for prop in (model.get("properties") or {}).values():
            if not prop.get("examples"):
                value = example_of(prop, frozenset())
                if value is not _NO_EXAMPLE:
                    prop["examples"] = [value]
    for model in models:
        model_example(model, frozenset())
    for model in models:
        model.pop(_EXAMPLE_FIELDS, None)


def form_schema(model: type[BaseModel], label: str | None = None) -> dict[str, Any]:
    """The form a builder renders for ``model``, titled ``label`` (its action's or data source's)."""
    schema = model.model_json_schema(schema_generator=FormSchema)
    if label:
        schema["title"] = label
    return schema


class Inputs(BaseModel):
    """Base of every input model. Field names are the input keys; ``title`` is the label."""

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, str_strip_whitespace=True, defer_build=True
    )

    FORM_LABEL: ClassVar[str] = ""  # the model's label, when its class name in words is not one
    FORM_RULES: ClassVar[tuple[FormRule, ...]] = ()  # cross-field rules the form shows
    FORM_EXAMPLE: ClassVar[Mapping[str, Any] | None] = None  # else derived (see _complete_examples)

    @classmethod
    def model_json_schema(
        cls,
        by_alias: bool = True,
        ref_template: str = DEFAULT_REF_TEMPLATE,
        schema_generator: type[GenerateJsonSchema] = FormSchema,
        mode: JsonSchemaMode = "validation",
        **options: Any,
    ) -> dict[str, Any]:
        """The model's form schema (made by :class:`FormSchema` unless another generator is given)."""
        return super().model_json_schema(by_alias, ref_template, schema_generator, mode, **options)

    @model_validator(mode="before")
    @classmethod
    def _coerce_form_values(cls, data: Any) -> Any:
        # Runs for every row of an array of models: the field facts are looked up once per model,
        # and the row is copied only when a value changes.
        if not isinstance(data, Mapping):
            return data
        facts = _form_facts(cls)
        out: dict[str, Any] | None = None
        for name, value in data.items():
            fact = facts.get(name) if isinstance(value, str) else None
            if fact is None:
                continue
            kind, required, label = fact
            text = value.strip()
            if text == "" and not required:
                new: Any = _BLANK  # a blank form field means "not given"
            elif kind and text.startswith(("[", "{")):
                try:
                    new = json.loads(text)
                except ValueError as exc:
                    raise ValueError(f"{label}|is not valid JSON ({exc.msg} at position {exc.pos})") from None
                except RecursionError:  # deeper than the parser goes, far past the limit
                    raise ValueError(f"{label}|{TOO_DEEP}") from None
            elif kind == "list":
                new = [part.strip() for part in text.split(",") if part.strip()]
            elif text in ("null", "None") and not required:
                new = None
            else:
                continue
            if out is None:
                out = dict(data)
            if new is _BLANK:
                del out[name]
            else:
                out[name] = new
        if out is None:
            return data if isinstance(data, dict) else dict(data)
        return out


_BLANK = object()


@functools.cache
def _form_facts(model: type[BaseModel]) -> dict[str, tuple[str, bool, str]]:
    """Input key -> (its :func:`_kind`, whether it is required, its label), per model."""
    return {
        name: (_kind(info.annotation), info.is_required(), info.title or name)
        for name, info in model.model_fields.items()
    }


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
    if error.get("type") in _OBJECT_ERRORS and _plain_text(error.get("input")):
        like = _object_example(model, tuple(error.get("loc", ())))
        if like is not None:
            msg = f"must be an object like {like}"
    return label + where, msg


# -- objects given as plain text: name the shape wanted, with the nested model's own example --------

_OBJECT_ERRORS = frozenset({"model_type", "model_attributes_type", "dict_type"})
_SEQUENCES = (list, tuple, set, frozenset)


def _plain_text(value: Any) -> bool:
    """Text, or a list of texts, where an object was wanted (e.g. emails for profiles)."""
    if isinstance(value, str):
        return True
    return isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, str) for v in value)


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


Branches = list[tuple[Any, "str | None"]]


def _branches(annotation: Any) -> Branches:
    """The alternatives of a type, each with its union tag (a ``Tag``) when it has one."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *meta = get_args(annotation)
        tag = next((m.tag for m in meta if isinstance(m, Tag)), None)
        return [(t, own if own is not None else tag) for t, own in _branches(inner)]
    if origin is Union or origin is types.UnionType:
        return [branch for arg in get_args(annotation) for branch in _branches(arg)]
    return [(annotation, None)]


def _names_branch(annotation: Any, part: str) -> bool:
    """Whether ``part`` is how pydantic names this member of a union in an error's location
    (``KeyValue``, ``list[KeyValue]``, ``dict[constrained-str,any]``)."""
    name = getattr(get_origin(annotation) or annotation, "__name__", "")
    return bool(name) and (part == name or part.startswith(f"{name}["))


def _tagged(model: type[BaseModel], tag: str) -> bool:
    """Whether one of ``model``'s Literal fields (a discriminator) takes ``tag``."""
    return any(
        get_origin(info.annotation) is Literal and tag in get_args(info.annotation)
        for info in model.model_fields.values()
    )


def _step(branches: Branches, part: str | int) -> tuple[Branches, tuple[type[BaseModel], str] | None] | None:
    """Where one step of an error's location leads: the branches there and, when the step is a
    model's field, that (model, field). None when the step names a union member pydantic labels
    by its type (such as ``list[KeyValue]``): the location goes on from the same branches."""
    if isinstance(part, int):
        for t, _ in branches:
            if get_origin(t) in _SEQUENCES:
                return _branches(get_args(t)[0]), None
        return None
    for t, tag in branches:
        if tag == part or (len(branches) > 1 and _names_branch(t, part)):
            return _branches(t), None
    for t, _ in branches:
        if _is_model(t) and part in t.model_fields:
            return _branches(t.model_fields[part].annotation), (t, part)
    for t, _ in branches:
        if _is_model(t) and _tagged(t, part):
            return [(t, None)], None
    for t, _ in branches:
        if get_origin(t) in (dict, Mapping):
            return _branches(get_args(t)[1]), None
    return None


@functools.lru_cache(maxsize=128)
def _schema_of(model: type[BaseModel]) -> dict[str, Any]:
    return form_schema(model)


def _object_example(model: type[BaseModel], loc: Sequence[str | int]) -> str | None:
    """JSON text of an example of the object wanted at ``loc``: the nested model's own example
    (the shortest, for a union of models), else the example of the object input itself."""
    if not loc or str(loc[0]) not in model.model_fields:
        return None
    owner: tuple[type[BaseModel], str] = (model, str(loc[0]))
    branches = _branches(model.model_fields[str(loc[0])].annotation)
    for part in loc[1:]:
        step = _step(branches, part)
        if step is not None:
            branches, field = step
            owner = field or owner
    found: list[Any] = []
    for t, _ in branches:
        if _is_model(t):
            found.extend(_schema_of(t).get("examples", [])[:1])
    if not found:
        prop = _schema_of(owner[0]).get("properties", {}).get(owner[1], {})
        found = [e for e in prop.get("examples", [])[:1] if isinstance(e, Mapping)]
    if not found:
        return None
    texts = [json.dumps(example, ensure_ascii=False, default=str) for example in found]
    return min(texts, key=len)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def nesting_depth_exceeds(value: Any, limit: int) -> bool:
    """Whether objects and arrays in ``value`` nest more than ``limit`` levels (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, Mapping) else item
        for child in children:
            # Most values are scalars: skip them before the (slower) abstract Mapping check.
            if type(child) not in _SCALARS and isinstance(child, (Mapping, list, tuple)):
                if depth >= limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _parse_and_check_depth(model: type[BaseModel], raw: Mapping[str, Any]) -> dict[str, Any]:
    """``raw`` with JSON text of object and array inputs parsed (once: the coercion takes the
    parsed value as it is), refusing any value nested deeper than :data:`MAX_INPUT_DEPTH`."""
    data = dict(raw)
    fields = model.model_fields
    for name, value in data.items():
        info = fields.get(name) if isinstance(name, str) else None
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


def collector_paused() -> _CollectorPaused:
    """``with collector_paused():`` pauses Python's cyclic garbage collector (reference counting
    goes on) while a big input is checked or built: each collection re-walks every row made so
    far, which cost checking a big array about 40% more, and rows hold no reference cycles to
    collect. Re-enabled on the way out only if it was on, so a host that turned it off keeps it
    off."""
    return _CollectorPaused()


class _CollectorPaused:
    # A class, not a generator context manager: every action run's input check enters one.
    __slots__ = ("was_on",)

    def __enter__(self) -> None:
        self.was_on = gc.isenabled()
        gc.disable()

    def __exit__(self, *exc_info: Any) -> None:
        if self.was_on:
            gc.enable()


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
        with collector_paused():
            return model.model_validate(data)
    except ValidationError as exc:
        problems = [_describe(model, e) for e in exc.errors(include_url=False)]
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


# An unquoted ASCII local part (dot-atom): email-validator keeps it as it is.
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")


@functools.lru_cache(maxsize=4096)
def _email_domain(domain: str) -> str | None:
    """``domain`` as email-validator normalizes it, or None if it refuses it. Bulk rows share a
    few domains, so the validator's domain checks (most of its cost) run once per domain."""
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(f"a@{domain}", check_deliverability=False).normalized.partition("@")[2]
    except EmailNotValidError:
        return None


def _email(value: str) -> str:
    local, at, domain = value.rpartition("@")
    if at and len(local) <= 64 and domain.isascii() and _DOT_ATOM.fullmatch(local):
        normalized = _email_domain(domain)
        if normalized is not None and len(local) + 1 + len(normalized) <= 254:
            return f"{local}@{normalized}"  # what the validator returns for such an address
    # Anything else (and every refusal, for its message) takes the validator's full check.
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


class FormHint:
    """``Annotated[..., FormHint(pattern=...)]``: JSON Schema keywords a form shows for what a
    validator checks, so a form refuses what the run would. Only the schema changes: the value
    is still checked by its validator, with that validator's message."""

    def __init__(self, **keywords: Any) -> None:
        self.keywords = keywords

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        out = handler(schema)
        out.update(json.loads(json.dumps(self.keywords)))
        return out


# The runtime strips _PHONE_PUNCTUATION before matching E164: the form allows it where it may stand.
_P = _PHONE_PUNCTUATION.pattern
PHONE_PATTERN = f"^{_P}*\\+{_P}*[1-9](?:{_P}*\\d){{6,14}}{_P}*$"
# A form's approximation of email-validator: one @, a local part, and a dotted domain.
EMAIL_PATTERN = r"^[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+$"

PhoneNumber = Annotated[str, AfterValidator(_e164), FormHint(pattern=PHONE_PATTERN)]
ResourceId = Annotated[str, AfterValidator(_resource_id)]
Email = Annotated[str, AfterValidator(_email), FormHint(pattern=EMAIL_PATTERN)]


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


# A form's view of the rule: an ISO 8601 date-time that ends with its UTC offset.
TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:[Zz]|[+-]\d{2}:?\d{2})$"

UtcDatetime = Annotated[dt.datetime, WrapValidator(_parse_time), FormHint(pattern=TIME_PATTERN)]
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


DayOrTime = Annotated[
    dt.date | dt.datetime, WrapValidator(_day_or_time), FormHint(pattern=f"{_DAY.pattern}|{TIME_PATTERN}")
]
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


@dataclass(frozen=True)
class EnumHint:
    """``Field(json_schema_extra=EnumHint(operation, query=...))`` (or ``body=`` a request-body path,
    as in ``catalog.body_enum``): the form offers the values the spec's enum allows there as the
    input's enum (its items' enum for a list input), read from the catalog when the schema is built.

    Only the schema changes: the value is checked where the action builds its request, with
    that check's own message (e.g. ``listing.check_choice`` for query parameters).
    """

    operation: str
    query: str = ""
    body: str = ""
    contains: tuple[str, ...] = ()  # values a list input must include (checked where it is built)

    def allowed(self) -> tuple[Any, ...]:
        if self.body:
            return catalog.body_enum(self.operation, self.body)
        spec = catalog.operation(self.operation).param(self.query)
        if spec is None:
            raise KeyError(f"{self.operation}: no query parameter {self.query!r}")
        return tuple(spec.get("enum") or (spec.get("items") or {}).get("enum") or ())

    def __call__(self, schema: dict[str, Any]) -> None:
        target = schema.get("items") if schema.get("type") == "array" else schema
        if isinstance(target, dict):
            target["enum"] = list(self.allowed())
        if self.contains:
            schema["minItems"] = len(self.contains)
            schema["allOf"] = [{"contains": {"const": value}} for value in self.contains]


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
