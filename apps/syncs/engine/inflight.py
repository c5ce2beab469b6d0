"""What of a sync is still in a system's job, as a run must see it.

A system that does writes in the background (Zendesk's bulk jobs) answers them as pending;
the run stores them (`InFlightWrite` rows) and goes on without waiting, and a later run
settles them (settle.py). Until then, a run must not plan against those records: the
written side does not hold the write yet, so planning the pair would write it again or,
worse, take a half-done state as the truth. `InFlight` is the run's view of that:

- the ids of both records of every pair with a write in flight (a create's source, an
  update's or delete's two records): a run leaves them out of its batches and reads them
  again once their write is settled;
- the values sent by creates in flight, per target side: a record that a job created but
  that is not linked yet (the job ran, nobody settled it) must not be taken for a new
  record of that side and copied back, so a record holding every value a create sent is
  left out too, until settling links it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from apps.syncs.engine.plan_types import SyncSpec
from apps.syncs.engine.types import Side
from apps.syncs.engine.values import Kind, comparable, is_empty
from connectors.base import Record


def holds_sent(spec: SyncSpec, side: Side, record: Record, sent: Mapping[str, Any]) -> bool:
    """Whether `record` (of `side`) holds every non-empty value a create sent to it,
    compared as the mappings compare them."""
    kinds = {m.field(side): m.kind(side) for m in spec.mappings}
    for name, value in sent.items():
        if is_empty(value):
            continue
        kind = kinds.get(name)
        left = record.fields.get(name)
        if kind is None:
            if left != value:
                return False
        elif comparable(left, kind) != comparable(value, kind):
            return False
    return True


class InFlight:
    """The records a run leaves alone while their writes are in a system's job."""

    def __init__(self, spec: SyncSpec) -> None:
        self.spec = spec
        self.ids: dict[Side, set[str]] = {Side.A: set(), Side.B: set()}
        # Per target side: (field, canonical value) -> the values creates in flight sent.
        self._sent: dict[Side, dict[tuple[str, str], list[Mapping[str, Any]]]] = {
            Side.A: {},
            Side.B: {},
        }
        # Per target side: the fields the keys of _sent use (asked for every record read,
        # so kept here rather than gathered from thousands of keys each time).
        self._sent_names: dict[Side, set[str]] = {Side.A: set(), Side.B: set()}
        self._kinds = {side: {m.field(side): m.kind(side) for m in spec.mappings} for side in Side}

    def __bool__(self) -> bool:
        return any(self.ids.values()) or any(self._sent.values())

    def hold(self, side: Side, *record_ids: str | None) -> None:
        """Leave these records of `side` alone (their pair has a write in flight)."""
        self.ids[side].update(i for i in record_ids if i)

    def hold_create(self, target: Side, source_id: str, sent: Mapping[str, Any]) -> None:
        """A create of the counterpart of `source_id` on `target` is in flight."""
        self.hold(target.other, source_id)
        values = {k: v for k, v in sent.items() if not is_empty(v)}
        if values:
            name = sorted(values)[0]
            self._sent_names[target].add(name)
            self._sent[target].setdefault(self._key(target, name, values[name]), []).append(values)

    def holds(self, side: Side, record: Record) -> bool:
        """Whether a run must leave `record` alone: its pair has a write in flight, or it
        holds what a create in flight sent (the caller checks it is not linked)."""
        return record.id in self.ids[side] or self.created_by_job(side, record)

    def created_by_job(self, side: Side, record: Record) -> bool:
        """Whether `record` holds every value one of the creates in flight on `side` sent."""
        sent = self._sent[side]
        if not sent or record.deleted:
            return False
        for name in self._sent_names[side]:
            for values in sent.get(self._key(side, name, record.fields.get(name)), ()):
                if holds_sent(self.spec, side, record, values):
                    return True
        return False

    def _key(self, side: Side, name: str, value: Any) -> tuple[str, str]:
        kind = self._kinds[side].get(name)
        canonical = value if kind is None else comparable(value, kind or Kind.TEXT)
        return name, json.dumps(canonical, sort_keys=True, default=str)
