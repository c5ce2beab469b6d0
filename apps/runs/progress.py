"""Reads for watching a sync's runs: the run in progress and how far it has come, and a
sync's runs newest first, a page at a time.

A running run's counters are on its row, added at every page by the recorder
(recorder.py), with its phase and its worker's heartbeat; this module only reads them and
estimates how many records the run will read, for a progress bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from django.utils import timezone

from apps.runs.models import PHASES, SyncRun
from apps.syncs.engine.recorder import COUNTERS
from apps.syncs.models import Sync

ACTIVE = (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING)
# Runs that read as far as they were meant to: their reads make an estimate of the next.
COMPLETE = (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL)
PHASE_LABELS = dict(PHASES)
RUNS_PAGE = 20


@dataclass(frozen=True)
class RunProgress:
    """How far a run has come, as a person watching it is told.

    `total` is the number of records the run will read when it is knowable (`exact`: a
    targeted run reads the records it names), an estimate from an earlier run of the same
    kind (`exact` False: "about"), or None (an indeterminate bar). `percent` stays below
    100 while the run is active: a run still works after its last read.
    """

    run: SyncRun
    read: int
    total: int | None
    exact: bool
    percent: int | None
    phase: str
    elapsed_seconds: float | None
    heartbeat_age_seconds: float | None
    counters: dict[str, dict[str, int]]

    @property
    def active(self) -> bool:
        return self.run.status in ACTIVE


def phase_label(run: SyncRun) -> str:
    """What the run is doing now, in words."""
    if run.status == SyncRun.Status.QUEUED:
        return "Waiting for a worker"
    if run.status != SyncRun.Status.RUNNING:
        return ""
    return PHASE_LABELS.get(run.phase, "Starting")


def _expected(run: SyncRun) -> tuple[int | None, bool]:
    """How many records `run` will read, and whether that is exact."""
    if run.record_ids is not None:
        named = sum(len(run.record_ids.get(side) or []) for side in ("a", "b"))
        return (named or None), True
    earlier = SyncRun.objects.filter(
        sync_id=run.sync_id, status__in=COMPLETE, record_ids__isnull=True, full=run.full
    ).filter(created_at__lt=run.created_at)
    last = earlier.order_by("-created_at", "-id").values_list("read_a", "read_b").first()
    reads = sum(last) if last else 0
    return (reads or None), False


def run_progress(run: SyncRun, *, now: datetime | None = None) -> RunProgress:
    """How far `run` has come. For a finished run: what it read and how long it took."""
    now = now or timezone.now()
    read = run.read_a + run.read_b
    active = run.status in ACTIVE
    total, exact = _expected(run) if active else (None, False)
    percent = None
    if total:
        percent = min(99, read * 100 // total)
    elapsed = None
    if run.started_at is not None:
        elapsed = ((run.finished_at or now) - run.started_at).total_seconds()
    heartbeat = None
    if active and run.heartbeat_at is not None:
        heartbeat = max(0.0, (now - run.heartbeat_at).total_seconds())
    return RunProgress(
        run=run,
        read=read,
        total=total,
        exact=exact,
        percent=percent,
        phase=phase_label(run),
        elapsed_seconds=elapsed,
        heartbeat_age_seconds=heartbeat,
        counters=run_counters(run),
    )


def run_counters(run: SyncRun) -> dict[str, dict[str, int]]:
    """{counter: {"a": n, "b": n}} in COUNTERS order."""
    return {
        name: {side: getattr(run, f"{name}_{side}") for side in ("a", "b")} for name in COUNTERS
    }


def run_active(sync: Sync) -> SyncRun | None:
    """The run a person watching `sync` wants to see move: the one running, else the one
    queued (a follow-up queued while another runs waits for it)."""
    runs = SyncRun.objects.filter(sync=sync, status__in=ACTIVE)
    return runs.filter(status=SyncRun.Status.RUNNING).first() or runs.first()


def runs_of(
    sync: Sync, *, before: UUID | None = None, limit: int = RUNS_PAGE
) -> tuple[list[SyncRun], bool]:
    """Up to `limit` runs of `sync`, newest first, older than the run `before` when given
    (keyset paging: a page stays right while new runs arrive); and whether more are older.
    An unknown `before` gives the first page."""
    runs = SyncRun.objects.filter(sync=sync).select_related("decided_by")
    if before is not None:
        anchor = (
            SyncRun.objects.filter(sync=sync, public_id=before).values("created_at", "id").first()
        )
        if anchor is not None:
            runs = runs.filter(created_at__lte=anchor["created_at"]).exclude(
                created_at=anchor["created_at"], id__gte=anchor["id"]
            )
    page = list(runs.order_by("-created_at", "-id")[: limit + 1])
    return page[:limit], len(page) > limit
