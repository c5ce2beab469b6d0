"""What the run log shows of an event: its changes field by field, in words a person reads
(a field pair by its names, before and after on the side written, a conflict's base and
both values with its decision), and the links to the records and the conflict."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apps.runs.models import SyncEvent
from apps.syncs.models import Conflict, FieldMapping

EMPTY = None  # a value shown as "empty"

CONFLICT_DECISIONS = {
    "manual": "held for a person to decide",
    "a": "A's value won",
    "b": "B's value won",
}
RESOLUTIONS = {
    "a": "the value on A",
    "b": "the value on B",
    "custom": "a custom value",
    "converged": "both sides came to agree",
}


def shown(value: Any) -> str | None:
    """A value as text, or None for nothing (shown as "empty")."""
    if value is None or value == "" or value == []:
        return EMPTY
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ", ".join(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


@dataclass
class Change:
    """One field of an event. `kind`: "write" (before and after on the side written),
    "value" (the value a write or conversion failed on), "conflict" (base, A, B and the
    decision) or "decision" (a decided conflict: before and after on each side)."""

    kind: str
    label: str
    before: str | None = None
    after: str | None = None
    value: str | None = None
    base_a: str | None = None
    base_b: str | None = None
    a: str | None = None
    b: str | None = None
    before_a: str | None = None
    after_a: str | None = None
    before_b: str | None = None
    after_b: str | None = None
    decision: str = ""


@dataclass
class EventRow:
    event: SyncEvent
    changes: list[Change] = field(default_factory=list)
    url_a: str = ""  # the record's history, per side
    url_b: str = ""
    conflict_url: str = ""


def mapping_label(mappings: Mapping[str, FieldMapping], key: str) -> str:
    mapping = mappings.get(str(key))
    if mapping is None:
        return f"field pair #{key} (since removed)"
    if mapping.field_a == mapping.field_b:
        return mapping.field_a
    return f"{mapping.field_a} ↔ {mapping.field_b}"


def side_values(values: Any) -> tuple[str | None, str | None]:
    if not isinstance(values, Mapping):
        return shown(values), shown(values)
    return shown(values.get("a")), shown(values.get("b"))


def changes_of(event: SyncEvent, mappings: Mapping[str, FieldMapping]) -> list[Change]:
    """An event's `changes`, field by field, in the shape each action records."""
    out = []
    # In the order of their names: PostgreSQL's jsonb does not keep the order they were
    # written in (it sorts keys by length), SQLite's JSON does.
    for key, change in sorted((event.changes or {}).items()):
        if not isinstance(change, Mapping):
            out.append(Change("value", str(key), value=shown(change)))
        elif "base" in change and "a" in change:  # a conflict: keyed by mapping id
            base_a, base_b = side_values(change.get("base"))
            out.append(
                Change(
                    "conflict",
                    mapping_label(mappings, key),
                    base_a=base_a,
                    base_b=base_b,
                    a=shown(change.get("a")),
                    b=shown(change.get("b")),
                    decision=CONFLICT_DECISIONS.get(
                        str(change.get("decision")), str(change.get("decision") or "")
                    ),
                )
            )
        elif isinstance(change.get("before"), Mapping) or isinstance(change.get("after"), Mapping):
            before_a, before_b = side_values(change.get("before"))
            after_a, after_b = side_values(change.get("after"))
            out.append(
                Change(
                    "decision",
                    mapping_label(mappings, key),
                    before_a=before_a,
                    after_a=after_a,
                    before_b=before_b,
                    after_b=after_b,
                    decision=RESOLUTIONS.get(
                        str(change.get("decision")), str(change.get("decision") or "")
                    ),
                )
            )
        elif "before" in change or "after" in change:
            out.append(
                Change(
                    "write",
                    str(key),
                    before=shown(change.get("before")),
                    after=shown(change.get("after")),
                )
            )
        else:
            out.append(Change("value", str(key), value=shown(change.get("value"))))
    return out


def event_rows(
    events: list[SyncEvent],
    mappings: Mapping[str, FieldMapping],
    conflicts: Mapping[int, Conflict],
    *,
    record_url: Callable[[str, str], str],
    conflict_url: Callable[[Conflict | None], str],
) -> list[EventRow]:
    """The rows of a page of events. `record_url(side, id)` is a record's history;
    `conflict_url(conflict)` the review of one conflict (None: the sync's open ones)."""
    rows = []
    for event in events:
        row = EventRow(event, changes_of(event, mappings))
        if event.record_id_a:
            row.url_a = record_url("a", event.record_id_a)
        if event.record_id_b:
            row.url_b = record_url("b", event.record_id_b)
        if event.action in (SyncEvent.Action.CONFLICT, SyncEvent.Action.RESOLVED):
            row.conflict_url = conflict_url(conflicts.get(event.pk))
        rows.append(row)
    return rows
