"""The three-way merge of a linked pair, field by field, through the pure planner."""

from __future__ import annotations

import pytest

from apps.syncs.engine.merge import is_echo, settled_base
from apps.syncs.engine.plan import plan
from apps.syncs.engine.plan_types import MappingSpec, OpenConflict, PlanInput
from apps.syncs.engine.types import ConflictPolicy, Direction, InitialPolicy, Side
from tests.syncs.builders import (
    AGREED,
    EMAIL,
    NAME,
    STATUS,
    a_rec,
    b_rec,
    base,
    linked,
    rec,
    spec,
)


def test_change_on_one_side_is_written_to_the_other_as_a_field_diff():
    result = plan(
        spec(),
        PlanInput(changed_a=[a_rec(name="Annie")], records_b={"b1": b_rec()}, links=[linked()]),
    )
    [pair] = result.pairs
    assert pair.write_a is None
    assert pair.write_b.record_id == "b1"
    assert [(c.field, c.before, c.after) for c in pair.write_b.changes] == [
        ("full_name", "Ann", "Annie")
    ]
    assert pair.settle == {"1", "2", "3"}
    assert result.change_count() == 1


def test_own_echo_is_detected_without_the_partner():
    link = linked(a_version="1")
    assert is_echo(spec(), Side.A, a_rec(2), link) is True
    assert is_echo(spec(), Side.A, a_rec(2, name="Bob"), link) is False
    # A change to an unmapped field is also nothing to do.
    assert is_echo(spec(), Side.A, a_rec(2, region="EU"), link) is True


def test_echo_requires_every_mapping_to_have_a_base():
    link = linked(base=base(name=("Ann", "Ann"), phone=("1", "1")))
    assert is_echo(spec(), Side.A, a_rec(), link) is False


def test_both_sides_changed_to_equivalent_values_is_no_conflict():
    result = plan(
        spec(),
        PlanInput(
            changed_a=[a_rec(email="new@x.com")],
            records_b={"b1": b_rec(email=" NEW@x.com")},
            links=[linked()],
        ),
    )
    assert result.conflicts == []
    assert result.pairs[0].write_a is None
    assert result.pairs[0].write_b is None
    assert "3" in result.pairs[0].settle


def test_both_sides_changed_differently_holds_only_that_field_with_manual():
    result = plan(
        spec(),
        PlanInput(
            changed_a=[a_rec(name="Annie", phone="2")],
            records_b={"b1": b_rec(full_name="Anna")},
            links=[linked()],
        ),
    )
    [conflict] = result.conflicts
    assert (conflict.mapping_id, conflict.value_a, conflict.value_b) == ("1", "Annie", "Anna")
    assert conflict.decision == "manual"
    assert conflict.base == {"a": "Ann", "b": "Ann"}
    pair = result.pairs[0]
    assert pair.write_b.fields == {"phone": "2"}  # the other field still syncs
    assert "1" not in pair.settle


@pytest.mark.parametrize(
    ("policy", "minutes_a", "minutes_b", "decision", "written", "loser"),
    [
        (ConflictPolicy.PREFER_A, 1, 5, "a", ("b", "Annie"), "Anna"),
        (ConflictPolicy.PREFER_B, 5, 1, "b", ("a", "Anna"), "Annie"),
        (ConflictPolicy.NEWEST, 5, 1, "a", ("b", "Annie"), "Anna"),
        (ConflictPolicy.NEWEST, 1, 5, "b", ("a", "Anna"), "Annie"),
    ],
)
def test_policies_decide_and_keep_the_losing_value(
    policy, minutes_a, minutes_b, decision, written, loser
):
    result = plan(
        spec(conflict_policy=policy),
        PlanInput(
            changed_a=[a_rec(minutes_a, name="Annie")],
            records_b={"b1": b_rec(minutes_b, full_name="Anna")},
            links=[linked()],
        ),
    )
    [conflict] = result.conflicts
    assert conflict.decision == decision
    assert conflict.losing_value == loser
    pair = result.pairs[0]
    write = pair.write_b if written[0] == "b" else pair.write_a
    assert write.fields == {"full_name" if written[0] == "b" else "name": written[1]}


def test_newest_with_equal_times_is_held_for_a_person():
    result = plan(
        spec(conflict_policy=ConflictPolicy.NEWEST),
        PlanInput(
            changed_a=[a_rec(3, name="Annie")],
            records_b={"b1": b_rec(3, full_name="Anna")},
            links=[linked()],
        ),
    )
    assert result.conflicts[0].decision == "manual"


def test_one_way_field_is_never_written_back():
    one_way = MappingSpec("2", "phone", "phone", direction=Direction.A_TO_B)
    s = spec(mappings=(NAME, one_way, EMAIL))
    result = plan(
        s, PlanInput(changed_b=[b_rec(phone="9")], records_a={"a1": a_rec()}, links=[linked()])
    )
    pair = result.pairs[0]
    assert pair.write_a is None
    assert pair.write_b is None
    assert "2" in pair.settle  # acknowledged: B's value becomes its base
    # A change on the source side is written, over B's own value.
    result = plan(
        s,
        PlanInput(
            changed_a=[a_rec(phone="5")], records_b={"b1": b_rec(phone="9")}, links=[linked()]
        ),
    )
    assert result.pairs[0].write_b.fields == {"phone": "5"}
    assert result.conflicts == []


def test_value_map_and_missing_entry_is_a_record_error_naming_field_and_value():
    s = spec(mappings=(NAME, STATUS, EMAIL))
    status_base = base(
        name=("Ann", "Ann"), email=("ann@x.com", "ann@x.com"), status=("open", "To Do")
    )
    ok = plan(
        s,
        PlanInput(
            changed_a=[a_rec(status="closed")],
            records_b={"b1": b_rec(state="To Do")},
            links=[linked(base=status_base)],
        ),
    )
    assert ok.pairs[0].write_b.fields == {"state": "Done"}
    bad = plan(
        s,
        PlanInput(
            changed_a=[a_rec(status="archived", name="Annie")],
            records_b={"b1": b_rec(state="To Do")},
            links=[linked(base=status_base)],
        ),
    )
    [issue] = bad.errors
    assert (issue.side, issue.record_id, issue.field, issue.value) == (
        Side.A,
        "a1",
        "status",
        "archived",
    )
    assert "no entry in the value map" in issue.message
    assert bad.pairs[0].write_b.fields == {"full_name": "Annie"}  # the rest goes on
    assert "4" not in bad.pairs[0].settle


@pytest.mark.parametrize(
    ("initial", "write_a", "write_b"),
    [
        (InitialPolicy.A_WINS, {"phone": "7"}, {"full_name": "Ann"}),
        (InitialPolicy.B_WINS, {"name": "Anna", "phone": "7"}, None),
    ],
)
def test_matched_pair_without_base_follows_initial_policy(initial, write_a, write_b):
    result = plan(
        spec(initial_policy=initial),
        PlanInput(
            changed_a=[rec("a9", email="z@x.com", name="Ann", phone="")],
            records_b={"b9": rec("b9", email="z@x.com", full_name="Anna", phone="7")},
        ),
    )
    pair = result.matched[0]
    # An empty value never overwrites a filled one: the phone flows from B to A either way.
    assert pair.write_a.fields == write_a
    assert (pair.write_b.fields if pair.write_b else None) == write_b


def test_matched_pair_with_conflict_initial_policy_opens_conflicts():
    result = plan(
        spec(initial_policy=InitialPolicy.CONFLICT),
        PlanInput(
            changed_a=[rec("a9", email="z@x.com", name="Ann")],
            records_b={"b9": rec("b9", email="z@x.com", full_name="Anna")},
        ),
    )
    [conflict] = result.conflicts
    assert (conflict.value_a, conflict.value_b, conflict.base) == ("Ann", "Anna", None)


def test_open_conflict_converges_when_sides_agree_and_holds_otherwise():
    open_conflict = OpenConflict(1, 7, "1", "Annie", "Anna")
    same = plan(
        spec(),
        PlanInput(
            changed_a=[a_rec(name="Anna")],
            records_b={"b1": b_rec(full_name="Anna")},
            links=[linked()],
            conflicts=[open_conflict],
        ),
    )
    assert [c.conflict_key for c in same.converged] == [1]
    held = plan(
        spec(),
        PlanInput(
            changed_a=[a_rec(name="Annie", phone="3")],
            records_b={"b1": b_rec(full_name="Anna")},
            links=[linked()],
            conflicts=[open_conflict],
        ),
    )
    assert held.conflicts == []  # unchanged values: nothing new to record
    assert held.pairs[0].write_b.fields == {"phone": "3"}


def test_settled_base_takes_final_values_and_keeps_held_fields():
    result = settled_base(
        spec(), AGREED, {"2"}, {"phone": "5", "name": "X"}, {"phone": "5", "full_name": "Y"}
    )
    assert result["2"] == {"a": "5", "b": "5"}
    assert result["1"] == {"a": "Ann", "b": "Ann"}
