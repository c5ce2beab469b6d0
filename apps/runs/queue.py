"""Requesting runs and queueing them: the first step of every run.

A run's path: requested here (a queued SyncRun and a Celery message) -> its worker takes the
sync's lease (lease.py) -> executes it (execution.py) -> records its outcome (outcome.py).
The sweeper (sweeping.py) re-sends what a lost message or a dead worker left behind.

The rules kept here:

- At most one queued run per sync (a partial unique constraint). A request that arrives
  while a run is queued folds into it; one that arrives while a run is running creates the
  single follow-up run, into which later requests fold. A burst of webhooks costs a few
  runs, and the first request of a quiet period is enqueued at once, never held for a
  window.
- The message is sent after the transaction that queued the run commits, so a worker never
  looks for a run that is not there yet.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.core.broker import task_send
from apps.runs.models import SyncRun
from apps.syncs.models import Sync

logger = logging.getLogger(__name__)

# The Celery task that executes a run (apps/runs/tasks.py registers it under this name).
# Messages are sent by name, so queueing does not import the tasks that execute.
RUN_TASK = "runs.run_sync"
# Triggers whose runs read only the records they name; a poll folded into one widens it.
TARGETED_TRIGGERS = (SyncRun.Trigger.WEBHOOK, SyncRun.Trigger.RESOLUTION, SyncRun.Trigger.SETTLE)


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
    delay: float = 0,
) -> SyncRun:
    """Ask for a run of `sync`. Returns the queued run the request was folded into or created.

    `record_ids` ({"a": [...], "b": [...]}) restricts the run to those records (webhooks,
    conflict decisions, retries); None reads every change since the cursors; `full` reads
    everything from the start. The run is enqueued after the transaction commits; a new
    one `delay` seconds later (a request folded into a queued run never delays it).
    """
    ids = None if record_ids is None else {s: [str(i) for i in record_ids.get(s, [])] for s in "ab"}
    for _ in range(3):
        try:
            with transaction.atomic():
                return _request_once(sync, trigger=trigger, record_ids=ids, full=full, delay=delay)
        except IntegrityError:
            # Another request created the queued run between our look and our insert: fold
            # into that one on the next pass.
            continue
    raise RuntimeError(f"could not queue a run for sync {sync.pk}")


def _request_once(
    sync: Sync,
    *,
    trigger: str,
    record_ids: dict[str, list[str]] | None,
    full: bool,
    delay: float = 0,
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
        fields = ["record_ids", "full", "folded", "trigger", "updated_at"]
        if queued.trigger == SyncRun.Trigger.SETTLE:
            # A settling run waits for a system's jobs; a change to sync does not wait
            # with it: the run goes now and settles what is done by then.
            queued.trigger = trigger
            if delay <= 0 and queued.not_before is not None:
                queued.not_before = None
                fields.append("not_before")
                enqueue_after_commit(queued.pk)
        elif trigger == SyncRun.Trigger.APPROVAL:
            queued.trigger = trigger  # the approval lets this run pass the safety limit
        elif queued.trigger in TARGETED_TRIGGERS and record_ids is None:
            queued.trigger = trigger  # a poll or manual run now, not only the named records
        queued.save(update_fields=fields)
        queued.refresh_from_db()
        return queued
    run = SyncRun.objects.create(
        workspace_id=sync.workspace_id,
        sync_id=sync.pk,
        trigger=trigger,
        status=SyncRun.Status.QUEUED,
        record_ids=record_ids,
        full=full,
        not_before=timezone.now() + timedelta(seconds=delay) if delay > 0 else None,
    )
    enqueue_after_commit(run.pk, countdown=delay)
    return run


def enqueue(run_id: int, *, countdown: float = 0) -> bool:
    """Send the message that has a worker execute the run (after `countdown` seconds), and
    note when it is due (`dispatched_at`): the sweeper sends it again if it is still queued
    CONCORD_RUN_REDISPATCH_AFTER seconds after that (sweeping.py).

    False if the broker is unreachable (logged): the run stays queued, `dispatched_at` is
    left as it was, and the sweeper sends it once the broker is back.
    """
    countdown = max(0.0, countdown)
    if not task_send(RUN_TASK, [run_id], countdown=countdown):
        return False
    SyncRun.objects.filter(pk=run_id).update(
        dispatched_at=timezone.now() + timedelta(seconds=countdown)
    )
    return True


def enqueue_after_commit(run_id: int, *, countdown: float = 0) -> None:
    """enqueue() once the current transaction commits. The run is queued in the database
    by then, so a message that cannot be sent (the broker is down) is not lost work."""
    transaction.on_commit(lambda: enqueue(run_id, countdown=countdown))


def queued_run_dispatch(sync_id: int) -> None:
    """Send the sync's queued run (if any, and when due) now that its lease is free: a run
    that found the sync busy left it to the holder."""
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


def queued_run_next(sync_id: int) -> int | None:
    """The sync's queued run, for the worker that just freed the sync's lease to execute in
    the same task (no message, no hop through the broker), if it is due now. One that is
    not due yet is sent for later instead, and None returned."""
    queued = (
        SyncRun.objects.filter(sync_id=sync_id, status=SyncRun.Status.QUEUED)
        .values_list("pk", "not_before")
        .first()
    )
    if queued is None:
        return None
    pk, not_before = queued
    if not_before and not_before > timezone.now():
        enqueue(pk, countdown=(not_before - timezone.now()).total_seconds())
        return None
    return pk
