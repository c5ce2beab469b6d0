"""What a person asks of runs: run now, a full resync, retry the records that failed, cancel
a run, and decide on a run the safety limit held. Each answers at once; the work happens in
a queued run (queue.py) on a worker."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.core.errors import Refused
from apps.runs.models import SyncRun
from apps.runs.queue import run_request
from apps.runs.selectors import failed_record_ids, held_run_of
from apps.syncs import services as sync_services
from apps.syncs.models import Sync


def run_manual(sync: Sync, *, full: bool = False) -> SyncRun:
    """Queue a run of `sync` now (trigger "manual"), or a full resync that reads both sides
    from the start (trigger "resync"). Folds into a run already queued for the sync.

    Works for a disabled sync (a person may try a sync before putting it on its schedule).
    Raises Refused (`sync_paused`, with the reason) for a paused sync: a worker would only
    cancel the run, and a held mass change must be decided on first.
    """
    sync.refresh_from_db()
    if sync.paused:
        raise sync_services.sync_paused_error(sync)
    if full:
        return run_request(sync, trigger=SyncRun.Trigger.RESYNC, full=True)
    return run_request(sync, trigger=SyncRun.Trigger.MANUAL)


def run_retry_failed(run: SyncRun) -> SyncRun:
    """ "Retry now": queue a run of just the records whose errors this run recorded.
    Raises Refused (`nothing_to_retry`) when it recorded none."""
    ids = failed_record_ids([run])
    if not ids["a"] and not ids["b"]:
        raise Refused(f"run {run.public_id} recorded no per-record errors", code="nothing_to_retry")
    return run_request(run.sync, trigger=SyncRun.Trigger.MANUAL, record_ids=ids)


def run_cancel(run: SyncRun) -> SyncRun:
    """Cancel a queued run at once, or ask a running one to stop between batches.

    Raises Refused (`run_not_cancellable`) for a run that already finished; a held run is
    decided with held_run_cancel.
    """
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
    message = f"the run has already finished ({run.status})"
    if run.status == SyncRun.Status.HELD:
        message += "; a held run is decided on its sync: cancel the held run there"
    raise Refused(message, code="run_not_cancellable")


def _held(run: SyncRun) -> None:
    if run.status != SyncRun.Status.HELD or run.decision:
        raise Refused(
            "only a held run that nobody has decided on can be approved or cancelled",
            code="no_held_run",
        )


def held_run_waiting(sync: Sync) -> SyncRun:
    """The run of `sync` the safety limit held that nobody has decided on. Raises Refused
    (`no_held_run`) when there is none."""
    held = held_run_of(sync)
    if held is None:
        raise Refused("no run of this sync waits for approval", code="no_held_run")
    return held


def held_run_approve(run: SyncRun, *, user: Any = None) -> SyncRun:
    """Approve a held run: queue a run (trigger "approval") that applies the changes past
    the safety limit on a worker, under the sync's lease like every run. Returns it, queued.
    Raises Refused (`no_held_run`) when the run is not held or already decided.
    """
    _held(run)
    with transaction.atomic():
        sync_services.held_change_release(run.sync)
        SyncRun.objects.filter(pk=run.pk).update(
            decision="approved", decided_by=_user(user), decided_at=timezone.now()
        )
        return run_request(run.sync, trigger=SyncRun.Trigger.APPROVAL)


def held_run_cancel(run: SyncRun, *, user: Any = None) -> None:
    """Cancel a held run: nothing is written and the sync stays paused until resumed.
    Raises Refused (`no_held_run`) when the run is not held or already decided."""
    _held(run)
    with transaction.atomic():
        sync_services.held_change_cancel(run.sync, user=user)
        SyncRun.objects.filter(pk=run.pk).update(
            decision="cancelled", decided_by=_user(user), decided_at=timezone.now()
        )


def _user(user: Any) -> Any:
    return user if getattr(user, "pk", None) else None
