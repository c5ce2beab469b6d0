"""Executing a queued run: the one way a run happens, on a worker or in a test alike.

A worker's message names a run (queue.py). Here the run is claimed, the sync's lease taken
(lease.py), the engine run over the sync with a recorder that keeps the trail and the
heartbeat (recorder.py), and the outcome recorded (outcome.py). After the lease is given
back, the sync's next queued run (one that found the sync busy) is sent on.

A run never waits under the lease for a system's background job: the writes it leaves in
flight are settled by a later run, which is queued here (settling.py).

A database outage mid-run does not end the run: the worker waits for the database (with
backoff, reconnecting), puts the run back to queued and executes it again at once, in the
same task. What the interrupted attempt wrote before the outage is kept (its transactions
had committed); what it was writing was rolled back, and the engine's pending-create
records make the new attempt link what was created instead of creating it twice.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError
from django.db import connection as db_connection
from django.db.models import F
from django.utils import timezone

from apps.runs.lease import (
    Lease,
    LeaseLost,
    lease_acquire,
    lease_free,
    lease_release,
    lease_renew,
)
from apps.runs.models import SyncRun
from apps.runs.outcome import run_finish, run_record_crash, run_record_outcome
from apps.runs.queue import enqueue, queued_run_dispatch, queued_run_next, run_request
from apps.runs.recorder import CancelRequested, DatabaseRecorder
from apps.runs.selectors import records_to_retry
from apps.runs.settling import settlement_request
from apps.syncs.services import (
    references_create_request,
    references_follow_up,
    sync_engine_run,
)

logger = logging.getLogger(__name__)

PERSON_APPROVED = (SyncRun.Trigger.APPROVAL, SyncRun.Trigger.RESOLUTION)
# The database went away (server stopped, restarted, connection cut).
DATABASE_ERRORS = (OperationalError, InterfaceError)


def run_execute(run_id: int) -> str:
    """Execute a queued run if its sync is free. Safe to call twice for the same run.

    Returns what happened, for logs and tests: "missing", "not-queued", "early", "busy",
    "lease-lost" (its lease ran out and the run was requeued: another attempt continues it),
    or the run's status when this call is done with it. Rides out database outages of up
    to CONCORD_RUN_DATABASE_WAIT seconds (each), at most CONCORD_RUN_MAX_ATTEMPTS times.

    Once the run is done and the sync's lease free, the sync's next queued run (the one
    later webhooks folded into while this one ran) is executed here too, in the same task,
    without a trip through the broker: up to CONCORD_RUN_CHAIN runs in a row, after which
    it is sent as a message so that other syncs' runs get the worker too.
    """
    status, freed = _execute_riding_outages(run_id)
    chained = 0
    while freed is not None:
        if chained >= settings.CONCORD_RUN_CHAIN:
            queued_run_dispatch(freed)
            break
        follow_up = queued_run_next(freed)
        if follow_up is None:
            break
        chained += 1
        _, freed = _execute_riding_outages(follow_up)
    return status


def _execute_riding_outages(run_id: int) -> tuple[str, int | None]:
    outages = 0
    while True:
        try:
            return _execute_once(run_id)
        except DATABASE_ERRORS as exc:
            outages += 1
            if outages >= settings.CONCORD_RUN_MAX_ATTEMPTS:
                raise
            logger.warning(
                "run %s: the database went away (%s); waiting for it to run again", run_id, exc
            )
            database_wait(settings.CONCORD_RUN_DATABASE_WAIT)
            if not _requeue_interrupted(run_id):
                return SyncRun.Status.FAILED, None
            logger.info("run %s: the database is back; running it again", run_id)


def database_wait(timeout: float) -> None:
    """Block until the database answers again (reconnecting, with capped backoff).
    Raises the last database error after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
        db_connection.close()  # the broken connection; the next query opens a new one
        try:
            with db_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            return
        except DATABASE_ERRORS:
            if time.monotonic() + delay > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def _requeue_interrupted(run_id: int) -> bool:
    """Put a run that a database outage interrupted back to queued, freeing its lease.

    A run that was not claimed yet is still queued: nothing to do. If a follow-up run was
    queued meanwhile (one queued run per sync), this run's request folds into it and this
    run ends failed, saying which run continues it. False if this run will not run again.
    """
    run = SyncRun.objects.select_related("sync").filter(pk=run_id).first()
    if run is None or run.status != SyncRun.Status.RUNNING:
        return True
    lease_free(run.sync_id, run.pk)
    try:
        SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
            status=SyncRun.Status.QUEUED, error="requeued: the database went away mid-run"
        )
    except IntegrityError:
        follow_up = run_request(
            run.sync, trigger=run.trigger, record_ids=run.record_ids, full=run.full
        )
        run_finish(
            run,
            SyncRun.Status.FAILED,
            f"the database went away mid-run; run {follow_up.public_id} continues it",
        )
        queued_run_dispatch(run.sync_id)
        return False
    return True


def _execute_once(run_id: int) -> tuple[str, int | None]:
    """Execute one run; returns its outcome and, when this call held the sync's lease and
    has given it back, the sync's id (its next queued run is the caller's to start)."""
    run = SyncRun.objects.select_related("sync").filter(pk=run_id).first()
    if run is None:
        return "missing", None
    if run.status != SyncRun.Status.QUEUED:
        return "not-queued", None
    now = timezone.now()
    if run.not_before and run.not_before > now:
        # Delivered early (a redelivery or the sweeper): send it again for later.
        enqueue(run.pk, countdown=(run.not_before - now).total_seconds())
        return "early", None
    lease = lease_acquire(run.sync_id, run.pk)
    if lease is None:
        return "busy", None  # the holder starts the queued run when it frees the lease
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
            return "not-queued", None
        run.refresh_from_db()
        status = _execute_claimed(run, lease)
        # Writes left in a system's job are settled by a later run, never waited for here.
        settlement_request(run.sync)
    finally:
        lease_release(lease)
    return status, run.sync_id


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
    except DATABASE_ERRORS:
        raise  # not the run's fault: run_execute waits for the database and runs it again
    except Exception as exc:
        run_record_crash(run, exc)
        raise
    status = run_record_outcome(run, report, full_read=full_read)
    if status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL):
        # Records this run linked may be what other syncs' references wait for.
        references_follow_up(sync)
        # References this run left waiting may ask their sync to create what they name.
        references_create_request(sync)
    return status
