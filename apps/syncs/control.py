"""Switching a sync on and off, and deleting it: the rules the API and the dashboard share."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from apps.syncs import services
from apps.syncs.models import Sync
from apps.syncs.services import SyncError


class HeldRunPending(SyncError):
    """A run held by the safety limit waits for a decision; approve or cancel it first."""


class SyncBusy(SyncError):
    """A run of the sync is in progress."""


def sync_enable(sync: Sync) -> Sync:
    """Put the sync on its schedule, due at once. A paused sync is resumed (its failure
    count cleared). Raises HeldRunPending while a held mass change waits for a decision,
    leaving the sync as it was."""
    sync.refresh_from_db()
    if sync.awaiting_approval:
        raise HeldRunPending(
            "a run held by the safety limit waits for approval: approve or cancel it first"
        )
    with transaction.atomic():
        if sync.paused:
            services.sync_resume(sync)
        Sync.objects.filter(pk=sync.pk).update(enabled=True, next_run_at=timezone.now())
    sync.refresh_from_db()
    return sync


def sync_disable(sync: Sync) -> Sync:
    """Take the sync off its schedule and stop webhook-triggered runs. A run already queued
    or running finishes; nothing else changes (links, cursors and conflicts stay)."""
    Sync.objects.filter(pk=sync.pk).update(enabled=False)
    sync.refresh_from_db()
    return sync


def sync_delete(sync: Sync) -> None:
    """Delete the sync with its mappings, filters, links, conflicts and run history. The
    records in both systems are left as they are.

    Raises SyncBusy while one of its runs is running: deleting the links under a run that is
    writing would leave records it creates unlinked. Disable the sync and cancel the run
    first. Queued runs are deleted with the sync (a worker finds nothing to do).
    """
    with transaction.atomic():
        locked = Sync.objects.select_for_update().filter(pk=sync.pk).first()
        if locked is None:
            return
        # `runs` is the reverse relation from apps.runs' SyncRun: syncs does not import runs.
        if locked.runs.filter(status="running").exists():
            raise SyncBusy(
                "a run of this sync is in progress; disable the sync and cancel the run "
                "(or wait for it to finish), then delete it"
            )
        locked.delete()
