"""The recorder a run reports to while it executes: its trail and its heartbeat.

It implements apps.syncs.engine.recorder.Recorder. Events are buffered and written in bulk
at each checkpoint the runner reports (after every page it has stored) and at the end, so a
run costs a few inserts per page rather than one per record. At a checkpoint, at most every
CONCORD_RUN_HEARTBEAT_EVERY seconds, it also beats: renews the lease, stamps the run's
heartbeat and API calls, and stops the run if someone asked to cancel it. Checkpoints come
after a page is stored, so stopping there leaves a consistent state that the next run
continues from. The run's outcome is recorded by outcome.py, not here.
"""

from __future__ import annotations

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from apps.runs.lease import Lease, lease_renew
from apps.runs.models import SyncEvent, SyncRun
from apps.syncs.engine.recorder import EngineEvent, RunInterrupted, RunReport

FLUSH_EVENTS = 500


class CancelRequested(RunInterrupted):
    """Someone asked to cancel this run; it stops between batches."""


class DatabaseRecorder:
    """Writes a running run's SyncEvents and heartbeats while it holds `lease`."""

    def __init__(self, run: SyncRun, lease: Lease) -> None:
        self.run = run
        self.lease = lease
        self._buffer: list[SyncEvent] = []
        self._api_calls = 0
        self._last_beat = timezone.now()

    def started(self, *, trigger: str) -> None:
        return None  # the run was marked running when it was claimed

    def event(self, event: EngineEvent) -> None:
        self._buffer.append(
            SyncEvent(
                run_id=self.run.pk,
                sync_id=self.run.sync_id,
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
            self._flush()

    def api_call(self, side: str) -> None:
        self._api_calls += 1

    def checkpoint(self) -> None:
        self._flush()
        now = timezone.now()
        if (now - self._last_beat).total_seconds() < settings.CONCORD_RUN_HEARTBEAT_EVERY:
            return
        self._last_beat = now
        self.beat()

    def beat(self) -> None:
        """Renew the lease (LeaseLost if another run took it), stamp the heartbeat, and
        raise CancelRequested if someone asked to cancel the run."""
        lease_renew(self.lease)
        SyncRun.objects.filter(pk=self.run.pk).update(heartbeat_at=timezone.now())
        if SyncRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists():
            raise CancelRequested("cancelled by request")

    def finished(self, report: RunReport) -> None:
        self._flush()

    def _flush(self) -> None:
        if self._buffer:
            SyncEvent.objects.bulk_create(self._buffer)
            self._buffer = []
        if self._api_calls:
            SyncRun.objects.filter(pk=self.run.pk).update(
                api_calls=F("api_calls") + self._api_calls
            )
            self._api_calls = 0
