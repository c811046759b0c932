"""The one input coercion path: form strings, JSON text, labels in errors, nothing sent."""

from __future__ import annotations

import pytest
from conftest import BASE, run
from klaviyo_connector.errors import KlaviyoError

PROFILE = {"data": {"type": "profile", "id": "01ABC", "attributes": {}}}


def test_form_strings_are_coerced(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/profiles", json={"data": [], "links": {"self": "x"}})
    run(
        runner,
        "listProfile",
        {"pageSize": "7", "fetchAll": "false", "fields": "email, first_name", "sort": ""},
    )
    url = klaviyo.calls[0].request.url
    assert "page%5Bsize%5D=7" in url and "fields%5Bprofile%5D=email%2Cfirst_name" in url and "sort" not in url


def test_json_text_becomes_objects(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/profiles", status=201, json=PROFILE)
    run(
        runner,
        "createProfile",
        {
            "email": "a@example.com",
            "location": '{"city": "Boston", "latitude": "42.36"}',
            "properties": '{"plan": "gold", "seats": 3}',
        },
    )
    import json

    body = json.loads(klaviyo.calls[0].request.body)
    assert body == {
        "data": {
            "type": "profile",
            "attributes": {
                "email": "a@example.com",
                "location": {"city": "Boston", "latitude": "42.36"},
                "properties": {"plan": "gold", "seats": 3},
            },
        }
    }


@pytest.mark.parametrize(
    ("inputs", "label", "fragment"),
    [
        ({"email": "not-an-email"}, "Email", "not a valid email"),
        ({"phoneNumber": "555-1234"}, "Phone Number", "E.164"),
        ({"phoneNumber": "+0 123"}, "Phone Number", "E.164"),
        ({"location": "{oops"}, "Location", "not valid JSON"),
        ({"location": {"town": "x"}}, "Location.town", "not an allowed member"),
        ({"nickname": "x"}, "nickname", "not an input of this action"),
        ({"properties": "[1, 2]"}, "Properties", "valid dictionary"),
    ],
)
def test_invalid_input_names_the_label_and_sends_nothing(runner, klaviyo, inputs, label, fragment):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "createProfile", inputs)
    err = info.value
    assert err.field == label and fragment in err.message and err.code == "invalid_input"
    assert err.error_class == "user_fixable" and err.status is None
    assert len(klaviyo.calls) == 0


def test_missing_required_input(runner, klaviyo):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "getProfile", {})
    assert info.value.message == "Invalid input. Profile ID: is required" and len(klaviyo.calls) == 0


def test_phone_punctuation_is_normalised(runner, klaviyo):
    klaviyo.add("POST", f"{BASE}/api/profiles", status=201, json=PROFILE)
    run(runner, "createProfile", {"phoneNumber": "+1 (500) 555-0006"})
    assert b'"phone_number":"+15005550006"' in klaviyo.calls[0].request.body


def test_update_omits_missing_fields_and_sends_explicit_nulls(runner, klaviyo):
    klaviyo.add("PATCH", f"{BASE}/api/profiles/01ABC", json=PROFILE)
    run(runner, "updateProfile", {"profileId": "01ABC", "firstName": "Ann", "lastName": None, "title": ""})
    import json

    assert json.loads(klaviyo.calls[0].request.body) == {
        "data": {"type": "profile", "id": "01ABC", "attributes": {"first_name": "Ann", "last_name": None}}
    }


@pytest.mark.parametrize(
    ("flt", "fragment"),
    [
        ("equals(nickname,'x')", "filtering on 'nickname' is not supported"),
        ("contains(email,'x')", "cannot be used with contains()"),
        ("equals(email,x y)", "must be quoted"),
        ("greater-than(created,'yesterday')", "ISO-8601"),
        ("equals(email,'a'", "ends too early"),
    ],
)
def test_bad_filters_are_refused_before_sending(runner, klaviyo, flt, fragment):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "listProfile", {"filter": flt})
    assert info.value.field == "Filter" and fragment in info.value.message and len(klaviyo.calls) == 0


def test_filters_are_normalised_quoted_strings_unquoted_utc_datetimes(runner, klaviyo):
    klaviyo.add("GET", f"{BASE}/api/profiles", json={"data": [], "links": {"self": "x"}})
    run(
        runner,
        "listProfile",
        {"filter": "greater-than(created,'2024-01-01T02:00:00+02:00'), any(email,[\"a@x.io\",'b@x.io'])"},
    )
    from urllib.parse import parse_qs, urlsplit

    sent = parse_qs(urlsplit(klaviyo.calls[0].request.url).query)["filter"][0]
    assert sent == "greater-than(created,2024-01-01T00:00:00Z),any(email,['a@x.io','b@x.io'])"


def test_sparse_fields_checked_against_the_spec(runner, klaviyo):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "getProfile", {"profileId": "01ABC", "fields": "email,shoe_size"})
    assert info.value.field == "Fields" and "shoe_size" in info.value.message and len(klaviyo.calls) == 0


def test_every_action_field_has_a_title():
    from klaviyo_connector.component import component

    for action in component.actions.values():
        for name, info in action.inputs.model_fields.items():
            assert info.title, f"{action.key}.{name} lacks a label (title)"


def test_single_value_form_refused_where_klaviyo_only_takes_a_list(runner, klaviyo):
    with pytest.raises(KlaviyoError) as info:
        run(runner, "listLists", {"filter": "equals(name,'VIP')"})
    assert "equals() takes a list" in info.value.message and len(klaviyo.calls) == 0
    klaviyo.add("GET", f"{BASE}/api/lists", json={"data": [], "links": {"self": "x"}})
    run(runner, "listLists", {"filter": "equals(name,['VIP'])"})
    assert "filter=equals%28name%2C%5B%27VIP%27%5D%29" in klaviyo.calls[0].request.url


LIST_ACTIONS = {
    "listProfile": "get_profiles",
    "listLists": "get_lists",
    "listListProfiles": "get_profiles_for_list",
    "listSegments": "get_segments",
    "listSegmentProfiles": "get_profiles_for_segment",
    "listCampaigns": "get_campaigns",
    "listTemplates": "get_templates",
    "listImages": "get_images",
    "listEvents": "get_events",
    "listMetrics": "get_metrics",
    "listFlows": "get_flows",
}


@pytest.mark.parametrize(("key", "operation"), LIST_ACTIONS.items())
def test_list_inputs_offer_sort_and_page_size_only_where_the_endpoint_has_them(key, operation):
    from klaviyo_connector import catalog
    from klaviyo_connector.component import component

    op = catalog.operation(operation)
    assert operation in component.actions[key].operations
    props = component.actions[key].inputs.model_json_schema()["properties"]
    if op.param("sort") is None:
        assert "sort" not in props
    else:
        assert props["sort"]["title"] == "Sort"
        assert props["sort"]["enum"] == list(op.sort or ())
    if op.param("page[size]") is None:
        assert "pageSize" not in props
    else:
        assert props["pageSize"]["title"] == "Page Size"
        assert props["pageSize"]["maximum"] == op.param("page[size]")["maximum"] == op.page_size_max
    required = component.actions[key].inputs.model_json_schema().get("required", [])
    keys = [k for k in props if k not in required]  # required inputs come first in the form
    assert keys[0] == "filter" and keys.index("pageCursor") == 1 + ("sort" in props) + ("pageSize" in props)


def test_every_list_action_is_checked_above():
    from klaviyo_connector.component import component
    from klaviyo_connector.listing import ListInputs

    listing = {k for k, a in component.actions.items() if issubclass(a.inputs, ListInputs)}
    assert listing == set(LIST_ACTIONS)


def test_body_enum_inputs_take_the_spec_values_and_show_them_as_the_schema_enum(runner, klaviyo):
    from klaviyo_connector.actions.metrics import QueryMetricAggregatesInputs

    props = QueryMetricAggregatesInputs.model_json_schema()["properties"]
    assert props["interval"]["enum"] == ["day", "hour", "month", "week"]
    assert props["measurements"]["items"]["enum"] == ["count", "sum_value", "unique"]
    inputs = {"metricId": "m", "measurements": "count,total", "startDate": "2025-06-01", "interval": "year"}
    with pytest.raises(KlaviyoError) as info:
        run(runner, "queryMetricAggregates", inputs)
    assert "Measurements[1]: must be one of count, sum_value, unique" in info.value.message
    assert "Interval: must be one of day, hour, month, week" in info.value.message
    assert not klaviyo.calls
