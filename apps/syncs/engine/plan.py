"""The planner: a pure function from changed records, links and a sync's rules to a Plan.

No I/O, no ORM, plain dataclasses in and out, so that property tests and the benchmark can
drive it directly. The rules (docs/engine.md tells them with an example):

- Per linked pair and per mapped field, a three-way merge of the current value on each side
  against the base (the values of both sides when they last agreed). Changed on one side
  only: written to the other. Changed on both to equivalent values: nothing to write.
  Changed on both differently: a conflict on that field, decided by the conflict policy
  (`manual` holds the field and opens a Conflict; the other fields still sync).
- A one-way field is only ever written towards its target; a change on the target side is
  acknowledged and never written back.
- A pair without a base for a field (just matched, or a mapping added later) follows the
  initial-sync policy where the sides differ; an empty value never overwrites a filled one.
- A record that leaves its side's filters is unlinked, never deleted; a deleted record
  follows the delete policy.
- An unlinked record in scope is matched on the match rule before anything is created; two
  or more free candidates mean no create and an "ambiguous" skip.

Input contract (the runner keeps it): for every changed record that has an active link, the
partner's current state is in `records_a`/`records_b` when it exists; a partner missing
there is treated as deleted. Candidates for matching are whatever records of the other
side are present (the runner puts in what the match-rule lookup returned).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apps.syncs.engine.filters import FilterSpec, first_failing, in_scope
from apps.syncs.engine.types import (
    ACTIVE_STATUSES,
    ConflictChoice,
    ConflictPolicy,
    DeletePolicy,
    Direction,
    FieldOutcome,
    InitialPolicy,
    LinkStatus,
    Side,
)
from apps.syncs.engine.values import (
    ConversionError,
    Kind,
    Normalise,
    convert,
    equivalent,
    is_empty,
    match_key,
)
from connectors.base import Record


@dataclass(frozen=True)
class MappingSpec:
    """One field mapping as the planner sees it. `id` keys the base and conflicts."""

    id: str
    field_a: str
    field_b: str
    direction: Direction = Direction.BOTH
    kind_a: Kind = Kind.TEXT
    kind_b: Kind = Kind.TEXT
    options_a: tuple[str, ...] = ()
    options_b: tuple[str, ...] = ()
    map_a_to_b: Mapping[str, Any] | None = None
    map_b_to_a: Mapping[str, Any] | None = None
    default_a: Any = None
    default_b: Any = None

    def field(self, side: Side) -> str:
        return self.field_a if side is Side.A else self.field_b

    def kind(self, side: Side) -> Kind:
        return self.kind_a if side is Side.A else self.kind_b

    def writes_to(self, side: Side) -> bool:
        if self.direction is Direction.BOTH:
            return True
        return (self.direction is Direction.A_TO_B) == (side is Side.B)

    def convert_to(self, target: Side, value: Any) -> Any:
        """The other side's value converted for `target`. Raises ConversionError."""
        if target is Side.B:
            return convert(
                value,
                self.kind_a,
                self.kind_b,
                value_map=self.map_a_to_b,
                options=self.options_b,
                default=self.default_b,
            )
        return convert(
            value,
            self.kind_b,
            self.kind_a,
            value_map=self.map_b_to_a,
            options=self.options_a,
            default=self.default_a,
        )

    def same(self, side: Side, left: Any, right: Any) -> bool:
        return equivalent(left, right, self.kind(side))

    def agree(self, value_a: Any, value_b: Any) -> bool:
        """Whether the two sides hold equivalent values (compared on the written side)."""
        for target in (Side.B, Side.A) if self.writes_to(Side.B) else (Side.A,):
            source_value, target_value = (
                (value_a, value_b) if target is Side.B else (value_b, value_a)
            )
            try:
                converted = self.convert_to(target, source_value)
            except ConversionError:
                continue
            return self.same(target, converted, target_value)
        return False


@dataclass(frozen=True)
class MatchPair:
    field_a: str
    field_b: str
    normalise: Normalise = Normalise.EMAIL

    def field(self, side: Side) -> str:
        return self.field_a if side is Side.A else self.field_b


@dataclass(frozen=True)
class SyncSpec:
    mappings: tuple[MappingSpec, ...]
    filters_a: tuple[FilterSpec, ...] = ()
    filters_b: tuple[FilterSpec, ...] = ()
    match_rule: tuple[MatchPair, ...] = ()
    conflict_policy: ConflictPolicy = ConflictPolicy.MANUAL
    initial_policy: InitialPolicy = InitialPolicy.CONFLICT
    delete_policy: DeletePolicy = DeletePolicy.UNLINK

    def filters(self, side: Side) -> tuple[FilterSpec, ...]:
        return self.filters_a if side is Side.A else self.filters_b


@dataclass
class LinkState:
    """A RecordLink as the planner sees it. `base` maps mapping id -> {"a": v, "b": v}."""

    key: Any
    a_id: str | None
    b_id: str | None
    status: LinkStatus = LinkStatus.LINKED
    base: dict[str, dict[str, Any]] = field(default_factory=dict)
    a_version: str | None = None
    b_version: str | None = None
    a_modified_at: datetime | None = None
    b_modified_at: datetime | None = None

    def id(self, side: Side) -> str | None:
        return self.a_id if side is Side.A else self.b_id

    def version(self, side: Side) -> tuple[datetime | None, str | None]:
        if side is Side.A:
            return self.a_modified_at, self.a_version
        return self.b_modified_at, self.b_version


@dataclass(frozen=True)
class OpenConflict:
    key: Any
    link_key: Any
    mapping_id: str
    value_a: Any
    value_b: Any


@dataclass
class PlanInput:
    changed_a: Sequence[Record] = ()
    changed_b: Sequence[Record] = ()
    records_a: Mapping[str, Record] = field(default_factory=dict)
    records_b: Mapping[str, Record] = field(default_factory=dict)
    links: Sequence[LinkState] = ()
    conflicts: Sequence[OpenConflict] = ()


# --- the plan --------------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldChange:
    mapping_id: str
    field: str
    before: Any
    after: Any


@dataclass
class Write:
    """An update of one record on `side`: field-level diffs."""

    side: Side
    record_id: str
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def fields(self) -> dict[str, Any]:
        return {c.field: c.after for c in self.changes}


@dataclass
class PairPlan:
    """What happens to one linked (or newly matched) pair."""

    link_key: Any | None  # None: a new link made by matching
    a_id: str
    b_id: str
    trigger: Side
    matched: bool = False
    write_a: Write | None = None
    write_b: Write | None = None
    settle: set[str] = field(default_factory=set)  # mapping ids whose base is set afterwards
    record_a: Record | None = None
    record_b: Record | None = None

    def write(self, side: Side) -> Write | None:
        return self.write_a if side is Side.A else self.write_b

    def record(self, side: Side) -> Record | None:
        return self.record_a if side is Side.A else self.record_b


@dataclass
class Create:
    """Create on `side` the counterpart of `source` (a record of the other side)."""

    side: Side
    source: Record
    fields: dict[str, Any]

    @property
    def source_id(self) -> str:
        return self.source.id


@dataclass
class Delete:
    side: Side
    record_id: str
    link_key: Any
    reason: str
    other_id: str | None = None  # the record whose deletion this follows


@dataclass
class Unlink:
    link_key: Any
    a_id: str | None
    b_id: str | None
    status: LinkStatus  # UNLINKED (scope, delete policy unlink) or DELETED
    reason: str
    trigger: Side
    record_a: Record | None = None  # the records as seen when unlinking (for versions)
    record_b: Record | None = None


@dataclass
class ConflictDecision:
    """Both sides changed one field differently, and how that is decided."""

    link_key: Any | None
    a_id: str
    b_id: str
    mapping_id: str
    base: dict[str, Any] | None
    value_a: Any
    value_b: Any
    decision: ConflictChoice
    reason: str
    trigger: Side
    existing_key: Any | None = None  # an open conflict whose values are refreshed

    @property
    def losing_side(self) -> Side | None:
        return self.decision.loser

    @property
    def losing_value(self) -> Any:
        side = self.losing_side
        if side is None:
            return None
        return self.value_a if side is Side.A else self.value_b


@dataclass
class Converged:
    """An open conflict whose two sides now hold equivalent values."""

    conflict_key: Any
    link_key: Any
    mapping_id: str
    value_a: Any
    value_b: Any


@dataclass
class Skip:
    side: Side
    record_id: str
    code: str  # stale, pending, ambiguous, already_linked, match_out_of_scope, tombstone, ...
    reason: str
    candidates: tuple[str, ...] = ()


@dataclass
class RecordIssue:
    """A per-record error: names the record, the field and the value."""

    side: Side
    record_id: str
    field: str
    value: Any
    message: str
    other_id: str | None = None


@dataclass
class Plan:
    pairs: list[PairPlan] = field(default_factory=list)
    creates: list[Create] = field(default_factory=list)
    deletes: list[Delete] = field(default_factory=list)
    unlinks: list[Unlink] = field(default_factory=list)
    conflicts: list[ConflictDecision] = field(default_factory=list)
    converged: list[Converged] = field(default_factory=list)
    skips: list[Skip] = field(default_factory=list)
    errors: list[RecordIssue] = field(default_factory=list)
    unchanged: Counter[Side] = field(default_factory=Counter)

    def updates(self, side: Side) -> list[Write]:
        return [w for p in self.pairs if (w := p.write(side)) is not None]

    def creates_on(self, side: Side) -> list[Create]:
        return [c for c in self.creates if c.side is side]

    def deletes_on(self, side: Side) -> list[Delete]:
        return [d for d in self.deletes if d.side is side]

    @property
    def matched(self) -> list[PairPlan]:
        return [p for p in self.pairs if p.matched]

    def change_count(self) -> int:
        """Records this plan would change or delete on existing links (the safety limit)."""
        return len(self.updates(Side.A)) + len(self.updates(Side.B)) + len(self.deletes)

    def is_empty(self) -> bool:
        return not (
            self.pairs or self.creates or self.deletes or self.unlinks or self.conflicts
        ) and not (self.converged or self.skips or self.errors)


# --- helpers the runner shares ----------------------------------------------------------------
def is_newer(record: Record, link: LinkState, side: Side) -> bool | None:
    """Whether `record` is newer than the copy the link last stored; None if unknown."""
    stored_at, stored_version = link.version(side)
    if record.modified_at is not None and stored_at is not None and record.modified_at != stored_at:
        return record.modified_at > stored_at
    if record.version is not None and stored_version is not None:
        if record.version == stored_version:
            return False
        if record.version.isdigit() and stored_version.isdigit():
            return int(record.version) > int(stored_version)
        return None
    if record.modified_at is not None and record.modified_at == stored_at:
        return False
    return None


def is_stale(record: Record, link: LinkState, side: Side) -> bool:
    """A copy older than the one the link already holds (a late or repeated delivery)."""
    newer = is_newer(record, link, side)
    stored_at, stored_version = link.version(side)
    same = (record.version is not None and record.version == stored_version) or (
        record.modified_at is not None and record.modified_at == stored_at
    )
    return newer is False and not same


def is_echo(spec: SyncSpec, side: Side, record: Record, link: LinkState | None) -> bool:
    """A change that brings nothing new: every mapped value equals this side's base.

    Our own writes coming back look like this, and so do edits to unmapped fields. It needs
    no partner fetch and no write. A record that left its side's filters is never an echo.
    """
    if link is None or link.status is not LinkStatus.LINKED or record.deleted:
        return False
    if is_stale(record, link, side):
        return True
    for mapping in spec.mappings:
        entry = link.base.get(mapping.id)
        if entry is None:
            return False
        if not mapping.same(side, record.fields.get(mapping.field(side)), entry[side.value]):
            return False
    return in_scope(spec.filters(side), record.fields)


def settled_base(
    spec: SyncSpec,
    old_base: Mapping[str, Mapping[str, Any]],
    settle: Iterable[str],
    fields_a: Mapping[str, Any],
    fields_b: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """The new base of a pair: settled mappings take the final values (what the systems
    returned after our writes), the others keep their old entry."""
    settle = set(settle)
    base: dict[str, dict[str, Any]] = {}
    for mapping in spec.mappings:
        if mapping.id in settle:
            base[mapping.id] = {
                "a": fields_a.get(mapping.field_a),
                "b": fields_b.get(mapping.field_b),
            }
        elif mapping.id in old_base:
            base[mapping.id] = dict(old_base[mapping.id])
    return base


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
        plan = self.plan
        pair = PairPlan(link_key, a.id, b.id, trigger, matched=matched, record_a=a, record_b=b)
        writes = {Side.A: Write(Side.A, a.id), Side.B: Write(Side.B, b.id)}
        held = False
        errors_before = len(plan.errors)
        for mapping in self.spec.mappings:
            va = a.fields.get(mapping.field_a)
            vb = b.fields.get(mapping.field_b)
            open_conflict = self.conflicts.get((link_key, mapping.id))
            if open_conflict is not None:
                held = True
                if mapping.agree(va, vb):
                    plan.converged.append(
                        Converged(open_conflict.key, link_key, mapping.id, va, vb)
                    )
                    pair.settle.add(mapping.id)
                elif not (
                    mapping.same(Side.A, va, open_conflict.value_a)
                    and mapping.same(Side.B, vb, open_conflict.value_b)
                ):
                    plan.conflicts.append(
                        ConflictDecision(
                            link_key,
                            a.id,
                            b.id,
                            mapping.id,
                            dict(base[mapping.id]) if mapping.id in base else None,
                            va,
                            vb,
                            ConflictChoice.MANUAL,
                            "both sides changed again while the conflict was open",
                            trigger,
                            existing_key=open_conflict.key,
                        )
                    )
                continue
            entry = base.get(mapping.id)
            outcome, reason = self._decide(mapping, va, vb, entry, a, b)
            if outcome is FieldOutcome.SETTLE:
                pair.settle.add(mapping.id)
                continue
            if outcome is FieldOutcome.KEEP:
                continue
            if outcome is FieldOutcome.CONFLICT:
                held = True
                plan.conflicts.append(
                    ConflictDecision(
                        link_key,
                        a.id,
                        b.id,
                        mapping.id,
                        dict(entry) if entry else None,
                        va,
                        vb,
                        ConflictChoice.MANUAL,
                        reason,
                        trigger,
                    )
                )
                continue
            target = outcome.target
            assert target is not None
            source = target.other
            source_value = va if source is Side.A else vb
            target_value = vb if source is Side.A else va
            try:
                value = mapping.convert_to(target, source_value)
            except ConversionError as exc:
                plan.errors.append(
                    RecordIssue(
                        source,
                        (a if source is Side.A else b).id,
                        mapping.field(source),
                        exc.value,
                        f"{mapping.field(source)} = {exc.value!r} cannot be written to "
                        f"{target.label}.{mapping.field(target)}: {exc}",
                        other_id=(b if source is Side.A else a).id,
                    )
                )
                continue
            choice = outcome.choice
            if choice is not None:  # the conflict policy decided
                plan.conflicts.append(
                    ConflictDecision(
                        link_key,
                        a.id,
                        b.id,
                        mapping.id,
                        dict(entry) if entry else None,
                        va,
                        vb,
                        choice,
                        reason,
                        trigger,
                    )
                )
            pair.settle.add(mapping.id)
            if not mapping.same(target, value, target_value):
                writes[target].changes.append(
                    FieldChange(mapping.id, mapping.field(target), target_value, value)
                )
        pair.write_a = writes[Side.A] if writes[Side.A].changes else None
        pair.write_b = writes[Side.B] if writes[Side.B].changes else None
        plan.pairs.append(pair)
        quiet = pair.write_a is None and pair.write_b is None and not held
        if quiet and len(plan.errors) == errors_before and not matched:
            plan.unchanged[trigger] += 1

    def _decide(
        self,
        mapping: MappingSpec,
        va: Any,
        vb: Any,
        entry: Mapping[str, Any] | None,
        a: Record,
        b: Record,
    ) -> tuple[FieldOutcome, str]:
        """One field's outcome, and the reason a conflict decision will carry."""
        if mapping.agree(va, vb):
            return FieldOutcome.SETTLE, ""
        direction = mapping.direction
        if entry is None:
            if direction is Direction.A_TO_B:
                return FieldOutcome.WRITE_B, "one-way field, first sync"
            if direction is Direction.B_TO_A:
                return FieldOutcome.WRITE_A, "one-way field, first sync"
            if is_empty(va):
                return FieldOutcome.WRITE_A, "first sync: fills the empty value on A"
            if is_empty(vb):
                return FieldOutcome.WRITE_B, "first sync: fills the empty value on B"
            initial = self.spec.initial_policy
            if initial is InitialPolicy.A_WINS:
                return FieldOutcome.WRITE_B, "first sync: A wins"
            if initial is InitialPolicy.B_WINS:
                return FieldOutcome.WRITE_A, "first sync: B wins"
            return self._policy(a, b, "first sync: the sides differ")
        changed_a = not mapping.same(Side.A, va, entry["a"])
        changed_b = not mapping.same(Side.B, vb, entry["b"])
        if direction is Direction.A_TO_B:
            # B's own edits of a one-way field are acknowledged, never written back.
            if changed_a:
                return FieldOutcome.WRITE_B, ""
            return (FieldOutcome.SETTLE if changed_b else FieldOutcome.KEEP), ""
        if direction is Direction.B_TO_A:
            if changed_b:
                return FieldOutcome.WRITE_A, ""
            return (FieldOutcome.SETTLE if changed_a else FieldOutcome.KEEP), ""
        if changed_a and changed_b:
            return self._policy(a, b, "both sides changed")
        if changed_a:
            return FieldOutcome.WRITE_B, ""
        if changed_b:
            return FieldOutcome.WRITE_A, ""
        # Neither changed, yet they differ: an earlier error; leave it.
        return FieldOutcome.KEEP, ""

    def _policy(self, a: Record, b: Record, why: str) -> tuple[FieldOutcome, str]:
        policy = self.spec.conflict_policy
        if policy is ConflictPolicy.PREFER_A:
            return FieldOutcome.POLICY_A, f"{why}; the policy prefers A"
        if policy is ConflictPolicy.PREFER_B:
            return FieldOutcome.POLICY_B, f"{why}; the policy prefers B"
        if policy is ConflictPolicy.NEWEST:
            if a.modified_at is not None and b.modified_at is not None:
                if a.modified_at > b.modified_at:
                    return (
                        FieldOutcome.POLICY_A,
                        f"{why}; A changed last ({a.modified_at.isoformat()})",
                    )
                if b.modified_at > a.modified_at:
                    return (
                        FieldOutcome.POLICY_B,
                        f"{why}; B changed last ({b.modified_at.isoformat()})",
                    )
                return FieldOutcome.CONFLICT, f"{why} at the same time; held for a person"
            return (
                FieldOutcome.CONFLICT,
                f"{why}; a modification time is missing, held for a person",
            )
        return FieldOutcome.CONFLICT, f"{why}; held for a person"

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
        candidates = self._candidates(side, record)
        if not candidates:
            return True
        free = [
            c
            for c in candidates
            if (other, c.id) not in self.active and c.id not in self.claimed[other]
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
        failed = False
        for mapping in mappings:
            source_value = record.fields.get(mapping.field(side))
            try:
                value = mapping.convert_to(target, source_value)
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
            plan.creates.append(Create(target, record, values))


def plan(spec: SyncSpec, inp: PlanInput) -> Plan:
    """Decide everything one batch of changes calls for. Pure: no I/O, inputs untouched."""
    return _Planner(spec, inp).run()
