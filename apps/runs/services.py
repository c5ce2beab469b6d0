"""Runs with a trail: start a sync run that records SyncRun/SyncEvent rows, and decide on
runs the safety limit held."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.runs.models import SyncRun
from apps.runs.recorder import DatabaseRecorder
from apps.syncs import services as sync_services
from apps.syncs.models import Sync


class RunError(Exception):
    """A run cannot be acted on as asked; the message says why."""


def run_start(
    sync: Sync,
    *,
    trigger: str = SyncRun.Trigger.MANUAL,
    full: bool = False,
    record_ids: Mapping[str, Sequence[str]] | None = None,
) -> SyncRun:
    """Run the sync now, synchronously, recording a SyncRun with its events.

    Raises apps.syncs.services.SyncPaused for a paused sync (no run row is written).
    """
    sync.refresh_from_db()
    if sync.paused:
        raise sync_services.SyncPaused(sync.paused_reason)
    recorder = DatabaseRecorder(sync, trigger=trigger)
    sync_services.sync_run(
        sync, trigger=trigger, full=full, record_ids=record_ids, recorder=recorder
    )
    return recorder.run


def _held(run: SyncRun) -> None:
    if run.status != SyncRun.Status.HELD or run.decision:
        raise RunError("only a held run that nobody has decided on can be approved or cancelled")


def held_run_approve(run: SyncRun, *, user: Any = None) -> SyncRun:
    """Approve a held run: queue a run (trigger "approval") that applies the changes past
    the safety limit on a worker, under the sync's lease like every run. Returns it, queued.
    """
    from apps.runs.orchestration import run_request

    _held(run)
    with transaction.atomic():
        sync_services.held_change_release(run.sync)
        SyncRun.objects.filter(pk=run.pk).update(
            decision="approved", decided_by=_user(user), decided_at=timezone.now()
        )
        return run_request(run.sync, trigger=SyncRun.Trigger.APPROVAL)


def held_run_cancel(run: SyncRun, *, user: Any = None) -> None:
    """Cancel a held run: nothing is written and the sync stays paused until resumed."""
    _held(run)
    sync_services.run_cancel(run.sync, user=user)
    SyncRun.objects.filter(pk=run.pk).update(
        decision="cancelled", decided_by=_user(user), decided_at=timezone.now()
    )


def _user(user: Any) -> Any:
    return user if getattr(user, "pk", None) else None
