"""A linked pair against what its link remembers. Pure, like the planner that calls it.

- Whether a copy of a record brings anything new: newer or stale than the copy the link
  stored, or an echo (every mapped value equals its side's base: our own write coming back,
  or an edit of an unmapped field).
- The three-way merge of a pair, field by field, against the base (docs/engine.md, "The
  merge rules"): changed on one side only, written to the other; changed on both to
  equivalent values, nothing to write; changed on both differently, a conflict on that
  field decided by the conflict policy while the other fields still sync. A one-way field
  is written only towards its target. A field without a base follows the initial-sync
  policy where the sides differ, and an empty value never overwrites a filled one.
- The base a pair keeps afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from apps.syncs.engine.filters import in_scope
from apps.syncs.engine.plan_types import (
    ConflictDecision,
    Converged,
    DecisionApplied,
    FieldChange,
    LinkState,
    MappingSpec,
    OpenConflict,
    PairPlan,
    Plan,
    RecordIssue,
    SyncSpec,
    Waiting,
    Write,
)
from apps.syncs.engine.types import (
    ConflictChoice,
    ConflictPolicy,
    Direction,
    FieldOutcome,
    InitialPolicy,
    LinkStatus,
    Side,
)
from apps.syncs.engine.values import ConversionError, Unresolved, is_empty
from connectors.base import Record


# --- a copy against the link ------------------------------------------------------------------
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


# --- the merge -------------------------------------------------------------------------------
def merge_pair(
    spec: SyncSpec,
    pair: PairPlan,
    base: Mapping[str, Mapping[str, Any]],
    open_conflicts: Mapping[tuple[Any, str], OpenConflict],
    plan: Plan,
) -> None:
    """Merge every mapped field of the pair's two records against `base`.

    The pair goes into `plan` with its writes and the fields whose base is set afterwards;
    so do the conflicts it opens, refreshes or has the policy decide, the open conflicts
    that converged, and a per-record error for each value that cannot be converted. A field
    with an open conflict stays held, unless a person decided it and neither side changed
    since: then the decision is written where a side lacks it.
    """
    a, b = pair.record_a, pair.record_b
    assert a is not None
    assert b is not None
    link_key, trigger = pair.link_key, pair.trigger
    writes = {Side.A: Write(Side.A, a.id), Side.B: Write(Side.B, b.id)}
    held = False
    errors_before = len(plan.errors)
    for mapping in spec.mappings:
        va = a.fields.get(mapping.field_a)
        vb = b.fields.get(mapping.field_b)
        entry = base.get(mapping.id)
        open_conflict = open_conflicts.get((link_key, mapping.id))
        if open_conflict is not None:
            if mapping.agree(va, vb):
                held = True
                plan.converged.append(Converged(open_conflict.key, link_key, mapping.id, va, vb))
                pair.settle.add(mapping.id)
                continue
            as_opened = mapping.same(Side.A, va, open_conflict.value_a) and mapping.same(
                Side.B, vb, open_conflict.value_b
            )
            if open_conflict.decided is not None and as_opened:
                _decision_apply(mapping, open_conflict, {Side.A: va, Side.B: vb}, writes)
                plan.decisions.append(
                    DecisionApplied(
                        open_conflict.key,
                        link_key,
                        mapping.id,
                        before={Side.A.value: va, Side.B.value: vb},
                        after=dict(open_conflict.decided),
                        resolution=open_conflict.resolution,
                    )
                )
                pair.settle.add(mapping.id)
                continue
            held = True
            if not as_opened:
                decided = open_conflict.decided is not None
                plan.conflicts.append(
                    _conflict(
                        pair,
                        mapping,
                        entry,
                        ConflictChoice.MANUAL,
                        "a side changed again after the decision; decide again"
                        if decided
                        else "both sides changed again while the conflict was open",
                        existing_key=open_conflict.key,
                        voids_decision=decided,
                    )
                )
            continue
        outcome, reason = _decide(spec, mapping, va, vb, entry, a, b)
        if outcome is FieldOutcome.SETTLE:
            pair.settle.add(mapping.id)
            continue
        if outcome is FieldOutcome.KEEP:
            continue
        if outcome is FieldOutcome.CONFLICT:
            held = True
            plan.conflicts.append(_conflict(pair, mapping, entry, ConflictChoice.MANUAL, reason))
            continue
        target = outcome.target
        assert target is not None
        source = target.other
        source_value = va if source is Side.A else vb
        target_value = vb if source is Side.A else va
        try:
            value = mapping.convert_to(target, source_value)
        except Unresolved as exc:
            # The field waits, unsettled: its base keeps the old value, so the pair is
            # planned again (and the field written) once the counterpart is known.
            source_record, target_record = (a, b) if source is Side.A else (b, a)
            plan.waiting.append(
                Waiting(
                    source,
                    source_record.id,
                    mapping.id,
                    mapping.field(source),
                    exc.value,
                    exc.code,
                    f"{mapping.field(source)} = {exc.value!r} is not written to "
                    f"{target.label}.{mapping.field(target)}: {exc}",
                    other_id=target_record.id,
                )
            )
            continue
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
            plan.conflicts.append(_conflict(pair, mapping, entry, choice, reason))
        pair.settle.add(mapping.id)
        if not mapping.same(target, value, target_value):
            writes[target].changes.append(
                FieldChange(mapping.id, mapping.field(target), target_value, value)
            )
    pair.write_a = writes[Side.A] if writes[Side.A].changes else None
    pair.write_b = writes[Side.B] if writes[Side.B].changes else None
    plan.pairs.append(pair)
    quiet = pair.write_a is None and pair.write_b is None and not held
    if quiet and len(plan.errors) == errors_before and not pair.matched:
        plan.unchanged[trigger] += 1


def _conflict(
    pair: PairPlan,
    mapping: MappingSpec,
    entry: Mapping[str, Any] | None,
    choice: ConflictChoice,
    reason: str,
    **extra: Any,
) -> ConflictDecision:
    """A conflict on one field of the pair, with its base and both current values."""
    a, b = pair.record_a, pair.record_b
    assert a is not None
    assert b is not None
    return ConflictDecision(
        pair.link_key,
        a.id,
        b.id,
        mapping.id,
        dict(entry) if entry else None,
        a.fields.get(mapping.field_a),
        b.fields.get(mapping.field_b),
        choice,
        reason,
        pair.trigger,
        **extra,
    )


def _decision_apply(
    mapping: MappingSpec,
    conflict: OpenConflict,
    current: Mapping[Side, Any],
    writes: Mapping[Side, Write],
) -> None:
    """Write a person's decision to each side that does not hold it yet. The values were
    converted for each side when the decision was taken; the sides still hold what the
    person saw (a later edit voids the decision instead)."""
    assert conflict.decided is not None
    for side in Side:
        wanted = conflict.decided[side.value]
        if not mapping.same(side, current[side], wanted):
            writes[side].changes.append(
                FieldChange(
                    mapping.id,
                    mapping.field(side),
                    current[side],
                    wanted,
                    decision=conflict.resolution,
                )
            )


def _decide(
    spec: SyncSpec,
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
        initial = spec.initial_policy
        if initial is InitialPolicy.A_WINS:
            return FieldOutcome.WRITE_B, "first sync: A wins"
        if initial is InitialPolicy.B_WINS:
            return FieldOutcome.WRITE_A, "first sync: B wins"
        return _policy(spec.conflict_policy, a, b, "first sync: the sides differ")
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
        return _policy(spec.conflict_policy, a, b, "both sides changed")
    if changed_a:
        return FieldOutcome.WRITE_B, ""
    if changed_b:
        return FieldOutcome.WRITE_A, ""
    # Neither changed, yet they differ: an earlier error; leave it.
    return FieldOutcome.KEEP, ""


def _policy(policy: ConflictPolicy, a: Record, b: Record, why: str) -> tuple[FieldOutcome, str]:
    if policy is ConflictPolicy.PREFER_A:
        return FieldOutcome.POLICY_A, f"{why}; the policy prefers A"
    if policy is ConflictPolicy.PREFER_B:
        return FieldOutcome.POLICY_B, f"{why}; the policy prefers B"
    if policy is ConflictPolicy.NEWEST:
        if a.modified_at is not None and b.modified_at is not None:
            if a.modified_at > b.modified_at:
                return FieldOutcome.POLICY_A, f"{why}; A changed last ({a.modified_at.isoformat()})"
            if b.modified_at > a.modified_at:
                return FieldOutcome.POLICY_B, f"{why}; B changed last ({b.modified_at.isoformat()})"
            return FieldOutcome.CONFLICT, f"{why} at the same time; held for a person"
        return FieldOutcome.CONFLICT, f"{why}; a modification time is missing, held for a person"
    return FieldOutcome.CONFLICT, f"{why}; held for a person"


# --- the base afterwards ---------------------------------------------------------------------
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
