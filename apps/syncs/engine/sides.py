"""The two sides of a run as the engine calls them: a connector with its object type.

A connector error says nothing of which side of the sync it came from; the runs app
needs that to mark the right connection as failing. `SideConnector` raises every
ConnectorError as a `SideFailure` that carries the side and the original error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from apps.syncs.engine.recorder import Recorder
from apps.syncs.engine.types import Side
from connectors.base import (
    ChangePage,
    Comment,
    Connector,
    Cursor,
    NewComment,
    Record,
    RecordUpdate,
    WriteResult,
)
from connectors.errors import ConnectorError


class SideFailure(Exception):
    """A connector call of one side failed. `error` is the ConnectorError it raised."""

    def __init__(self, side: Side, error: ConnectorError) -> None:
        super().__init__(f"{side.label}: {error}")
        self.side = side
        self.error = error


class SideConnector:
    """One side's connector, bound to its object type. Raises SideFailure, never a bare
    ConnectorError."""

    def __init__(self, side: Side, connector: Connector, object_type: str) -> None:
        self.side = side
        self.object_type = object_type
        self._connector = connector
        # Writes this run may still leave pending (None: no limit), set by the runner
        # from the connector's settle_later_max less what is already in flight.
        self.pending_room: int | None = None
        # Called once when a write does not fit the room (the runner settles what is in
        # flight); the writes after it wait for their jobs.
        self.on_full: Callable[[], None] | None = None

    def allow_pending(self, in_flight: int) -> None:
        """Let writes be answered as pending (settled later), up to the connector's
        `settle_later_max` with `in_flight` already pending."""
        self._connector.settle_later = True
        limit = self._connector.settle_later_max
        self.pending_room = None if limit is None else max(0, limit - in_flight)

    def changes(self, cursor: Cursor | None) -> Iterator[ChangePage]:
        with self._failures():
            yield from self._connector.changes(self.object_type, cursor)

    def get(self, ids: Sequence[str]) -> list[Record]:
        with self._failures():
            return self._connector.get(self.object_type, ids)

    def find(self, field: str, values: Sequence[Any]) -> list[Record]:
        with self._failures():
            return self._connector.find(self.object_type, field, values)

    def create(self, items: Sequence[dict[str, Any]]) -> list[WriteResult]:
        with self._failures(), self._within_room(len(items)):
            results = self._connector.create(self.object_type, items)
            return self._counted(self._refused_fields(results))

    def update(self, items: Sequence[RecordUpdate]) -> list[WriteResult]:
        with self._failures(), self._within_room(len(items)):
            results = self._connector.update(self.object_type, items)
            return self._counted(self._refused_fields(results))

    def _refused_fields(self, results: list[WriteResult]) -> list[WriteResult]:
        # A write refused over a field (gone, renamed, other options) means the fields
        # discovered earlier may be out of date: the next run discovers them again.
        if any(r.error is not None and r.error.fields for r in results):
            self._connector.discovery_forget(self.object_type)
        return results

    def delete(self, ids: Sequence[str]) -> list[WriteResult]:
        with self._failures(), self._within_room(len(ids)):
            return self._counted(self._connector.delete(self.object_type, ids))

    @contextmanager
    def _within_room(self, count: int) -> Iterator[None]:
        """Writes that would leave more pending than the system keeps wait instead."""
        if self.pending_room is not None and count > self.pending_room:
            if self.on_full is not None:
                on_full, self.on_full = self.on_full, None
                on_full()
                self.pending_room = 0
            with self.waiting():
                yield
        else:
            yield

    def _counted(self, results: list[WriteResult]) -> list[WriteResult]:
        if self.pending_room is not None:
            self.pending_room -= sum(1 for r in results if r.pending is not None)
        return results

    def people_known(self, values: Sequence[str]) -> set[str] | None:
        with self._failures():
            return self._connector.people_known(values)

    def settle(self, handles: Sequence[Any]) -> list[WriteResult]:
        """The outcome of writes this side answered as pending (Connector.settle)."""
        with self._failures():
            return self._refused_fields(self._connector.settle(self.object_type, handles))

    @contextmanager
    def waiting(self) -> Iterator[None]:
        """Writes inside wait for the system instead of being answered as pending."""
        later = self._connector.settle_later
        self._connector.settle_later = False
        try:
            yield
        finally:
            self._connector.settle_later = later

    @property
    def connector(self) -> Connector:
        return self._connector

    def comments(self, record_id: str) -> list[Comment]:
        with self._failures():
            return self._connector.comments(self.object_type, record_id)

    def comment_create(self, record_id: str, comment: NewComment) -> Comment:
        with self._failures():
            return self._connector.comment_create(self.object_type, record_id, comment)

    def comment_update(self, record_id: str, comment_id: str, comment: NewComment) -> Comment:
        with self._failures():
            return self._connector.comment_update(self.object_type, record_id, comment_id, comment)

    def comment_delete(self, record_id: str, comment_id: str) -> None:
        with self._failures():
            self._connector.comment_delete(self.object_type, record_id, comment_id)

    @contextmanager
    def _failures(self) -> Iterator[None]:
        try:
            yield
        except ConnectorError as exc:
            raise SideFailure(self.side, exc) from exc


class CallCounter:
    """A CallObserver for one side: counts calls and tells the recorder about each."""

    def __init__(self, side: Side) -> None:
        self.side = side
        self.calls = 0
        self.recorder: Recorder | None = None

    def __call__(self, *, system: str, call: str, status: int | None, seconds: float) -> None:
        self.calls += 1
        if self.recorder is not None:
            self.recorder.api_call(self.side.value)
