"""Requesting, folding, locking, executing, cancelling and sweeping runs (in-process).

The worker-process tests (tests/runs/test_worker.py) run the same code through Celery.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.runs import orchestration
from apps.runs.models import SyncLock, SyncRun
from apps.syncs.models import Sync
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    ws = f.workspace()
    crm, desk = f.stores()
    sync = f.sync(ws, crm, desk)
    return sync, crm, desk


def queued(sync: Sync) -> list[SyncRun]:
    return list(SyncRun.objects.filter(sync=sync, status=SyncRun.Status.QUEUED))


# --- requesting and folding -----------------------------------------------------------------
def test_a_request_queues_one_run_and_enqueues_it_after_commit(
    setup, django_capture_on_commit_callbacks
):
    sync, _, _ = setup
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = orchestration.run_request(sync, trigger="manual")
    assert (run.status, run.trigger, run.record_ids, run.full) == ("queued", "manual", None, False)
    assert len(callbacks) == 1


def test_requests_while_queued_fold_into_the_queued_run(setup, django_capture_on_commit_callbacks):
    sync, _, _ = setup
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = orchestration.run_request(sync, trigger="webhook", record_ids={"a": ["1"]})
        for i in range(2, 11):
            orchestration.run_request(sync, trigger="webhook", record_ids={"a": [str(i)]})
        orchestration.run_request(sync, trigger="webhook", record_ids={"b": ["x"], "a": ["1"]})
    [run] = queued(sync)
    assert run.pk == first.pk
    assert run.record_ids == {"a": [str(i) for i in range(1, 11)], "b": ["x"]}
    assert run.folded == 10
    assert len(callbacks) == 1  # one message for eleven triggers


def test_a_poll_folded_into_a_webhook_run_widens_it(setup):
    sync, _, _ = setup
    orchestration.run_request(sync, trigger="webhook", record_ids={"a": ["1"]})
    run = orchestration.run_request(sync, trigger="schedule")
    assert (run.trigger, run.record_ids) == ("schedule", None)
    run = orchestration.run_request(sync, trigger="webhook", record_ids={"b": ["2"]})
    assert run.record_ids is None  # a poll reads every change, the webhook's too


def test_requests_while_running_make_a_single_follow_up(setup):
    sync, _, _ = setup
    running = orchestration.run_request(sync, trigger="manual")
    SyncRun.objects.filter(pk=running.pk).update(status=SyncRun.Status.RUNNING)
    follow_ups = {
        orchestration.run_request(sync, trigger="webhook", record_ids={"a": [str(i)]}).pk
        for i in range(5)
    }
    assert len(follow_ups) == 1
    assert follow_ups != {running.pk}
    assert len(queued(sync)) == 1


# --- the lock -------------------------------------------------------------------------------
def test_the_lock_admits_one_holder(setup):
    sync, _, _ = setup
    run = orchestration.run_request(sync, trigger="manual")
    lease = orchestration.lock_acquire(sync.pk, run.pk)
    assert lease is not None
    assert orchestration.lock_acquire(sync.pk, run.pk) is None
    assert orchestration.lock_release(lease) is True
    again = orchestration.lock_acquire(sync.pk, run.pk)
    assert again is not None
    assert again.fence == lease.fence + 1


def test_a_late_holder_can_neither_renew_nor_release_the_new_lease(setup, settings):
    sync, _, _ = setup
    run = orchestration.run_request(sync, trigger="manual")
    late = orchestration.lock_acquire(sync.pk, run.pk)
    # The late holder's lease runs out (its worker stalled) and another run takes the sync.
    SyncLock.objects.filter(sync_id=sync.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    current = orchestration.lock_acquire(sync.pk, run.pk)
    assert current is not None
    assert current.fence == late.fence + 1
    with pytest.raises(orchestration.LockLost):
        orchestration.lock_renew(late)
    assert orchestration.lock_release(late) is False
    assert SyncLock.objects.get(sync_id=sync.pk).token == current.token


# --- executing ------------------------------------------------------------------------------
def test_executing_a_queued_run_syncs_and_records_it(setup):
    sync, crm, desk = setup
    crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    run = orchestration.run_request(sync, trigger="manual")
    assert orchestration.run_execute(run.pk) == "succeeded"
    run.refresh_from_db()
    assert (run.status, run.created_b, run.attempts) == ("succeeded", 1, 1)
    assert run.fence == 1
    assert [r.fields["full_name"] for r in desk.all("users")] == ["Ann"]
    assert SyncLock.objects.get(sync_id=sync.pk).token is None  # released
    assert orchestration.run_execute(run.pk) == "not-queued"  # a redelivery does nothing


def test_a_run_finds_the_sync_busy_and_waits_for_the_holder(setup):
    sync, _, _ = setup
    holder = orchestration.run_request(sync, trigger="manual")
    lease = orchestration.lock_acquire(sync.pk, holder.pk)
    SyncRun.objects.filter(pk=holder.pk).update(status=SyncRun.Status.RUNNING)
    waiting = orchestration.run_request(sync, trigger="manual")
    assert orchestration.run_execute(waiting.pk) == "busy"
    assert SyncRun.objects.get(pk=waiting.pk).status == "queued"
    orchestration.lock_release(lease)
    assert orchestration.run_execute(waiting.pk) == "succeeded"


def test_a_targeted_run_reads_only_the_named_records(setup):
    sync, crm, desk = setup
    ann = crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    crm.insert("contacts", {"email": "bob@example.com", "name": "Bob"})
    run = orchestration.run_request(sync, trigger="webhook", record_ids={"a": [ann.id]})
    orchestration.run_execute(run.pk)
    run.refresh_from_db()
    assert (run.status, run.read_a, run.created_b) == ("succeeded", 1, 1)
    assert [r.fields["email"] for r in desk.all("users")] == ["ann@example.com"]


def test_cancelling_a_queued_run_stops_it_before_it_starts(setup):
    sync, crm, desk = setup
    crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    run = orchestration.run_request(sync, trigger="manual")
    orchestration.run_cancel(run)
    assert orchestration.run_execute(run.pk) == "not-queued"
    assert SyncRun.objects.get(pk=run.pk).status == "cancelled"
    assert desk.all("users") == []
    with pytest.raises(orchestration.RunNotCancellable):
        orchestration.run_cancel(run)


def test_a_running_run_stops_between_batches_when_cancelled(setup, settings, monkeypatch):
    sync, crm, desk = setup
    settings.CONCORD_RUN_HEARTBEAT_EVERY = 0  # check at every checkpoint
    for i in range(5):
        crm.insert("contacts", {"email": f"p{i}@example.com", "name": f"P{i}"})
    Sync.objects.filter(pk=sync.pk).update()  # (page size 100: one page per side)
    conn = sync.connection_a
    conn.config = {**conn.config, "page_size": 2}
    conn.save()
    run = orchestration.run_request(sync, trigger="manual")
    original = orchestration.OrchestratedRecorder.beat
    beats = []

    def beat_then_cancel(self):
        beats.append(1)
        if len(beats) == 1:  # after the first page is stored, someone presses cancel
            SyncRun.objects.filter(pk=self.run.pk).update(cancel_requested=True)
        original(self)

    monkeypatch.setattr(orchestration.OrchestratedRecorder, "beat", beat_then_cancel)
    assert orchestration.run_execute(run.pk) == "cancelled"
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert len(desk.all("users")) == 2  # the first page, and nothing after it
    assert SyncLock.objects.get(sync_id=sync.pk).token is None
    # The next run continues where the cancelled one stopped.
    follow = orchestration.run_request(sync, trigger="manual")
    assert orchestration.run_execute(follow.pk) == "succeeded"
    assert len(desk.all("users")) == 5


def test_a_paused_sync_does_not_run(setup):
    sync, crm, desk = setup
    crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    run = orchestration.run_request(sync, trigger="manual")
    Sync.objects.filter(pk=sync.pk).update(paused_reason="a person paused it")
    assert orchestration.run_execute(run.pk) == "cancelled"
    assert "a person paused it" in SyncRun.objects.get(pk=run.pk).error
    assert desk.all("users") == []


# --- dispatching and sweeping ---------------------------------------------------------------
def test_the_dispatcher_queues_due_syncs_only(setup):
    due, _crm, _desk = setup
    ws = due.workspace
    later = f.sync(ws, *f.stores())
    paused = f.sync(ws, *f.stores())
    disabled = f.sync(ws, *f.stores(), enabled=False)
    now = timezone.now()
    Sync.objects.filter(pk=due.pk).update(next_run_at=now - timedelta(seconds=1))
    Sync.objects.filter(pk=later.pk).update(next_run_at=now + timedelta(minutes=5))
    Sync.objects.filter(pk=paused.pk).update(next_run_at=now, paused_reason="held")
    Sync.objects.filter(pk=disabled.pk).update(next_run_at=now)
    assert orchestration.dispatch_due(now=now) == 1
    assert [r.sync_id for r in SyncRun.objects.all()] == [due.pk]
    due.refresh_from_db()
    assert due.next_run_at == now + timedelta(seconds=due.interval_seconds)
    assert orchestration.dispatch_due(now=now) == 0  # not due again until then


def test_the_sweeper_requeues_a_run_whose_worker_died(setup, settings):
    sync, crm, desk = setup
    crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    run = orchestration.run_request(sync, trigger="manual")
    lease = orchestration.lock_acquire(sync.pk, run.pk)
    long_ago = timezone.now() - timedelta(seconds=settings.CONCORD_RUN_LOCK_TTL + 5)
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.RUNNING, heartbeat_at=long_ago, attempts=1
    )
    # While the lease is live the sweeper leaves it alone, however old the heartbeat.
    assert orchestration.sweep()["requeued"] == 0
    SyncLock.objects.filter(sync_id=sync.pk).update(expires_at=long_ago)
    assert orchestration.sweep()["requeued"] == 1
    assert SyncRun.objects.get(pk=run.pk).status == "queued"
    assert orchestration.run_execute(run.pk) == "succeeded"
    assert len(desk.all("users")) == 1
    with pytest.raises(orchestration.LockLost):
        orchestration.lock_renew(lease)


def test_the_sweeper_resends_a_forgotten_queued_run(
    setup, settings, django_capture_on_commit_callbacks
):
    sync, _, _ = setup
    run = orchestration.run_request(sync, trigger="manual")
    old = timezone.now() - timedelta(seconds=settings.CONCORD_RUN_REDISPATCH_AFTER + 1)
    SyncRun.objects.filter(pk=run.pk).update(updated_at=old)
    assert orchestration.sweep()["resent"] == 1
    assert orchestration.sweep()["resent"] == 0  # touched: not resent on every tick


def test_pruning_removes_old_events_and_keeps_runs(setup, settings):
    from apps.runs.models import SyncEvent

    sync, crm, _ = setup
    crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    run = orchestration.run_request(sync, trigger="manual")
    orchestration.run_execute(run.pk)
    assert SyncEvent.objects.filter(run=run).count() == 1
    later = timezone.now() + timedelta(days=settings.CONCORD_EVENT_RETENTION_DAYS + 1)
    assert orchestration.runs_prune(now=later)["events"] == 1
    assert SyncRun.objects.filter(pk=run.pk).exists()


def test_polling_that_finds_unannounced_changes_warns_about_webhooks(setup):
    from apps.webhooks.models import WebhookDelivery

    sync, crm, _ = setup
    connection = sync.connection_a

    def deliver(key: str) -> None:
        WebhookDelivery.objects.create(
            workspace_id=sync.workspace_id, connection=connection, dedupe_key=key, body="{}"
        )

    def poll() -> Sync:
        orchestration.run_execute(orchestration.run_request(sync, trigger="schedule").pk)
        sync.refresh_from_db()
        return sync

    deliver("long-ago")  # the connection is known to receive webhooks
    WebhookDelivery.objects.update(received_at=timezone.now() - timedelta(hours=1))
    crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    assert poll().webhook_warning == ""  # the first poll has nothing to compare with
    crm.insert("contacts", {"email": "bob@example.com", "name": "Bob"})
    warning = poll().webhook_warning
    assert "polling found 1 changed record(s) on side A" in warning
    assert "no webhook announced" in warning
    deliver("fresh")  # webhooks arrive again
    crm.insert("contacts", {"email": "cy@example.com", "name": "Cy"})
    assert poll().webhook_warning == ""


def test_records_that_failed_are_retried_by_the_next_poll_and_by_retry_now(setup):
    sync, crm, desk = setup
    ann = crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    crm.insert("contacts", {"email": "bob@example.com", "name": "Bob"})
    desk.fail("create", when=lambda fields: fields.get("email") == "ann@example.com")
    first = orchestration.run_request(sync, trigger="schedule")
    assert orchestration.run_execute(first.pk) == "partial"
    assert sorted(r.fields["email"] for r in desk.all("users")) == ["bob@example.com"]

    # "Retry now" while the cause persists: a run of just that record, partial again.
    retry = orchestration.run_retry_failed(SyncRun.objects.get(pk=first.pk))
    assert retry.record_ids == {"a": [ann.id], "b": []}
    assert orchestration.run_execute(retry.pk) == "partial"

    # The cause goes away; ann has not changed since, yet the next poll reads her again.
    desk.record_faults.clear()
    second = orchestration.run_request(sync, trigger="schedule")
    assert orchestration.run_execute(second.pk) == "succeeded"
    second.refresh_from_db()
    assert second.created_b == 1
    emails = sorted(r.fields["email"] for r in desk.all("users"))
    assert emails == ["ann@example.com", "bob@example.com"]
    # Nothing failed in the latest poll: the one after it retries nothing.
    third = orchestration.run_request(sync, trigger="schedule")
    orchestration.run_execute(third.pk)
    third.refresh_from_db()
    assert (third.read_a, third.created_b) == (0, 0)
    with pytest.raises(orchestration.NothingToRetry):
        orchestration.run_retry_failed(third)
