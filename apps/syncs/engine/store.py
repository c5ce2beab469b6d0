"""The runner's state in the database: links, bases, cursors, conflicts of one sync.

Every method that changes state is its own short transaction, so that what the runner has
stored survives whatever happens after it (a crash, a failed call) and nothing is stored
for an action that has not happened yet — except a pending create, which is stored first
on purpose.

The methods the applier calls per record have a batch form (`add_matches`,
`add_pendings`, `confirm_creates`, `save_pairs`): a batch of 1,000 records costs a few
statements in one transaction instead of one committed statement per record, which is
most of an initial sync's database time. Each batch form stores the same rows as its
single form would, all or nothing; `add_matches` and `add_pendings` fall back to the single
form, row by row, when the batch meets a unique constraint (a concurrent run linked one of
the records), so that one taken record costs only its own link.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from apps.syncs.engine.filters import FilterSpec, Operator
from apps.syncs.engine.plan_types import (
    ConflictDecision,
    LinkState,
    MappingSpec,
    MatchPair,
    OpenConflict,
    ReferenceSpec,
    SyncSpec,
    Waiting,
)
from apps.syncs.engine.references import via_column
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
from apps.syncs.models import (
    ACTIVE,
    Conflict,
    FieldMapping,
    Filter,
    InFlightWrite,
    RecordLink,
    Sync,
    SyncCursor,
    WaitingReference,
)
from connectors.base import Record


def reference_spec(mapping: FieldMapping, sync: Sync) -> ReferenceSpec | None:
    """How a reference mapping translates (None: it copies values as they are)."""
    if mapping.reference == "people":
        return ReferenceSpec(users_a=mapping.users_a or None, users_b=mapping.users_b or None)
    if mapping.reference == "records" and mapping.reference_via is not None:
        via = mapping.reference_via
        return ReferenceSpec(
            via=via.pk,
            flipped=via.connection_a_id != sync.connection_a_id,
            create=mapping.create_referenced,
        )
    return None


def mapping_spec(mapping: FieldMapping, sync: Sync | None = None) -> MappingSpec:
    reference = reference_spec(mapping, sync or mapping.sync) if mapping.reference else None
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
        # A reference's translations are filled in per batch, never from a stored value map.
        reference=reference,
    )


def sync_spec(sync: Sync) -> SyncSpec:
    """The planner's view of a sync, read from its rows."""
    filters: dict[str, list[FilterSpec]] = {"a": [], "b": []}
    for row in Filter.objects.filter(sync=sync).order_by("id"):
        filters[row.side].append(FilterSpec(row.field, Operator(row.operator), row.value))
    return SyncSpec(
        mappings=tuple(
            mapping_spec(m, sync)
            for m in FieldMapping.objects.filter(sync=sync).select_related("reference_via")
        ),
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


# A record in the workspace: ((connection id, object type), record id).
Node = tuple[tuple[Any, str], str]


def _id_field(side: Side) -> str:
    return "a_id" if side is Side.A else "b_id"


class LinkStore:
    """Reads and writes the link state of one sync."""

    def __init__(self, sync: Sync) -> None:
        self.sync = sync
        self._others: list[Sync] | None = None

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

    def joined_elsewhere(
        self, side: Side, ids: Iterable[str]
    ) -> tuple[dict[str, dict[Node, bool]], set[str]]:
        """What the workspace's other syncs join these records of `side` to: per record id,
        every record reachable through a path of their links, as (endpoint, record id) ->
        whether the whole path is linked pairs (True) or crosses a pair since unlinked
        (False: the two were one entity, and their survivors still are), the record itself
        included. Three systems kept by three syncs: the Pipedrive person linked to the
        HubSpot contact linked to a Zendesk user is that user's counterpart in Pipedrive
        (docs/engine.md, "Three systems").

        Also the ids whose entity lost a record to a delete that another sync propagated
        or keeps as a tombstone (status `deleted`): their entity is being deleted, or must
        not come back, so they are no source of a create (a create chasing a propagated
        delete round a cycle of syncs would never end).

        An endpoint is a connection and an object type (`endpoint()`): syncs see one
        system's records as the same when they use the same connection. One query per other
        sync and step, a few steps at most.
        """
        start = self.endpoint(side)
        reached: dict[str, dict[Node, bool]] = {i: {(start, i): True} for i in dict.fromkeys(ids)}
        frontier: dict[Node, dict[str, bool]] = {(start, i): {i: True} for i in reached}
        others = self._other_syncs()
        if not others:
            return reached, set()
        gone: set[str] = set()
        statuses = [LinkStatus.LINKED, LinkStatus.UNLINKED, LinkStatus.DELETED]
        # This sync's own pairs since unlinked are followed too, but not from the records
        # asked about (theirs is the pair being decided): a chain X-Y-Z whose Y record was
        # deleted under `unlink` leaves X and Z survivors, and when X is taken up again its
        # new Y copy reaches the Z survivor through X, the deleted Y record and Y-Z's
        # unlinked pair (a path may then use a sync twice: two steps per sync at most).
        walked = [(other, statuses) for other in others]
        walked.append((self.sync, [LinkStatus.UNLINKED]))
        for step in range(2 * len(walked)):
            by_endpoint: dict[tuple[Any, str], list[str]] = {}
            for endpoint, record_id in frontier:
                by_endpoint.setdefault(endpoint, []).append(record_id)
            following: dict[Node, dict[str, bool]] = {}
            for endpoint, record_ids in by_endpoint.items():
                for other, wanted in walked:
                    if other is self.sync and step == 0:
                        continue
                    for here in Side:
                        if self._endpoint(other, here) != endpoint:
                            continue
                        there = self._endpoint(other, here.other)
                        rows = RecordLink.objects.filter(
                            sync=other,
                            status__in=wanted,
                            **{f"{_id_field(here)}__in": record_ids},
                        ).values_list(_id_field(here), _id_field(here.other), "status")
                        for record_id, partner, status in rows:
                            origins = frontier[(endpoint, record_id)]
                            if status == LinkStatus.DELETED:
                                gone.update(origins)
                                continue
                            if partner is None:
                                continue
                            node = (there, partner)
                            for origin, firm in origins.items():
                                firm = firm and status == LinkStatus.LINKED
                                known = reached[origin].get(node)
                                if known is None or (firm and not known):
                                    reached[origin][node] = firm
                                    ahead = following.setdefault(node, {})
                                    ahead[origin] = ahead.get(origin, False) or firm
            if not following:
                break
            frontier = following
        return reached, gone

    def endpoint(self, side: Side) -> tuple[Any, str]:
        """The connection and object type of this sync's `side`."""
        return self._endpoint(self.sync, side)

    @staticmethod
    def _endpoint(sync: Sync, side: Side) -> tuple[Any, str]:
        if side is Side.A:
            return sync.connection_a_id, sync.object_type_a
        return sync.connection_b_id, sync.object_type_b

    def has_other_syncs(self) -> bool:
        return bool(self._other_syncs())

    def _other_syncs(self) -> list[Sync]:
        """The workspace's other syncs (cached for the run)."""
        if self._others is None:
            self._others = list(
                Sync.objects.filter(workspace_id=self.sync.workspace_id).exclude(pk=self.sync.pk)
            )
        return self._others

    def pending(self) -> list[RecordLink]:
        """Pending creates an interrupted run left, but not those whose create is still in
        a system's job (settle.py settles them)."""
        in_flight = InFlightWrite.objects.filter(
            sync=self.sync, state=InFlightWrite.State.IN_FLIGHT, link__isnull=False
        ).values("link_id")
        return list(
            RecordLink.objects.filter(
                sync=self.sync,
                status__in=[LinkStatus.PENDING_CREATE_A, LinkStatus.PENDING_CREATE_B],
            )
            .exclude(pk__in=in_flight)
            .order_by("id")
        )

    def in_flight(self) -> list[InFlightWrite]:
        """The writes still in a system's job, oldest first, with their links."""
        return list(
            InFlightWrite.objects.filter(sync=self.sync, state=InFlightWrite.State.IN_FLIGHT)
            .select_related("link")
            .order_by("id")
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

    def waiting_due(self, spec: SyncSpec) -> dict[Side, list[str]]:
        """The records of a waiting reference whose wait may be over, by side: the record
        its value names is linked by the via sync now, or the row was marked due (the
        people table changed). A query per record reference mapping and side."""
        due: dict[Side, list[str]] = {Side.A: [], Side.B: []}
        rows = WaitingReference.objects.filter(sync=self.sync)
        for side, record_id in rows.filter(due=True).values_list("side", "record_id"):
            due[Side(side)].append(record_id)
        for mapping in spec.mappings:
            reference = mapping.reference
            if reference is None or reference.people:
                continue
            for side in Side:
                waiting = dict(
                    rows.filter(mapping_id=int(mapping.id), side=side.value, due=False).values_list(
                        "record_id", "value"
                    )
                )
                if not waiting:
                    continue
                column = via_column(side, flipped=reference.flipped)
                linked = set(
                    RecordLink.objects.filter(
                        sync_id=reference.via,
                        status=LinkStatus.LINKED,
                        **{f"{column}__in": sorted(set(waiting.values()))},
                    ).values_list(column, flat=True)
                )
                due[side] += [r for r, value in waiting.items() if value in linked]
        return {side: list(dict.fromkeys(ids)) for side, ids in due.items()}

    def waiting_of(self, side: Side, record_ids: Sequence[str]) -> dict[str, set[str]]:
        """The mapping ids each of these records of `side` waits on."""
        out: dict[str, set[str]] = {}
        rows = WaitingReference.objects.filter(
            sync=self.sync, side=side.value, record_id__in=list(record_ids)
        ).values_list("record_id", "mapping_id")
        for record_id, mapping_id in rows:
            out.setdefault(record_id, set()).add(str(mapping_id))
        return out

    def cursor(self, side: Side) -> dict[str, Any] | None:
        row = SyncCursor.objects.filter(sync=self.sync, side=side.value).first()
        return row.value if row else None

    # --- writes ---
    def waiting_store(self, planned: dict[Side, set[str]], waiting: Sequence[Waiting]) -> None:
        """The waits of the records a batch planned: their stored waits are replaced by
        `waiting` (a record no longer in it waits no more), in one transaction."""
        if not any(planned.values()) and not waiting:
            return
        for w in waiting:
            planned.setdefault(w.side, set()).add(w.record_id)
        with transaction.atomic():
            for side, ids in planned.items():
                ordered = sorted(ids)
                for start in range(0, len(ordered), 500):
                    WaitingReference.objects.filter(
                        sync=self.sync, side=side.value, record_id__in=ordered[start : start + 500]
                    ).delete()
            WaitingReference.objects.bulk_create(
                WaitingReference(
                    sync=self.sync,
                    mapping_id=int(w.mapping_id),
                    side=w.side.value,
                    record_id=w.record_id,
                    other_id=w.other_id or "",
                    value=str(w.value)[:255],
                    code=w.code,
                    message=w.message[:2000],
                    create=w.create,
                )
                for w in {(w.mapping_id, w.side, w.record_id): w for w in waiting}.values()
            )

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

    def add_pendings(
        self, target: Side, items: Sequence[tuple[Record, dict[str, Any]]]
    ) -> list[int | None]:
        """`add_pending` for each (source, fields), stored in one transaction before any of
        the creates is sent. The key per item, in order (None where it is taken)."""
        if not items:
            return []
        status = LinkStatus.PENDING_CREATE_A if target is Side.A else LinkStatus.PENDING_CREATE_B
        id_field = _id_field(target.other)
        rows = [
            RecordLink(
                sync=self.sync,
                status=status,
                pending_fields=fields,
                **{id_field: source.id},
                **_versions(target.other, source),
            )
            for source, fields in items
        ]
        try:
            with transaction.atomic():
                RecordLink.objects.bulk_create(rows)
        except IntegrityError:
            return [self.add_pending(target, source, fields) for source, fields in items]
        return [row.pk for row in rows]

    def confirm_create(self, key: Any, target: Side, created: Record, base: dict[str, Any]) -> None:
        self.confirm_creates(target, [(key, created, base)])

    def confirm_creates(
        self, target: Side, items: Sequence[tuple[Any, Record, dict[str, Any]]]
    ) -> None:
        """Turn pending creates into links: per (key, created record, base), in one
        transaction."""
        if not items:
            return
        now = timezone.now()
        rows = [
            RecordLink(
                pk=key,
                status=LinkStatus.LINKED,
                base=base,
                pending_fields=None,
                updated_at=now,
                **{_id_field(target): created.id},
                **_versions(target, created),
            )
            for key, created, base in items
        ]
        fields = ["status", "base", "pending_fields", "updated_at", _id_field(target)]
        fields += list(_versions(target, items[0][1]))
        _bulk_update(rows, fields)

    def add_in_flight(self, rows: Sequence[InFlightWrite]) -> None:
        """Store writes a system accepted and does later, in one transaction (each row
        unsaved, with its sync, link, side, action, ids, handle and detail)."""
        for row in rows:
            row.sync = self.sync
        with transaction.atomic():
            InFlightWrite.objects.bulk_create(rows)

    def in_flight_missed(self, side: Side, record_ids: Iterable[str]) -> None:
        """Runs left these records of `side` alone while a write to their pair was in
        flight: the run that settles the write reads the pair again."""
        ids = list(record_ids)
        if not ids:
            return
        InFlightWrite.objects.filter(
            Q(side=side.value, record_id__in=ids) | (~Q(side=side.value) & Q(other_id__in=ids)),
            sync=self.sync,
            state=InFlightWrite.State.IN_FLIGHT,
            missed=False,
        ).update(missed=True)

    def in_flight_polled(self, keys: Sequence[Any]) -> None:
        """These writes were found still in flight once more."""
        if keys:
            InFlightWrite.objects.filter(pk__in=keys).update(
                polls=F("polls") + 1, updated_at=timezone.now()
            )

    def in_flight_settled(
        self, key: Any, *, done: bool, outcome: str, run_ref: int | None, record_id: str = ""
    ) -> None:
        """A write's job finished: `done` (it took) or failed, and what happened."""
        values: dict[str, Any] = {
            "state": InFlightWrite.State.DONE if done else InFlightWrite.State.FAILED,
            "outcome": outcome[:4000],
            "settled_run_ref": run_ref,
            "settled_at": timezone.now(),
            "updated_at": timezone.now(),
        }
        if record_id:
            values["record_id"] = record_id[:255]
        InFlightWrite.objects.filter(pk=key, state=InFlightWrite.State.IN_FLIGHT).update(**values)

    def in_flight_settled_all(
        self, items: Sequence[tuple[Any, bool, str, str]], *, run_ref: int | None
    ) -> None:
        """`in_flight_settled` for each (key, done, outcome, record id) of a settling pass,
        in one statement executed for all (a pass settles up to thousands of creates)."""
        if not items:
            return
        now = timezone.now()
        rows = [
            InFlightWrite(
                pk=key,
                state=InFlightWrite.State.DONE if done else InFlightWrite.State.FAILED,
                outcome=outcome[:4000],
                settled_run_ref=run_ref,
                settled_at=now,
                updated_at=now,
                record_id=record_id[:255],
            )
            for key, done, outcome, record_id in items
        ]
        fields = ["state", "outcome", "settled_run_ref", "settled_at", "updated_at", "record_id"]
        _bulk_update(rows, fields)

    def in_flight_done(self, keys: Sequence[Any], *, outcome: str, run_ref: int | None) -> None:
        """These writes' jobs finished and took, all with the same outcome: one statement."""
        if not keys:
            return
        now = timezone.now()
        InFlightWrite.objects.filter(pk__in=keys, state=InFlightWrite.State.IN_FLIGHT).update(
            state=InFlightWrite.State.DONE,
            outcome=outcome[:4000],
            settled_run_ref=run_ref,
            settled_at=now,
            updated_at=now,
        )

    def in_flight_count(self) -> dict[Side, int]:
        """How many writes are still in a system's job, by side written."""
        rows = (
            InFlightWrite.objects.filter(sync=self.sync, state=InFlightWrite.State.IN_FLIGHT)
            .values_list("side")
            .annotate(n=Count("id"))
        )
        return {Side(side): n for side, n in rows}

    def in_flight_missed_since(self, keys: Sequence[Any]) -> list[Any]:
        """Which of these settled updates are marked missed now (one query; none asked:
        none)."""
        if not keys:
            return []
        return list(
            InFlightWrite.objects.filter(pk__in=keys, missed=True).values_list("pk", flat=True)
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

    def add_matches(self, pairs: Sequence[tuple[Record, Record]]) -> list[int | None]:
        """`add_match` for each (A record, B record), in one transaction. The key per pair,
        in order (None where either record is already actively linked)."""
        if not pairs:
            return []
        rows = [
            RecordLink(
                sync=self.sync,
                a_id=a.id,
                b_id=b.id,
                status=LinkStatus.LINKED,
                **_versions(Side.A, a),
                **_versions(Side.B, b),
            )
            for a, b in pairs
        ]
        try:
            with transaction.atomic():
                RecordLink.objects.bulk_create(rows)
        except IntegrityError:
            return [self.add_match(a, b) for a, b in pairs]
        return [row.pk for row in rows]

    def save_pair(self, key: Any, base: dict[str, Any], a: Record | None, b: Record | None) -> None:
        self.save_pairs([(key, base, a, b)])

    def save_pairs(
        self, items: Sequence[tuple[Any, dict[str, Any], Record | None, Record | None]]
    ) -> None:
        """Store each pair's (key, base, A record, B record) new base and the versions of
        the records given (None keeps that side's stored version), in one transaction."""
        now = timezone.now()
        groups: dict[tuple[bool, bool], list[RecordLink]] = {}
        for key, base, a, b in items:
            row = RecordLink(pk=key, base=base, updated_at=now)
            for side, record in ((Side.A, a), (Side.B, b)):
                if record is not None:
                    for name, value in _versions(side, record).items():
                        setattr(row, name, value)
            groups.setdefault((a is not None, b is not None), []).append(row)
        with transaction.atomic():
            for (has_a, has_b), rows in groups.items():
                fields = ["base", "updated_at"]
                if has_a:
                    fields += ["a_version", "a_modified_at"]
                if has_b:
                    fields += ["b_version", "b_modified_at"]
                _bulk_update(rows, fields)

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


def _bulk_update(rows: Sequence[RecordLink | InFlightWrite], fields: list[str]) -> None:
    """Write `fields` of each row (by pk): one UPDATE statement executed for all of them
    (executemany), in one transaction.

    Not QuerySet.bulk_update: its CASE WHEN expression per field and row costs more Python
    time than the statements it saves (about a millisecond per row). The values go through
    each field's own preparation for the database, as a save would.
    """
    if not rows:
        return
    ops = connection.ops
    meta = type(rows[0])._meta
    columns = [meta.get_field(name) for name in fields]
    assignments = ", ".join(f"{ops.quote_name(f.column)} = %s" for f in columns)
    sql = (
        f"UPDATE {ops.quote_name(meta.db_table)} SET {assignments} "  # noqa: S608 - model names
        f"WHERE {ops.quote_name(meta.pk.column)} = %s"
    )
    params = [
        [f.get_db_prep_save(getattr(row, f.attname), connection) for f in columns] + [row.pk]
        for row in rows
    ]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(sql, params)


def chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
