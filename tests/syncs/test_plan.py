"""The pure planner: plain dataclasses in, a Plan out; no database, no connectors."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from apps.syncs.engine.filters import FilterSpec, Operator, passes
from apps.syncs.engine.plan import dedupe, plan
from apps.syncs.engine.plan_types import LinkState, PlanInput
from apps.syncs.engine.types import DeletePolicy, LinkStatus, Side
from apps.syncs.engine.values import ConversionError, Kind, convert, equivalent, match_key
from connectors.base import Record
from tests.syncs.builders import EMAIL, NAME, STATUS, T0, a_rec, b_rec, linked, rec, spec

ROOT = Path(__file__).resolve().parents[2]


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


@pytest.mark.parametrize("module", ["types", "values", "filters", "plan_types", "merge", "plan"])
def test_the_pure_engine_modules_import_no_django(module):
    code = (
        f"import sys, apps.syncs.engine.{module}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.strip() == "[]"
