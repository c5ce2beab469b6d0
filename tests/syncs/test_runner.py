"""The runner against two in-memory systems, with the link store in the DB (the engine alone)."""

from __future__ import annotations

import pytest

from apps.syncs.engine.recorder import Action, Outcome
from apps.syncs.models import Conflict, RecordLink, SyncCursor
from apps.syncs.services import mapping_add
from connectors.memory.connector import SimulatedCrash
from tests.running import run_now
from tests.syncs import factories as f
from tests.syncs.factories import linked_pair, memory_sync, run

pytestmark = pytest.mark.django_db


def test_both_sides_changed_to_the_same_value_is_no_conflict():
    s, crm, desk = memory_sync()
    a, b = linked_pair(s, crm, desk)
    crm.edit("contacts", a.id, {"name": "Annie"})
    desk.edit("users", b.id, {"full_name": "Annie "})
    writes = (crm.writes, desk.writes)
    _, recorder = run(s)
    assert Conflict.objects.count() == 0
    assert recorder.of(Action.CONFLICT) == []
    assert (crm.writes, desk.writes) == writes


def test_manual_conflict_holds_that_field_only_and_other_fields_still_sync():
    s, crm, desk = memory_sync()
    a, b = linked_pair(s, crm, desk)
    crm.edit("contacts", a.id, {"name": "Annie", "phone": "2"})
    desk.edit("users", b.id, {"full_name": "Anna"})

    report, _ = run(s)

    conflict = Conflict.objects.get()
    assert (conflict.status, conflict.value_a, conflict.value_b) == ("open", "Annie", "Anna")
    assert conflict.base == {"a": "Ann", "b": "Ann"}
    assert conflict.mapping.field_a == "name"
    assert desk.record("users", b.id).fields == {
        "email": "ann@x.com",
        "full_name": "Anna",
        "phone": "2",
    }
    assert crm.record("contacts", a.id).fields["name"] == "Annie"
    assert report.count("conflicts", "a") == 1
    # Held: later runs neither write the field nor open a second conflict.
    run(s)
    assert Conflict.objects.filter(status="open").count() == 1
    assert desk.record("users", b.id).fields["full_name"] == "Anna"


@pytest.mark.parametrize(
    ("policy", "name_after", "loser"),
    [("prefer_a", "Annie", "Anna"), ("prefer_b", "Anna", "Annie")],
)
def test_policy_decides_and_the_losing_value_is_kept(policy, name_after, loser):
    s, crm, desk = memory_sync(conflict_policy=policy)
    a, b = linked_pair(s, crm, desk)
    crm.edit("contacts", a.id, {"name": "Annie"})
    desk.edit("users", b.id, {"full_name": "Anna"})

    _, recorder = run(s)

    assert crm.record("contacts", a.id).fields["name"] == name_after
    assert desk.record("users", b.id).fields["full_name"] == name_after
    conflict = Conflict.objects.get()
    assert conflict.status == "resolved"
    assert conflict.decided_by_policy == policy
    assert conflict.losing_value == loser
    [event] = recorder.of(Action.CONFLICT)
    assert repr(loser) in event.message


def test_newest_compares_the_systems_modification_times():
    s, crm, desk = memory_sync(conflict_policy="newest")
    a, b = linked_pair(s, crm, desk)
    crm.edit("contacts", a.id, {"name": "From A"})
    desk.edit("users", b.id, {"full_name": "From B"})  # later on the shared clock
    run(s)
    assert crm.record("contacts", a.id).fields["name"] == "From B"

    desk.edit("users", b.id, {"full_name": "B again"})
    crm.edit("contacts", a.id, {"name": "A again"})  # now A is the newer
    run(s)
    assert desk.record("users", b.id).fields["full_name"] == "A again"
    assert crm.record("contacts", a.id).modified_at < desk.record("users", b.id).modified_at


def test_one_way_field_is_never_written_back():
    mappings = [
        {"field_a": "email", "field_b": "email"},
        {"field_a": "phone", "field_b": "phone", "direction": "a_to_b"},
        {"field_a": "name", "field_b": "full_name", "direction": "b_to_a"},
    ]
    s, crm, desk = memory_sync(mappings=mappings)
    a, b = linked_pair(s, crm, desk)
    assert "full_name" not in b.fields  # b_to_a: not sent on create either
    desk.edit("users", b.id, {"phone": "999", "full_name": "Desk Name"})
    run(s)
    run(s)
    assert crm.record("contacts", a.id).fields["phone"] == "1"  # never written back
    assert crm.record("contacts", a.id).fields["name"] == "Desk Name"  # b_to_a flows
    crm.edit("contacts", a.id, {"phone": "2", "name": "Crm Name"})
    run(s)
    assert desk.record("users", b.id).fields["phone"] == "2"
    assert desk.record("users", b.id).fields["full_name"] == "Desk Name"


def test_record_entering_scope_is_matched_or_created_and_leaving_scope_only_unlinks():
    s, crm, desk = memory_sync(
        mappings=[*f.BASIC_MAPPINGS],
        filters=[{"side": "a", "field": "region", "operator": "equals", "value": "EU"}],
    )
    a1 = crm.insert("contacts", {"email": "one@x.com", "region": "US"})
    a2 = crm.insert("contacts", {"email": "two@x.com", "region": "US"})
    b2 = desk.insert("users", {"email": "TWO@x.com", "full_name": "Two"})
    run(s)
    assert len(desk.all("users")) == 1  # out of scope: nothing created

    crm.edit("contacts", a1.id, {"region": "EU"})
    crm.edit("contacts", a2.id, {"region": "EU"})
    _, recorder = run(s)
    assert len(desk.all("users")) == 2  # a1 created, a2 matched to b2
    assert [e.record_id_b for e in recorder.of(Action.MATCHED)] == [b2.id]
    assert len(recorder.of(Action.CREATED)) == 1
    assert crm.record("contacts", a2.id).fields["name"] == "Two"

    crm.edit("contacts", a1.id, {"region": "US"})
    _, recorder = run(s)
    assert len(desk.all("users")) == 2  # never deleted
    assert len(crm.all("contacts")) == 2
    [unlinked] = recorder.of(Action.UNLINKED)
    assert unlinked.record_id_a == a1.id
    assert RecordLink.objects.get(a_id=a1.id).status == "unlinked"
    crm.edit("contacts", a1.id, {"name": "changed while out of scope"})
    run(s)
    assert all(r.fields.get("full_name") != "changed while out of scope" for r in desk.all("users"))


@pytest.mark.parametrize(
    ("initial", "a_name", "b_name", "conflicts"),
    [("a_wins", "A", "A", 0), ("b_wins", "B", "B", 0), ("conflict", "A", "B", 1)],
)
def test_matched_pairs_without_base_follow_the_initial_sync_setting(
    initial, a_name, b_name, conflicts
):
    s, crm, desk = memory_sync(initial_policy=initial)
    a = crm.insert("contacts", {"email": "m@x.com", "name": "A"})
    b = desk.insert("users", {"email": "m@x.com", "full_name": "B", "phone": "7"})
    run(s)
    assert crm.record("contacts", a.id).fields["name"] == a_name
    assert desk.record("users", b.id).fields["full_name"] == b_name
    assert crm.record("contacts", a.id).fields["phone"] == "7"  # filled, never emptied
    assert Conflict.objects.filter(status="open").count() == conflicts


@pytest.mark.parametrize(("initial", "expected"), [("a_wins", "1"), ("b_wins", "2")])
def test_mapping_added_to_a_running_sync_follows_the_initial_sync_setting(initial, expected):
    s, crm, desk = memory_sync(initial_policy=initial)
    a, b = linked_pair(s, crm, desk)
    crm.edit("contacts", a.id, {"score": 1})
    desk.edit("users", b.id, {"score": "2"})
    run(s)  # not mapped yet: nothing to do

    mapping_add(s, field_a="score", field_b="score")
    run_now(s)  # the sync asks its next run for a full read

    assert crm.record("contacts", a.id).fields["score"] == int(expected)
    assert desk.record("users", b.id).fields["score"] == expected
    s.refresh_from_db()
    assert s.resync_requested is False


def test_match_is_normalised_and_ambiguous_candidates_create_nothing():
    s, crm, desk = memory_sync()
    b1 = desk.insert("users", {"email": "dup@x.com"})
    b2 = desk.insert("users", {"email": " DUP@x.com"})
    a = crm.insert("contacts", {"email": "Dup@X.com "})
    _, recorder = run(s)
    assert len(desk.all("users")) == 2
    ambiguous = [e for e in recorder.of(Action.SKIPPED) if e.code == "ambiguous"]
    # Each of the three is told why: from A two candidates, from B a shared one.
    assert [(e.side, e.record_id_a or e.record_id_b) for e in ambiguous] == [
        ("a", a.id),
        ("b", b1.id),
        ("b", b2.id),
    ]
    assert b1.id in ambiguous[0].message
    assert b2.id in ambiguous[0].message
    assert not RecordLink.objects.exists()
    _, recorder = run(s)  # nothing changed: no repeated noise, still nothing linked
    assert recorder.events == []
    assert not RecordLink.objects.exists()


def test_once_linked_a_changed_match_field_does_not_create_a_duplicate():
    s, crm, desk = memory_sync()
    a, b = linked_pair(s, crm, desk)
    crm.edit("contacts", a.id, {"email": "ann@new.com"})
    run(s)
    run(s)
    assert [r.id for r in desk.all("users")] == [b.id]
    assert desk.record("users", b.id).fields["email"] == "ann@new.com"
    assert RecordLink.objects.get().b_id == b.id


def test_cursor_advances_only_after_the_batch_is_stored():
    """Pages are planned in batches (RunOptions.batch_size records): a crash inside the
    first batch stores no cursor, and the next run reads from the start again."""
    s, crm, desk = memory_sync(page_size=2)
    for i in range(5):
        crm.insert("contacts", {"email": f"p{i}@x.com"})
    desk.crash_on_write(3)  # a record of the second page, in the first batch
    with pytest.raises(SimulatedCrash):
        run(s)
    assert not SyncCursor.objects.filter(sync=s, side="a").exists()
    run(s)
    assert len(desk.all("users")) == 5


def test_pages_duplicated_overlapping_or_reordered_change_nothing():
    s, crm, desk = memory_sync(page_size=2)
    for store in (crm, desk):
        store.feed_faults = {"duplicate", "overlap", "reorder"}
    for i in range(5):
        crm.insert("contacts", {"email": f"r{i}@x.com", "name": f"R{i}"})
    run(s)
    edited = crm.all("contacts")[2]
    crm.edit("contacts", edited.id, {"name": "edited"})
    run(s)
    run(s)
    assert len(desk.all("users")) == 5
    assert sorted(r.fields["full_name"] for r in desk.all("users")) == [
        "R0",
        "R1",
        "R3",
        "R4",
        "edited",
    ]
    assert desk.writes == 6


@pytest.mark.parametrize(
    ("policy", "b_exists", "status"),
    [("propagate", False, "deleted"), ("unlink", True, "unlinked"), ("ignore", True, "deleted")],
)
def test_deletes_follow_the_delete_policy(policy, b_exists, status):
    s, crm, desk = memory_sync(delete_policy=policy)
    a, b = linked_pair(s, crm, desk)
    crm.remove("contacts", a.id)
    _, recorder = run(s)
    assert (desk.record("users", b.id) is not None) is b_exists
    assert RecordLink.objects.get().status == status
    if policy == "propagate":
        assert [(e.record_id_a, e.record_id_b) for e in recorder.of(Action.DELETED)] == [
            (a.id, b.id)
        ]
    # The survivor's later edits never re-create the deleted record.
    if b_exists and policy == "ignore":
        desk.edit("users", b.id, {"full_name": "still here"})
        run(s)
        assert crm.all("contacts") == []


def test_missing_value_map_entry_or_failed_conversion_is_a_record_error_and_the_run_goes_on():
    mappings = [
        *f.BASIC_MAPPINGS,
        {
            "field_a": "region",
            "field_b": "state",
            "value_map_a_to_b": {"EU": "To Do"},
            "direction": "a_to_b",
        },
        {"field_a": "score", "field_b": "score"},
    ]
    s, crm, desk = memory_sync(mappings=mappings)
    bad = crm.insert("contacts", {"email": "bad@x.com", "region": "US"})
    good = crm.insert("contacts", {"email": "good@x.com", "region": "EU", "score": 5})
    report, recorder = run(s)
    assert report.outcome is Outcome.PARTIAL
    [error] = recorder.of(Action.ERROR)
    assert error.record_id_a == bad.id
    assert error.changes == {"region": {"value": "US"}}
    assert "'US'" in error.message
    assert "region" in error.message
    assert [r.fields["email"] for r in desk.all("users")] == ["good@x.com"]
    assert desk.all("users")[0].fields["score"] == "5"

    b = desk.all("users")[0]
    desk.edit("users", b.id, {"score": "lots", "full_name": "Good"})
    report, recorder = run(s)
    [error] = recorder.of(Action.ERROR)
    assert (error.side, error.record_id_b, error.record_id_a) == ("b", b.id, good.id)
    assert error.changes == {"score": {"value": "lots"}}
    assert crm.record("contacts", good.id).fields["name"] == "Good"  # the rest synced


def test_webhook_run_fetches_only_the_named_records_and_keeps_cursors():
    s, crm, desk = memory_sync()
    a, b = linked_pair(s, crm, desk)
    cursors = {c.side: c.value for c in SyncCursor.objects.filter(sync=s)}
    crm.edit("contacts", a.id, {"name": "Hooked"})
    crm.calls.clear()
    run(s, record_ids={"a": [a.id]})
    assert desk.record("users", b.id).fields["full_name"] == "Hooked"
    assert "changes" not in crm.calls
    assert {c.side: c.value for c in SyncCursor.objects.filter(sync=s)} == cursors
    _, recorder = run(s)  # the scheduled run then sees only echoes
    assert recorder.events == []


def test_full_resync_reads_everything_and_writes_nothing_when_in_agreement():
    s, crm, desk = memory_sync()
    for i in range(3):
        crm.insert("contacts", {"email": f"f{i}@x.com"})
    run(s)
    writes = desk.writes
    report, recorder = run(s, full=True)
    assert report.count("read", "a") == 3
    assert report.count("read", "b") == 3
    assert recorder.events == []
    assert desk.writes == writes
