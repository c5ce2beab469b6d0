"""The recorder a run reports to while it executes: its trail and its heartbeat.

It implements apps.syncs.engine.recorder.Recorder. Events are buffered and written in bulk
at each checkpoint the runner reports (after every page it has stored) and at the end, so a
run costs a few inserts per page rather than one per record. With them go the run's
counters (added to the row, so a run retried after its worker was lost counts every
attempt, and they always agree with the events stored) and its current phase, which is
also written at once when the row was last written long enough ago for someone watching
to notice, else at the first API call after that (a phase begun right after a write shows
once its first slow call returns, not at the end of its first page). At a checkpoint, at
most every CONCORD_RUN_HEARTBEAT_EVERY seconds, it also beats: renews the lease, stamps the run's
heartbeat, and stops the run if someone asked to cancel it. Between checkpoints, an API call
made when a beat is due renews the lease and stamps the heartbeat too (a page of slow calls
keeps its lease; a run whose lease was taken stops before its next call). Checkpoints come
after a page is stored, so stopping there leaves a consistent state that the next run
continues from. Inside a connector call that pages (a loop that never yields a page to the
engine, a search while matching), the connector calls `interrupt()` on every page: at most
every CANCEL_CHECK_EVERY seconds it looks whether someone asked to cancel (one indexed
query) and beats when a beat is due, so a run stuck in a system's endless paging still
stops within about a second of the request, and keeps its lease meanwhile. A write is never
interrupted: writes do not page. The run's outcome is recorded by outcome.py, not here.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from apps.runs.lease import Lease, lease_renew
from apps.runs.models import SyncEvent, SyncRun
from apps.syncs.engine.recorder import COUNTERS, EngineEvent, Phase, RunInterrupted, RunReport

FLUSH_EVENTS = 500
COUNTER_FIELDS = tuple(f"{name}_{side}" for name in COUNTERS for side in ("a", "b"))
# A phase is written at once only when the row was last written at least this long ago
# (seconds): a watcher sees a slow phase begin, a quick run pays no extra write.
PHASE_WRITE_AFTER = 0.5
# Inside paging loops, a cancellation is looked for at most this often (seconds).
CANCEL_CHECK_EVERY = 1.0


class CancelRequested(RunInterrupted):
    """Someone asked to cancel this run; it stops between batches."""


class DatabaseRecorder:
    """Writes a running run's SyncEvents and heartbeats while it holds `lease`."""

    def __init__(self, run: SyncRun, lease: Lease) -> None:
        self.run = run
        self.run_ref: int | None = run.pk
        self.lease = lease
        self._buffer: list[SyncEvent] = []
        self._api_calls = 0
        self._last_beat = timezone.now()
        self._saved: Counter[str] = Counter()  # counters of this attempt already on the row
        self._phase: str | None = None  # not written yet
        self._last_write = time.monotonic()
        self._last_cancel_check = time.monotonic()

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
        if self._phase is not None and time.monotonic() - self._last_write >= PHASE_WRITE_AFTER:
            self._phase_write()
        if self._beat_due():
            # A page whose calls are slow (or many) must not let the lease run out while
            # the run is alive: renew it between calls too, and stop at once (LeaseLost)
            # if another run took it. Cancellation is checked at checkpoints only.
            self._keep_alive()

    def _beat_due(self) -> bool:
        elapsed = (timezone.now() - self._last_beat).total_seconds()
        return elapsed >= settings.CONCORD_RUN_HEARTBEAT_EVERY

    def _keep_alive(self) -> None:
        """Renew the lease (LeaseLost if another run took it) and stamp the heartbeat."""
        self._last_beat = timezone.now()
        lease_renew(self.lease)
        SyncRun.objects.filter(pk=self.run.pk).update(heartbeat_at=self._last_beat)

    def interrupt(self) -> None:
        """Raise CancelRequested (or LeaseLost) from inside a paging loop; see the module
        docstring. Costs nothing between checks."""
        now = time.monotonic()
        if now - self._last_cancel_check < CANCEL_CHECK_EVERY:
            return
        self._last_cancel_check = now
        if (
            timezone.now() - self._last_beat
        ).total_seconds() >= settings.CONCORD_RUN_HEARTBEAT_EVERY:
            self._last_beat = timezone.now()
            self.beat()  # renews the lease and looks for a cancellation
        elif SyncRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists():
            raise CancelRequested("cancelled by request")

    def phase(self, phase: Phase) -> None:
        self._phase = str(phase)
        if time.monotonic() - self._last_write >= PHASE_WRITE_AFTER:
            self._flush()

    def _phase_write(self) -> None:
        """Write a phase told too soon after the last write to be written then: once a slow
        call of that phase has taken long enough for a watcher to notice. Only the phase
        and the API calls: the events and counters wait for the checkpoint, so that they
        always agree."""
        SyncRun.objects.filter(pk=self.run.pk).update(
            phase=self._phase, api_calls=F("api_calls") + self._api_calls
        )
        self._phase = None
        self._api_calls = 0
        self._last_write = time.monotonic()

    def checkpoint(self, counters: Mapping[str, int]) -> None:
        self._flush(counters)
        if self._beat_due():
            self.beat()

    def beat(self) -> None:
        """Renew the lease (LeaseLost if another run took it), stamp the heartbeat, and
        raise CancelRequested if someone asked to cancel the run."""
        self._keep_alive()
        if SyncRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists():
            raise CancelRequested("cancelled by request")

    def finished(self, report: RunReport) -> None:
        self._flush(report.counters)

    def _flush(self, counters: Mapping[str, int] | None = None) -> None:
        if self._buffer:
            SyncEvent.objects.bulk_create(self._buffer)
            self._buffer = []
        changes: dict[str, Any] = {}
        for name in COUNTER_FIELDS if counters is not None else ():
            delta = counters.get(name, 0) - self._saved[name]
            if delta:
                changes[name] = F(name) + delta
                self._saved[name] += delta
        if self._api_calls:
            changes["api_calls"] = F("api_calls") + self._api_calls
            self._api_calls = 0
        if self._phase is not None:
            changes["phase"] = self._phase
            self._phase = None
        if changes:
            SyncRun.objects.filter(pk=self.run.pk).update(**changes)
            self._last_write = time.monotonic()
