"""Recording how a run ended: the last step of every run, and the only place that decides it.

Everything a run's end changes is written here, from the engine's report:

- the run row: its status and error, or back to queued for a retry (its counters and API
  calls are on it already: the recorder adds them as the run goes);
- the sync row: when it ran and is due next, its last error and count of failures in a row
  (after CONCORD_SYNC_MAX_FAILURES it pauses itself with the reason), the mass change the
  safety limit held (the sync pauses until someone decides), the full read it asked for,
  and what a polling run read (the webhooks app compares that with deliveries);
- the connections' health: a fatal error marks the side it came from failing; a run that
  got through marks both working.

Transient errors requeue the same run with exponential backoff and full jitter; a
Retry-After the system asked for is obeyed instead (as a countdown on the message, never a
sleeping worker).
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.connections.models import Connection
from apps.connections.services import connection_record_failure, connection_record_success
from apps.runs.models import SyncRun
from apps.runs.queue import enqueue_after_commit, run_request
from apps.syncs.engine.recorder import COUNTERS, Outcome, RunReport
from apps.syncs.models import Sync
from connectors.errors import FatalError, RateLimited, TransientError

logger = logging.getLogger(__name__)

STATUS_OF_OUTCOME = {
    Outcome.SUCCEEDED: SyncRun.Status.SUCCEEDED,
    Outcome.PARTIAL: SyncRun.Status.PARTIAL,
    Outcome.FAILED: SyncRun.Status.FAILED,
    Outcome.HELD: SyncRun.Status.HELD,
}


def run_record_outcome(run: SyncRun, report: RunReport, *, full_read: bool) -> str:
    """Record the engine's report of `run` everywhere it shows; return the run's status.

    `full_read`: the run read both sides from the start (which satisfies a resync the sync
    asked for).
    """
    now = timezone.now()
    counters = {
        f"{name}_{side}": report.counters.get(f"{name}_{side}", 0)
        for name in COUNTERS
        for side in ("a", "b")
    }
    status = STATUS_OF_OUTCOME[report.outcome]
    # The counters and API calls are on the row already: the recorder adds them as it
    # goes, across every attempt of the run.
    SyncRun.objects.filter(pk=run.pk).update(
        status=status, finished_at=now, error=(report.error or report.held_reason)[:4000]
    )
    _sync_record(run.sync, report, full_read=full_read, now=now)
    exc = report.exception
    if report.outcome is Outcome.FAILED:
        if isinstance(exc, TransientError):
            return _retry_later(run, exc)
        if isinstance(exc, FatalError) and report.error_side is not None:
            connection_record_failure(_connection(run.sync, report.error_side), str(exc))
    elif report.outcome in (Outcome.SUCCEEDED, Outcome.PARTIAL):
        for connection in (run.sync.connection_a, run.sync.connection_b):
            if connection.status != connection.Status.OK:
                connection_record_success(connection)
        if run.trigger == SyncRun.Trigger.SCHEDULE:
            _poll_record(run, counters)
    return status


def run_record_crash(run: SyncRun, exc: BaseException) -> None:
    """A bug stopped the run: fail it, count it as the sync's failure, and say so."""
    error = f"internal error: {exc!r}"
    now = timezone.now()
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.FAILED, finished_at=now, error=error[:4000]
    )
    _sync_record(run.sync, RunReport(Outcome.FAILED, error=error), full_read=False, now=now)


def run_finish(run: SyncRun, status: str, error: str) -> str:
    """End a run that stopped before the engine could report (cancelled, paused, its
    lease lost): only the run row changes. Returns the status."""
    SyncRun.objects.filter(pk=run.pk).update(
        status=status, finished_at=timezone.now(), error=error[:4000]
    )
    return status


def max_consecutive_failures() -> int:
    """A sync that fails this many runs in a row pauses itself with the last error as the
    reason (CONCORD_SYNC_MAX_FAILURES)."""
    return settings.CONCORD_SYNC_MAX_FAILURES


def _connection(sync: Sync, side: str) -> Connection:
    return sync.connection_a if side == "a" else sync.connection_b


def _sync_record(sync: Sync, report: RunReport, *, full_read: bool, now: Any) -> None:
    values: dict[str, Any] = {
        "last_run_at": now,
        "next_run_at": now + timedelta(seconds=sync.interval_seconds),
    }
    if report.outcome is Outcome.HELD:
        values.update(
            paused_reason=f"Mass change held: {report.held_reason}.",
            paused_at=now,
            held_change={
                "changes": report.counters.get("held_changes", 0),
                "reason": report.held_reason,
                "held_at": now.isoformat(),
            },
        )
    elif report.outcome is Outcome.FAILED:
        values.update(
            last_error=report.error[:4000], consecutive_failures=F("consecutive_failures") + 1
        )
    else:
        values.update(last_success_at=now, last_error="", consecutive_failures=0)
        if full_read:
            values["resync_requested"] = False
    Sync.objects.filter(pk=sync.pk).update(**values)
    if report.outcome is Outcome.FAILED:
        limit = max_consecutive_failures()
        Sync.objects.filter(pk=sync.pk, consecutive_failures__gte=limit, paused_reason="").update(
            paused_reason=f"Paused after {limit} failed runs in a row; "
            f"the last error: {report.error[:500]}",
            paused_at=now,
        )
    sync.refresh_from_db()


def _poll_record(run: SyncRun, counters: dict[str, int]) -> None:
    """What this polling run read per side, and when the poll before it started: the
    webhooks app warns when polling finds changes that no webhook announced."""
    sync = run.sync
    previous = (sync.last_poll or {}).get("started_at")
    sync.last_poll = {
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "previous_started_at": previous,
        "read": {"a": counters["read_a"], "b": counters["read_b"]},
    }
    Sync.objects.filter(pk=sync.pk).update(last_poll=sync.last_poll)


def _backoff(attempt: int) -> float:
    """Exponential backoff with full jitter, capped."""
    cap = settings.CONCORD_RUN_RETRY_MAX_DELAY
    return random.uniform(0, min(cap, settings.CONCORD_RUN_RETRY_BASE_DELAY * 2**attempt))


def _retry_later(run: SyncRun, exc: TransientError) -> str:
    """Requeue the same run: after Retry-After when the system said, else with backoff."""
    if run.attempts >= settings.CONCORD_RUN_MAX_ATTEMPTS and not isinstance(exc, RateLimited):
        return run_finish(
            run, SyncRun.Status.FAILED, f"gave up after {run.attempts} attempts: {exc}"
        )
    delay = exc.retry_after if exc.retry_after is not None else _backoff(run.attempts)
    not_before = timezone.now() + timedelta(seconds=delay)
    try:
        with transaction.atomic():
            requeued = SyncRun.objects.filter(pk=run.pk).update(
                status=SyncRun.Status.QUEUED,
                not_before=not_before,
                finished_at=None,
                error=f"retrying after {delay:.0f}s: {exc}"[:4000],
            )
    except IntegrityError:
        # A follow-up run is queued already (one queued run per sync): it takes this run's
        # work, no earlier than the wait this failure asks for.
        follow_up = run_request(
            run.sync, trigger=run.trigger, record_ids=run.record_ids, full=run.full
        )
        SyncRun.objects.filter(pk=follow_up.pk).filter(
            Q(not_before__isnull=True) | Q(not_before__lt=not_before)
        ).update(not_before=not_before)
        return run_finish(
            run, SyncRun.Status.FAILED, f"{exc}; run {follow_up.public_id} retries it"
        )
    if not requeued:
        return SyncRun.Status.FAILED
    logger.info("run %s requeued for %.1fs: %s", run.pk, delay, exc)
    enqueue_after_commit(run.pk, countdown=delay)
    return SyncRun.Status.QUEUED
