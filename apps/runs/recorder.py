"""The run recorder that keeps the trail in the database (SyncRun and SyncEvent rows).

It implements apps.syncs.engine.recorder.Recorder. Events are buffered and written in bulk at
each checkpoint the runner reports (after every page it has stored) and at the end, so a
run costs a few inserts per page rather than one per record.
"""

from __future__ import annotations

from django.db.models import F
from django.utils import timezone

from apps.runs.models import SyncEvent, SyncRun
from apps.syncs.engine.recorder import COUNTERS, EngineEvent, Outcome, RunReport
from apps.syncs.models import Sync

FLUSH_EVENTS = 500

STATUS_OF_OUTCOME = {
    Outcome.SUCCEEDED: SyncRun.Status.SUCCEEDED,
    Outcome.PARTIAL: SyncRun.Status.PARTIAL,
    Outcome.FAILED: SyncRun.Status.FAILED,
    Outcome.HELD: SyncRun.Status.HELD,
}


class DatabaseRecorder:
    """Writes one SyncRun (created queued, here or by the caller) and its SyncEvents."""

    def __init__(self, sync: Sync, *, run: SyncRun | None = None, trigger: str = "manual") -> None:
        self.sync = sync
        # A run this recorder creates starts at once (a synchronous run); it is never
        # "queued", which is reserved for the orchestration's one-queued-run-per-sync.
        self.run = run or SyncRun.objects.create(
            workspace_id=sync.workspace_id,
            sync=sync,
            trigger=trigger,
            status=SyncRun.Status.RUNNING,
            started_at=timezone.now(),
        )
        self._buffer: list[SyncEvent] = []
        self._api_calls = 0

    def started(self, *, trigger: str) -> None:
        SyncRun.objects.filter(pk=self.run.pk).update(
            status=SyncRun.Status.RUNNING, started_at=timezone.now()
        )

    def event(self, event: EngineEvent) -> None:
        self._buffer.append(
            SyncEvent(
                run=self.run,
                sync=self.sync,
                action=str(event.action),
                side=str(event.side),
                record_id_a=event.record_id_a or "",
                record_id_b=event.record_id_b or "",
                changes=event.changes,
                message=event.message[:4000],
                code=event.code,
            )
        )
        if len(self._buffer) >= FLUSH_EVENTS:
            self.checkpoint()

    def api_call(self, side: str) -> None:
        self._api_calls += 1

    def checkpoint(self) -> None:
        if self._buffer:
            SyncEvent.objects.bulk_create(self._buffer)
            self._buffer = []
        if self._api_calls:
            SyncRun.objects.filter(pk=self.run.pk).update(
                api_calls=F("api_calls") + self._api_calls
            )
            self._api_calls = 0

    def finished(self, report: RunReport) -> None:
        self.checkpoint()
        values = {
            f"{name}_{side}": report.counters.get(f"{name}_{side}", 0)
            for name in COUNTERS
            for side in ("a", "b")
        }
        SyncRun.objects.filter(pk=self.run.pk).update(
            status=STATUS_OF_OUTCOME[report.outcome],
            finished_at=timezone.now(),
            error=(report.error or report.held_reason)[:4000],
            api_calls=report.api_calls,
            **values,
        )
        self.run.refresh_from_db()
