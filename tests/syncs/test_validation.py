"""Checking definitions against field discovery: filters by kind, and every problem at
once for a form (the API's first-problem answers are in test_services and test_api)."""

from __future__ import annotations

import pytest

from apps.core.errors import Invalid
from apps.syncs.engine.types import Side
from apps.syncs.validation import (
    filters_problems,
    filters_validate,
    mappings_problems,
    match_rule_problems,
)
from tests.syncs.factories import CRM_FIELDS, DESK_FIELDS, STATUS_MAPPING

FIELDS = {Side.A: {s.name: s for s in CRM_FIELDS}, Side.B: {s.name: s for s in DESK_FIELDS}}


def one_filter(field, operator, value=None, side="a"):
    return filters_validate(
        [{"side": side, "field": field, "operator": operator, "value": value}], FIELDS
    )[0]["value"]


@pytest.mark.parametrize(
    ("field", "operator"),
    [
        ("vip", "greater"),  # a yes/no has no order
        ("vip", "contains"),
        ("status", "contains"),  # an enum is one value: equals or in
        ("tags", "equals"),  # a multi-select holds values: contains or in
        ("score", "contains"),
    ],
)
def test_an_operator_must_suit_the_fields_kind(field, operator):
    with pytest.raises(Invalid) as exc:
        one_filter(field, operator, "x")
    assert exc.value.field == "filters.0"
    assert "does not apply to" in exc.value.message


def test_typed_values_are_converted_so_a_form_and_json_mean_the_same():
    assert one_filter("vip", "equals", "true") is True
    assert one_filter("vip", "equals", False) is False
    assert one_filter("score", "greater", "5") == 5
    assert one_filter("score", "in", ["1", 2.5]) == [1, 2.5]
    assert one_filter("renewal", "less", " 2026-01-31 ") == "2026-01-31"
    assert one_filter("region", "equals", " EU ") == " EU "  # text is compared trimmed
    assert one_filter("region", "empty", "ignored") is None


@pytest.mark.parametrize(
    ("field", "operator", "value"),
    [("score", "greater", "lots"), ("vip", "equals", "maybe"), ("renewal", "less", "soon")],
)
def test_a_value_the_field_cannot_hold_is_refused(field, operator, value):
    with pytest.raises(Invalid) as exc:
        one_filter(field, operator, value)
    assert exc.value.field == "filters.0"
    assert repr(value) in exc.value.message


def test_a_filter_needs_a_value_unless_its_operator_takes_none():
    with pytest.raises(Invalid, match="needs a value"):
        one_filter("region", "equals", "")


def test_every_mappings_problem_is_named_on_its_row():
    mappings = [
        {"field_a": "email", "field_b": "email"},
        {"field_a": "vip", "field_b": "renewal"},  # incompatible
        {"field_a": "name", "field_b": "ticket_count"},  # read-only target
        {"field_a": "status", "field_b": "state"},  # no value map
    ]
    assert sorted(mappings_problems(mappings, FIELDS)) == [
        "mappings.1",
        "mappings.2.direction",
        "mappings.3.value_map_a_to_b",
    ]


def test_problems_of_the_set_come_once_each_row_works():
    twice = [{"field_a": "name", "field_b": "notes"}, {"field_a": "region", "field_b": "notes"}]
    assert mappings_problems(twice, FIELDS) == {
        "mappings": "B.notes is written by two mappings (name <-> notes and region <-> notes)"
    }
    assert list(mappings_problems([], FIELDS)) == ["mappings"]
    assert (
        mappings_problems([{"field_a": "email", "field_b": "email"}, STATUS_MAPPING], FIELDS) == {}
    )


def test_every_filter_and_match_pair_problem_is_named_by_its_index():
    filters = [
        {"side": "a", "field": "region", "operator": "equals", "value": "EU"},
        {"side": "b", "field": "planet", "operator": "empty"},
        {"side": "a", "field": "vip", "operator": "greater", "value": 1},
    ]
    assert sorted(filters_problems(filters, FIELDS)) == ["filters.1", "filters.2"]
    rule = [{"a": "email", "b": "email"}, {"a": "email", "b": "nope"}]
    assert list(match_rule_problems(rule, FIELDS)) == ["match_rule.1.b"]
