"""Celery tasks of syncs: previews computed on a worker, and their upkeep. Thin, taking ids,
safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from apps.syncs import previews


@shared_task(
    name=previews.PREVIEW_TASK,
    time_limit=settings.CELERY_TASK_TIME_LIMIT,
    soft_time_limit=settings.CELERY_TASK_SOFT_TIME_LIMIT,
)
def preview(preview_id: int) -> str:
    return previews.preview_execute(preview_id)


@shared_task(name="syncs.prune_previews", time_limit=10 * 60, soft_time_limit=9 * 60)
def prune_previews() -> dict[str, int]:
    return previews.previews_prune()
