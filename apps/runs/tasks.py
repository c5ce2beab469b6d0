"""Celery tasks for runs: thin, taking ids, safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from apps.runs import execution, sweeping
from apps.runs.queue import RUN_TASK


@shared_task(
    name=RUN_TASK,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
)
def run_sync(run_id: int) -> str:
    return execution.run_execute(run_id)


# The dispatcher ticks every few seconds; a tick that waited in the queue past the next one
# is worthless, so it expires instead of piling up behind a busy worker.
@shared_task(
    name="runs.dispatch",
    time_limit=60,
    soft_time_limit=50,
    expires=settings.CONCORD_DISPATCH_EVERY,
)
def dispatch() -> dict[str, int]:
    return {"queued": sweeping.dispatch_due(), **sweeping.sweep()}


@shared_task(name="runs.prune", time_limit=30 * 60, soft_time_limit=29 * 60)
def prune() -> dict[str, int]:
    return {"events": sweeping.events_prune(), "settled_writes": sweeping.settled_writes_prune()}
