"""Executing queued runs in-process: claiming, the lease, targeted runs, cancellation, pauses.

The worker-process tests (tests/runs/test_worker.py) run the same code through Celery.
"""

from __future__ import annotations

import pytest

from apps.core.errors import Refused
from apps.runs.execution import run_execute
from apps.runs.lease import lease_acquire, lease_release
from apps.runs.models import SyncLock, SyncRun
from apps.runs.queue import run_request
from apps.runs.recorder import DatabaseRecorder
from apps.runs.services import run_cancel
from apps.syncs.models import RecordLink, Sync
from tests.running import run_now
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


# --- executing ------------------------------------------------------------------------------
def test_executing_a_queued_run_syncs_and_records_it(setup):
    sync, crm, desk = setup
    crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    run = run_request(sync, trigger="manual")
    assert run_execute(run.pk) == "succeeded"
    run.refresh_from_db()
    assert (run.status, run.created_b, run.attempts) == ("succeeded", 1, 1)
    assert run.fence == 1
    assert [r.fields["full_name"] for r in desk.all("users")] == ["Ann"]
    assert SyncLock.objects.get(sync_id=sync.pk).token is None  # released
    assert run_execute(run.pk) == "not-queued"  # a redelivery does nothing


def test_a_run_finds_the_sync_busy_and_waits_for_the_holder(setup):
    sync, _, _ = setup
    holder = run_request(sync, trigger="manual")
    lease = lease_acquire(sync.pk, holder.pk)
    SyncRun.objects.filter(pk=holder.pk).update(status=SyncRun.Status.RUNNING)
    waiting = run_request(sync, trigger="manual")
    assert run_execute(waiting.pk) == "busy"
    assert SyncRun.objects.get(pk=waiting.pk).status == "queued"
    lease_release(lease)
    assert run_execute(waiting.pk) == "succeeded"


def test_the_follow_up_queued_during_a_run_is_executed_in_the_same_task(setup, monkeypatch):
    """Webhooks that arrive while a run writes fold into one follow-up run; the worker that
    frees the lease executes it at once, without a message through the broker."""
    from apps.runs import queue

    sync, crm, desk = setup
    ann = crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    bob = crm.insert("contacts", {"email": "bob@example.com", "name": "Bob"})
    sent: list[str] = []
    monkeypatch.setattr(queue, "task_send", lambda name, args, **kw: sent.append(name) or True)
    follow_ups: list[SyncRun] = []

    def request_once(_: str) -> None:
        if not follow_ups:
            follow_ups.append(run_request(sync, trigger="webhook", record_ids={"a": [bob.id]}))

    desk.on_write("create", request_once)
    first = run_request(sync, trigger="webhook", record_ids={"a": [ann.id]})

    assert run_execute(first.pk) == "succeeded"

    [follow_up] = follow_ups
    follow_up.refresh_from_db()
    assert (follow_up.status, follow_up.read_a) == ("succeeded", 1)
    assert sorted(r.fields["email"] for r in desk.all("users")) == [
        "ann@example.com",
        "bob@example.com",
    ]
    # Requests send their message after commit (never, inside this test's transaction):
    # nothing was sent to hand the follow-up on.
    assert sent == []


def test_a_chain_of_follow_ups_stops_after_the_limit_and_is_sent_on(setup, monkeypatch, settings):
    from apps.runs import queue

    settings.CONCORD_RUN_CHAIN = 0
    sync, crm, desk = setup
    bob = crm.insert("contacts", {"email": "bob@example.com", "name": "Bob"})
    sent: list[list] = []
    monkeypatch.setattr(queue, "task_send", lambda name, args, **kw: sent.append(args) or True)
    follow_ups: list[SyncRun] = []

    def request_once(_: str) -> None:
        if not follow_ups:
            follow_ups.append(run_request(sync, trigger="manual"))

    desk.on_write("create", request_once)
    crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    first = run_request(sync, trigger="webhook", record_ids={"a": [bob.id]})
    sent.clear()

    assert run_execute(first.pk) == "succeeded"

    [follow_up] = follow_ups
    assert SyncRun.objects.get(pk=follow_up.pk).status == "queued"
    assert [follow_up.pk] in sent  # handed on through the broker


def test_a_targeted_run_reads_only_the_named_records(setup):
    sync, crm, desk = setup
    ann = crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    crm.insert("contacts", {"email": "bob@example.com", "name": "Bob"})
    run = run_request(sync, trigger="webhook", record_ids={"a": [ann.id]})
    run_execute(run.pk)
    run.refresh_from_db()
    assert (run.status, run.read_a, run.created_b) == ("succeeded", 1, 1)
    assert [r.fields["email"] for r in desk.all("users")] == ["ann@example.com"]


def test_cancelling_a_queued_run_stops_it_before_it_starts(setup):
    sync, crm, desk = setup
    crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    run = run_request(sync, trigger="manual")
    run_cancel(run)
    assert run_execute(run.pk) == "not-queued"
    assert SyncRun.objects.get(pk=run.pk).status == "cancelled"
    assert desk.all("users") == []
    with pytest.raises(Refused) as refused:
        run_cancel(run)
    assert refused.value.code == "run_not_cancellable"


def test_a_running_run_stops_between_batches_when_cancelled(setup, settings, monkeypatch):
    sync, crm, desk = setup
    settings.CONCORD_RUN_HEARTBEAT_EVERY = 0  # check at every checkpoint
    settings.CONCORD_RUN_BATCH_SIZE = 2  # one batch a page
    for i in range(5):
        crm.insert("contacts", {"email": f"p{i}@example.com", "name": f"P{i}"})
    Sync.objects.filter(pk=sync.pk).update()  # (page size 100: one page per side)
    conn = sync.connection_a
    conn.config = {**conn.config, "page_size": 2}
    conn.save()
    run = run_request(sync, trigger="manual")
    original = DatabaseRecorder.beat
    beats = []

    def beat_then_cancel(self):
        beats.append(1)
        if len(beats) == 1:  # after the first page is stored, someone presses cancel
            SyncRun.objects.filter(pk=self.run.pk).update(cancel_requested=True)
        original(self)

    monkeypatch.setattr(DatabaseRecorder, "beat", beat_then_cancel)
    assert run_execute(run.pk) == "cancelled"
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert len(desk.all("users")) == 2  # the first page, and nothing after it
    assert SyncLock.objects.get(sync_id=sync.pk).token is None
    # The next run continues where the cancelled one stopped.
    follow = run_request(sync, trigger="manual")
    assert run_execute(follow.pk) == "succeeded"
    assert len(desk.all("users")) == 5


def test_a_paused_sync_does_not_run(setup):
    sync, crm, desk = setup
    crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    run = run_request(sync, trigger="manual")
    Sync.objects.filter(pk=sync.pk).update(paused_reason="a person paused it")
    assert run_execute(run.pk) == "cancelled"
    assert "a person paused it" in SyncRun.objects.get(pk=run.pk).error
    assert desk.all("users") == []


def test_an_interrupted_run_keeps_what_it_stored_and_is_not_a_failure(settings):
    settings.CONCORD_RUN_HEARTBEAT_EVERY = 0  # beat at every checkpoint
    settings.CONCORD_RUN_BATCH_SIZE = 2  # one batch a page
    ws = f.workspace()
    crm, desk = f.stores()
    s = f.sync(ws, crm, desk, page_size=2)
    for i in range(5):
        crm.insert("contacts", {"email": f"i{i}@x.com"})
    run = run_request(s, trigger="manual")
    # Cancellation asked for before the first checkpoint: the run stops after the first page.
    SyncRun.objects.filter(pk=run.pk).update(cancel_requested=True)
    assert run_execute(run.pk) == "cancelled"
    assert len(desk.all("users")) == 2
    assert RecordLink.objects.filter(status="linked").count() == 2
    s.refresh_from_db()
    assert (s.consecutive_failures, s.last_error) == (0, "")
    assert run_now(s).status == "succeeded"
    assert len(desk.all("users")) == 5
