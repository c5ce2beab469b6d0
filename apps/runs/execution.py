"""Executing a queued run: the one way a run happens, on a worker or in a test alike.

A worker's message names a run (queue.py). Here the run is claimed, the sync's lease taken
(lease.py), the engine run over the sync with a recorder that keeps the trail and the
heartbeat (recorder.py), and the outcome recorded (outcome.py). After the lease is given
back, the sync's next queued run (one that found the sync busy) is sent on.
"""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone

from apps.runs.lease import Lease, LeaseLost, lease_acquire, lease_release, lease_renew
from apps.runs.models import SyncRun
from apps.runs.outcome import run_finish, run_record_crash, run_record_outcome
from apps.runs.queue import enqueue, queued_run_dispatch
from apps.runs.recorder import CancelRequested, DatabaseRecorder
from apps.runs.selectors import records_to_retry
from apps.syncs.services import sync_engine_run

PERSON_APPROVED = (SyncRun.Trigger.APPROVAL, SyncRun.Trigger.RESOLUTION)


def run_execute(run_id: int) -> str:
    """Execute a queued run if its sync is free. Safe to call twice for the same run.

    Returns what happened, for logs and tests: "missing", "not-queued", "early", "busy",
    "lease-lost" (its lease ran out and the run was requeued: another attempt continues it),
    or the run's status when this call is done with it.
    """
    run = SyncRun.objects.select_related("sync").filter(pk=run_id).first()
    if run is None:
        return "missing"
    if run.status != SyncRun.Status.QUEUED:
        return "not-queued"
    now = timezone.now()
    if run.not_before and run.not_before > now:
        # Delivered early (a redelivery or the sweeper): send it again for later.
        enqueue(run.pk, countdown=(run.not_before - now).total_seconds())
        return "early"
    lease = lease_acquire(run.sync_id, run.pk)
    if lease is None:
        return "busy"  # the holder sends the queued run on when it releases the lease
    try:
        claimed = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED).update(
            status=SyncRun.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            fence=lease.fence,
            phase="",
        )
        if not claimed:
            return "not-queued"
        run.refresh_from_db()
        status = _execute_claimed(run, lease)
    finally:
        lease_release(lease)
    queued_run_dispatch(run.sync_id)
    return status


def _execute_claimed(run: SyncRun, lease: Lease) -> str:
    sync = run.sync
    sync.refresh_from_db()
    if sync.paused and run.trigger != SyncRun.Trigger.APPROVAL:
        return run_finish(
            run, SyncRun.Status.CANCELLED, f"the sync is paused: {sync.paused_reason}"
        )
    record_ids = None if run.full else run.record_ids
    full_read = (run.full or sync.resync_requested) and record_ids is None
    # A polling run also re-reads the records that failed last time (the cursor is past
    # them); a targeted run reads just what it was asked to.
    retry_ids = records_to_retry(sync.pk, before=run) if record_ids is None else None
    try:
        report = sync_engine_run(
            sync,
            recorder=DatabaseRecorder(run, lease),
            trigger=run.trigger,
            full=full_read,
            record_ids=record_ids,
            retry_ids=retry_ids,
            # Only what a person approved may pass the mass-change safety limit: a held run
            # they approved, or the writing of their conflict decisions.
            approved=run.trigger in PERSON_APPROVED,
        )
        # The lease may have run out and been taken while the last calls were slow: only
        # its holder records how the run ended.
        lease_renew(lease)
    except CancelRequested:
        return run_finish(run, SyncRun.Status.CANCELLED, "cancelled by request")
    except LeaseLost:
        # The sweeper requeued this run and another attempt (a higher fence) owns its row
        # now: leave the row to it.
        return "lease-lost"
    except Exception as exc:
        run_record_crash(run, exc)
        raise
    return run_record_outcome(run, report, full_read=full_read)
