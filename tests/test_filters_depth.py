"""The shared filter grammar's limits on the client: nesting, number size and datetime range are
input errors naming what is wrong (user_fixable, invalid_input), never a crash (``internal``),
and nothing is sent."""

from __future__ import annotations

from typing import Any

import pytest
import responses
from conftest import refused
from klaviyo_connector import catalog, filters
from klaviyo_connector.errors import USER_FIXABLE
from klaviyo_connector.filters import MAX_DEPTH, FilterError, Not, condition


def nested(levels: int, operator: str = "not") -> str:
    return f"{operator}(" * levels + "equals(email,'a@example.com')" + ")" * levels


@pytest.mark.parametrize("operator", ["not", "and", "or"])
def test_a_filter_nested_2000_deep_is_a_filter_error_naming_the_limit(operator: str) -> None:
    with pytest.raises(FilterError, match=f"at most {MAX_DEPTH} levels"):
        filters.parse(nested(2000, operator))


def test_nesting_up_to_the_limit_parses() -> None:
    assert len(filters.comparisons(filters.parse(nested(MAX_DEPTH)))) == 1
    with pytest.raises(FilterError):
        filters.parse(nested(MAX_DEPTH + 1))


def test_nodes_built_in_code_are_held_to_the_same_depth() -> None:
    node: filters.Node = condition("equals", "email", "a@example.com")
    for _ in range(MAX_DEPTH + 1):
        node = Not(node)
    with pytest.raises(FilterError, match=str(MAX_DEPTH)):
        filters.validate([node], catalog.operation("get_profiles").filters)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("greater-than(timestamp," + "9" * 5000 + ")", "too long"),
        ("greater-than(timestamp,1e999)", "too large"),
        ("greater-than(datetime,9999-12-31T23:59:59-05:00)", "datetime"),
        ("greater-than(datetime,0001-01-01T00:00:00+05:00)", "datetime"),
        ("equals(timestamp,\u0665)", "quoted"),  # an Arabic-Indic five is text, not a number
    ],
    ids=["long-number", "infinite-number", "after-9999", "before-1", "non-ascii-digit"],
)
def test_values_beyond_what_the_grammar_carries_are_filter_errors(text: str, problem: str) -> None:
    with pytest.raises(FilterError, match=problem):
        filters.parse(text)


@pytest.mark.parametrize(
    "text",
    [nested(2000), "greater-than(updated,9999-12-31T23:59:59-05:00)", "any(id,[" + "9" * 5000 + "])"],
    ids=["deep", "datetime-out-of-range", "long-number"],
)
def test_the_list_action_reports_an_input_error_and_sends_nothing(
    runner: Any, klaviyo: responses.RequestsMock, text: str
) -> None:
    err = refused(runner, klaviyo, "listProfile", {"filter": text})
    assert err.error_class == USER_FIXABLE
    assert err.code == "invalid_input"
    assert err.source == {"parameter": "filter"}


def test_the_depth_error_names_the_limit_to_the_user(runner: Any, klaviyo: responses.RequestsMock) -> None:
    err = refused(runner, klaviyo, "listProfile", {"filter": nested(2000)})
    assert f"at most {MAX_DEPTH} levels" in err.message
