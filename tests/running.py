"""Running syncs in tests the one way runs happen: requested, then executed as a worker
would (apps.runs.queue.run_request -> apps.runs.execution.run_execute), here in-process."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from apps.runs.execution import run_execute
from apps.runs.models import SyncEvent, SyncRun
from apps.runs.queue import run_request
from apps.syncs.engine.recorder import Action, CountingRecorder, EngineEvent, RunReport
from apps.syncs.models import InFlightWrite, Sync
from apps.syncs.services import sync_engine_run


def run_now(
    sync: Sync,
    *,
    trigger: str = "manual",
    record_ids: Mapping[str, Sequence[str]] | None = None,
    full: bool = False,
) -> SyncRun:
    """Request a run of `sync` and execute it now; the run as it ended (or was requeued)."""
    run = run_request(sync, trigger=trigger, record_ids=record_ids, full=full)
    run_execute(run.pk)
    run.refresh_from_db()
    sync.refresh_from_db()
    return run


def run_settled(sync: Sync, *, attempts: int = 10, **options: Any) -> list[SyncRun]:
    """`run_now`, then the runs that settle what it left in a system's background jobs
    (docs/engine.md), until nothing is in flight: every run, in order. A sandbox's job
    reports "working" a set number of looks before it is done, so this ends."""
    runs = [run_now(sync, **options)]
    while InFlightWrite.objects.filter(sync=sync, state=InFlightWrite.State.IN_FLIGHT).exists():
        if len(runs) > attempts:
            raise AssertionError(f"writes still in flight after {attempts} settling runs")
        runs.append(run_now(sync))
    return runs


def events(run: SyncRun, action: str | None = None) -> list[SyncEvent]:
    """The run's events in order, of one action if given."""
    found = SyncEvent.objects.filter(run=run).order_by("id")
    return list(found.filter(action=action) if action else found)


def engine_run(
    sync: Sync, *, recorder: CountingRecorder | None = None, **options: Any
) -> tuple[RunReport, CountingRecorder]:
    """Only the engine over the sync, reporting to a CountingRecorder, with no run row and
    no outcome recorded: for tests of the engine itself (tests/syncs)."""
    recorder = recorder or CountingRecorder()
    options.setdefault("trigger", "manual")
    report = sync_engine_run(sync, recorder=recorder, **options)
    return report, recorder


__all__ = ["Action", "EngineEvent", "engine_run", "events", "run_now", "run_settled"]
