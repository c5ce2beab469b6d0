"""Running syncs on Celery workers: requesting, folding, claiming, locking, retrying, sweeping.

The rules, and where each is kept:

- At most one queued run per sync (a partial unique constraint). A trigger that arrives
  while a run is queued folds into it; one that arrives while a run is running creates the
  single follow-up run, into which later triggers fold. A burst of webhooks costs a few runs,
  and the first trigger of a quiet period is enqueued at once, never held for a window.
- One running run per sync: the SyncLock row, taken with a conditional UPDATE. A lease
  expires (a worker that died cannot block a sync forever) and carries a random token and a
  fence number; a late holder whose lease expired and was taken over fails its renewal at its
  next checkpoint and stops, and can neither renew nor release the new holder's lease.
- Transient errors requeue the same run with exponential backoff and jitter; a Retry-After
  longer than a worker should sleep reschedules it (a countdown on the message) instead.
  Fatal errors fail the run, mark the connection failing, and after N consecutive failures
  the engine's outcome recording pauses the sync with the reason.
- The sweeper requeues runs whose worker stopped sending heartbeats, and re-sends runs that
  stayed queued (a lost message), so acknowledged work is never lost.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.connections.services import connection_record_failure, connection_record_success
from apps.runs.models import SyncLock, SyncRun
from apps.runs.recorder import DatabaseRecorder
from apps.runs.selectors import failed_record_ids, records_to_retry
from apps.syncs import services as sync_services
from apps.syncs.engine.recorder import Outcome, RunInterrupted, RunReport
from apps.syncs.models import Sync
from connectors.errors import FatalError, RateLimited, TransientError

logger = logging.getLogger(__name__)

FULL = "__full__"  # record_ids value meaning "everything changed", for folding


class RunNotCancellable(Exception):
    """The run already finished."""


class LockLost(RunInterrupted):
    """Our lease expired and another run holds the sync now: stop before writing more."""


class CancelRequested(RunInterrupted):
    """Someone asked to cancel this run; it stops between batches."""


@dataclass(frozen=True)
class Lease:
    sync_id: int
    token: uuid.UUID
    fence: int


# --- requesting ---------------------------------------------------------------------------
def _merge_ids(
    current: dict[str, list[str]] | None, extra: Mapping[str, Sequence[str]] | None
) -> dict[str, list[str]] | None:
    """None means "read every change" (a poll), which covers any targeted ids."""
    if current is None or extra is None:
        return None
    merged = {side: list(current.get(side, [])) for side in ("a", "b")}
    for side in ("a", "b"):
        for record_id in extra.get(side, []):
            if str(record_id) not in merged[side]:
                merged[side].append(str(record_id))
    return merged


def run_request(
    sync: Sync,
    *,
    trigger: str,
    record_ids: Mapping[str, Sequence[str]] | None = None,
    full: bool = False,
) -> SyncRun:
    """Ask for a run of `sync`. Returns the queued run the request was folded into or created.

    `record_ids` ({"a": [...], "b": [...]}) restricts the run to those records (webhooks);
    None reads every change since the cursors; `full` reads everything from the start.
    The run is enqueued after the transaction commits.
    """
    ids = None if record_ids is None else {s: [str(i) for i in record_ids.get(s, [])] for s in "ab"}
    for _ in range(3):
        try:
            with transaction.atomic():
                return _request_once(sync, trigger=trigger, record_ids=ids, full=full)
        except IntegrityError:
            # Another request created the queued run between our look and our insert: fold
            # into that one on the next pass.
            continue
    raise RuntimeError(f"could not queue a run for sync {sync.pk}")


def _request_once(
    sync: Sync, *, trigger: str, record_ids: dict[str, list[str]] | None, full: bool
) -> SyncRun:
    queued = (
        SyncRun.objects.select_for_update()
        .filter(sync_id=sync.pk, status=SyncRun.Status.QUEUED)
        .first()
    )
    if queued is not None:
        queued.record_ids = _merge_ids(queued.record_ids, record_ids)
        queued.full = queued.full or full
        queued.folded = F("folded") + 1
        if trigger == SyncRun.Trigger.APPROVAL:
            queued.trigger = trigger  # the approval lets this run pass the safety limit
        elif queued.trigger == SyncRun.Trigger.WEBHOOK and record_ids is None:
            queued.trigger = trigger  # a poll or manual run now, not only the webhook's ids
        queued.save(update_fields=["record_ids", "full", "folded", "trigger", "updated_at"])
        queued.refresh_from_db()
        return queued
    run = SyncRun.objects.create(
        workspace_id=sync.workspace_id,
        sync_id=sync.pk,
        trigger=trigger,
        status=SyncRun.Status.QUEUED,
        record_ids=record_ids,
        full=full,
    )
    transaction.on_commit(lambda: enqueue(run.pk))
    return run


def enqueue(run_id: int, *, countdown: float = 0) -> None:
    from apps.runs.tasks import run_sync

    run_sync.apply_async(args=[run_id], countdown=max(0.0, countdown))


class NothingToRetry(Exception):
    """The run has no per-record errors to retry."""


def run_retry_failed(run: SyncRun) -> SyncRun:
    """ "Retry now": queue a run of just the records whose errors this run recorded."""
    ids = failed_record_ids([run])
    if not ids["a"] and not ids["b"]:
        raise NothingToRetry(f"run {run.pk} recorded no per-record errors")
    return run_request(run.sync, trigger=SyncRun.Trigger.MANUAL, record_ids=ids)


def run_cancel(run: SyncRun) -> SyncRun:
    """Cancel a queued run at once, or ask a running one to stop between batches."""
    now = timezone.now()
    if SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED).update(
        status=SyncRun.Status.CANCELLED, finished_at=now, error="cancelled before it started"
    ):
        run.refresh_from_db()
        return run
    if SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(
        cancel_requested=True
    ):
        run.refresh_from_db()
        return run
    run.refresh_from_db()
    raise RunNotCancellable(f"run {run.pk} has already finished ({run.status})")


# --- the lock -------------------------------------------------------------------------------
def lock_acquire(sync_id: int, run_id: int) -> Lease | None:
    """Take the sync's lease if it is free or expired. None if another run holds it."""
    SyncLock.objects.get_or_create(sync_id=sync_id)
    token = uuid.uuid4()
    now = timezone.now()
    taken = SyncLock.objects.filter(
        Q(token__isnull=True) | Q(expires_at__lt=now), sync_id=sync_id
    ).update(
        token=token,
        fence=F("fence") + 1,
        run_id=run_id,
        expires_at=now + timedelta(seconds=settings.CONCORD_RUN_LOCK_TTL),
    )
    if not taken:
        return None
    fence = SyncLock.objects.values_list("fence", flat=True).get(sync_id=sync_id)
    return Lease(sync_id=sync_id, token=token, fence=fence)


def lock_renew(lease: Lease) -> None:
    """Extend our lease. Raises LockLost if it expired and was taken by another run."""
    renewed = SyncLock.objects.filter(sync_id=lease.sync_id, token=lease.token).update(
        expires_at=timezone.now() + timedelta(seconds=settings.CONCORD_RUN_LOCK_TTL)
    )
    if not renewed:
        raise LockLost(f"run lost the lock of sync {lease.sync_id} (fence {lease.fence})")


def lock_release(lease: Lease) -> bool:
    """Give the lease back. Releases nothing if it is no longer ours."""
    return bool(
        SyncLock.objects.filter(sync_id=lease.sync_id, token=lease.token).update(
            token=None, run=None, expires_at=None
        )
    )


# --- executing ------------------------------------------------------------------------------
class OrchestratedRecorder(DatabaseRecorder):
    """The database recorder plus, at each checkpoint, a heartbeat, lease renewal, progress,
    and the cancellation check. Checkpoints come after a page is stored, so stopping there
    leaves a consistent state that the next run continues from."""

    def __init__(self, sync: Sync, run: SyncRun, lease: Lease) -> None:
        super().__init__(sync, run=run, trigger=run.trigger)
        self.lease = lease
        self._last_beat = timezone.now()

    def checkpoint(self) -> None:
        super().checkpoint()
        now = timezone.now()
        if (now - self._last_beat).total_seconds() < settings.CONCORD_RUN_HEARTBEAT_EVERY:
            return
        self._last_beat = now
        self.beat()

    def beat(self) -> None:
        lock_renew(self.lease)
        SyncRun.objects.filter(pk=self.run.pk).update(heartbeat_at=timezone.now())
        if SyncRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists():
            raise CancelRequested("cancelled by request")


def _backoff(attempt: int) -> float:
    """Exponential backoff with full jitter, capped."""
    cap = settings.CONCORD_RUN_RETRY_MAX_DELAY
    return random.uniform(0, min(cap, settings.CONCORD_RUN_RETRY_BASE_DELAY * 2**attempt))


def run_execute(run_id: int) -> str:
    """Execute a queued run if its sync is free. Safe to call twice for the same run.

    Returns what happened, for logs and tests: "missing", "not-queued", "early", "busy",
    or the run's final status.
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
    lease = lock_acquire(run.sync_id, run.pk)
    if lease is None:
        return "busy"  # the holder dispatches the queued run when it releases
    try:
        claimed = SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.QUEUED).update(
            status=SyncRun.Status.RUNNING,
            started_at=now,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            fence=lease.fence,
        )
        if not claimed:
            return "not-queued"
        run.refresh_from_db()
        status = _execute_claimed(run, lease)
    finally:
        lock_release(lease)
    _dispatch_queued(run.sync_id)
    return status


def _execute_claimed(run: SyncRun, lease: Lease) -> str:
    sync = run.sync
    if sync.paused:
        _finish(run, SyncRun.Status.CANCELLED, f"the sync is paused: {sync.paused_reason}")
        return SyncRun.Status.CANCELLED
    recorder = OrchestratedRecorder(sync, run, lease)
    record_ids = run.record_ids if not run.full else None
    # A polling run also re-reads the records that failed last time (the cursor is past
    # them); a targeted run reads just what it was asked to.
    retry_ids = records_to_retry(sync.pk, before=run) if record_ids is None else None
    try:
        report = sync_services.sync_run(
            sync,
            trigger=run.trigger,
            full=run.full,
            record_ids=record_ids,
            recorder=recorder,
            # Only a run a person approved may pass the mass-change safety limit.
            approved=run.trigger == SyncRun.Trigger.APPROVAL,
            retry_ids=retry_ids,
        )
    except CancelRequested:
        _finish(run, SyncRun.Status.CANCELLED, "cancelled by request between batches")
        return SyncRun.Status.CANCELLED
    except LockLost as exc:
        _finish(run, SyncRun.Status.FAILED, str(exc))
        return SyncRun.Status.FAILED
    except sync_services.SyncPaused as exc:
        _finish(run, SyncRun.Status.CANCELLED, f"the sync is paused: {exc}")
        return SyncRun.Status.CANCELLED
    return _after_report(run, report)


def _after_report(run: SyncRun, report: RunReport) -> str:
    sync = run.sync
    exc = report.exception
    if report.outcome is Outcome.FAILED and isinstance(exc, TransientError):
        return _retry_later(run, exc)
    if report.outcome is Outcome.FAILED and isinstance(exc, FatalError):
        connection = sync.connection_a if report.error_side == "a" else sync.connection_b
        connection_record_failure(connection, str(exc))
    elif report.outcome in (Outcome.SUCCEEDED, Outcome.PARTIAL):
        for connection in (sync.connection_a, sync.connection_b):
            if connection.status != connection.Status.OK:
                connection_record_success(connection)
        if run.trigger == SyncRun.Trigger.SCHEDULE:
            _check_webhooks_announced(run)
    run.refresh_from_db()
    return run.status


def _retry_later(run: SyncRun, exc: TransientError) -> str:
    """Requeue the same run: after Retry-After when the system said, else with backoff."""
    if run.attempts >= settings.CONCORD_RUN_MAX_ATTEMPTS and not isinstance(exc, RateLimited):
        _finish(run, SyncRun.Status.FAILED, f"gave up after {run.attempts} attempts: {exc}")
        return SyncRun.Status.FAILED
    delay = exc.retry_after if exc.retry_after is not None else _backoff(run.attempts)
    not_before = timezone.now() + timedelta(seconds=delay)
    requeued = SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.QUEUED,
        not_before=not_before,
        finished_at=None,
        error=f"retrying after {delay:.0f}s: {exc}"[:4000],
    )
    if not requeued:
        return SyncRun.Status.FAILED
    logger.info("run %s requeued for %.1fs: %s", run.pk, delay, exc)
    transaction.on_commit(lambda: enqueue(run.pk, countdown=delay))
    return SyncRun.Status.QUEUED


def _finish(run: SyncRun, status: str, error: str) -> None:
    SyncRun.objects.filter(pk=run.pk).update(
        status=status, finished_at=timezone.now(), error=error[:4000]
    )


def _dispatch_queued(sync_id: int) -> None:
    """Send the sync's queued run (if any, and due) now that the lock is free."""
    queued = (
        SyncRun.objects.filter(sync_id=sync_id, status=SyncRun.Status.QUEUED)
        .values_list("pk", "not_before")
        .first()
    )
    if queued is None:
        return
    pk, not_before = queued
    delay = (not_before - timezone.now()).total_seconds() if not_before else 0
    enqueue(pk, countdown=delay)


def _check_webhooks_announced(run: SyncRun) -> None:
    """Polling found changes on a side whose connection receives webhooks, yet no webhook
    announced anything since the previous poll: the webhooks look misconfigured."""
    from apps.webhooks.selectors import deliveries_since, has_deliveries

    run.refresh_from_db()
    sync = run.sync
    previous = (
        SyncRun.objects.filter(
            sync=sync, trigger=SyncRun.Trigger.SCHEDULE, started_at__lt=run.started_at
        )
        .exclude(pk=run.pk)
        .order_by("-started_at")
        .values_list("started_at", flat=True)
        .first()
    )
    warnings = []
    for side, connection, read in (
        ("A", sync.connection_a, run.read_a),
        ("B", sync.connection_b, run.read_b),
    ):
        if not read or previous is None or not has_deliveries(connection):
            continue
        if not deliveries_since(connection, previous):
            warnings.append(
                f"polling found {read} changed record(s) on side {side} ({connection.name}) "
                "that no webhook announced; check the webhook setup in that system"
            )
    Sync.objects.filter(pk=sync.pk).update(webhook_warning="; ".join(warnings))


# --- dispatching and sweeping ---------------------------------------------------------------
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
    stale_before = now - timedelta(seconds=settings.CONCORD_RUN_LOCK_TTL)
    requeued = failed = resent = 0
    stale = SyncRun.objects.filter(
        status=SyncRun.Status.RUNNING, heartbeat_at__lt=stale_before
    ).values_list("pk", "sync_id", "attempts")
    for pk, sync_id, attempts in stale:
        # A live run renews its lease at every heartbeat; only a lease that has run out
        # means its worker is gone. Free it, but only if it is still that run's.
        if SyncLock.objects.filter(sync_id=sync_id, run_id=pk, expires_at__gte=now).exists():
            continue
        SyncLock.objects.filter(sync_id=sync_id, run_id=pk).update(
            token=None, run=None, expires_at=None
        )
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
        if moved:
            requeued += 1
            enqueue(pk)
    forgotten = SyncRun.objects.filter(
        status=SyncRun.Status.QUEUED,
        updated_at__lt=now - timedelta(seconds=settings.CONCORD_RUN_REDISPATCH_AFTER),
    ).filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
    for pk in forgotten.values_list("pk", flat=True):
        SyncRun.objects.filter(pk=pk).update(updated_at=now)
        enqueue(pk)
        resent += 1
    return {"requeued": requeued, "failed": failed, "resent": resent}


def runs_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Delete run events and webhook deliveries older than the retention period.

    Runs themselves (one small row each, with their counters) are kept: the history of
    successes and failures stays readable after the field-level detail is gone.
    """
    from apps.runs.models import SyncEvent
    from apps.webhooks.models import WebhookDelivery

    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.CONCORD_EVENT_RETENTION_DAYS)
    events, _ = SyncEvent.objects.filter(created_at__lt=cutoff).delete()
    deliveries, _ = (
        WebhookDelivery.objects.filter(received_at__lt=cutoff)
        .exclude(status=WebhookDelivery.Status.RECEIVED)
        .delete()
    )
    return {"events": events, "deliveries": deliveries}
