"""What the sync builder proposes: mappings, value maps, what a definition leaves out."""

from __future__ import annotations

from apps.syncs.engine.types import Side
from apps.syncs.suggestions import (
    mappings_suggest,
    match_rule_suggest,
    needs_value_map,
    required_unmapped,
    value_map_effective,
    value_map_gaps,
    value_map_suggest,
    value_maps_suggest,
)
from connectors.base import FieldOption, FieldSpec, FieldType
from tests.syncs.factories import CRM_FIELDS, DESK_FIELDS


def by_name(specs):
    return {s.name: s for s in specs}


def spec(name, type_=FieldType.STRING, label=None, **kw):
    return FieldSpec(name, label or name.title(), type_, **kw)


def enum(name, *options, label=None, **kw):
    opts = tuple(FieldOption(v, lbl) for v, lbl in options)
    return FieldSpec(name, label or name.title(), FieldType.ENUM, options=opts, **kw)


def test_suggestions_pair_email_with_email_then_same_name_of_compatible_kinds():
    suggested = mappings_suggest(by_name(CRM_FIELDS), by_name(DESK_FIELDS))
    pairs = [(m["field_a"], m["field_b"], m["direction"]) for m in suggested]
    # name/full_name, status/state and tags/labels share neither name nor label; created
    # and ticket_count have no counterpart.
    assert pairs == [
        ("email", "email", "both"),
        ("phone", "phone", "both"),
        ("score", "score", "both"),  # number with text: they convert
        ("vip", "vip", "both"),
        ("renewal", "renewal", "both"),  # date with date-time
        ("owner", "owner", "both"),
    ]


def test_email_pairs_with_email_whatever_the_names():
    a = by_name([spec("id"), spec("work_email", FieldType.EMAIL, "Work email")])
    b = by_name([spec("mail", FieldType.EMAIL, "Mail"), spec("email", FieldType.EMAIL)])
    # The field named "email" is preferred on a side that has two.
    assert mappings_suggest(a, b) == [
        {"field_a": "work_email", "field_b": "email", "direction": "both"}
    ]


def test_same_label_pairs_fields_of_different_names_and_case_and_punctuation_do_not_matter():
    a = by_name([spec("vip", FieldType.BOOLEAN, "VIP"), spec("first_name", label="First name")])
    b = by_name([spec("custom_vip", FieldType.BOOLEAN, "V.I.P."), spec("FirstName", label="x")])
    assert [(m["field_a"], m["field_b"]) for m in mappings_suggest(a, b)] == [
        ("vip", "custom_vip"),
        ("first_name", "FirstName"),
    ]


def test_one_way_towards_the_side_that_takes_values_never_to_a_read_only_field():
    a = by_name(
        [spec("created", FieldType.DATETIME, writable=False), spec("count", FieldType.INTEGER)]
    )
    b = by_name(
        [spec("created", FieldType.DATETIME), spec("count", FieldType.INTEGER, writable=False)]
    )
    assert [(m["field_a"], m["direction"]) for m in mappings_suggest(a, b)] == [
        ("created", "a_to_b"),
        ("count", "b_to_a"),
    ]


def test_incompatible_read_only_and_reference_pairs_are_not_suggested():
    a = by_name(
        [
            spec("flag", FieldType.BOOLEAN),
            spec("org", FieldType.REFERENCE),
            spec("x", writable=False),
        ]
    )
    b = by_name(
        [spec("flag", FieldType.DATE), spec("org", FieldType.REFERENCE), spec("x", writable=False)]
    )
    assert mappings_suggest(a, b) == []


def test_each_field_is_in_one_suggestion_at_most():
    a = by_name([spec("phone", label="Phone"), spec("mobile", label="Phone")])
    b = by_name([spec("phone", label="Phone")])
    assert [m["field_a"] for m in mappings_suggest(a, b)] == ["phone"]


def test_enum_pairs_come_with_value_maps_matched_by_value_or_label():
    status = enum("status", ("open", "Open"), ("closed", "Closed"), ("spam", "Spam"))
    state = enum("status", ("To Do", "Open"), ("done", "CLOSED"), ("archived", "Archived"))
    [mapping] = mappings_suggest({"status": status}, {"status": state})
    assert mapping["value_map_a_to_b"] == {"open": "To Do", "closed": "done"}  # spam: a person
    assert mapping["value_map_b_to_a"] == {"To Do": "open", "done": "closed"}
    assert value_map_gaps(mapping["value_map_a_to_b"], status, state) == ["spam"]


def test_no_value_map_where_every_option_matches_by_value():
    left = enum("tier", ("gold", "Gold"), ("silver", "Silver"))
    right = enum("tier", ("gold", "GOLD"), ("silver", "SILVER"), ("bronze", "Bronze"))
    assert not needs_value_map(left, right)
    assert needs_value_map(right, left)  # bronze has no counterpart on the left
    assert value_maps_suggest(left, right, "a_to_b") == {}
    assert value_maps_suggest(left, right, "both") == {
        "value_map_b_to_a": {"gold": "gold", "silver": "silver"}
    }


def test_a_value_map_is_suggested_where_a_label_matches_the_other_value():
    source = enum("role", ("end-user", "Customer"), ("agent", "Agent"))
    target = enum("stage", ("customer", "Customer stage"), ("other", "Other"))
    assert value_map_suggest(source, target) == {"end-user": "customer"}


def test_the_effective_map_of_an_empty_value_map_is_conversion_by_equal_value():
    source = enum("tier", ("gold", "Gold"), ("tin", "Tin"))
    target = enum("tier", ("gold", "Gold"))
    assert value_map_effective({}, source, target) == {"gold": "gold"}
    assert value_map_effective({"tin": "gold"}, source, target) == {"tin": "gold"}
    assert value_map_gaps({}, source, target) == ["tin"]


def test_required_fields_no_mapping_writes_are_named_per_side():
    fields = {Side.A: by_name(CRM_FIELDS), Side.B: by_name(DESK_FIELDS)}
    assert {s: [f.name for f in v] for s, v in required_unmapped([], fields).items()} == {
        Side.A: ["email"],
        Side.B: ["email"],
    }
    one_way = [{"field_a": "email", "field_b": "email", "direction": "a_to_b"}]
    found = required_unmapped(one_way, fields)
    assert ([f.name for f in found[Side.A]], found[Side.B]) == (["email"], [])


def test_the_match_rule_suggested_is_the_first_pair_of_emails():
    fields = {Side.A: by_name(CRM_FIELDS), Side.B: by_name(DESK_FIELDS)}
    mappings = [{"field_a": "phone", "field_b": "phone"}, {"field_a": "email", "field_b": "email"}]
    assert match_rule_suggest(mappings, fields) == [
        {"a": "email", "b": "email", "normalise": "email"}
    ]
    assert match_rule_suggest(mappings[:1], fields) == []
