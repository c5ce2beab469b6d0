"""The planner: a pure function from changed records, links and a sync's rules to a Plan.

No I/O, no ORM, plain dataclasses in and out (`plan_types`), so that property tests and the
benchmark can drive it directly. docs/engine.md tells the rules with an example. Per batch:

- A changed record with an active link: a stale copy is skipped; a deleted record (or a
  partner that is missing) follows the delete policy; a pair where either record left its
  side's filters is unlinked, never deleted; otherwise the pair is merged field by field
  against its base (`merge`).
- An unlinked record in scope is matched on the match rule before anything is created; two
  or more free candidates (in either direction) mean no create and an "ambiguous" skip. A
  match is merged like a linked pair without a base; no candidate means a create.

Input contract (the runner keeps it): for every changed record that has an active link, the
partner's current state is in `records_a`/`records_b` when it exists; a partner missing
there is treated as deleted. Candidates for matching are whatever records of the other
side are present (the runner puts in what the match-rule lookup returned).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from apps.syncs.engine.filters import first_failing, in_scope
from apps.syncs.engine.merge import is_newer, is_stale, merge_pair
from apps.syncs.engine.plan_types import (
    Create,
    Delete,
    LinkState,
    PairPlan,
    Plan,
    PlanInput,
    RecordIssue,
    Skip,
    SyncSpec,
    Unlink,
    Waiting,
)
from apps.syncs.engine.types import ACTIVE_STATUSES, DeletePolicy, LinkStatus, Side
from apps.syncs.engine.values import ConversionError, Unresolved, is_empty, match_key
from connectors.base import Record


def plan(spec: SyncSpec, inp: PlanInput) -> Plan:
    """Decide everything one batch of changes calls for. Pure: no I/O, inputs untouched."""
    return _Planner(spec, inp).run()


def _newer_copy(left: Record | None, right: Record) -> Record:
    if left is None:
        return right
    if left.modified_at and right.modified_at and left.modified_at != right.modified_at:
        return right if right.modified_at > left.modified_at else left
    if left.version and right.version and left.version.isdigit() and right.version.isdigit():
        return right if int(right.version) > int(left.version) else left
    return right


def dedupe(records: Iterable[Record]) -> list[Record]:
    """One copy per id, the newest by (modified_at, version); first-seen order kept."""
    seen: dict[str, Record] = {}
    for record in records:
        seen[record.id] = _newer_copy(seen.get(record.id), record)
    return list(seen.values())


# --- the planner -----------------------------------------------------------------------------
class _Planner:
    def __init__(self, spec: SyncSpec, inp: PlanInput) -> None:
        self.spec = spec
        self.plan = Plan()
        self.changed = {Side.A: dedupe(inp.changed_a), Side.B: dedupe(inp.changed_b)}
        self.records: dict[Side, dict[str, Record]] = {
            Side.A: dict(inp.records_a),
            Side.B: dict(inp.records_b),
        }
        for side, records in self.changed.items():
            for record in records:
                self.records[side][record.id] = _newer_copy(
                    self.records[side].get(record.id), record
                )
        self.active: dict[tuple[Side, str], LinkState] = {}
        self.tombstones: dict[tuple[Side, str], LinkState] = {}
        self.released: dict[tuple[Side, str], LinkState] = {}
        for link in inp.links:
            if link.status in ACTIVE_STATUSES:
                index = self.active
            elif link.status is LinkStatus.DELETED:
                index = self.tombstones
            else:
                index = self.released
            for side in Side:
                record_id = link.id(side)
                if record_id is not None:
                    index.setdefault((side, record_id), link)
        self.conflicts = {(c.link_key, c.mapping_id): c for c in inp.conflicts}
        self.elsewhere = inp.elsewhere
        self.entities = inp.entities
        self.deleted_elsewhere = inp.deleted_elsewhere
        self.claimed: dict[Side, set[str]] = {Side.A: set(), Side.B: set()}
        self._match_index: dict[Side, dict[tuple[Any, ...], list[Record]]] = {}

    def run(self) -> Plan:
        done: set[Any] = set()
        unlinked: list[tuple[Side, Record]] = []
        for side in Side:
            for record in self.changed[side]:
                link = self.active.get((side, record.id))
                if link is None:
                    unlinked.append((side, record))
                elif link.key not in done:
                    done.add(link.key)
                    self._linked(link, side, record)
        to_create: list[tuple[Side, Record]] = []
        for side, record in unlinked:
            if record.id in self.claimed[side]:
                continue
            if self._unlinked(side, record):
                to_create.append((side, record))
        for side, record in to_create:
            if record.id not in self.claimed[side]:
                self._create(side, record)
        return self.plan

    # --- linked pairs ---
    def _linked(self, link: LinkState, trigger: Side, changed: Record) -> None:
        plan = self.plan
        if link.status is not LinkStatus.LINKED:
            target = Side.A if link.status is LinkStatus.PENDING_CREATE_A else Side.B
            plan.skips.append(
                Skip(
                    trigger,
                    changed.id,
                    "pending",
                    f"the create of its counterpart on {target.label} has not been confirmed",
                )
            )
            return
        if is_stale(changed, link, trigger):
            plan.skips.append(
                Skip(trigger, changed.id, "stale", "an older copy than the one already synced")
            )
            return
        a = self.records[Side.A].get(link.a_id or "")
        b = self.records[Side.B].get(link.b_id or "")
        gone_a = a is None or a.deleted
        gone_b = b is None or b.deleted
        if gone_a or gone_b:
            self._deleted(link, trigger, gone_a, gone_b)
            return
        assert a is not None
        assert b is not None
        for side, record in ((Side.A, a), (Side.B, b)):
            failing = first_failing(self.spec.filters(side), record.fields)
            if failing is not None:
                plan.unlinks.append(
                    Unlink(
                        link.key,
                        link.a_id,
                        link.b_id,
                        LinkStatus.UNLINKED,
                        f"left the scope on {side.label}: {failing.describe()} no longer holds",
                        trigger,
                        a,
                        b,
                    )
                )
                return
        self._merge(link.key, a, b, link.base, trigger, matched=False)

    def _deleted(self, link: LinkState, trigger: Side, gone_a: bool, gone_b: bool) -> None:
        plan = self.plan
        if gone_a and gone_b:
            plan.unlinks.append(
                Unlink(
                    link.key, link.a_id, link.b_id, LinkStatus.DELETED, "deleted on both", trigger
                )
            )
            return
        gone = Side.A if gone_a else Side.B
        survivor = gone.other
        survivor_id = link.id(survivor) or ""
        kept = self.records[survivor].get(survivor_id)
        records = (None, kept) if survivor is Side.B else (kept, None)
        policy = self.spec.delete_policy
        if policy is DeletePolicy.PROPAGATE:
            plan.deletes.append(
                Delete(
                    survivor,
                    survivor_id,
                    link.key,
                    f"deleted on {gone.label}; the delete policy propagates deletes",
                    link.id(gone),
                )
            )
        elif policy is DeletePolicy.UNLINK:
            plan.unlinks.append(
                Unlink(
                    link.key,
                    link.a_id,
                    link.b_id,
                    LinkStatus.UNLINKED,
                    f"deleted on {gone.label}; the delete policy unlinks {survivor_id}",
                    trigger,
                    *records,
                )
            )
        else:
            plan.unlinks.append(
                Unlink(
                    link.key,
                    link.a_id,
                    link.b_id,
                    LinkStatus.DELETED,
                    f"deleted on {gone.label}; the delete policy ignores it and keeps "
                    f"{survivor_id} without a counterpart",
                    trigger,
                    *records,
                )
            )

    def _merge(
        self,
        link_key: Any | None,
        a: Record,
        b: Record,
        base: Mapping[str, Mapping[str, Any]],
        trigger: Side,
        *,
        matched: bool,
    ) -> None:
        pair = PairPlan(link_key, a.id, b.id, trigger, matched=matched, record_a=a, record_b=b)
        merge_pair(self.spec, pair, base, self.conflicts, self.plan)

    # --- unlinked records ---
    def _candidates(self, side: Side, record: Record) -> list[Record] | None:
        """Records of the other side matching `record` (None: the rule cannot apply)."""
        rule = self.spec.match_rule
        if not rule:
            return None
        key = tuple(match_key(record.fields.get(p.field(side)), p.normalise) for p in rule)
        if any(k is None for k in key):
            return None
        other = side.other
        index = self._match_index.get(other)
        if index is None:
            index = {}
            for candidate in self.records[other].values():
                if candidate.deleted:
                    continue
                ckey = tuple(
                    match_key(candidate.fields.get(p.field(other)), p.normalise) for p in rule
                )
                if all(k is not None for k in ckey):
                    index.setdefault(ckey, []).append(candidate)
            self._match_index[other] = index
        return index.get(key, [])

    def _unlinked(self, side: Side, record: Record) -> bool:
        """Match an unlinked record. True when it should be created on the other side."""
        plan = self.plan
        if record.deleted:
            plan.unchanged[side] += 1
            return False
        tomb = self.tombstones.get((side, record.id))
        if tomb is not None:
            plan.skips.append(
                Skip(
                    side,
                    record.id,
                    "tombstone",
                    "its counterpart was deleted and the delete policy keeps it unlinked",
                )
            )
            return False
        released = self.released.get((side, record.id))
        if released is not None and is_newer(record, released, side) is False:
            # Unlinked and unchanged since: a repeated delivery, not a record to take up.
            plan.unchanged[side] += 1
            return False
        if not in_scope(self.spec.filters(side), record.fields):
            plan.unchanged[side] += 1
            return False
        other = side.other
        joined = self.elsewhere.get((side, record.id), ())
        if self._present(other, joined):
            return self._join_elsewhere(side, record)
        candidates = self._candidates(side, record)
        if not candidates:
            if joined or (side, record.id) in self.deleted_elsewhere:
                # Its counterpart (joined through other syncs) is gone, or another sync
                # deleted a record of its entity: its deletion is on its way (a create
                # chasing a propagated delete round a cycle of syncs would never end).
                plan.skips.append(
                    Skip(
                        side,
                        record.id,
                        "deleted_elsewhere",
                        "another sync deleted (or keeps deleted) a record it is joined to, "
                        f"so it is not created on {other.label}",
                    )
                )
                return False
            return True
        # A candidate the other syncs already join to another record of this side is that
        # record's counterpart, not a free match (its email may have just changed).
        free = [
            c
            for c in candidates
            if (other, c.id) not in self.active
            and c.id not in self.claimed[other]
            and self._one_entity(side, record, c)
        ]
        ids = tuple(sorted(c.id for c in candidates))
        if len(free) >= 2:
            plan.skips.append(
                Skip(
                    side,
                    record.id,
                    "ambiguous",
                    f"ambiguous match: {len(free)} records on {other.label} match "
                    f"({', '.join(sorted(c.id for c in free))}); nothing was created",
                    ids,
                )
            )
            return False
        if not free:
            plan.skips.append(
                Skip(
                    side,
                    record.id,
                    "already_linked",
                    f"the matching record on {other.label} ({', '.join(ids)}) is already "
                    "linked to another record; nothing was created",
                    ids,
                )
            )
            return False
        candidate = free[0]
        rivals = sorted(
            r.id
            for r in self._candidates(other, candidate) or []
            if r.id != record.id
            and (side, r.id) not in self.active
            and r.id not in self.claimed[side]
        )
        if rivals:
            plan.skips.append(
                Skip(
                    side,
                    record.id,
                    "ambiguous",
                    f"ambiguous match: {candidate.id} on {other.label} matches this record and "
                    f"also {', '.join(rivals)} on {side.label}; nothing was linked or created",
                    (candidate.id,),
                )
            )
            return False
        failing = first_failing(self.spec.filters(other), candidate.fields)
        if failing is not None:
            plan.skips.append(
                Skip(
                    side,
                    record.id,
                    "match_out_of_scope",
                    f"the matching record {candidate.id} on {other.label} is outside the "
                    f"sync's filters ({failing.describe()}); nothing was created",
                    (candidate.id,),
                )
            )
            return False
        self.claimed[side].add(record.id)
        self.claimed[other].add(candidate.id)
        a, b = (record, candidate) if side is Side.A else (candidate, record)
        self._merge(None, a, b, {}, side, matched=True)
        return False

    def _present(self, side: Side, ids: Iterable[str]) -> list[Record]:
        """The live records of `side` among `ids`, sorted by id."""
        found = (self.records[side].get(i) for i in sorted(ids))
        return [r for r in found if r is not None and not r.deleted]

    def _one_entity(self, side: Side, record: Record, candidate: Record) -> bool:
        """Whether linking the two keeps one record per system in what the workspace's
        other syncs join to each: a candidate they join to another record of some system
        (a mirrored duplicate, or the counterpart of a record whose email just changed)
        is that record's, not a match."""
        mine = self.entities.get((side, record.id), ())
        theirs = self.entities.get((side.other, candidate.id), ())
        if not mine or not theirs:
            return True
        held = dict(mine)
        return all(held.get(endpoint, record_id) == record_id for endpoint, record_id in theirs)

    def _join_elsewhere(self, side: Side, record: Record) -> bool:
        """Link an unlinked record to the counterpart the workspace's other syncs already
        join it to (a contact in three systems: A-C links the two records that A-B and B-C
        joined through B). The links of the other syncs are the identity, as a link is for
        its own sync: the match rule is not asked, and nothing is created. Always False."""
        plan = self.plan
        other = side.other
        present = self._present(other, self.elsewhere[(side, record.id)])
        ids = tuple(c.id for c in present)
        if len(present) >= 2:
            plan.skips.append(
                Skip(
                    side,
                    record.id,
                    "ambiguous",
                    f"ambiguous: other syncs join this record to {len(present)} records on "
                    f"{other.label} ({', '.join(ids)}); nothing was linked or created",
                    ids,
                )
            )
            return False
        [candidate] = present
        if (other, candidate.id) in self.active or candidate.id in self.claimed[other]:
            plan.skips.append(
                Skip(
                    side,
                    record.id,
                    "already_linked",
                    f"other syncs join this record to {candidate.id} on {other.label}, which "
                    "this sync links to another record; nothing was created",
                    ids,
                )
            )
            return False
        failing = first_failing(self.spec.filters(other), candidate.fields)
        if failing is not None:
            plan.skips.append(
                Skip(
                    side,
                    record.id,
                    "match_out_of_scope",
                    f"other syncs join this record to {candidate.id} on {other.label}, which "
                    f"is outside the sync's filters ({failing.describe()}); nothing was created",
                    ids,
                )
            )
            return False
        self.claimed[side].add(record.id)
        self.claimed[other].add(candidate.id)
        a, b = (record, candidate) if side is Side.A else (candidate, record)
        self._merge(None, a, b, {}, side, matched=True)
        return False

    def _create(self, side: Side, record: Record) -> None:
        plan = self.plan
        target = side.other
        mappings = [m for m in self.spec.mappings if m.writes_to(target)]
        if not mappings:
            plan.skips.append(
                Skip(
                    side,
                    record.id,
                    "no_target",
                    f"no field mapping writes to {target.label}, so nothing is created there",
                )
            )
            return
        values: dict[str, Any] = {}
        waiting: list[str] = []
        failed = False
        for mapping in mappings:
            source_value = record.fields.get(mapping.field(side))
            try:
                value = mapping.convert_to(target, source_value)
            except Unresolved as exc:
                # Created without it; the field is written once the counterpart is known.
                waiting.append(mapping.id)
                plan.waiting.append(
                    Waiting(
                        side,
                        record.id,
                        mapping.id,
                        mapping.field(side),
                        exc.value,
                        exc.code,
                        f"{mapping.field(side)} = {exc.value!r} is left out of the new "
                        f"record on {target.label}: {exc}",
                    )
                )
                continue
            except ConversionError as exc:
                failed = True
                plan.errors.append(
                    RecordIssue(
                        side,
                        record.id,
                        mapping.field(side),
                        exc.value,
                        f"{mapping.field(side)} = {exc.value!r} cannot be written to "
                        f"{target.label}.{mapping.field(target)}: {exc}; not created",
                    )
                )
                continue
            if not is_empty(value):
                values[mapping.field(target)] = value
        if not failed:
            self.claimed[side].add(record.id)
            plan.creates.append(Create(target, record, values, tuple(waiting)))
