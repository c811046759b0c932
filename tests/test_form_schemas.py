"""Form schemas every renderer can use, over every action and data source.

The JSON Schema of an input model is the form a low-code builder renders. Checked here for
each action and data source, top level and every nested model (``$defs``): required inputs
first; optional inputs typed as their own type (no null type picker); titles that are labels
(the action's label on top, never a Python class name); every field and every model with an
example that its own schema accepts (and, for the inputs built from all the examples, the
input model too); complete enums for fixed value sets; the cross-field rules the validators
enforce stated in the schema; and text given for an object input answered with the shape wanted.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import jsonschema
import pytest
from klaviyo_connector import catalog
from klaviyo_connector.component import component
from klaviyo_connector.errors import KlaviyoError
from klaviyo_connector.inputs import (
    AtLeastOne,
    BodyEnum,
    EnumHint,
    ExactlyOne,
    Inputs,
    NotTogether,
    Requires,
    validate_inputs,
)
from pydantic import BaseModel

PLUGINS = [("action", a) for a in component.actions.values()] + [
    ("data source", d) for d in component.data_sources.values()
]
IDS = [f"{kind}:{plugin.key}" for kind, plugin in PLUGINS]
NULL = {"type": "null"}


def _schema(plugin: Any) -> dict[str, Any]:
    return plugin.input_schema()


def _models(schema: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """The top-level model (named "") and every nested model of a schema."""
    yield "", schema
    yield from (schema.get("$defs") or {}).items()


def _classes(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every model class an input model uses, by class name (its ``$defs`` key), itself included."""
    found: dict[str, type[BaseModel]] = {}

    def visit(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if annotation.__name__ not in found:
                found[annotation.__name__] = annotation
                for info in annotation.model_fields.values():
                    visit(info.annotation)
            return
        for arg in get_args(annotation):
            visit(arg)

    visit(model)
    return found


def _validator(schema: Mapping[str, Any], root: Mapping[str, Any]) -> jsonschema.Draft202012Validator:
    """A validator for ``schema``, a part of ``root``, with root's ``$defs`` in reach."""
    return jsonschema.Draft202012Validator({**schema, "$defs": root.get("$defs", {})})


def _walk(node: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    yield where, node
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key not in ("examples", "default", "enum", "const"):
                yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{where}/{index}")


# -- order, null, titles ----------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "plugin"), PLUGINS, ids=IDS)
def test_required_inputs_come_first(kind, plugin):
    for name, model in _models(_schema(plugin)):
        required = set(model.get("required", ()))
        order = [prop in required for prop in model.get("properties", {})]
        assert order == sorted(order, reverse=True), (plugin.key, name or "top", list(model["properties"]))


@pytest.mark.parametrize(("kind", "plugin"), PLUGINS, ids=IDS)
def test_optional_inputs_are_typed_as_their_type_not_a_null_type_picker(kind, plugin):
    schema = _schema(plugin)
    for name, model in _models(schema):
        for prop, value in model.get("properties", {}).items():
            for where, node in _walk(value):
                if isinstance(node, Mapping):
                    options = [*node.get("anyOf", ()), *node.get("oneOf", ())]
                    assert NULL not in options, (plugin.key, name or "top", prop, where)
                    assert "null" not in (node.get("type") if isinstance(node.get("type"), list) else ())
            assert value.get("default", "") is not None, (plugin.key, name or "top", prop)


def test_null_and_blank_still_mean_not_given():
    model = component.actions["updateProfile"].inputs
    values = validate_inputs(
        model, {"profileId": "01ABC", "firstName": None, "lastName": "", "title": "null"}
    )
    assert values.firstName is None and values.title is None and values.lastName is None
    assert values.model_fields_set == {"profileId", "firstName", "title"}  # null clears; blank is not given


@pytest.mark.parametrize(("kind", "plugin"), PLUGINS, ids=IDS)
def test_titles_are_labels_never_class_names(kind, plugin):
    schema = _schema(plugin)
    assert schema["title"] == plugin.label
    class_names = set(_classes(plugin.inputs)) | set(schema.get("$defs", {}))
    for name, model in _models(schema):
        title = model.get("title", "")
        assert title and title not in class_names, (plugin.key, name or "top", title)
        assert not re.search(r"[a-z][A-Z]|_|Inputs?$", title), (plugin.key, name or "top", title)
        for prop, value in model.get("properties", {}).items():
            if not name or "$ref" not in value:  # a nested object without a label shows its model's title
                assert value.get("title"), (plugin.key, name or "top", prop)


def test_a_model_schema_without_an_action_is_titled_from_its_class_in_words():
    from klaviyo_connector.actions.campaigns import CampaignIdInputs
    from klaviyo_connector.actions.profiles import CreateProfileInputs

    assert CreateProfileInputs.model_json_schema()["title"] == "Create Profile"
    assert CampaignIdInputs.model_json_schema()["title"] == "Campaign ID"
    assert CreateProfileInputs.model_json_schema()["$defs"]["Location"]["title"] == "Profile Location"


# -- examples -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "plugin"), PLUGINS, ids=IDS)
def test_every_field_and_model_has_an_example_its_own_schema_accepts(kind, plugin):
    schema = _schema(plugin)
    for name, model in _models(schema):
        where = f"{plugin.key}:{name or 'top'}"
        assert model.get("examples"), f"{where} has no example"
        if name:  # a nested model's example shows its shape: never empty
            assert all(model["examples"]), f"{where} has an empty example"
        for example in model["examples"]:
            errors = [e.message for e in _validator(model, schema).iter_errors(example)]
            assert not errors, (where, example, errors)
        for prop, value in model.get("properties", {}).items():
            assert value.get("examples"), f"{where}.{prop} has no example"
            for example in value["examples"]:
                errors = [e.message for e in _validator(value, schema).iter_errors(example)]
                assert not errors, (f"{where}.{prop}", example, errors)


@pytest.mark.parametrize(("kind", "plugin"), PLUGINS, ids=IDS)
def test_every_nested_model_example_is_valid_input(kind, plugin):
    schema = _schema(plugin)
    classes = _classes(plugin.inputs)
    for name, model in (schema.get("$defs") or {}).items():
        for example in model["examples"]:
            classes[name].model_validate(example)


def full_example(plugin: Any, schema: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs built from every field's first example, with each declared cross-field rule
    kept the way its sentence says: of "exactly one of" inputs only the first, no input given
    together with one it cannot be combined with, none without the input it needs."""
    example = {name: prop["examples"][0] for name, prop in schema["properties"].items()}
    for rule in plugin.inputs.FORM_RULES:
        if isinstance(rule, ExactlyOne):
            for name in rule.fields[1:]:
                example.pop(name, None)
        elif isinstance(rule, NotTogether) and rule.fields[0] in example:
            for name in rule.fields[1:]:
                example.pop(name, None)
    for rule in plugin.inputs.FORM_RULES:
        if isinstance(rule, Requires) and not all(n in example for n in rule.fields[1:]):
            example.pop(rule.fields[0], None)
    return example


@pytest.mark.parametrize(("kind", "plugin"), PLUGINS, ids=IDS)
def test_the_inputs_built_from_all_examples_are_valid(kind, plugin):
    schema = _schema(plugin)
    example = full_example(plugin, schema)
    errors = [e.message for e in _validator(schema, schema).iter_errors(example)]
    assert not errors, (plugin.key, example, errors)
    validate_inputs(plugin.inputs, example)  # raises KlaviyoError naming what is wrong


def test_query_campaign_values_timeframe_takes_a_preset_name_and_its_example():
    schema = component.actions["queryCampaignValues"].input_schema()
    timeframe = schema["properties"]["timeframe"]
    assert timeframe["examples"] == ["last_30_days"]
    assert "last_30_days" in timeframe["anyOf"][0]["enum"]
    assert timeframe["anyOf"][0]["enum"] == list(
        catalog.body_enum("query_campaign_values", "data.attributes.timeframe.key")
    )
    for example in ("last_30_days", {"key": "today"}, {"start": "2026-07-01", "end": "2026-07-02"}):
        assert _validator(timeframe, schema).is_valid(example), example
    assert not _validator(timeframe, schema).is_valid("last_40_days")


def test_every_list_action_filter_example_is_one_its_endpoint_accepts():
    from klaviyo_connector.listing import ListInputs, build_filter

    checked = 0
    for action in component.actions.values():
        if issubclass(action.inputs, ListInputs):
            example = action.input_schema()["properties"]["filter"]["examples"][0]
            operation = next(op for op in action.operations if op.startswith("get_"))
            assert build_filter(operation, example), (action.key, example)
            checked += 1
    assert checked >= 10


# -- enums ----------------------------------------------------------------------------------------


def _members(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or str(origin) == "<class 'types.UnionType'>":
        return [m for arg in get_args(annotation) for m in _members(arg)]
    return [annotation]


def _closed_set(info: Any) -> tuple[set[Any], bool] | None:
    """The values a field's Literal type allows, and whether they are a list's items."""
    for member in _members(info.annotation):
        if get_origin(member) is Literal:
            return set(get_args(member)), False
        if get_origin(member) is list:
            inner = _members(get_args(member)[0])
            literal = [m for m in inner if get_origin(m) is Literal]
            if literal:
                return set(get_args(literal[0])), True
    return None


def _metadata(annotation: Any, items: bool = False) -> Iterator[tuple[Any, bool]]:
    """Every ``Annotated`` metadata object in a type, and whether it is on a list's items."""
    origin = get_origin(annotation)
    if origin is Annotated:
        inner, *meta = get_args(annotation)
        yield from ((m, items) for m in meta)
        yield from _metadata(inner, items)
    elif origin is list:
        yield from _metadata(get_args(annotation)[0], True)
    else:
        for arg in get_args(annotation):
            yield from _metadata(arg, items)


def _body_enum(info: Any) -> tuple[BodyEnum, bool] | None:
    found = [(m, False) for m in info.metadata] + list(_metadata(info.annotation))
    return next(((m, items) for m, items in found if isinstance(m, BodyEnum)), None)


def _enum_of(prop: Mapping[str, Any], items: bool) -> set[Any]:
    node = prop.get("items", {}) if items else prop
    if "const" in node:
        return {node["const"]}
    return set(node.get("enum", ()))


@pytest.mark.parametrize(("kind", "plugin"), PLUGINS, ids=IDS)
def test_every_closed_value_set_is_a_complete_enum(kind, plugin):
    schema = _schema(plugin)
    classes = _classes(plugin.inputs)
    checked = 0
    for name, model in _models(schema):
        cls = plugin.inputs if not name else classes[name]
        for field, info in cls.model_fields.items():
            prop = model["properties"].get(field)
            if prop is None:  # a member no allowed operator takes (segment filters) is left out
                continue
            literal = _closed_set(info)
            if literal is not None:
                values, items = literal
                assert _enum_of(prop, items) == values, (plugin.key, name or "top", field)
                checked += 1
            body = _body_enum(info)
            if body is not None:
                marker, items = body
                assert _enum_of(prop, items) == set(marker.allowed()), (plugin.key, name or "top", field)
                checked += 1
            hint = info.json_schema_extra
            if isinstance(hint, EnumHint):
                items = prop.get("type") == "array"
                assert _enum_of(prop, items) == set(hint.allowed()), (plugin.key, name or "top", field)
                if kind == "action" and not name:
                    assert hint.operation in plugin.operations, (plugin.key, field, hint.operation)
                checked += 1
    CHECKED[plugin.key] = checked


CHECKED: dict[str, int] = {}


def test_the_closed_sets_checked_above_are_many():
    if len(CHECKED) == len(PLUGINS):  # the whole parametrized test ran first
        assert sum(CHECKED.values()) >= 80


# Inputs whose values are a fixed set in the spec, and where that set is: (operation, query
# parameter) or (operation, "body", path). Each must carry the whole set as its enum.
SPEC_SETS: dict[tuple[str, str], tuple[str, ...]] = {
    ("createList", "optInProcess"): ("create_list", "body", "data.attributes.opt_in_process"),
    ("updateList", "optInProcess"): ("create_list", "body", "data.attributes.opt_in_process"),
    ("queryCampaignValues", "statistics"): ("query_campaign_values", "body", "data.attributes.statistics[]"),
    ("queryCampaignValues", "groupBy"): ("query_campaign_values", "body", "data.attributes.group_by[]"),
    ("queryMetricAggregates", "measurements"): (
        "query_metric_aggregates",
        "body",
        "data.attributes.measurements[]",
    ),
    ("queryMetricAggregates", "interval"): ("query_metric_aggregates", "body", "data.attributes.interval"),
    ("queryMetricAggregates", "groupBy"): ("query_metric_aggregates", "body", "data.attributes.by[]"),
    ("createSegment", "ConsentStatus.subscription"): (
        "create_segment",
        "body",
        "data.attributes.definition.condition_groups[].conditions[].consent.consent_status.subscription",
    ),
    ("createCampaign", "ThrottledStrategy.throttle_percentage"): (
        "create_campaign",
        "body",
        "data.attributes.send_strategy.throttle_percentage",
    ),
    ("listAccounts", "fields"): ("get_accounts", "fields[account]"),
    ("getAccount", "fields"): ("get_account", "fields[account]"),
    ("getProfile", "fields"): ("get_profile", "fields[profile]"),
    ("getProfile", "additionalFields"): ("get_profile", "additional-fields[profile]"),
    ("listProfile", "fields"): ("get_profiles", "fields[profile]"),
    ("listProfile", "additionalFields"): ("get_profiles", "additional-fields[profile]"),
    ("getList", "fields"): ("get_list", "fields[list]"),
    ("getList", "include"): ("get_list", "include"),
    ("listLists", "fields"): ("get_lists", "fields[list]"),
    ("listLists", "include"): ("get_lists", "include"),
    ("listListProfiles", "fields"): ("get_profiles_for_list", "fields[profile]"),
    ("listListProfiles", "additionalFields"): ("get_profiles_for_list", "additional-fields[profile]"),
    ("getSegment", "fields"): ("get_segment", "fields[segment]"),
    ("getSegment", "include"): ("get_segment", "include"),
    ("listSegments", "fields"): ("get_segments", "fields[segment]"),
    ("listSegments", "include"): ("get_segments", "include"),
    ("listSegmentProfiles", "fields"): ("get_profiles_for_segment", "fields[profile]"),
    ("listSegmentProfiles", "additionalFields"): ("get_profiles_for_segment", "additional-fields[profile]"),
    ("getCampaign", "fields"): ("get_campaign", "fields[campaign]"),
    ("getCampaign", "include"): ("get_campaign", "include"),
    ("listCampaigns", "fields"): ("get_campaigns", "fields[campaign]"),
    ("listCampaigns", "include"): ("get_campaigns", "include"),
    ("listCampaigns", "sort"): ("get_campaigns", "sort"),
    ("getTemplate", "fields"): ("get_template", "fields[template]"),
    ("listTemplates", "fields"): ("get_templates", "fields[template]"),
    ("getImage", "fields"): ("get_image", "fields[image]"),
    ("listImages", "fields"): ("get_images", "fields[image]"),
    ("getEvent", "eventFields"): ("get_event", "fields[event]"),
    ("getEvent", "metricFields"): ("get_event", "fields[metric]"),
    ("getEvent", "profileFields"): ("get_event", "fields[profile]"),
    ("listEvents", "eventFields"): ("get_events", "fields[event]"),
    ("listEvents", "metricFields"): ("get_events", "fields[metric]"),
    ("listEvents", "profileFields"): ("get_events", "fields[profile]"),
    ("listMetrics", "metricFields"): ("get_metrics", "fields[metric]"),
    ("listFlows", "flowFields"): ("get_flows", "fields[flow]"),
}


def _spec_values(where: tuple[str, ...]) -> set[Any]:
    if where[1] == "body":
        return set(catalog.body_enum(where[0], where[2]))
    spec = catalog.operation(where[0]).param(where[1])
    assert spec is not None, where
    return set(spec.get("enum") or spec["items"]["enum"])


@pytest.mark.parametrize(("key", "field"), SPEC_SETS, ids=[f"{k}.{f}" for k, f in SPEC_SETS])
def test_fixed_value_sets_of_the_spec_are_the_schema_enum(key, field):
    schema = component.actions[key].input_schema()
    model, _, name = field.rpartition(".")
    prop = (schema["$defs"][model] if model else schema)["properties"][name]
    assert _enum_of(prop, prop.get("type") == "array") == _spec_values(SPEC_SETS[(key, field)])


def test_segment_filters_offer_the_types_operators_and_units_allowed_where_they_appear():
    from klaviyo_connector.actions.segments import NumericFilter, TimeframeFilter

    schema = component.actions["createSegment"].input_schema()["$defs"]
    assert schema["NumericFilter"]["properties"]["type"]["enum"] == ["numeric"]
    assert set(schema["NumericFilter"]["properties"]["operator"]["enum"]) == {
        op for _, op in NumericFilter.ALLOWED
    }
    assert set(schema["TimeframeFilter"]["properties"]) == {
        "type",
        "operator",
        "date",
        "start",
        "end",
        "unit",
        "quantity",
    }
    assert schema["TimeframeFilter"]["properties"]["unit"]["enum"] == ["day", "hour", "week"]
    assert {op for _, op in TimeframeFilter.ALLOWED} == set(
        schema["TimeframeFilter"]["properties"]["operator"]["enum"]
    )
    other = schema["OtherCondition"]["properties"]["type"]["enum"]
    assert "profile-region" in other and "profile-property" not in other


# -- cross-field rules ----------------------------------------------------------------------------

# Model validators that check values, not which inputs go together, and why no rule shows them.
VALUE_CHECKS = {
    "OtherCondition": "dates inside a passed-through condition follow the time rule (TIME_HELP says so)",
}
# Rules an action checks when it runs rather than its input model, shown in the form all the same.
ENFORCED_WHEN_RUN = {
    "createOrUpdateProfile",
    "updateCampaign",
    "updateImage",
    "updateTemplate",
    "updateSegment",
}


def _own_model_validators(cls: type[BaseModel]) -> list[str]:
    decorators = cls.__pydantic_decorators__.model_validators
    return [name for name, d in decorators.items() if d.cls_var_name != "_coerce_form_values"]


@pytest.mark.parametrize(("kind", "plugin"), PLUGINS, ids=IDS)
def test_every_model_validator_rule_is_in_the_schema(kind, plugin):
    schema = _schema(plugin)
    for name, cls in _classes(plugin.inputs).items():
        model = schema if cls is plugin.inputs else schema["$defs"][name]
        rules = cls.FORM_RULES
        if _own_model_validators(cls) and name not in VALUE_CHECKS:
            assert rules, f"{plugin.key}: {name} enforces {_own_model_validators(cls)} but states no rule"
        assert model.get("x-rules", []) == [rule.sentence(cls) for rule in rules], (plugin.key, name)
        stated = [rule.schema() for rule in rules if rule.schema()]
        shown = model.get("allOf") if len(stated) > 1 else [model] if stated else []
        for check in stated:
            assert any(all(part.get(k) == v for k, v in check.items()) for part in shown), (plugin.key, name)


def test_give_an_email_phone_or_external_id_is_in_the_create_profile_form():
    schema = component.actions["createProfile"].input_schema()
    assert schema["anyOf"] == [_given("email"), _given("phoneNumber"), _given("externalId")]
    assert schema["x-rules"] == [
        "Give at least one of Email, Phone Number or External ID: Klaviyo refuses a profile without one."
    ]
    validator = _validator(schema, schema)
    assert not validator.is_valid({"firstName": "Sarah"})
    assert validator.is_valid({"externalId": "12345"})
    assert not validator.is_valid({"email": ""}) and not validator.is_valid(
        {"email": " "}
    )  # blank: not given


def _given(name: str) -> dict[str, Any]:
    return {"properties": {name: {"minItems": 1, "pattern": "\\S"}}, "required": [name]}


def test_exactly_one_rules_are_one_of_required_sets():
    suppress = component.actions["suppressProfiles"].input_schema()
    assert suppress["oneOf"] == [_given("emails"), _given("listId"), _given("segmentId")]
    assert suppress["x-rules"] == ["Give exactly one of Emails, List ID or Segment ID."]
    validator = _validator(suppress, suppress)
    assert not validator.is_valid({"listId": "RE83th", "segmentId": "WwKnkd"})
    assert not validator.is_valid({})
    assert not validator.is_valid({"emails": []})  # an empty list is not given


def _presence_variants(plugin: Any, schema: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The example inputs with every combination of the inputs each presence rule names."""
    base = full_example(plugin, schema)
    for rule in plugin.inputs.FORM_RULES:
        if not isinstance(rule, (AtLeastOne, ExactlyOne, NotTogether, Requires)):
            continue
        names = rule.fields
        for size in range(len(names) + 1):
            for chosen in itertools.combinations(names, size):
                variant = {k: v for k, v in base.items() if k not in names}
                variant.update({n: schema["properties"][n]["examples"][0] for n in chosen})
                yield variant


PRESENCE_RULED = [
    (kind, plugin)
    for kind, plugin in PLUGINS
    if any(isinstance(r, (AtLeastOne, ExactlyOne, NotTogether, Requires)) for r in plugin.inputs.FORM_RULES)
]


@pytest.mark.parametrize(("kind", "plugin"), PRESENCE_RULED, ids=[p.key for _, p in PRESENCE_RULED])
def test_the_form_rules_refuse_exactly_what_validation_refuses(kind, plugin, runner, klaviyo):
    schema = _schema(plugin)
    validator = _validator(schema, schema)
    for variant in _presence_variants(plugin, schema):
        form_ok = validator.is_valid(variant)
        try:
            validate_inputs(plugin.inputs, variant)
        except KlaviyoError:
            model_ok = False
        else:
            model_ok = True
        if plugin.key in ENFORCED_WHEN_RUN and model_ok and not form_ok:
            with pytest.raises(KlaviyoError) as info:  # the action refuses it before any request
                runner.run_action("klaviyo", plugin.key, connection=CONNECTION, inputs=variant)
            assert info.value.code == "invalid_input" and not klaviyo.calls, (plugin.key, variant)
            continue
        assert form_ok == model_ok, (plugin.key, variant, form_ok)


CONNECTION = {"key": "apiKey", "fields": {"apiKey": "pk_test_0123456789abcdefghijklmnop"}}


def test_subscribe_form_states_the_historical_import_rule():
    schema = component.actions["subscribeProfiles"].input_schema()
    validator = _validator(schema, schema)
    consented = {"email": "a@example.com", "consented_at": "2024-05-01T12:00:00Z"}
    assert validator.is_valid({"profiles": [consented], "historicalImport": True})
    assert not validator.is_valid({"profiles": [{"email": "a@example.com"}], "historicalImport": True})
    assert not validator.is_valid({"profiles": [consented]})
    assert any("Historical Import" in rule for rule in schema["x-rules"])
    profile = schema["$defs"]["SubscribeProfile"]
    assert not validator.is_valid({"profiles": [{"phone_number": "+15005550006"}]})  # SMS never implied
    assert validator.is_valid({"profiles": [{"phone_number": "+15005550006", "channels": ["sms_marketing"]}]})
    assert "Give at least one of Email or Phone Number." in profile["x-rules"]


# -- objects given as text ------------------------------------------------------------------------


def _refused(key: str, inputs: dict[str, Any]) -> KlaviyoError:
    with pytest.raises(KlaviyoError) as info:
        validate_inputs(component.actions[key].inputs, inputs)
    return info.value


@pytest.mark.parametrize("profiles", [["a@example.com"], "a@example.com"])
def test_profiles_given_as_emails_are_answered_with_the_object_wanted(profiles):
    err = _refused("subscribeProfiles", {"profiles": profiles})
    assert (
        err.message
        == 'Invalid input. Profiles[0]: must be an object like {"email": "sarah.mason@klaviyo-demo.com"}'
    )
    assert err.errors == [
        {"field": "Profiles[0]", "detail": 'must be an object like {"email": "sarah.mason@klaviyo-demo.com"}'}
    ]


def test_a_union_of_objects_given_as_text_shows_its_smallest_member():
    err = _refused(
        "createCampaign",
        {
            "campaignName": "x",
            "includedAudiences": "a",
            "campaignMessages": ["hi"],
            "sendStrategy": "immediate",
        },
    )
    assert 'Send Strategy: must be an object like {"method": "immediate"}' in err.message
    assert 'Campaign Messages[0]: must be an object like {"channel": "' in err.message


def test_a_list_or_object_input_given_text_shows_the_list_items_shape():
    err = _refused("rawRequest", {"url": "/api/accounts", "method": "GET", "headers": ["X-Flow"]})
    assert (
        'Header.list[KeyValue][0]: must be an object like {"key": "page[size]", "value": "20"}' in err.message
    )


def test_a_nested_object_given_text_shows_its_own_example():
    err = _refused(
        "createEvent", {"eventName": "Viewed", "eventProfile": {"email": "a@example.com", "location": "NYC"}}
    )
    assert err.message == (
        "Invalid input. Event Profile.location: must be an object like "
        '{"city": "New York", "region": "NY", "country": "United States", "zip": "10017"}'
    )


def test_other_wrong_types_keep_their_message():
    err = _refused("createProfile", {"email": "a@example.com", "properties": [1, 2]})
    assert "Properties: Input should be a valid dictionary" in err.message


def _is_object(node: Mapping[str, Any]) -> bool:
    """An object, a nested model, or a union of nested models (such as a discriminated union)."""
    union = node.get("oneOf") or []
    return "$ref" in node or node.get("type") == "object" or bool(union and all("$ref" in m for m in union))


def _object_inputs() -> Iterator[tuple[str, str, str]]:
    """Every input taking an object or an array of objects, and nothing else (not text)."""
    for action in component.actions.values():
        schema = action.input_schema()
        for name, prop in schema["properties"].items():
            if _is_object(prop["items"] if prop.get("type") == "array" else prop):
                yield action.key, name, prop["title"]


OBJECT_INPUTS = list(_object_inputs())


@pytest.mark.parametrize(
    ("key", "name", "label"), OBJECT_INPUTS, ids=[f"{k}.{n}" for k, n, _ in OBJECT_INPUTS]
)
def test_every_object_input_given_text_names_the_shape_with_a_valid_example(key, name, label):
    schema = component.actions[key].input_schema()
    required = {n: schema["properties"][n]["examples"][0] for n in schema.get("required", ()) if n != name}
    err = _refused(key, {**required, name: "a@example.com"})
    mine = [e for e in err.errors if e["field"].startswith(label)]
    assert mine and all(e["detail"].startswith("must be an object like {") for e in mine), err.message
    prop = schema["properties"][name]
    target = prop["items"] if prop.get("type") == "array" else prop
    for problem in mine:
        example = json.loads(problem["detail"].removeprefix("must be an object like "))
        assert _validator(target, schema).is_valid(example), (key, name, example)


def test_inputs_base_keeps_model_json_schema_compatible():
    from pydantic.json_schema import GenerateJsonSchema

    schema = component.actions["createProfile"].inputs.model_json_schema(schema_generator=GenerateJsonSchema)
    assert schema["title"] == "CreateProfileInputs"  # pydantic's own generator, when asked for
    assert issubclass(component.actions["createProfile"].inputs, Inputs)


# -- the form refuses what the run refuses ----------------------------------------------------------

OVER_LONG = "x" * 300


def _fuzz_values(prop: Mapping[str, Any]) -> list[Any]:
    """Values a form is likely to send wrong: blank text, an empty list, text that is no email,
    phone number, date, code or URL, and text over any length the input states (or a long one)."""
    values: list[Any] = ["", " ", [], "x", OVER_LONG]
    if isinstance(prop.get("maxLength"), int):
        values.append("x" * (prop["maxLength"] + 1))
    return values


def _takes_text(prop: Mapping[str, Any]) -> bool:
    options = [prop, *prop.get("anyOf", ()), *prop.get("oneOf", ())]
    return any(option.get("type") == "string" for option in options)


# Where the form refuses a value the run accepts, deliberately: the schema describes the typed
# value, and the form coercion also reads text for other types (blank as "not given", "10" as 10,
# "a,b" as a list, JSON text as an object). Each (action, input, value) the run refuses, the form
# refuses too: that direction has no exceptions.
# Blank text in an optional input is "not given" to the run; a picklist (enum) or a non-empty text
# (minLength) input states what a given value must be, and a form leaves the input out instead.
def _coerced_text(prop: Mapping[str, Any], value: Any, optional: bool) -> bool:
    if not isinstance(value, str):
        return False
    blank_closed = optional and not value.strip() and ("enum" in prop or "minLength" in prop)
    return blank_closed or not _takes_text(prop)


FUZZ_EXCEPTIONS: dict[tuple[str, str], str] = {
    ("rawRequest", "formData"): "an empty list of form fields is sent as no form fields",
    ("rawRequest", "fileData"): "an empty list of files is sent as no files",
    ("rawRequest", "fileDataFileNames"): "an empty list of names names no file",
}


@pytest.mark.parametrize(("kind", "plugin"), PLUGINS, ids=IDS)
def test_the_form_and_the_run_agree_on_likely_wrong_values(kind, plugin):
    schema = _schema(plugin)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())
    base = full_example(plugin, schema)
    disagreements = []
    for name, prop in schema["properties"].items():
        for value in _fuzz_values(prop):
            inputs = {**base, name: value}
            form_ok = validator.is_valid(inputs)
            try:
                validate_inputs(plugin.inputs, inputs)
            except KlaviyoError:
                run_ok = False
            else:
                run_ok = True
            optional = name not in schema.get("required", ())
            if form_ok == run_ok or (run_ok and _coerced_text(prop, value, optional)):
                continue
            if (plugin.key, name) in FUZZ_EXCEPTIONS:
                continue
            disagreements.append(
                (name, json.dumps(value)[:24], "form accepts" if form_ok else "form refuses")
            )
    assert not disagreements, (plugin.key, disagreements)


@pytest.mark.parametrize(("kind", "plugin"), PLUGINS, ids=IDS)
def test_every_property_has_a_label_of_its_own(kind, plugin):
    for name, model in _models(_schema(plugin)):
        for prop, value in model.get("properties", {}).items():
            title = value.get("title")
            assert title and not re.search(r"_|[a-z][A-Z]", title), (plugin.key, name or "top", prop, title)
