"""A sync's definition as a document: what saving a new one over a sync would do, and
that saving it does exactly that."""

from __future__ import annotations

import pytest

from apps.core.errors import Invalid
from apps.syncs.transfer import (
    interval_words,
    sync_document_effects,
    sync_document_update,
    sync_export,
)
from tests.running import run_now
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


def setup(**kw):
    ws = f.workspace()
    crm, desk = f.stores()
    return f.sync(ws, crm, desk, **kw), crm, desk


def effects(sync, **changes):
    document = {**sync_export(sync), **changes}
    return [(e.code, e.resync) for e in sync_document_effects(sync, document)]


def test_the_same_document_changes_nothing_and_saving_it_asks_for_no_full_read():
    s, _, _ = setup(filters=[{"side": "a", "field": "vip", "operator": "equals", "value": True}])
    assert effects(s) == []
    sync_document_update(s, **{k: v for k, v in sync_export(s).items() if k in UPDATABLE})
    assert s.resync_requested is False


UPDATABLE = {
    "name",
    "interval_seconds",
    "conflict_policy",
    "initial_policy",
    "delete_policy",
    "safety_limit_share",
    "safety_limit_count",
    "match_rule",
    "mappings",
    "filters",
}


def test_mappings_added_changed_and_removed_are_told_apart():
    s, _, _ = setup()
    mappings = [
        {"field_a": "email", "field_b": "email"},
        {"field_a": "name", "field_b": "full_name", "direction": "a_to_b"},  # changed
        {"field_a": "vip", "field_b": "vip"},  # added; phone is removed
    ]
    assert effects(s, mappings=mappings) == [
        ("mapping_added", True),
        ("mapping_changed", True),
        ("mapping_removed", False),
    ]
    found = sync_document_effects(s, {**sync_export(s), "mappings": mappings})
    assert "vip <-> vip is new: the next run reads both sides in full" in found[0].message
    assert "name -> full_name changes (direction both to a to b)" in found[1].message
    assert found[2].message.startswith("phone <-> phone stops syncing")


def test_removing_a_mapping_says_how_many_open_conflicts_go_with_it():
    s, crm, desk = setup()
    a = crm.insert("contacts", {"email": "ann@x.com", "phone": "1"})
    run_now(s)
    [b] = desk.all("users")
    crm.edit("contacts", a.id, {"phone": "2"})
    desk.edit("users", b.id, {"phone": "3"})
    run_now(s)
    keep = [m for m in sync_export(s)["mappings"] if m["field_a"] != "phone"]
    [removed] = sync_document_effects(s, {**sync_export(s), "mappings": keep})
    assert "its open conflict is removed" in removed.message


def test_scope_match_rule_policies_schedule_limit_and_name():
    s, _, _ = setup()
    assert effects(
        s,
        filters=[{"side": "b", "field": "vip", "operator": "equals", "value": "true"}],
        match_rule=[{"a": "phone", "b": "phone", "normalise": "trim"}],
        conflict_policy="newest",
        delete_policy="propagate",
        initial_policy="a_wins",
        interval_seconds=3600,
        safety_limit_count=10,
        name="Renamed",
    ) == [
        ("filters_changed", True),
        ("match_rule_changed", False),
        ("conflict_policy_changed", False),
        ("initial_policy_changed", False),
        ("delete_policy_changed", False),
        ("schedule_changed", False),
        ("safety_limit_changed", False),
        ("renamed", False),
    ]


def test_effects_of_a_document_that_cannot_be_saved_raise_as_saving_would():
    s, _, _ = setup()
    with pytest.raises(Invalid) as exc:
        sync_document_effects(
            s, {**sync_export(s), "mappings": [{"field_a": "name", "field_b": "ticket_count"}]}
        )
    assert exc.value.field == "mappings.0.direction"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(30, "30 seconds"), (60, "minute"), (300, "5 minutes"), (3600, "hour"), (172800, "2 days")],
)
def test_intervals_read_as_people_say_them(seconds, words):
    assert interval_words(seconds) == words
