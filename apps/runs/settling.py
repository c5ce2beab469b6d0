"""Settling a system's background jobs: when the settling run of a sync is queued.

A run never waits under its sync's lease for a system's background job (Zendesk's bulk
jobs): the engine stores such writes in flight and every run of the sync starts by
settling those that finished (apps/syncs/engine/settle.py). So that they are settled even
when nothing else makes the sync run, a run that leaves writes in flight queues a run of
the sync (trigger `settle`, reading no records of its own) CONCORD_SETTLE_DELAY seconds
later; while jobs are still running, the delay doubles with each look, up to
CONCORD_SETTLE_MAX_DELAY. The run is an ordinary queued run: it folds into (or is folded
into by) any other request, the sweeper re-sends it if its message is lost, and it runs
under the lease like every run, so settling never races a run of the same sync.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import Min

from apps.runs.models import SyncRun
from apps.runs.queue import run_request
from apps.syncs.models import InFlightWrite, Sync


def settlement_request(sync: Sync) -> SyncRun | None:
    """Queue the run that settles the sync's writes in flight, if it has any (and is not
    paused: resuming it runs it, which settles them)."""
    if not Sync.objects.filter(pk=sync.pk, paused_reason="").exists():
        return None
    polls = InFlightWrite.objects.filter(
        sync_id=sync.pk, state=InFlightWrite.State.IN_FLIGHT
    ).aggregate(fewest=Min("polls"))["fewest"]
    if polls is None:
        return None
    delay = min(
        settings.CONCORD_SETTLE_MAX_DELAY, settings.CONCORD_SETTLE_DELAY * 2 ** min(polls, 16)
    )
    return run_request(
        sync, trigger=SyncRun.Trigger.SETTLE, record_ids={"a": [], "b": []}, delay=delay
    )
