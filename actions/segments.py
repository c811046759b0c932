"""Segments: create, read, update, delete and list segments, and list the profiles in one.

A segment's definition is ``condition_groups``: every group must match (AND) and, inside a
group, any condition may match (OR). The common condition types are typed here, with the
members and operators the API accepts; the rarer ones pass through as written (they still
need a ``type``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from klaviyo_connector import catalog
from klaviyo_connector.actions.lists import (
    INCLUDE_EXAMPLE,
    INCLUDE_HELP,
    PROFILE_FIELDS_HELP,
    delete_group,
    flow_fields,
    get_group,
    group_fields,
    include_field,
    list_group_profiles,
    list_groups,
    tag_fields,
)
from klaviyo_connector.actions.profiles import additional_profile_fields, profile_fields
from klaviyo_connector.context import Context
from klaviyo_connector.errors import input_error
from klaviyo_connector.inputs import (
    TIME_HELP,
    AtLeastOne,
    EnumHint,
    FormRule,
    IdField,
    Inputs,
    ResourceId,
    Stated,
    aware_datetime,
    data_source,
    field_label,
    listed,
)
from klaviyo_connector.jsonapi import resource, wire_value
from klaviyo_connector.listing import list_inputs
from klaviyo_connector.model import Action
from klaviyo_connector.paths import api_path
from klaviyo_connector.reads import read_params
from klaviyo_connector.writes import create_once, natural_key
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

SEGMENT_ID_HELP = "The ID of the segment."
SEGMENT_ID_EXAMPLE = "WwKnkd"
FIELDS_HELP = "Segment fields to return (sparse fieldset), e.g. name,definition,is_starred."
FIELDS_EXAMPLE = ["name", "definition", "is_starred"]
RETURNED_FIELDS_HELP = "Segment fields to return in the answer (sparse fieldset), e.g. name,is_starred."
RETURNED_FIELDS = {"fields[segment]": "fields"}

# -- filters: one model per place a filter appears, each with the (type, operator) pairs allowed there --

# The members each filter shape carries besides type and operator, and what each must hold.
_TEXT_OPS = (
    "contains",
    "ends-with",
    "equals",
    "not-contains",
    "not-ends-with",
    "not-equals",
    "not-starts-with",
    "nregex",
    "regex",
    "starts-with",
)
_NUMERIC_OPS = (
    "equals",
    "greater-than",
    "greater-than-or-equal",
    "less-than",
    "less-than-or-equal",
    "not-equals",
)
_LENGTH_OPS = (
    "length-equals",
    "length-greater-than",
    "length-greater-than-or-equal",
    "length-less-than",
    "length-less-than-or-equal",
)
_RELATIVE_OPS = ("at-least", "in-the-last", "in-the-next")
_ANNIVERSARY_RELATIVE_OPS = ("anniversary-last", "anniversary-next")

Shape = dict[str, str]  # member -> kind
_SHAPES: dict[tuple[str, str], Shape] = {
    **{("string", op): {"value": "text?"} for op in _TEXT_OPS},
    **{("string", op): {"value": "texts"} for op in ("in", "not-in")},
    **{("string", op): {"value": "texts"} for op in ("phone-country-code-in", "phone-country-code-not-in")},
    **{("numeric", op): {"value": "number"} for op in _NUMERIC_OPS},
    ("boolean", "equals"): {"value": "bool"},
    ("existence", "is-set"): {},
    ("existence", "not-set"): {},
    ("date", "after"): {"date": "datetime"},
    ("date", "before"): {"date": "datetime"},
    ("date", "between-static"): {"start": "datetime", "end": "datetime"},
    **{("date", op): {"unit": "unit", "quantity": "int"} for op in _RELATIVE_OPS + _ANNIVERSARY_RELATIVE_OPS},
    ("date", "between"): {"start": "int", "end": "int", "unit": "unit"},
    ("date", "calendar-month"): {"value": "int"},
    ("date", "anniversary"): {},
    ("date", "anniversary-month"): {},
    ("date", "alltime"): {},
    **{("list", op): {"value": "int_or_text"} for op in ("contains", "not-contains")},
    **{("list", op): {"value": "int"} for op in _LENGTH_OPS},
    **{
        ("list", op): {"value": "texts"}
        for op in ("contains-all", "contains-any", "not-contains-all", "not-contains-any")
    },
    **{("list", op): {"value": "text?"} for op in ("contains-substring", "not-contains-substring")},
}
_UNITS = ("day", "hour", "week")


def _pairs(*groups: tuple[str, tuple[str, ...]]) -> frozenset[tuple[str, str]]:
    return frozenset((ftype, op) for ftype, ops in groups for op in ops)


def _kind_ok(kind: str, value: Any) -> bool:
    if kind == "text?":
        return value is None or isinstance(value, str)
    if kind == "texts":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int_or_text":
        return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))
    if kind == "unit":
        return value in _UNITS
    if kind == "datetime":
        return isinstance(value, datetime)  # checked (and parsed) by _check_shape first
    return False  # pragma: no cover - every kind is listed above


_KIND_TEXT = {
    "text?": "a string",
    "texts": "an array of strings",
    "number": "a number",
    "int": "an integer",
    "bool": "true or false",
    "int_or_text": "an integer or a string",
    "unit": "one of day, hour, week",
    "datetime": "an ISO 8601 date-time such as 2024-01-01T00:00:00Z",
}


# An example of each member a filter takes, for the form ("value" by what its operator compares).
_MEMBER_EXAMPLES: dict[str, Any] = {
    "date": "2026-01-01T00:00:00Z",
    "start": "2026-01-01T00:00:00Z",
    "end": "2026-02-01T00:00:00Z",
    "unit": "day",
    "quantity": 30,
}
_VALUE_EXAMPLES: dict[str, Any] = {
    "text?": "blue",
    "texts": ["blue", "green"],
    "number": 10,
    "int": 3,
    "bool": True,
    "int_or_text": "blue",
}


def _filter_form(schema: dict[str, Any], cls: type[_Filter]) -> None:
    """The form of a filter: the types and operators allowed where it appears as enums, and only
    the members one of those operators takes, each with an example (the validator refuses the
    others with its own message)."""
    props = schema["properties"]
    props["type"]["enum"] = sorted({ftype for ftype, _ in cls.ALLOWED})
    props["operator"]["enum"] = sorted({op for _, op in cls.ALLOWED})
    kinds: dict[str, str] = {}
    for key in sorted(cls.ALLOWED):
        for member, kind in _SHAPES[key].items():
            kinds.setdefault(member, kind)
    for member in [m for m in props if m not in ("type", "operator")]:
        if member not in kinds:
            del props[member]
            continue
        own = (cls.FORM_EXAMPLE or {}).get(member)
        example = own if own is not None else _MEMBER_EXAMPLES.get(member, _VALUE_EXAMPLES.get(kinds[member]))
        props[member]["examples"] = [example]
    if "unit" in props:
        props["unit"]["enum"] = list(_UNITS)


_MEMBERS = ("value", "date", "start", "end", "unit", "quantity")


class _FilterShapes(FormRule):
    """Which members a filter takes, by its type and operator: the table the validator reads."""

    def __init__(self, allowed: frozenset[tuple[str, str]]) -> None:
        self.allowed = allowed
        self.fields = ("type", "operator", *_MEMBERS)

    def sentence(self, model: type[BaseModel]) -> str:
        groups: dict[tuple[str, ...], list[str]] = {}
        for key in sorted(self.allowed):
            takes = tuple(m for m in _MEMBERS if m in _SHAPES[key])
            groups.setdefault(takes, []).append(" ".join(key))
        parts = [
            f"{listed([field_label(model, m) for m in takes], 'and') if takes else 'no other member'} with "
            + ", ".join(pairs)
            for takes, pairs in groups.items()
        ]
        return "The members a filter takes depend on its Type and Operator: " + "; ".join(parts) + "."

    def schema(self) -> dict[str, Any]:
        checks = []
        for ftype, op in sorted(self.allowed):
            shape = _SHAPES[(ftype, op)]
            then: dict[str, Any] = {}
            takes = [m for m in _MEMBERS if m in shape]
            if takes:
                then["required"] = takes
            refused = [m for m in _MEMBERS if m not in shape]
            then["not"] = {"anyOf": [{"required": [m]} for m in refused]}
            when = {
                "properties": {"type": {"const": ftype}, "operator": {"const": op}},
                "required": ["type", "operator"],
            }
            checks.append({"if": when, "then": then})
        return {"allOf": checks}


class _Filter(Inputs):
    """A filter: ``type`` and ``operator`` plus the members that operator takes."""

    model_config = ConfigDict(json_schema_extra=_filter_form)

    ALLOWED: ClassVar[frozenset[tuple[str, str]]] = frozenset()

    type: str = Field(description="string, numeric, boolean, date, list or existence.")
    operator: str = Field(description="The comparison, e.g. equals, greater-than, in-the-last, is-set.")
    value: Any = Field(None, description="The value compared against (for most operators).")
    # Strings stay strings here: _check_shape parses them under the time rule, so a bad one is
    # reported with the rule rather than as a failed int-or-datetime union.
    date: datetime | str | None = Field(None, description="For after / before. " + TIME_HELP)
    start: int | datetime | str | None = Field(
        None, description="For between-static (date-time) or between (integer). " + TIME_HELP
    )
    end: int | datetime | str | None = Field(
        None, description="For between-static (date-time) or between (integer). " + TIME_HELP
    )
    unit: str | None = Field(None, description="day, hour or week (relative dates).")
    quantity: int | None = Field(None, description="How many units (relative dates).")

    @model_validator(mode="after")
    def _check_shape(self) -> _Filter:
        key = (self.type, self.operator)
        if key not in self.ALLOWED:
            types = sorted({t for t, _ in self.ALLOWED})
            if self.type not in types:
                raise ValueError(f"type {self.type!r} is not allowed here; use one of: {', '.join(types)}")
            ops = sorted(op for t, op in self.ALLOWED if t == self.type)
            raise ValueError(
                f"operator {self.operator!r} is not allowed for a {self.type} filter here; use one of: {', '.join(ops)}"
            )
        shape = _SHAPES[key]
        given = self.model_fields_set - {"type", "operator"}
        extra = sorted(given - set(shape))
        if extra:
            raise ValueError(
                f"{self.type} filter with operator {self.operator} does not take: {', '.join(extra)}"
            )
        for member, kind in shape.items():
            if member not in given:
                raise ValueError(f"{self.type} filter with operator {self.operator} needs {member!r}")
            value = getattr(self, member)
            if kind == "datetime" and not isinstance(value, (int, float)):
                try:
                    value = aware_datetime(value)
                except ValueError as exc:
                    raise ValueError(f"{member!r} {exc}") from None
                setattr(self, member, value)
            if not _kind_ok(kind, value):
                raise ValueError(f"{member!r} must be {_KIND_TEXT[kind]}")
        return self


_DATE_COMMON = ("after", "before", "between-static", *_RELATIVE_OPS, "between")


_LAST_30_DAYS = {"type": "date", "operator": "in-the-last", "quantity": 30, "unit": "day"}


class TimeframeFilter(_Filter):
    """When a profile joined a list or segment."""

    ALLOWED = _pairs(("date", _DATE_COMMON))
    FORM_RULES = (_FilterShapes(ALLOWED),)
    FORM_EXAMPLE = _LAST_30_DAYS


class MetricTimeframeFilter(_Filter):
    """The period over which events are counted."""

    ALLOWED = _pairs(("date", (*_DATE_COMMON, *_ANNIVERSARY_RELATIVE_OPS, "alltime")))
    FORM_RULES = (_FilterShapes(ALLOWED),)
    FORM_EXAMPLE = _LAST_30_DAYS


class NumericFilter(_Filter):
    """A comparison with a number."""

    ALLOWED = _pairs(("numeric", _NUMERIC_OPS))
    FORM_RULES = (_FilterShapes(ALLOWED),)
    FORM_EXAMPLE = {"type": "numeric", "operator": "greater-than", "value": 0}


class PropertyFilter(_Filter):
    """A filter on a profile property."""

    FORM_EXAMPLE = {"type": "string", "operator": "equals", "value": "blue"}

    ALLOWED = _pairs(
        ("string", (*_TEXT_OPS, "in", "not-in", "phone-country-code-in", "phone-country-code-not-in")),
        ("numeric", _NUMERIC_OPS),
        ("boolean", ("equals",)),
        (
            "date",
            (*_DATE_COMMON, *_ANNIVERSARY_RELATIVE_OPS, "calendar-month", "anniversary", "anniversary-month"),
        ),
        ("list", ("contains", "not-contains", *_LENGTH_OPS)),
        ("existence", ("is-set", "not-set")),
    )
    FORM_RULES = (_FilterShapes(ALLOWED),)


class EventPropertyFilter(_Filter):
    """A filter on a property of the counted events."""

    FORM_EXAMPLE = {"type": "string", "operator": "equals", "value": "Shoes"}

    ALLOWED = _pairs(
        ("string", (*_TEXT_OPS, "in", "not-in")),
        ("existence", ("is-set", "not-set")),
        (
            "list",
            (
                "contains-all",
                "contains-any",
                "not-contains-all",
                "not-contains-any",
                *_LENGTH_OPS,
                "contains-substring",
                "not-contains-substring",
            ),
        ),
        ("boolean", ("equals",)),
        ("numeric", _NUMERIC_OPS),
    )
    FORM_RULES = (_FilterShapes(ALLOWED),)


# -- conditions ---------------------------------------------------------------------------------


class GroupMembershipCondition(Inputs):
    """Is (or is not) in any of the given lists or segments."""

    FORM_RULES = (
        Stated(
            "Timeframe Filter is taken only when Is Member is true.",
            {
                "if": {"properties": {"is_member": {"const": False}}, "required": ["is_member"]},
                "then": {"not": {"required": ["timeframe_filter"]}},
            },
        ),
    )

    type: Literal["profile-group-membership"]
    is_member: bool = Field(description="true: in at least one of the groups; false: in none of them.")
    group_ids: list[str] = Field(
        min_length=1,
        title="Group IDs",
        description="List and/or segment IDs.",
        examples=[["RE83th"]],
        json_schema_extra=data_source("selectAudience"),
    )
    timeframe_filter: TimeframeFilter | None = Field(
        None, description="Only members who joined in this period (is_member true only)."
    )

    @model_validator(mode="after")
    def _timeframe_only_for_members(self) -> GroupMembershipCondition:
        if not self.is_member and "timeframe_filter" in self.model_fields_set:
            raise ValueError("timeframe_filter can only be used with is_member true")
        return self


class PropertyCondition(Inputs):
    """A profile property matches a filter."""

    type: Literal["profile-property"]
    property: str = Field(
        min_length=1,
        description="A profile field such as email or first_name, or properties['Custom Name'] for a custom "
        "property.",
        examples=["properties['Favorite Color']"],
    )
    filter: PropertyFilter


class MetricPropertyFilter(Inputs):
    """A condition on a property of the counted events."""

    property: str = Field(
        min_length=1, description="The event property, e.g. Category.", examples=["Category"]
    )
    filter: EventPropertyFilter | None = None


class MetricCondition(Inputs):
    """How often (or how much) a profile did something."""

    type: Literal["profile-metric"]
    metric_id: str = Field(
        min_length=1,
        title="Metric ID",
        description="The metric whose events are counted.",
        examples=["UMTLbD"],
        json_schema_extra=data_source("selectMetric"),
    )
    measurement: Literal["count", "sum"]
    measurement_filter: NumericFilter
    timeframe_filter: MetricTimeframeFilter
    metric_filters: list[MetricPropertyFilter] | None = None


# channel -> can_receive_marketing -> subscription -> whether consent_status.filters is
# "required", "optional" or "none" (not accepted) for that state.
_CONSENT_PATH = "data.attributes.definition.condition_groups[].conditions[].consent"
_CONSENT_STATES: dict[str, dict[bool, dict[str, str]]] = {
    "email": {
        True: {"any": "none", "subscribed": "optional", "never_subscribed": "none"},
        False: {
            "any": "optional",
            "unsubscribed": "optional",
            "never_subscribed": "required",
            "subscribed": "required",
        },
    },
    "sms": {
        True: {"subscribed": "optional"},
        False: {"any": "none", "unsubscribed": "optional", "never_subscribed": "none"},
    },
    "push": {True: {"any": "optional"}, False: {"any": "none"}},
}


class ConsentStatus(Inputs):
    subscription: str = Field(
        description="any, subscribed, unsubscribed or never_subscribed.",
        examples=["subscribed"],
        json_schema_extra=EnumHint("create_segment", body=_CONSENT_PATH + ".consent_status.subscription"),
    )
    filters: list[dict[str, Any]] | None = Field(
        None,
        description="Further conditions on the consent (method, dates, ...), as the API writes them.",
        examples=[[{"field": "method", "method": "form"}]],
    )


def _consent_rules() -> dict[str, Any]:
    """The subscriptions each channel and Can Receive Marketing take, and where filters are
    required or not accepted, as JSON Schema (from the same table the validator reads)."""
    rules: list[dict[str, Any]] = []
    for channel, by_flag in _CONSENT_STATES.items():
        for flag, states in by_flag.items():
            when = {
                "properties": {"channel": {"const": channel}, "can_receive_marketing": {"const": flag}},
                "required": ["channel", "can_receive_marketing"],
            }
            status: dict[str, Any] = {"properties": {"subscription": {"enum": list(states)}}}
            then: dict[str, Any] = {"properties": {"consent_status": status}}
            checks = []
            for sub, rule in states.items():
                if rule == "optional":
                    continue
                need = {"required": ["filters"], "properties": {"filters": {"minItems": 1}}}
                none = {"properties": {"filters": {"maxItems": 0}}}
                checks.append(
                    {
                        "if": {"properties": {"subscription": {"const": sub}}, "required": ["subscription"]},
                        "then": need if rule == "required" else none,
                    }
                )
            if checks:
                status["allOf"] = checks
            rules.append({"if": when, "then": then})
    return {"allOf": rules}


def _consent_sentence() -> str:
    """The same table in words, for renderers that don't evaluate the schema."""
    notes = {"required": " (with filters)", "none": " (without filters)", "optional": ""}
    parts = [
        f"{channel} with {str(flag).lower()} takes "
        + ", ".join(f"{sub}{notes[rule]}" for sub, rule in states.items())
        for channel, by_flag in _CONSENT_STATES.items()
        for flag, states in by_flag.items()
    ]
    return "The Subscription a Channel takes depends on Can Receive Marketing: " + "; ".join(parts) + "."


class Consent(Inputs):
    """A profile's marketing consent on one channel."""

    FORM_LABEL = "Marketing Consent"
    FORM_RULES = (Stated(_consent_sentence(), _consent_rules()),)

    channel: Literal["email", "sms", "push"]
    can_receive_marketing: bool
    consent_status: ConsentStatus

    @model_validator(mode="after")
    def _valid_state(self) -> Consent:
        states = _CONSENT_STATES[self.channel][self.can_receive_marketing]
        sub = self.consent_status.subscription
        where = f"{self.channel} with can_receive_marketing {str(self.can_receive_marketing).lower()}"
        if sub not in states:
            raise ValueError(f"{where} takes consent_status.subscription {', '.join(states)}; not {sub!r}")
        rule = states[sub]
        if rule == "required" and not self.consent_status.filters:
            raise ValueError(f"consent_status.filters is required for {where} and subscription {sub!r}")
        if rule == "none" and self.consent_status.filters:
            raise ValueError(f"consent_status.filters is not accepted for {where} and subscription {sub!r}")
        return self


class MarketingConsentCondition(Inputs):
    """A profile's marketing consent on a channel."""

    type: Literal["profile-marketing-consent"]
    consent: Consent


TYPED_CONDITIONS = (
    "profile-group-membership",
    "profile-property",
    "profile-metric",
    "profile-marketing-consent",
)
CONDITION_TYPE_PATH = "data.attributes.definition.condition_groups[].conditions[].type"


_DATE_MEMBERS = ("date", "start", "end")


def _check_date_filters(value: Any, where: str) -> None:
    """Date filters inside a condition passed through as written: their date-times (a date
    filter's date, start and end; integers in relative ranges) follow the time rule too."""
    if isinstance(value, Mapping):
        if value.get("type") == "date":
            for member in _DATE_MEMBERS:
                item = value.get(member)
                if item is not None and not isinstance(item, (int, float)):
                    try:
                        aware_datetime(item)
                    except ValueError as exc:
                        raise ValueError(f"{where}.{member} {exc}".lstrip(".")) from None
        for key, item in value.items():
            _check_date_filters(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_date_filters(item, f"{where}[{index}]")


class OtherCondition(Inputs):
    """Any other condition type, passed through as written (see the API reference for its members)."""

    model_config = ConfigDict(extra="allow")

    FORM_EXAMPLE = {"type": "profile-region", "in_region": True, "region": "united_states"}

    type: str = Field(
        description="The condition type, e.g. profile-region; its other members as the API writes them.",
        json_schema_extra=lambda schema: schema.update(enum=_other_condition_types()),
    )

    @model_validator(mode="after")
    def _dates_under_the_time_rule(self) -> OtherCondition:
        _check_date_filters(self.model_extra or {}, "")
        return self

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        # The typed conditions never get here: the discriminator sends them to their models.
        known = catalog.body_enum("create_segment", CONDITION_TYPE_PATH)
        if value not in known:
            raise ValueError(f"unknown condition type {value!r}; use one of: {', '.join(known)}")
        return value


def _other_condition_types() -> list[str]:
    """The condition types OtherCondition takes: the spec's, less those typed above."""
    known = catalog.body_enum("create_segment", CONDITION_TYPE_PATH)
    return [kind for kind in known if kind not in TYPED_CONDITIONS]


def _condition_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in TYPED_CONDITIONS else "other"


Condition = Annotated[
    Annotated[GroupMembershipCondition, Tag("profile-group-membership")]
    | Annotated[PropertyCondition, Tag("profile-property")]
    | Annotated[MetricCondition, Tag("profile-metric")]
    | Annotated[MarketingConsentCondition, Tag("profile-marketing-consent")]
    | Annotated[OtherCondition, Tag("other")],
    Discriminator(_condition_tag),
]


CONDITIONS_EXAMPLE = [
    {"type": "profile-group-membership", "is_member": True, "group_ids": ["RE83th"]},
    {
        "type": "profile-property",
        "property": "properties['Favorite Color']",
        "filter": {"type": "string", "operator": "equals", "value": "blue"},
    },
]


class ConditionGroup(Inputs):
    """Conditions of which at least one must match (OR)."""

    conditions: list[Condition] = Field(
        min_length=1, description="The conditions, any of which may match.", examples=[CONDITIONS_EXAMPLE]
    )


def _unwrap_definition(value: Any) -> Any:
    """Accept a whole definition as copied from Get Segment."""
    if isinstance(value, dict) and set(value) == {"condition_groups"}:
        return value["condition_groups"]
    return value


ConditionGroups = Annotated[list[ConditionGroup], BeforeValidator(_unwrap_definition)]
GROUPS_HELP = (
    'The condition groups that define the segment: [{"conditions": [...]}, ...]. Every group must match '
    "(AND); within a group any condition may match (OR). A whole definition "
    '({"condition_groups": [...]}) is accepted too. Dates in date filters (date, start, end): ' + TIME_HELP
)
GROUPS_EXAMPLE = [{"conditions": CONDITIONS_EXAMPLE}]


def _definition(groups: list[ConditionGroup]) -> dict[str, Any]:
    return {"condition_groups": wire_value(groups)}


# -- inputs --------------------------------------------------------------------------------------


def segment_id_field() -> Any:
    return IdField("Segment ID", SEGMENT_ID_HELP, SEGMENT_ID_EXAMPLE, "selectSegment")


class CreateSegmentInputs(Inputs):
    segmentName: str = Field(
        title="Segment Name", description="The name of the segment.", examples=["A segment"], min_length=1
    )
    conditionGroups: ConditionGroups = Field(
        title="Segment Condition Groups", description=GROUPS_HELP, examples=[GROUPS_EXAMPLE], min_length=1
    )
    isStarred: bool | None = Field(
        None, title="Is Starred Segment", description="Whether the segment is starred.", examples=[False]
    )
    fields: list[str] | None = group_fields(
        "create_segment", "segment", RETURNED_FIELDS_HELP, ["name", "is_starred"]
    )


_CHANGES = ("segmentName", "conditionGroups", "isStarred", "isActive")


class UpdateSegmentInputs(Inputs):
    FORM_RULES = (
        AtLeastOne(*_CHANGES, note="the change to make"),
        Stated(
            "Is Active false (deactivating the segment) must be the only change in its call.",
            {
                "if": {"properties": {"isActive": {"const": False}}, "required": ["isActive"]},
                "then": {"not": {"anyOf": [{"required": [name]} for name in _CHANGES[:-1]]}},
            },
        ),
    )

    segmentId: ResourceId = segment_id_field()
    segmentName: str | None = Field(
        None, title="Segment Name", description="The name of the segment.", examples=["A segment"]
    )
    conditionGroups: ConditionGroups | None = Field(
        None,
        title="Segment Condition Groups",
        description=GROUPS_HELP,
        examples=[GROUPS_EXAMPLE],
        min_length=1,
    )
    isStarred: bool | None = Field(
        None, title="Is Starred Segment", description="Whether the segment is starred."
    )
    isActive: bool | None = Field(
        None,
        title="Is Active",
        description="false deactivates the segment (then nothing else may change in the same call; campaigns, "
        "flows and forms using it are affected); true reactivates it.",
    )
    fields: list[str] | None = group_fields(
        "update_segment", "segment", RETURNED_FIELDS_HELP, ["name", "is_starred"]
    )


class SegmentIdInputs(Inputs):
    segmentId: ResourceId = segment_id_field()


class GetSegmentInputs(Inputs):
    segmentId: ResourceId = segment_id_field()
    fields: list[str] | None = group_fields("get_segment", "segment", FIELDS_HELP, FIELDS_EXAMPLE)
    include: list[str] | None = include_field("get_segment", INCLUDE_HELP, INCLUDE_EXAMPLE)
    includeProfileCount: bool = Field(
        False,
        title="Include Profile Count",
        description="Also return the number of profiles in the segment (Klaviyo allows this at only 1 "
        "request per second, 15 per minute).",
    )
    flowFields: list[str] | None = flow_fields("get_segment")
    tagFields: list[str] | None = tag_fields("get_segment")


class ListSegmentsInputs(list_inputs("get_segments")):
    fields: list[str] | None = group_fields("get_segments", "segment", FIELDS_HELP, FIELDS_EXAMPLE)
    include: list[str] | None = include_field("get_segments", INCLUDE_HELP, INCLUDE_EXAMPLE)
    flowFields: list[str] | None = flow_fields("get_segments")
    tagFields: list[str] | None = tag_fields("get_segments")


class ListSegmentProfilesInputs(list_inputs("get_profiles_for_segment")):
    segmentId: ResourceId = segment_id_field()
    fields: list[str] | None = profile_fields("get_profiles_for_segment", PROFILE_FIELDS_HELP)
    additionalFields: list[str] | None = additional_profile_fields("get_profiles_for_segment")


# -- actions -------------------------------------------------------------------------------------


def create_segment(ctx: Context, inputs: CreateSegmentInputs) -> Any:
    attrs: dict[str, Any] = {"name": inputs.segmentName, "definition": _definition(inputs.conditionGroups)}
    if "isStarred" in inputs.model_fields_set:
        attrs["is_starred"] = inputs.isStarred
    return create_once(
        ctx,
        "/api/segments",
        resource("segment", attrs),
        operation="create_segment",
        lookup=natural_key("segment", "name", inputs.segmentName),
        params=read_params("create_segment", inputs, RETURNED_FIELDS),
    )


def update_segment(ctx: Context, inputs: UpdateSegmentInputs) -> Any:
    given = inputs.model_fields_set - {"segmentId", "fields"}
    if not given:
        raise input_error(
            "Segment ID",
            "nothing to change: give a Segment Name, Segment Condition Groups, Is Starred Segment "
            "or Is Active",
        )
    if inputs.isActive is False and given != {"isActive"}:
        raise input_error(
            "Is Active",
            "deactivating a segment (Is Active false) must be the only change in the call; update the other "
            "fields in a separate call",
        )
    attrs: dict[str, Any] = {}
    if "segmentName" in given:
        attrs["name"] = inputs.segmentName
    if "conditionGroups" in given and inputs.conditionGroups is not None:
        attrs["definition"] = _definition(inputs.conditionGroups)
    if "isStarred" in given:
        attrs["is_starred"] = inputs.isStarred
    if "isActive" in given:
        attrs["is_active"] = inputs.isActive
    return ctx.client.request(
        "PATCH",
        api_path("/api/segments/{id}", id=inputs.segmentId),
        params=read_params("update_segment", inputs, RETURNED_FIELDS),
        json_body=resource("segment", attrs, id=inputs.segmentId),
        operation="update_segment",
        idempotent=True,
    ).json()


def get_segment(ctx: Context, inputs: GetSegmentInputs) -> Any:
    return get_group(ctx, "segment", inputs.segmentId, inputs, inputs.includeProfileCount)


def list_segments(ctx: Context, inputs: ListSegmentsInputs) -> Any:
    return list_groups(ctx, "segment", inputs)


def delete_segment(ctx: Context, inputs: SegmentIdInputs) -> Any:
    return delete_group(ctx, "segment", inputs.segmentId)


def list_segment_profiles(ctx: Context, inputs: ListSegmentProfilesInputs) -> Any:
    return list_group_profiles(ctx, "segment", inputs.segmentId, inputs)


ACTIONS = (
    Action(
        key="createSegment",
        label="Create Segment",
        description="Create a segment from condition groups (Klaviyo allows 100 segment creations a day).",
        inputs=CreateSegmentInputs,
        perform=create_segment,
        operations=("create_segment",),
    ),
    Action(
        key="getSegment",
        label="Get Segment",
        description="Get a segment with the given segment ID.",
        inputs=GetSegmentInputs,
        perform=get_segment,
        operations=("get_segment",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="listSegments",
        label="List Segments",
        description="Get all segments in an account: filter, sort, one page or all pages up to a cap.",
        inputs=ListSegmentsInputs,
        perform=list_segments,
        operations=("get_segments",),
        read_only=True,
        idempotent=True,
    ),
    Action(
        key="updateSegment",
        label="Update Segment",
        description="Update a segment's name, definition or star, or deactivate / reactivate it (deactivating "
        "must be the only change in its call).",
        inputs=UpdateSegmentInputs,
        perform=update_segment,
        operations=("update_segment",),
        idempotent=True,
    ),
    Action(
        key="deleteSegment",
        label="Delete Segment",
        description="Delete a segment with the given segment ID.",
        inputs=SegmentIdInputs,
        perform=delete_segment,
        operations=("delete_segment",),
        idempotent=True,
        destructive=True,
    ),
    Action(
        key="listSegmentProfiles",
        label="List Segment Profiles",
        description="Get all profiles within a segment with the given segment ID.",
        inputs=ListSegmentProfilesInputs,
        perform=list_segment_profiles,
        operations=("get_profiles_for_segment",),
        read_only=True,
        idempotent=True,
    ),
)
