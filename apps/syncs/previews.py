"""Previews as jobs: what a sync's next run would do, planned on a worker, never in a request.

A preview reads both systems as a run would (the engine's dry pass: `services.sync_preview`)
and writes nothing anywhere but its own row. Over thousands of records that takes minutes,
more than a proxy lets a request live, so the API and the dashboard ask for one and poll it:

1. `preview_request` stores a queued SyncPreview and, after the transaction commits, sends
   the Celery message `syncs.preview` (by name: this module does not import the tasks).
2. `preview_execute` (the task's body) claims it with a conditional UPDATE, runs the dry pass,
   stores the records read after every page (the progress bar), then the result or the error.
3. `previews_prune` (hourly, from beat) gives up on previews that no worker finished and
   deletes finished ones after CONCORD_PREVIEW_RETENTION_HOURS: a preview describes the
   systems at one moment, and its samples hold copies of records.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.core.errors import Invalid, UpstreamError
from apps.syncs.engine.dry_run import Preview
from apps.syncs.models import Sync, SyncPreview
from apps.syncs.services import sync_preview

logger = logging.getLogger(__name__)

# The Celery task that executes a preview (apps/syncs/tasks.py registers it by this name).
PREVIEW_TASK = "syncs.preview"
MAX_SAMPLE_SIZE = 50
# An unfinished preview without progress for this long is given up by the prune: no worker
# is working on it (its message was lost, or it waited behind other work for that long).
GIVE_UP_AFTER = timedelta(hours=1)

Status = SyncPreview.Status


def preview_request(
    sync: Sync, *, sample_size: int = 5, full: bool = False, user: Any = None
) -> SyncPreview:
    """Ask for a preview of `sync`'s next run (a full resync's with `full`), with up to
    `sample_size` samples of each kind of action. Returns it queued; a worker computes it
    once the surrounding transaction has committed. Raises Invalid (`sample_size`) for a
    sample size outside 0..MAX_SAMPLE_SIZE."""
    if not 0 <= sample_size <= MAX_SAMPLE_SIZE:
        raise Invalid(
            f"the sample size must be between 0 and {MAX_SAMPLE_SIZE}", field="sample_size"
        )
    last = (
        SyncPreview.objects.filter(sync=sync, full=full, status=Status.SUCCEEDED)
        .order_by("-created_at", "-id")
        .values_list("read_a", "read_b")
        .first()
    )
    preview = SyncPreview.objects.create(
        workspace_id=sync.workspace_id,
        sync=sync,
        sample_size=sample_size,
        full=full,
        expected=sum(last) if last and sum(last) else None,
        requested_by=user if getattr(user, "is_authenticated", False) else None,
    )
    transaction.on_commit(lambda: preview_enqueue(preview.pk))
    return preview


def preview_enqueue(preview_id: int) -> None:
    """Send the message that has a worker execute the preview."""
    current_app.send_task(PREVIEW_TASK, args=[preview_id])


def preview_execute(preview_id: int) -> str:
    """Compute a queued preview: claim it, run the dry pass, store the result or the error.

    Safe to call twice, or at once from two workers: only one claim succeeds (a conditional
    UPDATE from `queued`). A preview left `running` without progress for longer than
    CONCORD_RUN_LOCK_TTL (its worker died; the message came back) is claimed again, and
    only the latest claim may store its outcome. Nothing is written to either system.

    Returns what happened, for logs and tests: "missing", "not-queued", "superseded" (a
    later claim took over), or the status this call left the preview in. A connector
    failure is stored as the error, with the system's own explanation; a bug is stored as
    an internal error and raised.
    """
    now = timezone.now()
    silent_since = now - timedelta(seconds=settings.CONCORD_RUN_LOCK_TTL)
    claimed = (
        SyncPreview.objects.filter(pk=preview_id)
        .filter(Q(status=Status.QUEUED) | Q(status=Status.RUNNING, updated_at__lt=silent_since))
        .update(
            status=Status.RUNNING,
            attempts=F("attempts") + 1,
            started_at=now,
            updated_at=now,
            read_a=0,
            read_b=0,
            pages=0,
        )
    )
    if not claimed:
        return "not-queued" if SyncPreview.objects.filter(pk=preview_id).exists() else "missing"
    preview = SyncPreview.objects.select_related("sync").get(pk=preview_id)
    # Every write below is this claim's only while no later claim took the preview over.
    mine = SyncPreview.objects.filter(
        pk=preview.pk, status=Status.RUNNING, attempts=preview.attempts
    )
    pages = 0

    def progress(so_far: Preview) -> None:
        nonlocal pages
        pages += 1
        mine.update(
            read_a=so_far.counts["read_a"],
            read_b=so_far.counts["read_b"],
            pages=pages,
            updated_at=timezone.now(),
        )

    try:
        result = sync_preview(
            preview.sync, sample_size=preview.sample_size, full=preview.full, on_page=progress
        )
    except UpstreamError as exc:
        return _finish(mine, Status.FAILED, error=exc.message, error_code=exc.code)
    except SoftTimeLimitExceeded:
        return _finish(
            mine,
            Status.FAILED,
            error="the preview took longer than a task may run "
            f"({settings.CELERY_TASK_SOFT_TIME_LIMIT} s) and was stopped",
            error_code="preview_timed_out",
        )
    except Exception as exc:
        _finish(mine, Status.FAILED, error=f"internal error: {exc!r}", error_code="server_error")
        raise
    summary = result.summary()
    return _finish(
        mine,
        Status.SUCCEEDED,
        result=summary,
        read_a=summary["counts"]["read_a"],
        read_b=summary["counts"]["read_b"],
        pages=pages,
    )


def _finish(mine: Any, status: str, **values: Any) -> str:
    now = timezone.now()
    if not mine.update(status=status, finished_at=now, updated_at=now, **values):
        # A later claim took it over (or the sync and its previews were deleted meanwhile).
        logger.info("preview outcome dropped: no longer this claim's (%s)", status)
        return "superseded"
    return status


def previews_prune(*, now: datetime | None = None) -> dict[str, int]:
    """Give up on unfinished previews without progress for GIVE_UP_AFTER (failed, saying
    so) and delete the previews requested more than CONCORD_PREVIEW_RETENTION_HOURS ago that
    have finished. Returns how many of each."""
    now = now or timezone.now()
    abandoned = SyncPreview.objects.filter(
        status__in=[Status.QUEUED, Status.RUNNING], updated_at__lt=now - GIVE_UP_AFTER
    ).update(
        status=Status.FAILED,
        finished_at=now,
        updated_at=now,
        error="no worker finished this preview (no progress for an hour); start it again",
        error_code="preview_abandoned",
    )
    cutoff = now - timedelta(hours=settings.CONCORD_PREVIEW_RETENTION_HOURS)
    deleted, _ = SyncPreview.objects.filter(
        status__in=SyncPreview.FINISHED, created_at__lt=cutoff
    ).delete()
    return {"abandoned": abandoned, "deleted": deleted}
