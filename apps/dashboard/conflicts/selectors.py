"""Reads for the conflict review screen: the queue, and what a conflict's card shows.

Nothing here calls an external system. A record's identifying values come from its link's
base (the values of every mapped field when the pair last agreed), its address in its
system's web app from the connector's configuration, and the runs that opened and closed
a conflict from the runs' events.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.urls import reverse

from apps.connections.models import Connection
from apps.connections.services import connector_for
from apps.runs.models import SyncEvent
from apps.syncs.models import Conflict, FieldMapping, Sync

OPEN = (Conflict.Status.OPEN, Conflict.Status.DECIDED)
CLOSED = (Conflict.Status.RESOLVED, Conflict.Status.DISMISSED)
TABS = ("open", "resolved")
PAGE_SIZE = 25
# How many identifying values a record shows beside the conflicting one.
IDENTITY_FIELDS = 3
# An event is written just after the conflict row it reports.
EVENT_SLACK = timedelta(seconds=2)


def conflict_queue(
    conflicts: QuerySet[Conflict],
    *,
    tab: str = "open",
    sync: Sync | None = None,
    field_name: str = "",
    search: str = "",
) -> QuerySet[Conflict]:
    """Open (and decided, not yet written) conflicts oldest first; or, on the resolved tab,
    closed ones latest first. `field_name` matches either side's field; `search` a record
    id, a field or any of the values."""
    if tab == "resolved":
        found = conflicts.filter(status__in=CLOSED).order_by("-resolved_at", "-id")
    else:
        found = conflicts.filter(status__in=OPEN).order_by("detected_at", "id")
    if sync is not None:
        found = found.filter(sync=sync)
    if field_name:
        found = found.filter(Q(mapping__field_a=field_name) | Q(mapping__field_b=field_name))
    search = search.strip()
    if search:
        found = found.filter(
            Q(link__a_id=search)
            | Q(link__b_id=search)
            | Q(mapping__field_a__icontains=search)
            | Q(mapping__field_b__icontains=search)
            | Q(value_a__icontains=search)
            | Q(value_b__icontains=search)
            | Q(custom_value__icontains=search)
        )
    return found.select_related(
        "sync__connection_a", "sync__connection_b", "mapping", "link", "decided_by", "resolved_by"
    )


def field_names(conflicts: QuerySet[Conflict]) -> list[str]:
    """The field names (either side's) that conflicts of the workspace are about."""
    pairs = FieldMapping.objects.filter(
        pk__in=conflicts.values("mapping_id").distinct()
    ).values_list("field_a", "field_b")
    return sorted({name for pair in pairs for name in pair})


@dataclass
class SideView:
    """One side of a conflict as its card shows it."""

    side: str  # "a" or "b"
    system: str  # the connection's name
    object_type: str
    record_id: str
    field: str
    value: Any
    url: str | None  # the record in its system's web app
    history_path: str  # the record's history on the run log
    modified_at: datetime | None
    identity: list[tuple[str, Any]] = field(default_factory=list)


@dataclass
class ConflictCard:
    conflict: Conflict
    a: SideView
    b: SideView
    opened_by_run: str | None = None  # public id of the run that found it
    closed_by_run: str | None = None  # of the run that wrote the decision or refused it
    refusal: str = ""  # why a bulk decision just refused it

    @property
    def state(self) -> str:
        """open, refused (open again with a system's refusal), pending, resolved, policy,
        converged or dismissed."""
        c = self.conflict
        if c.status == Conflict.Status.OPEN:
            return "refused" if c.error else "open"
        if c.status == Conflict.Status.DECIDED:
            return "pending"
        if c.status == Conflict.Status.DISMISSED:
            return "dismissed"
        if c.decided_by_policy:
            return "policy"
        if c.resolution == Conflict.Resolution.CONVERGED:
            return "converged"
        return "resolved"

    @property
    def decided_value(self) -> Any:
        """The value both sides hold (or are to hold), in A's terms."""
        c = self.conflict
        if c.decided_values:
            return c.decided_values.get("a")
        if c.resolution == Conflict.Resolution.A:
            return c.value_a
        if c.resolution == Conflict.Resolution.B:
            return c.value_b
        if c.resolution == Conflict.Resolution.CUSTOM:
            return c.custom_value
        return c.value_a if c.resolution == Conflict.Resolution.CONVERGED else None


class RecordLinks:
    """Addresses of records in their systems, one connector per connection, built from its
    configuration (no call is made)."""

    def __init__(self) -> None:
        self._connectors: dict[int, Any] = {}

    def url(
        self, connection: Connection, object_type: str, record_id: str, known: dict[str, Any]
    ) -> str | None:
        if not record_id:
            return None
        if connection.pk not in self._connectors:
            try:
                self._connectors[connection.pk] = connector_for(connection)
            except Exception:
                self._connectors[connection.pk] = None
        connector = self._connectors[connection.pk]
        return connector.record_url(object_type, record_id, known) if connector else None

    def close(self) -> None:
        for connector in self._connectors.values():
            if connector is not None:
                connector.close()


def _identity_mappings(sync: Sync, mappings: list[FieldMapping]) -> list[FieldMapping]:
    """The fields that tell a record apart: the match rule's first, then the first mapped."""
    rule = {r.get("a") for r in sync.match_rule or [] if isinstance(r, dict)}
    first = [m for m in mappings if m.field_a in rule]
    return first + [m for m in mappings if m not in first]


def conflict_cards(conflicts: Iterable[Conflict], *, with_runs: bool = True) -> list[ConflictCard]:
    """What each conflict's card shows: both records, identified from their link's last
    agreed values, with their addresses; and the runs that opened and closed it."""
    conflicts = list(conflicts)
    if not conflicts:
        return []
    sync_ids = {c.sync_id for c in conflicts}
    mappings: dict[int, list[FieldMapping]] = {}
    for mapping in FieldMapping.objects.filter(sync_id__in=sync_ids).order_by("id"):
        mappings.setdefault(mapping.sync_id, []).append(mapping)
    links = RecordLinks()
    cards = []
    try:
        for conflict in conflicts:
            identity = [
                m
                for m in _identity_mappings(conflict.sync, mappings.get(conflict.sync_id, []))
                if m.pk != conflict.mapping_id
            ][:IDENTITY_FIELDS]
            cards.append(
                ConflictCard(
                    conflict,
                    _side(conflict, "a", identity, mappings.get(conflict.sync_id, []), links),
                    _side(conflict, "b", identity, mappings.get(conflict.sync_id, []), links),
                )
            )
    finally:
        links.close()
    if with_runs:
        _attach_runs(cards)
    return cards


def _side(
    conflict: Conflict,
    side: str,
    identity: list[FieldMapping],
    mappings: list[FieldMapping],
    links: RecordLinks,
) -> SideView:
    sync, link, mapping = conflict.sync, conflict.link, conflict.mapping
    base = link.base or {}
    name = f"field_{side}"
    agreed = {
        getattr(m, name): base[str(m.pk)][side]
        for m in mappings
        if isinstance(base.get(str(m.pk)), dict) and side in base[str(m.pk)]
    }
    record_id = (link.a_id if side == "a" else link.b_id) or ""
    connection = sync.connection_a if side == "a" else sync.connection_b
    object_type = sync.object_type_a if side == "a" else sync.object_type_b
    return SideView(
        side=side,
        system=connection.name,
        object_type=object_type,
        record_id=record_id,
        field=getattr(mapping, name),
        value=conflict.value_a if side == "a" else conflict.value_b,
        url=links.url(connection, object_type, record_id, agreed),
        history_path=reverse(
            "runs:record",
            kwargs={"sync_public_id": sync.public_id, "side": side, "record_id": record_id},
        ),
        modified_at=link.a_modified_at if side == "a" else link.b_modified_at,
        identity=[
            (getattr(m, name), agreed[getattr(m, name)])
            for m in identity
            if getattr(m, name) in agreed
        ],
    )


def _attach_runs(cards: list[ConflictCard]) -> None:
    """The run whose conflict event opened each conflict, and the run that wrote its
    decision (a resolved event) or refused it (a conflict event coded decision_refused):
    one query for the page."""
    events = (
        SyncEvent.objects.filter(
            sync_id__in={card.conflict.sync_id for card in cards},
            record_id_a__in={card.conflict.link.a_id for card in cards if card.conflict.link.a_id},
            action__in=[SyncEvent.Action.CONFLICT, SyncEvent.Action.RESOLVED],
        )
        .order_by("id")
        .values_list(
            "sync_id", "record_id_a", "action", "code", "changes", "created_at", "run__public_id"
        )
    )
    found: dict[tuple[int, str], list[tuple[str, str, dict, datetime, Any]]] = {}
    for sync_id, record_a, action, code, changes, created_at, run_id in events:
        found.setdefault((sync_id, record_a), []).append(
            (action, code, changes or {}, created_at, run_id)
        )
    for card in cards:
        c = card.conflict
        since = c.detected_at - EVENT_SLACK
        about = [
            e
            for e in found.get((c.sync_id, c.link.a_id), [])
            if str(c.mapping_id) in e[2] and e[3] >= since
        ]
        opening = [
            e for e in about if e[0] == SyncEvent.Action.CONFLICT and e[1] != "decision_refused"
        ]
        if opening:
            card.opened_by_run = str(opening[0][4])
        if c.status == Conflict.Status.RESOLVED and not c.decided_by_policy:
            closing = [e for e in about if e[0] == SyncEvent.Action.RESOLVED]
        elif c.status == Conflict.Status.OPEN and c.error:
            closing = [e for e in about if e[1] == "decision_refused"]
        else:
            closing = []
        if closing:
            card.closed_by_run = str(closing[-1][4])
