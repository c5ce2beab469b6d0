"""Runs a person asks for: run now, resync, and the held run waiting for a decision."""

from __future__ import annotations

from apps.runs.models import SyncRun
from apps.runs.orchestration import run_request
from apps.syncs.models import Sync
from apps.syncs.services import SyncPaused


def run_manual(sync: Sync, *, full: bool = False) -> SyncRun:
    """Queue a run of `sync` now (trigger "manual"), or a full resync that reads both sides
    from the start (trigger "resync"). Folds into a run already queued for the sync.

    Works for a disabled sync (a person may try a sync before putting it on its schedule).
    Raises SyncPaused (with the reason) for a paused sync: a worker would only cancel the
    run, and a held mass change must be decided on first.
    """
    sync.refresh_from_db()
    if sync.paused:
        raise SyncPaused(sync.paused_reason)
    if full:
        return run_request(sync, trigger=SyncRun.Trigger.RESYNC, full=True)
    return run_request(sync, trigger=SyncRun.Trigger.MANUAL)


def held_run_of(sync: Sync) -> SyncRun | None:
    """The latest run of `sync` held by the safety limit that nobody has decided on."""
    return (
        SyncRun.objects.filter(sync=sync, status=SyncRun.Status.HELD, decision="")
        .order_by("-created_at", "-id")
        .first()
    )
