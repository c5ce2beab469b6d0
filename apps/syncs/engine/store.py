"""The runner's state in the database: links, bases, cursors, conflicts of one sync.

Every method that changes state is its own short transaction, so that what the runner has
stored survives whatever happens after it (a crash, a failed call) and nothing is stored
for an action that has not happened yet — except a pending create, which is stored first
on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from apps.syncs.engine.filters import FilterSpec, Operator
from apps.syncs.engine.plan_types import (
    ConflictDecision,
    LinkState,
    MappingSpec,
    MatchPair,
    OpenConflict,
    SyncSpec,
)
from apps.syncs.engine.types import (
    ConflictChoice,
    ConflictPolicy,
    DeletePolicy,
    Direction,
    InitialPolicy,
    LinkStatus,
    Side,
)
from apps.syncs.engine.values import Kind, Normalise
from apps.syncs.models import ACTIVE, Conflict, FieldMapping, Filter, RecordLink, Sync, SyncCursor
from connectors.base import Record


def mapping_spec(mapping: FieldMapping) -> MappingSpec:
    return MappingSpec(
        id=str(mapping.pk),
        field_a=mapping.field_a,
        field_b=mapping.field_b,
        direction=Direction(mapping.direction),
        kind_a=Kind(mapping.kind_a or Kind.TEXT),
        kind_b=Kind(mapping.kind_b or Kind.TEXT),
        options_a=tuple(mapping.options_a or ()),
        options_b=tuple(mapping.options_b or ()),
        map_a_to_b=mapping.value_map_a_to_b or None,
        map_b_to_a=mapping.value_map_b_to_a or None,
        default_a=mapping.default_a,
        default_b=mapping.default_b,
    )


def sync_spec(sync: Sync) -> SyncSpec:
    """The planner's view of a sync, read from its rows."""
    filters: dict[str, list[FilterSpec]] = {"a": [], "b": []}
    for row in Filter.objects.filter(sync=sync).order_by("id"):
        filters[row.side].append(FilterSpec(row.field, Operator(row.operator), row.value))
    return SyncSpec(
        mappings=tuple(mapping_spec(m) for m in FieldMapping.objects.filter(sync=sync)),
        filters_a=tuple(filters["a"]),
        filters_b=tuple(filters["b"]),
        match_rule=tuple(
            MatchPair(p["a"], p["b"], Normalise(p.get("normalise", Normalise.EMAIL)))
            for p in sync.match_rule or ()
        ),
        conflict_policy=ConflictPolicy(sync.conflict_policy),
        initial_policy=InitialPolicy(sync.initial_policy),
        delete_policy=DeletePolicy(sync.delete_policy),
    )


def link_state(row: RecordLink) -> LinkState:
    return LinkState(
        key=row.pk,
        a_id=row.a_id,
        b_id=row.b_id,
        status=LinkStatus(row.status),
        base=row.base or {},
        a_version=row.a_version or None,
        b_version=row.b_version or None,
        a_modified_at=row.a_modified_at,
        b_modified_at=row.b_modified_at,
    )


def _id_field(side: Side) -> str:
    return "a_id" if side is Side.A else "b_id"


class LinkStore:
    """Reads and writes the link state of one sync."""

    def __init__(self, sync: Sync) -> None:
        self.sync = sync

    # --- reads ---
    def links_for(self, side: Side, ids: Iterable[str]) -> list[LinkState]:
        """The links of these records (active, tombstones, unlinked), newest first."""
        ids = list(dict.fromkeys(ids))
        if not ids:
            return []
        rows = RecordLink.objects.filter(
            sync=self.sync,
            status__in=[*ACTIVE, LinkStatus.DELETED.value, LinkStatus.UNLINKED.value],
            **{f"{_id_field(side)}__in": ids},
        ).order_by("-id")
        return [link_state(r) for r in rows]

    def link(self, key: Any) -> LinkState:
        return link_state(RecordLink.objects.get(pk=key, sync=self.sync))

    def pending(self) -> list[RecordLink]:
        return list(
            RecordLink.objects.filter(
                sync=self.sync,
                status__in=[LinkStatus.PENDING_CREATE_A, LinkStatus.PENDING_CREATE_B],
            ).order_by("id")
        )

    def linked_count(self) -> int:
        return RecordLink.objects.filter(sync=self.sync, status=LinkStatus.LINKED).count()

    def open_conflicts(self, link_keys: Iterable[Any]) -> list[OpenConflict]:
        """The conflicts of these links still held: open, or decided and not yet written."""
        keys = [k for k in set(link_keys) if k is not None]
        if not keys:
            return []
        return [
            OpenConflict(
                c.pk,
                c.link_id,
                str(c.mapping_id),
                c.value_a,
                c.value_b,
                decided=c.decided_values if c.status == Conflict.Status.DECIDED else None,
                resolution=c.resolution if c.status == Conflict.Status.DECIDED else "",
            )
            for c in Conflict.objects.filter(
                sync=self.sync, link_id__in=keys, status__in=HELD_CONFLICTS
            )
        ]

    def decisions_pending(self) -> tuple[set[Any], dict[Side, list[str]]]:
        """The links with a conflict a person decided that no run has written yet, and
        their records by side: a run reads them whatever its feeds bring."""
        rows = (
            Conflict.objects.filter(sync=self.sync, status=Conflict.Status.DECIDED)
            .filter(link__status=LinkStatus.LINKED)
            .values_list("link_id", "link__a_id", "link__b_id")
        )
        keys: set[Any] = set()
        ids: dict[Side, list[str]] = {Side.A: [], Side.B: []}
        for key, a_id, b_id in rows:
            keys.add(key)
            ids[Side.A].append(a_id)
            ids[Side.B].append(b_id)
        return keys, ids

    def cursor(self, side: Side) -> dict[str, Any] | None:
        row = SyncCursor.objects.filter(sync=self.sync, side=side.value).first()
        return row.value if row else None

    # --- writes ---
    def set_cursor(self, side: Side, value: dict[str, Any]) -> None:
        SyncCursor.objects.update_or_create(
            sync=self.sync, side=side.value, defaults={"value": value}
        )

    def add_pending(self, target: Side, source: Record, fields: dict[str, Any]) -> int | None:
        """Record "about to create on `target` the counterpart of `source`". None if the
        source is already in an active link (a concurrent run got there first)."""
        values = {
            "sync": self.sync,
            "status": LinkStatus.PENDING_CREATE_A
            if target is Side.A
            else LinkStatus.PENDING_CREATE_B,
            "pending_fields": fields,
            _id_field(target.other): source.id,
        }
        try:
            with transaction.atomic():
                row = RecordLink.objects.create(**values, **_versions(target.other, source))
        except IntegrityError:
            return None
        return row.pk

    def confirm_create(self, key: Any, target: Side, created: Record, base: dict[str, Any]) -> None:
        RecordLink.objects.filter(pk=key).update(
            status=LinkStatus.LINKED,
            base=base,
            pending_fields=None,
            updated_at=timezone.now(),
            **{_id_field(target): created.id},
            **_versions(target, created),
        )

    def drop_pending(self, key: Any) -> None:
        RecordLink.objects.filter(
            pk=key, status__in=[LinkStatus.PENDING_CREATE_A, LinkStatus.PENDING_CREATE_B]
        ).delete()

    def add_match(self, a: Record, b: Record) -> int | None:
        """Link two existing records. None if either is already actively linked."""
        try:
            with transaction.atomic():
                row = RecordLink.objects.create(
                    sync=self.sync,
                    a_id=a.id,
                    b_id=b.id,
                    status=LinkStatus.LINKED,
                    **_versions(Side.A, a),
                    **_versions(Side.B, b),
                )
        except IntegrityError:
            return None
        return row.pk

    def save_pair(self, key: Any, base: dict[str, Any], a: Record | None, b: Record | None) -> None:
        values: dict[str, Any] = {"base": base, "updated_at": timezone.now()}
        if a is not None:
            values.update(_versions(Side.A, a))
        if b is not None:
            values.update(_versions(Side.B, b))
        RecordLink.objects.filter(pk=key).update(**values)

    @transaction.atomic
    def end_link(
        self,
        key: Any,
        status: LinkStatus,
        reason: str,
        a: Record | None = None,
        b: Record | None = None,
    ) -> None:
        """Unlink or mark deleted; open conflicts of the link are dismissed with it. The
        versions of the records as last seen are kept: a record that has not changed since
        is not taken up again when a feed repeats it."""
        values: dict[str, Any] = {
            "status": status,
            "reason": reason[:2000],
            "updated_at": timezone.now(),
        }
        for side, record in ((Side.A, a), (Side.B, b)):
            if record is not None and not record.deleted:
                values.update(_versions(side, record))
        RecordLink.objects.filter(pk=key).update(**values)
        Conflict.objects.filter(link_id=key, status__in=HELD_CONFLICTS).update(
            status=Conflict.Status.DISMISSED, resolved_at=timezone.now(), reason=reason[:2000]
        )

    def record_conflict(self, key: Any, decision: ConflictDecision) -> None:
        """Open (or refresh) a held conflict, or store a policy decision as resolved."""
        now = timezone.now()
        if decision.existing_key is not None:
            refreshed: dict[str, Any] = {
                "value_a": decision.value_a,
                "value_b": decision.value_b,
                "reason": decision.reason,
            }
            if decision.voids_decision:
                refreshed.update(_REOPENED, error=decision.reason)
            Conflict.objects.filter(pk=decision.existing_key).update(**refreshed)
            return
        values: dict[str, Any] = {
            "workspace_id": self.sync.workspace_id,
            "sync": self.sync,
            "link_id": key,
            "mapping_id": int(decision.mapping_id),
            "base": decision.base,
            "value_a": decision.value_a,
            "value_b": decision.value_b,
            "detected_at": now,
            "reason": decision.reason,
        }
        if decision.decision is not ConflictChoice.MANUAL:
            values.update(
                status=Conflict.Status.RESOLVED,
                resolution=decision.decision,
                decided_by_policy=self.sync.conflict_policy,
                resolved_at=now,
            )
        try:
            with transaction.atomic():
                Conflict.objects.create(**values)
        except IntegrityError:
            # Already open for this field (a repeated run): refresh its values instead.
            Conflict.objects.filter(
                link_id=key, mapping_id=values["mapping_id"], status__in=HELD_CONFLICTS
            ).update(value_a=decision.value_a, value_b=decision.value_b)

    def converge_conflict(self, conflict_key: Any, value_a: Any, value_b: Any) -> None:
        Conflict.objects.filter(pk=conflict_key, status__in=HELD_CONFLICTS).update(
            status=Conflict.Status.RESOLVED,
            resolution=Conflict.Resolution.CONVERGED,
            value_a=value_a,
            value_b=value_b,
            resolved_at=timezone.now(),
        )

    def decision_written(self, conflict_key: Any) -> None:
        """Both sides hold the decided value: the conflict is resolved, by its decider."""
        Conflict.objects.filter(pk=conflict_key, status=Conflict.Status.DECIDED).update(
            status=Conflict.Status.RESOLVED,
            resolved_by_id=F("decided_by_id"),
            resolved_at=timezone.now(),
            error="",
        )

    def decision_refused(self, conflict_key: Any, error: str) -> None:
        """A system refused the decided value: the conflict is open again, saying why."""
        Conflict.objects.filter(pk=conflict_key, status=Conflict.Status.DECIDED).update(
            **_REOPENED, error=error[:4000]
        )


# Conflicts that hold their field: open, or decided and not written yet.
HELD_CONFLICTS = (Conflict.Status.OPEN, Conflict.Status.DECIDED)
# A decided conflict back to open: the decision is cleared, the person decides again.
_REOPENED: dict[str, Any] = {
    "status": Conflict.Status.OPEN,
    "resolution": "",
    "custom_value": None,
    "decided_values": None,
    "decided_by": None,
    "decided_at": None,
}


def _versions(side: Side, record: Record) -> dict[str, Any]:
    version: str = record.version or ""
    modified: datetime | None = record.modified_at
    if side is Side.A:
        return {"a_version": version[:100], "a_modified_at": modified}
    return {"b_version": version[:100], "b_modified_at": modified}


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
