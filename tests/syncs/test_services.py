"""Services: validation against field discovery, conflicts, the safety limit, preview."""

from __future__ import annotations

import pytest

from apps.syncs.engine.recorder import CountingRecorder, Outcome, RunInterrupted
from apps.syncs.models import Conflict, RecordLink, Sync
from apps.syncs.services import (
    SyncError,
    SyncPaused,
    conflict_resolve,
    mapping_add,
    max_consecutive_failures,
    run_approve,
    run_cancel,
    sync_create,
    sync_pause,
    sync_preview,
    sync_resume,
    sync_run,
    sync_update,
)
from connectors.errors import TransientError
from connectors.memory.connector import MemoryConnector
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


def setup(**kw):
    ws = f.workspace()
    crm, desk = f.stores()
    return f.sync(ws, crm, desk, **kw), crm, desk


@pytest.mark.parametrize(
    ("mapping", "reason"),
    [
        ({"field_a": "name", "field_b": "ticket_count"}, "B.ticket_count is read-only"),
        (
            {"field_a": "created", "field_b": "notes", "direction": "b_to_a"},
            "A.created is read-only",
        ),
        ({"field_a": "score", "field_b": "owner"}, "incompatible types: A.score is number"),
        ({"field_a": "vip", "field_b": "renewal"}, "incompatible types"),
        ({"field_a": "status", "field_b": "state"}, "option 'open' of A.status has no counterpart"),
        (
            {
                "field_a": "status",
                "field_b": "state",
                "value_map_a_to_b": {"open": "To Do"},
                "value_map_b_to_a": f.STATUS_BACK,
            },
            "option 'closed' of A.status has no counterpart in B.state; add it to the value map",
        ),
        (
            {
                "field_a": "status",
                "field_b": "state",
                "value_map_a_to_b": {"open": "Doing", "closed": "Done"},
                "value_map_b_to_a": f.STATUS_BACK,
            },
            "'Doing', which is not an option of B.state",
        ),
        ({"field_a": "nope", "field_b": "email"}, "side A has no field 'nope'"),
        ({"field_a": "name", "field_b": "state", "default_b": "Later"}, "default for B.state"),
        ({"field_a": "name", "field_b": "full_name", "direction": "sideways"}, "unknown direction"),
    ],
)
def test_a_mapping_that_cannot_work_is_rejected_with_the_reason(mapping, reason):
    s, _, _ = setup()
    with pytest.raises(SyncError) as exc:
        mapping_add(s, **mapping)
    assert reason in str(exc.value)
    assert s.mappings.count() == len(f.BASIC_MAPPINGS)


def test_a_working_mapping_stores_kinds_and_options_from_discovery():
    s, _, _ = setup()
    m = mapping_add(
        s,
        field_a="status",
        field_b="state",
        value_map_a_to_b=f.STATUS_MAP,
        value_map_b_to_a=f.STATUS_BACK,
    )
    assert (m.kind_a, m.kind_b) == ("enum", "enum")
    assert m.options_b == ["To Do", "Done"]


def test_sync_settings_are_validated():
    ws = f.workspace()
    crm, desk = f.stores()
    with pytest.raises(SyncError, match="at least 10 seconds"):
        f.sync(ws, crm, desk, interval_seconds=5)
    with pytest.raises(SyncError, match="written by two mappings"):
        f.sync(
            ws,
            crm,
            desk,
            mappings=[*f.BASIC_MAPPINGS, {"field_a": "region", "field_b": "full_name"}],
        )
    connection_a = f.memory_connection(ws, crm)
    connection_b = f.memory_connection(ws, desk)
    with pytest.raises(SyncError, match="no object type 'tickets'"):
        sync_create(
            workspace=ws,
            name="x",
            connection_a=connection_a,
            object_type_a="tickets",
            connection_b=connection_b,
            object_type_b="users",
            mappings=f.BASIC_MAPPINGS,
        )
    with pytest.raises(SyncError, match="needs a list"):
        f.sync(
            ws,
            crm,
            desk,
            filters=[{"side": "a", "field": "region", "operator": "in", "value": "EU"}],
        )
    assert Sync.objects.count() == 0


def _conflicted(crm, desk, s):
    a = crm.insert("contacts", {"email": "c@x.com", "name": "Base"})
    sync_run(s)
    b = desk.all("users")[0]
    crm.edit("contacts", a.id, {"name": "From A"})
    desk.edit("users", b.id, {"full_name": "From B"})
    sync_run(s)
    return a, b, Conflict.objects.get(status="open")


@pytest.mark.parametrize(
    ("resolution", "custom", "expected"),
    [("a", None, "From A"), ("b", None, "From B"), ("custom", "Both", "Both")],
)
def test_resolving_a_conflict_writes_both_sides_and_clears_it(resolution, custom, expected):
    s, crm, desk = setup()
    a, b, conflict = _conflicted(crm, desk, s)
    resolver = f.user()

    conflict = conflict_resolve(conflict, resolution=resolution, custom_value=custom, user=resolver)

    assert crm.record("contacts", a.id).fields["name"] == expected
    assert desk.record("users", b.id).fields["full_name"] == expected
    assert (conflict.status, conflict.resolution, conflict.resolved_by) == (
        "resolved",
        resolution,
        resolver,
    )
    link = RecordLink.objects.get()
    assert link.base[str(conflict.mapping_id)] == {"a": expected, "b": expected}
    writes = (crm.writes, desk.writes)
    recorder = CountingRecorder()
    sync_run(s, recorder=recorder)  # the resolution's echoes cost nothing
    assert recorder.events == []
    assert (crm.writes, desk.writes) == writes
    with pytest.raises(SyncError, match="already resolved"):
        conflict_resolve(conflict, resolution="a")


def test_resolving_with_a_value_that_cannot_be_converted_is_refused():
    s, crm, desk = setup(mappings=[*f.BASIC_MAPPINGS, {"field_a": "score", "field_b": "score"}])
    a = crm.insert("contacts", {"email": "c@x.com", "score": 1})
    sync_run(s)
    b = desk.all("users")[0]
    crm.edit("contacts", a.id, {"score": 2})
    desk.edit("users", b.id, {"score": "3"})
    sync_run(s)
    conflict = Conflict.objects.get(status="open")
    with pytest.raises(SyncError, match="cannot be used"):
        conflict_resolve(conflict, resolution="custom", custom_value="lots")
    assert Conflict.objects.get(pk=conflict.pk).status == "open"
    conflict_resolve(conflict, resolution="custom", custom_value="7")
    assert crm.record("contacts", a.id).fields["score"] == 7
    assert desk.record("users", b.id).fields["score"] == "7"


def test_a_mass_change_is_held_before_writing_and_pauses_the_sync():
    s, crm, desk = setup(safety_limit_count=3, safety_limit_share=None)
    contacts = [crm.insert("contacts", {"email": f"m{i}@x.com", "name": "x"}) for i in range(5)]
    assert sync_run(s).outcome is Outcome.SUCCEEDED  # creates do not count
    for a in contacts:
        crm.edit("contacts", a.id, {"name": "bulk edit"})
    writes = desk.writes

    report = sync_run(s)

    assert report.outcome is Outcome.HELD
    assert "5 records, more than the safety limit of 3" in report.held_reason
    assert desk.writes == writes
    s.refresh_from_db()
    assert s.paused
    assert s.held_change["changes"] == 5
    with pytest.raises(SyncPaused):
        sync_run(s)
    with pytest.raises(SyncError, match="approve or cancel"):
        sync_resume(s)

    report = run_approve(s, user=f.user())

    assert report.outcome is Outcome.SUCCEEDED
    assert {r.fields["full_name"] for r in desk.all("users")} == {"bulk edit"}
    s.refresh_from_db()
    assert not s.paused
    assert s.held_change is None


def test_share_limit_counts_against_linked_records_and_cancel_keeps_it_paused():
    s, crm, desk = setup(safety_limit_share=0.5, safety_limit_count=None, delete_policy="propagate")
    contacts = [crm.insert("contacts", {"email": f"d{i}@x.com"}) for i in range(12)]
    sync_run(s)
    for a in contacts[:7]:
        crm.remove("contacts", a.id)

    assert sync_run(s).outcome is Outcome.SUCCEEDED  # 7 changes: under the floor of 10
    assert len(desk.all("users")) == 5

    more = [crm.insert("contacts", {"email": f"e{i}@x.com"}) for i in range(20)]
    sync_run(s)
    for a in more[:11] + contacts[7:]:
        crm.remove("contacts", a.id)
    report = sync_run(s)
    assert report.outcome is Outcome.HELD
    assert "16 of 25 linked records" in report.held_reason
    assert len(desk.all("users")) == 25

    run_cancel(s, user=f.user("boss@x.com"))
    s.refresh_from_db()
    assert s.paused
    assert "cancelled by boss@x.com" in s.paused_reason
    assert len(desk.all("users")) == 25
    with pytest.raises(SyncError):
        run_approve(s)
    sync_resume(s)
    assert sync_run(s).outcome is Outcome.HELD  # the cause is still there


def test_preview_counts_and_samples_without_writing():
    s, crm, desk = setup(initial_policy="conflict")
    crm.insert("contacts", {"email": "same@x.com", "name": "Same"})
    crm.insert("contacts", {"email": "diff@x.com", "name": "A side"})
    crm.insert("contacts", {"email": "new@x.com", "name": "New"})
    desk.insert("users", {"email": "SAME@x.com", "full_name": "Same"})
    desk.insert("users", {"email": "diff@x.com", "full_name": "B side"})
    desk.insert("users", {"email": "only-b@x.com"})
    desk.insert("users", {"email": "only-b2@x.com"})

    preview = sync_preview(s, sample_size=1)

    c = preview.counts
    assert (c["matched"], c["created_a"], c["created_b"], c["conflicts"]) == (2, 2, 1, 1)
    assert c["updated_a"] == 0
    assert len(preview.samples["created_a"]) == 1
    assert preview.samples["conflicts"][0]["value_a"] == "A side"
    assert (crm.writes, desk.writes) == (0, 0)
    assert not RecordLink.objects.exists()
    assert not Conflict.objects.exists()


def test_failed_runs_record_the_error_and_pause_after_repeated_failures(monkeypatch):
    s, _, _ = setup()

    def broken(self, object_type, cursor):
        raise TransientError("upstream 503", system="memory", call="changes", status=503)
        yield  # pragma: no cover

    monkeypatch.setattr(MemoryConnector, "changes", broken)
    for i in range(max_consecutive_failures()):
        report = sync_run(s)
        assert report.outcome is Outcome.FAILED
        assert isinstance(report.exception, TransientError)
        assert report.error_side == "a"
        s.refresh_from_db()
        assert s.consecutive_failures == i + 1
    assert "upstream 503" in s.last_error
    assert s.paused
    assert "5 failed runs in a row" in s.paused_reason
    monkeypatch.undo()
    sync_resume(s)
    assert sync_run(s).outcome is Outcome.SUCCEEDED
    s.refresh_from_db()
    assert (s.consecutive_failures, s.last_error) == (0, "")


def test_pause_and_resume():
    s, _, _ = setup()
    sync_pause(s, reason="maintenance")
    with pytest.raises(SyncPaused, match="maintenance"):
        sync_run(s)
    sync_resume(s)
    assert sync_run(s).outcome is Outcome.SUCCEEDED


def test_changing_filters_asks_for_a_full_resync():
    s, crm, _ = setup()
    crm.insert("contacts", {"email": "in@x.com", "region": "EU"})
    sync_run(s)
    sync_update(s, filters=[{"side": "a", "field": "region", "operator": "equals", "value": "US"}])
    s.refresh_from_db()
    assert s.resync_requested
    sync_run(s)
    assert RecordLink.objects.get().status == "unlinked"
    s.refresh_from_db()
    assert not s.resync_requested


class StopAfterFirstPage(CountingRecorder):
    """A recorder that interrupts the run at its first checkpoint, as a cancellation does."""

    def checkpoint(self) -> None:
        raise RunInterrupted("cancelled between batches")


def test_an_interrupted_run_keeps_what_it_stored_and_is_not_a_failure():
    s, crm, desk = setup(page_size=2)
    for i in range(5):
        crm.insert("contacts", {"email": f"i{i}@x.com"})
    with pytest.raises(RunInterrupted):
        sync_run(s, recorder=StopAfterFirstPage())
    assert len(desk.all("users")) == 2
    assert RecordLink.objects.filter(status="linked").count() == 2
    s.refresh_from_db()
    assert (s.consecutive_failures, s.last_error) == (0, "")
    sync_run(s)
    assert len(desk.all("users")) == 5
