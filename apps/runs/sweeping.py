"""The periodic jobs of runs: handing out due syncs, sweeping up after lost messages and dead
workers, and pruning old run events.

`runs.dispatch` (every CONCORD_DISPATCH_EVERY seconds, from beat) queues a run for every
sync whose schedule has come and sweeps; `runs.prune` (daily) deletes old events. So
acknowledged work is never lost: a run whose worker stopped sending heartbeats is requeued
once its lease has run out, and a run left queued (its message lost) is sent again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from apps.runs.lease import lease_free, lease_held_by
from apps.runs.models import SyncEvent, SyncRun
from apps.runs.queue import enqueue, queued_run_dispatch, run_request
from apps.syncs.models import InFlightWrite, Sync


def dispatch_due(*, now: datetime | None = None, limit: int = 200) -> int:
    """Queue a run for every enabled, unpaused sync whose next_run_at has come. Returns
    how many. Concurrent dispatchers skip each other's rows (skip_locked)."""
    now = now or timezone.now()
    count = 0
    with transaction.atomic():
        due = list(
            Sync.objects.select_for_update(skip_locked=True)
            .filter(enabled=True, paused_reason="")
            .filter(Q(next_run_at__lte=now) | Q(next_run_at__isnull=True))
            .order_by(F("next_run_at").asc(nulls_first=True))[:limit]
        )
        for sync in due:
            run_request(sync, trigger=SyncRun.Trigger.SCHEDULE)
            Sync.objects.filter(pk=sync.pk).update(
                next_run_at=now + timedelta(seconds=sync.interval_seconds)
            )
            count += 1
    return count


def sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Requeue runs whose worker went silent; re-send runs left queued. Returns counts."""
    now = now or timezone.now()
    requeued, failed = _requeue_silent(now)
    return {"requeued": requeued, "failed": failed, "resent": _resend_forgotten(now)}


def _requeue_silent(now: datetime) -> tuple[int, int]:
    stale_before = now - timedelta(seconds=settings.CONCORD_RUN_LOCK_TTL)
    requeued = failed = 0
    stale = SyncRun.objects.filter(
        status=SyncRun.Status.RUNNING, heartbeat_at__lt=stale_before
    ).values_list("pk", "sync_id", "attempts")
    for pk, sync_id, attempts in stale:
        # A live run renews its lease at every heartbeat; only a lease that has run out
        # means its worker is gone. Free it, but only if it is still that run's.
        if lease_held_by(sync_id, pk, now=now):
            continue
        lease_free(sync_id, pk)
        if attempts >= settings.CONCORD_RUN_MAX_ATTEMPTS:
            failed += SyncRun.objects.filter(pk=pk, status=SyncRun.Status.RUNNING).update(
                status=SyncRun.Status.FAILED,
                finished_at=now,
                error="its worker stopped sending heartbeats too many times",
            )
            continue
        try:
            with transaction.atomic():
                moved = SyncRun.objects.filter(pk=pk, status=SyncRun.Status.RUNNING).update(
                    status=SyncRun.Status.QUEUED,
                    error="requeued: its worker stopped sending heartbeats",
                )
        except IntegrityError:
            # A follow-up run is already queued; it will do the work this one left.
            moved = 0
            failed += SyncRun.objects.filter(pk=pk, status=SyncRun.Status.RUNNING).update(
                status=SyncRun.Status.FAILED,
                finished_at=now,
                error="its worker stopped sending heartbeats; the queued follow-up continues",
            )
            # The follow-up's own message found the sync busy and was dropped; the dead
            # run will never send it on: send it now.
            queued_run_dispatch(sync_id)
        if moved:
            requeued += 1
            enqueue(pk)
    return requeued, failed


def _resend_forgotten(now: datetime) -> int:
    """Send again each queued run whose message was sent (or, never sent, that was queued)
    CONCORD_RUN_REDISPATCH_AFTER seconds ago or more. Keyed on the sending, not on
    updated_at: triggers folding into a run whose message was lost bump updated_at, and
    must not keep it from being sent. A duplicate message is harmless (run_execute takes a
    run once)."""
    cutoff = now - timedelta(seconds=settings.CONCORD_RUN_REDISPATCH_AFTER)
    forgotten = (
        SyncRun.objects.filter(status=SyncRun.Status.QUEUED)
        .annotate(sent=Coalesce("dispatched_at", "created_at"))
        .filter(sent__lt=cutoff)
        .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
    )
    resent = 0
    for pk in forgotten.values_list("pk", flat=True):
        enqueue(pk)
        resent += 1
    return resent


def events_prune(*, now: datetime | None = None) -> int:
    """Delete run events older than the retention period; returns how many.

    Runs themselves (one small row each, with their counters) are kept: the history of
    successes and failures stays readable after the field-level detail is gone.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.CONCORD_EVENT_RETENTION_DAYS)
    deleted, _ = SyncEvent.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def settled_writes_prune(*, now: datetime | None = None) -> int:
    """Delete the rows of writes settled longer ago than the retention period (the run pages
    list them beside the events); writes still in flight are never deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.CONCORD_EVENT_RETENTION_DAYS)
    deleted, _ = (
        InFlightWrite.objects.exclude(state=InFlightWrite.State.IN_FLIGHT)
        .filter(settled_at__lt=cutoff)
        .delete()
    )
    return deleted
