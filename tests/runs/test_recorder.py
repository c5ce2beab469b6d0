"""What a run leaves: a SyncRun with counters and one SyncEvent per record action."""

from __future__ import annotations

import pytest

from apps.runs.models import SyncEvent, SyncRun
from tests.running import run_now
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

    run = run_now(s)

    assert run.status == SyncRun.Status.SUCCEEDED
    # B is listed once (Bob); Ann, created there by the run, is not read back.
    assert (run.read_a, run.read_b, run.created_a, run.created_b) == (1, 1, 1, 1)
    assert run.api_calls > 0
    assert run.started_at <= run.finished_at
    created = SyncEvent.objects.filter(run=run, action="created").order_by("side")
    assert [(e.side, e.record_id_a == a.id) for e in created] == [("a", False), ("b", True)]
    assert created[1].changes["full_name"] == {"before": None, "after": "Ann"}

    [b] = [r for r in desk.all("users") if r.fields["email"] == "ann@x.com"]
    crm.edit("contacts", a.id, {"name": "Annie"})
    run = run_now(s)
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
    run = run_now(s)
    assert run.status == SyncRun.Status.PARTIAL
    assert run.errors_b == 1
    [event] = SyncEvent.objects.filter(run=run, action="error")
    assert "email domain blocked" in event.message


class WorkerLost(BaseException):
    """Stands for the worker process dying: nothing after it runs, not even `except
    Exception` handlers, so the run is left running for the sweeper."""


def test_counters_cover_every_attempt_of_a_run_whose_worker_was_lost(monkeypatch, settings):
    from datetime import timedelta

    from django.utils import timezone

    from apps.runs.execution import run_execute
    from apps.runs.queue import run_request
    from apps.runs.recorder import DatabaseRecorder
    from apps.runs.sweeping import sweep

    settings.CONCORD_RUN_BATCH_SIZE = 10  # one batch a page
    s, crm, desk = setup(page_size=10)
    for i in range(30):
        crm.insert("contacts", {"email": f"p{i}@x.com", "name": f"P{i}"})
    checkpoint = DatabaseRecorder.checkpoint
    calls = []

    def dies_at_the_second_page(recorder, counters):
        checkpoint(recorder, counters)
        calls.append(1)
        if len(calls) == 2:
            raise WorkerLost

    monkeypatch.setattr(DatabaseRecorder, "checkpoint", dies_at_the_second_page)
    run = run_request(s, trigger="manual")
    with pytest.raises(WorkerLost):
        run_execute(run.pk)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING
    assert run.created_b == 20  # two pages stored, and counted, before the worker died
    assert run.phase == "side_a"
    monkeypatch.setattr(DatabaseRecorder, "checkpoint", checkpoint)

    later = timezone.now() + timedelta(hours=1)
    assert sweep(now=later)["requeued"] == 1
    run_execute(run.pk)
    run.refresh_from_db()

    assert (run.status, run.attempts) == (SyncRun.Status.SUCCEEDED, 2)
    assert len(desk.all("users")) == 30
    for action in ("created", "updated"):
        for side in ("a", "b"):
            stored = SyncEvent.objects.filter(run=run, action=action, side=side).count()
            assert getattr(run, f"{action}_{side}") == stored, (action, side)
    assert run.created_b == 30
    assert run.read_a >= 30  # the first attempt's reads are counted too


def test_a_run_reports_its_phases_and_live_counters_at_each_page(monkeypatch, settings):
    from apps.runs.recorder import DatabaseRecorder

    settings.CONCORD_RUN_BATCH_SIZE = 10  # one batch a page
    s, crm, _desk = setup(page_size=10)
    for i in range(25):
        crm.insert("contacts", {"email": f"p{i}@x.com", "name": f"P{i}"})
    seen = []
    flush = DatabaseRecorder._flush

    def watched(recorder, counters=None):
        flush(recorder, counters)
        row = SyncRun.objects.get(pk=recorder.run.pk)
        seen.append((row.phase, row.read_a, row.created_b))

    monkeypatch.setattr(DatabaseRecorder, "_flush", watched)
    monkeypatch.setattr("apps.runs.recorder.PHASE_WRITE_AFTER", 0)
    run = run_now(s)
    phases = [phase for phase, _, _ in seen]
    assert phases[0] == "recovering"
    assert "side_a" in phases
    assert "side_b" in phases
    assert phases.index("side_a") < phases.index("side_b")
    created = [c for _, _, c in seen]
    assert created == sorted(created)  # counters only grow while it runs
    assert any(0 < c < 25 for c in created)  # and show the run part-way through
    assert (run.read_a, run.created_b) == (25, 25)


def test_a_phase_told_right_after_a_write_is_written_at_an_api_call_once_a_watcher_notices(
    monkeypatch,
):
    """The first page of a slow side can take many seconds: its phase shows once one of its
    calls returns, not when the page is stored; events and counters still wait for that."""
    from types import SimpleNamespace

    from apps.runs import recorder as recorder_module
    from apps.runs.queue import run_request
    from apps.syncs.engine.recorder import Action, EngineEvent, Phase

    s, _crm, _desk = setup()
    run = run_request(s, trigger="manual")
    clock = SimpleNamespace(now=100.0)
    monkeypatch.setattr(recorder_module, "time", SimpleNamespace(monotonic=lambda: clock.now))
    recorder = recorder_module.DatabaseRecorder(run, lease=None)
    clock.now = 100.1
    recorder.phase(Phase.SIDE_A)  # too soon after the run was written: not yet
    recorder.event(EngineEvent(Action.CREATED, "b", record_id_a="1", record_id_b="2"))
    clock.now = 100.3
    recorder.api_call("a")
    run.refresh_from_db()
    assert (run.phase, run.api_calls) == ("", 0)
    clock.now = 100.7
    recorder.api_call("a")
    run.refresh_from_db()
    assert (run.phase, run.api_calls) == ("side_a", 2)
    assert not SyncEvent.objects.filter(run=run).exists()
    assert run.created_b == 0
    recorder.checkpoint({"created_b": 1})
    run.refresh_from_db()
    assert (run.created_b, SyncEvent.objects.filter(run=run).count()) == (1, 1)


def test_an_api_call_renews_the_lease_when_a_beat_is_due_and_stops_a_run_that_lost_it(settings):
    """A page of slow calls keeps its lease between checkpoints: the recorder renews it at
    an API call once a heartbeat is due; a holder whose lease was taken stops at its next
    call instead of writing on."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.runs.lease import LeaseLost, lease_acquire, lease_free
    from apps.runs.models import SyncLock
    from apps.runs.queue import run_request
    from apps.runs.recorder import DatabaseRecorder

    s, _crm, _desk = setup()
    run = run_request(s, trigger="manual")
    lease = lease_acquire(s.pk, run.pk)
    recorder = DatabaseRecorder(run, lease)
    expires = SyncLock.objects.get(sync_id=s.pk).expires_at
    recorder.api_call("a")  # no beat due yet: nothing written
    assert SyncLock.objects.get(sync_id=s.pk).expires_at == expires
    assert SyncRun.objects.get(pk=run.pk).heartbeat_at is None
    # A heartbeat is due (its interval passed during a slow call).
    recorder._last_beat -= timedelta(seconds=settings.CONCORD_RUN_HEARTBEAT_EVERY)
    recorder.api_call("a")
    assert SyncLock.objects.get(sync_id=s.pk).expires_at > expires
    assert SyncRun.objects.get(pk=run.pk).heartbeat_at >= timezone.now() - timedelta(seconds=5)
    # The lease is taken from it (its run was requeued): the next due call stops the run.
    lease_free(s.pk, run.pk)
    assert lease_acquire(s.pk, run.pk) is not None
    recorder._last_beat -= timedelta(seconds=settings.CONCORD_RUN_HEARTBEAT_EVERY)
    with pytest.raises(LeaseLost):
        recorder.api_call("b")
