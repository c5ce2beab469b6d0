"""The pure planner: plain dataclasses in, a Plan out; no database, no connectors."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from apps.syncs.engine.filters import FilterSpec, Operator, passes
from apps.syncs.engine.plan import (
    LinkState,
    MappingSpec,
    MatchPair,
    OpenConflict,
    PlanInput,
    SyncSpec,
    dedupe,
    is_echo,
    plan,
    settled_base,
)
from apps.syncs.engine.types import (
    ConflictPolicy,
    DeletePolicy,
    Direction,
    InitialPolicy,
    LinkStatus,
    Side,
)
from apps.syncs.engine.values import ConversionError, Kind, convert, equivalent, match_key
from connectors.base import Record

T0 = datetime(2026, 3, 1, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[2]

NAME = MappingSpec("1", "name", "full_name")
PHONE = MappingSpec("2", "phone", "phone")
EMAIL = MappingSpec("3", "email", "email", kind_a=Kind.USER, kind_b=Kind.USER)
STATUS = MappingSpec(
    "4",
    "status",
    "state",
    kind_a=Kind.ENUM,
    kind_b=Kind.ENUM,
    options_a=("open", "closed"),
    options_b=("To Do", "Done"),
    map_a_to_b={"open": "To Do", "closed": "Done"},
    map_b_to_a={"To Do": "open", "Done": "closed"},
)


def spec(**kw) -> SyncSpec:
    kw.setdefault("mappings", (NAME, PHONE, EMAIL))
    kw.setdefault("match_rule", (MatchPair("email", "email"),))
    return SyncSpec(**kw)


def rec(rid: str, minutes: int = 0, **fields) -> Record:
    return Record(rid, fields, modified_at=T0 + timedelta(minutes=minutes), version=str(minutes))


def base(**pairs) -> dict:
    """base(name=("Ann", "Ann")) keyed by mapping id."""
    ids = {"name": "1", "phone": "2", "email": "3", "status": "4"}
    return {ids[k]: {"a": a, "b": b} for k, (a, b) in pairs.items()}


AGREED = base(name=("Ann", "Ann"), phone=("1", "1"), email=("ann@x.com", "ann@x.com"))


def linked(**kw) -> LinkState:
    kw.setdefault("base", AGREED)
    return LinkState(key=7, a_id="a1", b_id="b1", **kw)


def a_rec(minutes: int = 1, **fields) -> Record:
    values = {"name": "Ann", "phone": "1", "email": "ann@x.com"}
    values.update(fields)
    return rec("a1", minutes, **values)


def b_rec(minutes: int = 1, **fields) -> Record:
    values = {"full_name": "Ann", "phone": "1", "email": "ann@x.com"}
    values.update(fields)
    return rec("b1", minutes, **values)


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


def test_unlinked_record_is_matched_normalised_before_create():
    result = plan(
        spec(),
        PlanInput(
            changed_a=[rec("a9", email=" Zoe@X.com ", name="Zoe")],
            records_b={"b9": rec("b9", email="zoe@x.com", full_name="Zoe")},
        ),
    )
    assert result.creates == []
    [pair] = result.matched
    assert (pair.a_id, pair.b_id) == ("a9", "b9")


def test_two_candidates_is_an_ambiguous_skip_and_no_create():
    result = plan(
        spec(),
        PlanInput(
            changed_a=[rec("a9", email="zoe@x.com")],
            records_b={
                "b8": rec("b8", email="zoe@x.com"),
                "b9": rec("b9", email="ZOE@x.com"),
            },
        ),
    )
    assert result.creates == []
    [skip] = result.skips
    assert skip.code == "ambiguous"
    assert skip.candidates == ("b8", "b9")


def test_candidate_already_linked_is_not_duplicated():
    other_link = LinkState(key=3, a_id="a3", b_id="b9")
    result = plan(
        spec(),
        PlanInput(
            changed_a=[rec("a9", email="zoe@x.com")],
            records_b={"b9": rec("b9", email="zoe@x.com")},
            links=[other_link],
        ),
    )
    assert result.creates == []
    assert result.skips[0].code == "already_linked"


def test_no_candidate_creates_with_converted_values():
    s = spec(mappings=(NAME, STATUS, EMAIL))
    result = plan(s, PlanInput(changed_a=[rec("a9", email="z@x.com", name="Z", status="open")]))
    [create] = result.creates
    assert create.side is Side.B
    assert create.fields == {"full_name": "Z", "state": "To Do", "email": "z@x.com"}


def test_changed_record_on_each_side_matching_each_other_links_once():
    result = plan(
        spec(),
        PlanInput(changed_a=[rec("a9", email="z@x.com")], changed_b=[rec("b9", email="z@x.com")]),
    )
    assert len(result.matched) == 1
    assert result.creates == []


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


def test_leaving_scope_unlinks_and_never_deletes():
    s = spec(filters_a=(FilterSpec("region", Operator.EQUALS, "EU"),))
    result = plan(
        s,
        PlanInput(changed_a=[a_rec(region="US")], records_b={"b1": b_rec()}, links=[linked()]),
    )
    assert result.deletes == []
    [unlink] = result.unlinks
    assert unlink.status is LinkStatus.UNLINKED
    assert "region equals 'EU'" in unlink.reason


def test_out_of_scope_unlinked_record_is_neither_matched_nor_created():
    s = spec(filters_a=(FilterSpec("region", Operator.EQUALS, "EU"),))
    result = plan(s, PlanInput(changed_a=[rec("a9", email="z@x.com", region="US")]))
    assert result.creates == []
    assert result.skips == []


@pytest.mark.parametrize(
    ("policy", "deletes", "status"),
    [
        (DeletePolicy.PROPAGATE, 1, None),
        (DeletePolicy.UNLINK, 0, LinkStatus.UNLINKED),
        (DeletePolicy.IGNORE, 0, LinkStatus.DELETED),
    ],
)
def test_deletes_follow_the_delete_policy(policy, deletes, status):
    gone = Record("a1", deleted=True, modified_at=T0 + timedelta(minutes=9), version="9")
    result = plan(
        spec(delete_policy=policy),
        PlanInput(changed_a=[gone], records_b={"b1": b_rec()}, links=[linked()]),
    )
    assert len(result.deletes) == deletes
    if deletes:
        assert (result.deletes[0].side, result.deletes[0].record_id) == (Side.B, "b1")
    else:
        assert result.unlinks[0].status is status


def test_missing_partner_reads_as_deleted():
    result = plan(
        spec(delete_policy=DeletePolicy.PROPAGATE),
        PlanInput(changed_a=[a_rec(name="X")], links=[linked()]),
    )
    assert [(d.side, d.record_id) for d in result.deletes] == [(Side.A, "a1")]


def test_stale_copy_is_skipped():
    link = linked(a_version="5", a_modified_at=T0 + timedelta(minutes=5))
    result = plan(
        spec(), PlanInput(changed_a=[a_rec(2, name="Old")], records_b={"b1": b_rec()}, links=[link])
    )
    assert result.pairs == []
    assert result.skips[0].code == "stale"


def test_pending_create_is_skipped_not_created_again():
    link = LinkState(key=9, a_id="a1", b_id=None, status=LinkStatus.PENDING_CREATE_B)
    result = plan(spec(), PlanInput(changed_a=[a_rec()], links=[link]))
    assert result.creates == []
    assert result.skips[0].code == "pending"


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


def test_dedupe_keeps_the_newest_copy():
    records = dedupe([a_rec(1, name="old"), a_rec(3, name="new"), a_rec(2, name="mid")])
    assert [r.fields["name"] for r in records] == ["new"]


def test_plan_does_not_touch_its_input():
    link = linked()
    before = {k: dict(v) for k, v in link.base.items()}
    plan(spec(), PlanInput(changed_a=[a_rec(name="Q")], records_b={"b1": b_rec()}, links=[link]))
    assert link.base == before


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        ("42", Kind.TEXT, Kind.NUMBER, 42),
        (3.5, Kind.NUMBER, Kind.TEXT, "3.5"),
        ("yes", Kind.TEXT, Kind.BOOLEAN, True),
        (True, Kind.BOOLEAN, Kind.NUMBER, 1),
        ("2026-03-01", Kind.DATE, Kind.DATETIME, "2026-03-01T00:00:00Z"),
        ("2026-03-01T23:30:00-02:00", Kind.DATETIME, Kind.DATE, "2026-03-02"),
        ("a, b", Kind.TEXT, Kind.MULTI_ENUM, ["a", "b"]),
        (["b"], Kind.MULTI_ENUM, Kind.ENUM, "b"),
        (" Bob@X.com ", Kind.TEXT, Kind.USER, "bob@x.com"),
        ("", Kind.TEXT, Kind.NUMBER, None),
    ],
)
def test_conversions(value, source, target, expected):
    assert convert(value, source, target) == expected


@pytest.mark.parametrize(
    ("value", "source", "target"),
    [
        ("abc", Kind.TEXT, Kind.NUMBER),
        ("maybe", Kind.TEXT, Kind.BOOLEAN),
        ("x", Kind.TEXT, Kind.DATE),
        (["a", "b"], Kind.MULTI_ENUM, Kind.ENUM),
        ("nobody", Kind.TEXT, Kind.USER),
    ],
)
def test_failed_conversions_name_the_value(value, source, target):
    with pytest.raises(ConversionError) as exc:
        convert(value, source, target)
    assert exc.value.value == value


def test_default_for_empty_and_enum_options_checked():
    assert convert(None, Kind.TEXT, Kind.ENUM, default="To Do") == "To Do"
    with pytest.raises(ConversionError, match="not an option"):
        convert("Later", Kind.TEXT, Kind.ENUM, options=("To Do", "Done"))


def test_equivalence_per_kind():
    assert equivalent("2026-03-01T10:00:00Z", "2026-03-01T11:00:00+01:00", Kind.DATETIME)
    assert equivalent(["a", "b"], ["b", "a"], Kind.MULTI_ENUM)
    assert equivalent(" Ann@X.com", "ann@x.com", Kind.USER)
    assert not equivalent("Ann", "ann", Kind.TEXT)
    assert equivalent(None, "", Kind.TEXT)
    assert match_key(" A@B.com ", "email") == "a@b.com"


@pytest.mark.parametrize(
    ("operator", "value", "fields", "expected"),
    [
        (Operator.EQUALS, "eu", {"r": " EU "}, True),
        (Operator.NOT_EQUALS, "eu", {"r": "US"}, True),
        (Operator.IN, ["a", "b"], {"r": "B"}, True),
        (Operator.NOT_IN, ["a", "b"], {"r": "c"}, True),
        (Operator.CONTAINS, "acme", {"r": "Big ACME Inc"}, True),
        (Operator.CONTAINS, "a", {"r": ["a", "c"]}, True),
        (Operator.EMPTY, None, {"r": "  "}, True),
        (Operator.NOT_EMPTY, None, {}, False),
        (Operator.GREATER, 10, {"r": "11"}, True),
        (Operator.LESS, "2026-01-02", {"r": "2026-01-01T10:00:00Z"}, True),
        (Operator.GREATER, 10, {"r": "abc"}, False),
    ],
)
def test_filters(operator, value, fields, expected):
    assert passes(FilterSpec("r", operator, value), fields) is expected


@pytest.mark.parametrize("module", ["types", "values", "filters", "plan"])
def test_the_pure_engine_modules_import_no_django(module):
    code = (
        f"import sys, apps.syncs.engine.{module}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
