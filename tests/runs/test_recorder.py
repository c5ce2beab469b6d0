"""The database recorder: a SyncRun with counters and one SyncEvent per record action."""

from __future__ import annotations

import pytest

from apps.runs.models import SyncEvent, SyncRun
from apps.runs.orchestration import run_execute
from apps.runs.services import RunError, held_run_approve, held_run_cancel, run_start
from apps.syncs.services import SyncPaused
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


def setup(**kw):
    ws = f.workspace()
    crm, desk = f.stores()
    return f.sync(ws, crm, desk, **kw), crm, desk


def test_a_run_leaves_counters_and_field_level_events():
    s, crm, desk = setup()
    a = crm.insert("contacts", {"email": "ann@x.com", "name": "Ann"})
    desk.insert("users", {"email": "bob@x.com", "full_name": "Bob"})

    run = run_start(s)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.read_a, run.read_b, run.created_a, run.created_b) == (1, 2, 1, 1)
    assert run.api_calls > 0
    assert run.started_at <= run.finished_at
    created = SyncEvent.objects.filter(run=run, action="created").order_by("side")
    assert [(e.side, e.record_id_a == a.id) for e in created] == [("a", False), ("b", True)]
    assert created[1].changes["full_name"] == {"before": None, "after": "Ann"}

    [b] = [r for r in desk.all("users") if r.fields["email"] == "ann@x.com"]
    crm.edit("contacts", a.id, {"name": "Annie"})
    run = run_start(s)
    [event] = SyncEvent.objects.filter(run=run)
    assert (event.action, event.side, event.record_id_a, event.record_id_b) == (
        "updated",
        "b",
        a.id,
        b.id,
    )
    assert event.changes == {"full_name": {"before": "Ann", "after": "Annie"}}
    # B's feed, read after the update, already shows it: an echo, counted as unchanged.
    assert (run.updated_b, run.read_b, run.unchanged_b) == (1, 1, 1)


def test_record_errors_make_a_partial_run_with_the_message():
    s, crm, desk = setup()
    desk.fail("create", message="email domain blocked")
    crm.insert("contacts", {"email": "x@blocked.com"})
    run = run_start(s)
    assert run.status == SyncRun.Status.PARTIAL
    assert run.errors_b == 1
    [event] = SyncEvent.objects.filter(run=run, action="error")
    assert "email domain blocked" in event.message


def test_held_run_is_recorded_and_approving_it_runs_the_change():
    s, crm, _ = setup(safety_limit_count=1)
    contacts = [crm.insert("contacts", {"email": f"h{i}@x.com", "name": "x"}) for i in range(3)]
    run_start(s)
    for a in contacts:
        crm.edit("contacts", a.id, {"name": "everyone"})

    held = run_start(s)

    assert held.status == SyncRun.Status.HELD
    assert "more than the safety limit of 1" in held.error
    with pytest.raises(SyncPaused):
        run_start(s)
    approver = f.user()
    follow_up = held_run_approve(held, user=approver)
    assert (follow_up.trigger, follow_up.status) == (SyncRun.Trigger.APPROVAL, "queued")
    assert run_execute(follow_up.pk) == SyncRun.Status.SUCCEEDED
    follow_up.refresh_from_db()
    assert follow_up.updated_b == 3
    held.refresh_from_db()
    assert (held.decision, held.decided_by) == ("approved", approver)
    with pytest.raises(RunError):
        held_run_cancel(held)


def test_cancelling_a_held_run_writes_nothing():
    s, crm, desk = setup(safety_limit_count=1)
    contacts = [crm.insert("contacts", {"email": f"k{i}@x.com", "name": "x"}) for i in range(3)]
    run_start(s)
    for a in contacts:
        crm.edit("contacts", a.id, {"name": "everyone"})
    held = run_start(s)
    writes = desk.writes
    held_run_cancel(held, user=f.user("ops@x.com"))
    held.refresh_from_db()
    s.refresh_from_db()
    assert held.decision == "cancelled"
    assert "cancelled by ops@x.com" in s.paused_reason
    assert desk.writes == writes
