"""The dispatcher hands out due syncs; the sweeper requeues dead runs and re-sends lost ones;
old events are pruned."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from unittest import mock

import pytest
from django.utils import timezone

from apps.runs.execution import run_execute
from apps.runs.lease import LeaseLost, lease_acquire, lease_renew
from apps.runs.models import SyncLock, SyncRun
from apps.runs.queue import run_request
from apps.runs.sweeping import dispatch_due, events_prune, settled_writes_prune, sweep
from apps.syncs.models import Sync
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


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
    assert dispatch_due(now=now) == 1
    assert [r.sync_id for r in SyncRun.objects.all()] == [due.pk]
    due.refresh_from_db()
    assert due.next_run_at == now + timedelta(seconds=due.interval_seconds)
    assert dispatch_due(now=now) == 0  # not due again until then


def test_the_sweeper_requeues_a_run_whose_worker_died(setup, settings):
    sync, crm, desk = setup
    crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    run = run_request(sync, trigger="manual")
    lease = lease_acquire(sync.pk, run.pk)
    long_ago = timezone.now() - timedelta(seconds=settings.CONCORD_RUN_LOCK_TTL + 5)
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.RUNNING, heartbeat_at=long_ago, attempts=1
    )
    # While the lease is live the sweeper leaves it alone, however old the heartbeat.
    assert sweep()["requeued"] == 0
    SyncLock.objects.filter(sync_id=sync.pk).update(expires_at=long_ago)
    assert sweep()["requeued"] == 1
    assert SyncRun.objects.get(pk=run.pk).status == "queued"
    assert run_execute(run.pk) == "succeeded"
    assert len(desk.all("users")) == 1
    with pytest.raises(LeaseLost):
        lease_renew(lease)


def test_the_sweeper_resends_a_forgotten_queued_run(
    setup, settings, django_capture_on_commit_callbacks
):
    sync, _, _ = setup
    run = run_request(sync, trigger="manual")
    old = timezone.now() - timedelta(seconds=settings.CONCORD_RUN_REDISPATCH_AFTER + 1)
    SyncRun.objects.filter(pk=run.pk).update(dispatched_at=old)
    assert sweep()["resent"] == 1
    assert sweep()["resent"] == 0  # touched: not resent on every tick


class Clock:
    """timezone.now() under the test's control: minutes pass in no time."""

    def __init__(self) -> None:
        self.now = timezone.now()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Iterator[Clock]:
    fake = Clock()
    with mock.patch("django.utils.timezone.now", fake):
        yield fake


def test_a_lost_message_is_resent_although_triggers_keep_folding_into_its_run(
    setup, settings, clock, django_capture_on_commit_callbacks
):
    """The message of a queued run is lost (the broker's queue was deleted); the sync's
    schedule keeps folding into that run every few seconds. The dispatcher, ticking every
    CONCORD_DISPATCH_EVERY seconds, still sends it again within
    CONCORD_RUN_REDISPATCH_AFTER (plus a tick) of its sending: folds are not sendings."""
    sync, _, _ = setup
    with django_capture_on_commit_callbacks(execute=True):
        run = run_request(sync, trigger="manual")  # sent, and lost
    bound = settings.CONCORD_RUN_REDISPATCH_AFTER + settings.CONCORD_DISPATCH_EVERY
    waited = 0.0
    while waited <= bound:
        clock.advance(settings.CONCORD_DISPATCH_EVERY)
        waited += settings.CONCORD_DISPATCH_EVERY
        run_request(sync, trigger="schedule")  # folds into the run, bumping updated_at
        if sweep()["resent"]:
            break
    else:
        pytest.fail(f"the lost run was not sent again within {bound:g}s")
    assert waited >= settings.CONCORD_RUN_REDISPATCH_AFTER  # not before its time
    assert SyncRun.objects.get(pk=run.pk).folded > 0
    clock.advance(settings.CONCORD_DISPATCH_EVERY)
    assert sweep()["resent"] == 0  # just sent: not on every tick


def test_a_run_whose_sending_failed_is_sent_by_the_sweeper(setup, settings, clock):
    """The broker was down when the run was queued, so it was never sent: the sweeper sends
    it once it has waited CONCORD_RUN_REDISPATCH_AFTER, however many triggers fold in."""
    sync, _, _ = setup
    run_request(sync, trigger="manual")  # on_commit never runs here: no message
    for _ in range(2):
        clock.advance(settings.CONCORD_RUN_REDISPATCH_AFTER / 2 + 0.5)
        run_request(sync, trigger="schedule")
    assert sweep()["resent"] == 1


def test_a_run_whose_worker_died_is_requeued_within_30_seconds(setup, settings, clock):
    """With the default settings, a run whose worker stopped (no heartbeat, no lease
    renewal) is requeued by the dispatcher's sweeper within 30 seconds of its last beat."""
    sync, _, _ = setup
    run = run_request(sync, trigger="manual")
    lease = lease_acquire(sync.pk, run.pk)
    assert lease is not None
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.RUNNING, heartbeat_at=clock.now, attempts=1
    )
    died = clock.now  # its last heartbeat, and lease renewal
    while clock.now - died <= timedelta(seconds=30):
        clock.advance(settings.CONCORD_DISPATCH_EVERY)
        if sweep()["requeued"]:
            break
    else:
        pytest.fail("the dead worker's run was not requeued within 30 s")
    assert SyncRun.objects.get(pk=run.pk).status == "queued"
    with pytest.raises(LeaseLost):
        lease_renew(lease)  # the dead holder, should it wake, can write nothing more


def test_a_run_alive_with_heartbeats_is_never_requeued(setup, settings, clock):
    sync, _, _ = setup
    run = run_request(sync, trigger="manual")
    lease = lease_acquire(sync.pk, run.pk)
    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.RUNNING, attempts=1)
    for _ in range(20):
        clock.advance(settings.CONCORD_RUN_HEARTBEAT_EVERY)
        lease_renew(lease)
        SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=clock.now)
        assert sweep()["requeued"] == 0
    assert SyncRun.objects.get(pk=run.pk).status == "running"


def test_the_follow_up_of_a_dead_run_is_sent_at_once(
    setup, settings, clock, django_capture_on_commit_callbacks
):
    """A follow-up queued while the run was running found the sync busy, and its message was
    dropped; when the run's worker dies, the sweeper fails the dead run and sends the
    follow-up at once, not CONCORD_RUN_REDISPATCH_AFTER later."""
    settings.CONCORD_RUN_REDISPATCH_AFTER = 10 * settings.CONCORD_RUN_LOCK_TTL
    sync, _, _ = setup
    run = run_request(sync, trigger="manual")
    lease_acquire(sync.pk, run.pk)
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.RUNNING, heartbeat_at=clock.now, attempts=1
    )
    with django_capture_on_commit_callbacks(execute=True):
        follow_up = run_request(sync, trigger="webhook", record_ids={"a": ["1"]})
    sent = SyncRun.objects.get(pk=follow_up.pk).dispatched_at
    clock.advance(settings.CONCORD_RUN_LOCK_TTL + 1)
    assert sweep()["failed"] == 1
    assert SyncRun.objects.get(pk=follow_up.pk).dispatched_at == clock.now > sent


def test_pruning_removes_old_events_and_keeps_runs(setup, settings):
    from apps.runs.models import SyncEvent

    sync, crm, _ = setup
    crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    run = run_request(sync, trigger="manual")
    run_execute(run.pk)
    assert SyncEvent.objects.filter(run=run).count() == 1
    later = timezone.now() + timedelta(days=settings.CONCORD_EVENT_RETENTION_DAYS + 1)
    assert events_prune(now=later) == 1
    assert SyncRun.objects.filter(pk=run.pk).exists()


def test_pruning_removes_writes_settled_long_ago_and_never_those_in_flight(setup, settings):
    from apps.syncs.models import InFlightWrite

    sync, _, _ = setup
    now = timezone.now()
    kept = {"handle": {"job": "j"}, "side": "b", "action": "create"}
    waiting = InFlightWrite.objects.create(sync=sync, **kept)
    recent = InFlightWrite.objects.create(sync=sync, state="done", settled_at=now, **kept)
    old = InFlightWrite.objects.create(
        sync=sync, state="failed", settled_at=now - timedelta(days=1), **kept
    )
    InFlightWrite.objects.filter(pk=waiting.pk).update(created_at=now - timedelta(days=90))

    later = now + timedelta(days=settings.CONCORD_EVENT_RETENTION_DAYS) - timedelta(hours=12)

    assert settled_writes_prune(now=later) == 1
    assert set(InFlightWrite.objects.values_list("pk", flat=True)) == {waiting.pk, recent.pk}
    assert not InFlightWrite.objects.filter(pk=old.pk).exists()
