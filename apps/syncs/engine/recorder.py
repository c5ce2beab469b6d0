"""What the engine reports, and the protocol a run recorder implements.

`apps.runs` implements the protocol with database rows (SyncRun, SyncEvent); `syncs` never
imports it: whoever starts a run passes the recorder in. `CountingRecorder` keeps
everything in memory and is the default when nobody cares to keep a trail.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from apps.syncs.engine.types import Side


class Action(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    MATCHED = "matched"
    UNLINKED = "unlinked"
    DELETED = "deleted"
    CONFLICT = "conflict"
    RESOLVED = "resolved"  # a person's decision on a conflict, written to both sides
    ERROR = "error"
    SKIPPED = "skipped"
    # A reference field not written yet: what it names has no counterpart on the other side
    # (code "reference_unlinked": written once linked; "unknown_user": a warning).
    WAITING = "waiting"


class Outcome(enum.StrEnum):
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"  # finished, with per-record errors
    FAILED = "failed"
    HELD = "held"  # the safety limit stopped it before writing


# The counter each action adds to, on the event's side.
COUNTER_OF_ACTION = {
    Action.CREATED: "created",
    Action.UPDATED: "updated",
    Action.DELETED: "deleted",
    Action.CONFLICT: "conflicts",
    Action.ERROR: "errors",
}
COUNTERS = ("read", "created", "updated", "unchanged", "deleted", "conflicts", "errors")


class Phase(enum.StrEnum):
    """What a run is doing now, for whoever watches it."""

    RECOVERING = "recovering"  # linking what an interrupted run created
    CHECKING = "checking"  # planning without writing, against the safety limit
    RETRYING = "retrying"  # records that failed before, and decided conflicts
    SIDE_A = "side_a"  # A's changes (or the records named on A)
    SIDE_B = "side_b"
    SECOND_LOOK = "second_look"  # records a match question stopped, once more


@dataclass(frozen=True)
class EngineEvent:
    """One record action. `side` is where it happened (or, for matches, conflicts and
    skips, the side whose change led to it). `changes` maps a field to before/after."""

    action: Action
    side: str
    record_id_a: str | None = None
    record_id_b: str | None = None
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    message: str = ""
    code: str = ""  # a machine-readable reason: "ambiguous", "stale", "policy", ...


class RunInterrupted(Exception):
    """Raised by a recorder's checkpoint to stop a run between batches.

    The runs app raises subclasses for a cancellation or a lost lease. Everything up to
    the checkpoint is stored, so the next run continues from there; the runner lets it
    propagate without calling the run a failure.
    """


@dataclass
class RunReport:
    """How a run ended. `counters` maps "read_a", "created_b", ... to numbers.

    For a FAILED run caused by a connector, `exception` is that ConnectorError (so callers
    can tell transient from fatal) and `error_side` the side it came from.
    """

    outcome: Outcome
    counters: Counter[str] = field(default_factory=Counter)
    api_calls: int = 0
    error: str = ""
    held_reason: str = ""
    exception: Exception | None = None
    error_side: Side | None = None

    def count(self, name: str, side: str) -> int:
        return self.counters[f"{name}_{side}"]


class Recorder(Protocol):
    """Receives everything a run does. Implementations must not raise on reporting.

    `run_ref` identifies the run's own record where there is one (apps.runs: the SyncRun's
    id), so that what the engine stores for later (writes in flight) can name the run."""

    run_ref: int | None

    def started(self, *, trigger: str) -> None: ...

    def event(self, event: EngineEvent) -> None: ...

    def api_call(self, side: str) -> None: ...

    def interrupt(self) -> None:
        """Called on every page of every paging loop inside a connector call, where no
        checkpoint comes (a loop that never yields, a search while matching). May raise
        RunInterrupted to stop the run there: nothing of the page being read is stored yet,
        so stopping leaves the state of the last checkpoint. Must be cheap."""

    def phase(self, phase: Phase) -> None:
        """The run moved on to `phase`."""

    def checkpoint(self, counters: Mapping[str, int]) -> None:
        """Everything reported so far belongs to stored state; persist it now.
        `counters` are the run's counters so far ("read_a", "created_b", ...)."""

    def finished(self, report: RunReport) -> None: ...


class CountingRecorder:
    """Keeps events and counters in memory (tests, previews, callers without a trail)."""

    def __init__(self) -> None:
        self.run_ref: int | None = None
        self.events: list[EngineEvent] = []
        self.counters: Counter[str] = Counter()
        self.api_calls = 0
        self.trigger = ""
        self.phases: list[Phase] = []
        self.report: RunReport | None = None

    def started(self, *, trigger: str) -> None:
        self.trigger = trigger

    def event(self, event: EngineEvent) -> None:
        self.events.append(event)
        counter = COUNTER_OF_ACTION.get(event.action)
        if counter:
            self.counters[f"{counter}_{event.side}"] += 1

    def api_call(self, side: str) -> None:
        self.api_calls += 1

    def interrupt(self) -> None:
        return None

    def phase(self, phase: Phase) -> None:
        self.phases.append(phase)

    def checkpoint(self, counters: Mapping[str, int]) -> None:
        return None

    def finished(self, report: RunReport) -> None:
        self.report = report

    def of(self, action: Action) -> list[EngineEvent]:
        return [e for e in self.events if e.action is action]
