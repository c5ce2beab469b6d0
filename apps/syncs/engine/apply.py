"""Applying a plan: writes through the connectors, links and bases into the store, and an
event per record action to the recorder.

A batch's plan is applied in this order: skips and per-record errors are reported; unlinks
are stored; new matches are linked; conflicts are opened, refreshed or stored as decided,
and converged ones closed; updates are written in batches (a person's decisions among
them) and each pair's base is settled from what the systems returned (only the written
fields take the returned values); decisions whose writes were stored close their conflict,
refused ones reopen it; then, per side, creates (each stored as pending before the call)
and deletes.

A write a system answers as pending (a bulk job it does later: connectors.base,
`settle_later`) is stored as an `InFlightWrite` with what settling it needs, and its pair
is held (inflight.py) instead of settled: no link, base or event yet. A later run settles
it (settle.py) and stores what this run would have stored had it waited. The writes of a
person's conflict decisions are the exception: they wait, so the decision closes or
reopens in the run that writes it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from apps.syncs.engine.inflight import InFlight
from apps.syncs.engine.merge import settled_base
from apps.syncs.engine.plan_types import (
    Create,
    Delete,
    LinkState,
    PairPlan,
    Plan,
    SyncSpec,
    Write,
)
from apps.syncs.engine.recorder import COUNTER_OF_ACTION, Action, EngineEvent, Recorder
from apps.syncs.engine.sides import SideConnector
from apps.syncs.engine.store import LinkStore, chunks
from apps.syncs.engine.types import LinkStatus, Side
from apps.syncs.models import InFlightWrite
from connectors.base import Record, RecordUpdate, WriteResult

if TYPE_CHECKING:
    from apps.syncs.engine.references import References

# What `_update` answers for a write in a system's job: neither stored nor refused yet.
IN_FLIGHT = object()


def ids_on(side: Side, record_id: str) -> tuple[str | None, str | None]:
    """The (A id, B id) of an event about one record of `side`."""
    return (record_id, None) if side is Side.A else (None, record_id)


class Applier:
    """Applies plans for one run. Events go to the recorder and count in `counters`."""

    def __init__(
        self,
        *,
        spec: SyncSpec,
        store: LinkStore,
        sides: Mapping[Side, SideConnector],
        recorder: Recorder,
        counters: Counter[str],
        batch_size: int,
        on_written: Callable[[Side, Record], None] | None = None,
        creations: References | None = None,
    ) -> None:
        self.spec = spec
        self.store = store
        self.sides = sides
        self.recorder = recorder
        self.counters = counters
        self.batch_size = batch_size
        # Per (side, record id): what a system answered to an update it refused.
        self.refusals: dict[tuple[Side, str], str] = {}
        # Told of every record a system stored for this run (created or updated), as the
        # system returned it: the runner keeps its match indexes and listings current.
        self.on_written = on_written
        # The sync has reference mappings, whose waits are kept (engine/references.py).
        self.references = any(m.reference is not None for m in spec.mappings)
        # Decides, per waiting reference, whether to ask its via sync to create the record
        # it names (None: the sync has no reference mappings).
        self.creations = creations
        # The records of pairs with a write in a system's job: left alone until settled.
        self.in_flight = InFlight(spec)
        self.run_ref: int | None = getattr(recorder, "run_ref", None)

    def emit(self, event: EngineEvent) -> None:
        counter = COUNTER_OF_ACTION.get(event.action)
        if counter:
            self.counters[f"{counter}_{event.side}"] += 1
        self.recorder.event(event)

    def apply(self, result: Plan, links: Mapping[Any, LinkState]) -> None:
        """Carry out one batch's plan. `links` are the links it was planned with, by key."""
        for skip in result.skips:
            self.emit(
                EngineEvent(
                    Action.SKIPPED,
                    skip.side,
                    *ids_on(skip.side, skip.record_id),
                    message=skip.reason,
                    code=skip.code,
                )
            )
        for issue in result.errors:
            a_id, b_id = (issue.record_id, issue.other_id)
            if issue.side is Side.B:
                a_id, b_id = b_id, a_id
            self.emit(
                EngineEvent(
                    Action.ERROR,
                    issue.side,
                    a_id,
                    b_id,
                    changes={issue.field: {"value": issue.value}},
                    message=f"record {issue.record_id} on {issue.side.label}: {issue.message}",
                    code="conversion",
                )
            )
        if self.creations is not None:
            result.waiting = self.creations.creations(result.waiting)
        for waiting in result.waiting:
            a_id, b_id = (waiting.record_id, waiting.other_id)
            if waiting.side is Side.B:
                a_id, b_id = b_id, a_id
            self.emit(
                EngineEvent(
                    Action.WAITING,
                    waiting.side,
                    a_id,
                    b_id,
                    changes={waiting.field: {"value": waiting.value}},
                    message=f"record {waiting.record_id} on {waiting.side.label}: "
                    f"{waiting.message}",
                    code=waiting.code,
                )
            )
        if self.references:
            planned: dict[Side, set[str]] = {Side.A: set(), Side.B: set()}
            for pair in result.pairs:
                planned[Side.A].add(pair.a_id)
                planned[Side.B].add(pair.b_id)
            for create in result.creates:
                planned[create.side.other].add(create.source_id)
            for unlink in result.unlinks:  # an unlinked record's references wait for nothing
                for side, record_id in ((Side.A, unlink.a_id), (Side.B, unlink.b_id)):
                    if record_id is not None:
                        planned[side].add(record_id)
            self.store.waiting_store(planned, result.waiting)
        for unlink in result.unlinks:
            self.store.end_link(
                unlink.link_key, unlink.status, unlink.reason, unlink.record_a, unlink.record_b
            )
            self.emit(
                EngineEvent(
                    Action.UNLINKED, unlink.trigger, unlink.a_id, unlink.b_id, message=unlink.reason
                )
            )
        keys = self._link_matches(result.pairs)
        self._record_conflicts(result, keys)
        for converged in result.converged:
            self.store.converge_conflict(
                converged.conflict_key, converged.value_a, converged.value_b
            )
        pairs = [p for p in result.pairs if id(p) in keys]
        returned: dict[Side, dict[str, Any]] = {
            side: self._update(
                side,
                [(w, p) for p in pairs if (w := p.write(side)) is not None],
                keys,
                result.decisions,
            )
            for side in Side
        }
        self.store.save_pairs(
            [self._settle(pair, keys[id(pair)], links, returned) for pair in pairs]
        )
        self._close_decisions(result, pairs, returned)
        for side in Side:
            self._create(side, result.creates_on(side))
            self._delete(side, result.deletes_on(side))

    def _link_matches(self, pairs: list[PairPlan]) -> dict[int, Any]:
        """Store the links of newly matched pairs. The link key of every pair that has one,
        by id() of the pair."""
        keys: dict[int, Any] = {}
        new: list[tuple[Record, Record]] = []
        for pair in pairs:
            if pair.link_key is None:
                assert pair.record_a is not None
                assert pair.record_b is not None
                new.append((pair.record_a, pair.record_b))
        added = iter(self.store.add_matches(new))
        for pair in pairs:
            if pair.link_key is None:
                key = next(added)
                if key is None:  # taken meanwhile: leave it to the next run
                    continue
                keys[id(pair)] = key
                self.emit(
                    EngineEvent(
                        Action.MATCHED,
                        pair.trigger,
                        pair.a_id,
                        pair.b_id,
                        message="matched on the match rule",
                    )
                )
            else:
                keys[id(pair)] = pair.link_key
        return keys

    def _record_conflicts(self, result: Plan, keys: dict[int, Any]) -> None:
        """Open, refresh or store as decided each conflict of a pair that has a link."""
        pair_keys = {(p.a_id, p.b_id): keys[id(p)] for p in result.pairs if id(p) in keys}
        for conflict in result.conflicts:
            key = conflict.link_key or pair_keys.get((conflict.a_id, conflict.b_id))
            if key is None:
                continue
            self.store.record_conflict(key, conflict)
            if conflict.existing_key is not None:
                continue
            loser = conflict.losing_side
            message = conflict.reason
            if loser is not None:
                message += f"; the losing value on {loser.label} was {conflict.losing_value!r}"
            self.emit(
                EngineEvent(
                    Action.CONFLICT,
                    conflict.trigger,
                    conflict.a_id,
                    conflict.b_id,
                    changes={
                        conflict.mapping_id: {
                            "base": conflict.base,
                            "a": conflict.value_a,
                            "b": conflict.value_b,
                            "decision": conflict.decision,
                        }
                    },
                    message=message,
                    code="manual" if loser is None else "policy",
                )
            )

    def _update(
        self,
        side: Side,
        writes: list[tuple[Write, PairPlan]],
        keys: Mapping[int, Any],
        decisions: list[Any],
    ) -> dict[str, Any]:
        """Apply updates in batches; the stored copy per id, None where it failed (the
        system's refusal is kept in `refusals`), or IN_FLIGHT where a system's job does it
        later (stored for settling, the pair held)."""
        out: dict[str, Any] = {}
        connector = self.sides[side]
        decided = {d.link_key for d in decisions}
        for chunk in chunks(writes, self.batch_size):
            items = [RecordUpdate(w.record_id, w.fields) for w, _ in chunk]
            if any(keys.get(id(pair)) in decided for _, pair in chunk):
                with connector.waiting():  # a person's decision closes in this run
                    results = connector.update(items)
            else:
                results = connector.update(items)
            in_flight: list[InFlightWrite] = []
            for (write, pair), res in zip(chunk, results, strict=True):
                if res.ok and res.in_flight:
                    out[write.record_id] = IN_FLIGHT
                    in_flight.append(self._in_flight_update(side, write, pair, keys, res))
                elif res.ok and res.record is not None:
                    out[write.record_id] = res.record
                    if self.on_written is not None:
                        self.on_written(side, res.record)
                    decisions = sorted({c.decision for c in write.changes if c.decision})
                    self.emit(
                        EngineEvent(
                            Action.UPDATED,
                            side,
                            pair.a_id,
                            pair.b_id,
                            changes={
                                c.field: {
                                    "before": c.before,
                                    "after": res.record.fields.get(c.field, c.after),
                                }
                                for c in write.changes
                            },
                            message=_decision_message(decisions),
                            code="resolution" if decisions else "",
                        )
                    )
                else:
                    out[write.record_id] = None
                    self.refusals[(side, write.record_id)] = str(res.error)
                    self.emit(
                        EngineEvent(
                            Action.ERROR,
                            side,
                            pair.a_id,
                            pair.b_id,
                            changes={c.field: {"value": c.after} for c in write.changes},
                            message=f"{side.label} refused the update of {write.record_id}: "
                            f"{res.error}",
                            code="write",
                        )
                    )
            self.store.add_in_flight(in_flight)
        return out

    def _in_flight_update(
        self,
        side: Side,
        write: Write,
        pair: PairPlan,
        keys: Mapping[int, Any],
        res: WriteResult,
    ) -> InFlightWrite:
        """The row that lets a later run settle this update as `_settle` would have."""
        other = pair.record(side.other)
        self.in_flight.hold(side, write.record_id)
        self.in_flight.hold(side.other, other.id if other is not None else None)
        values = {
            s.value: {
                m.field(s): rec.fields.get(m.field(s))
                for m in self.spec.mappings
                if (rec := pair.record(s)) is not None
            }
            for s in Side
        }
        return InFlightWrite(
            link_id=keys[id(pair)],
            side=side.value,
            action=InFlightWrite.Action.UPDATE,
            record_id=write.record_id,
            other_id=other.id if other is not None else "",
            handle=res.pending,
            run_ref=self.run_ref,
            detail={
                "changes": [
                    {
                        "field": c.field,
                        "mapping_id": c.mapping_id,
                        "before": c.before,
                        "after": c.after,
                    }
                    for c in write.changes
                ],
                "settle": sorted(set(pair.settle) & {c.mapping_id for c in write.changes}, key=str),
                "values": values,
            },
        )

    def _close_decisions(
        self,
        result: Plan,
        pairs: list[PairPlan],
        returned: dict[Side, dict[str, Any]],
    ) -> None:
        """A decision whose writes were all stored resolves its conflict; one a system
        refused reopens it with the refusal, for the person to see and decide again."""
        by_link = {pair.link_key: pair for pair in pairs if pair.link_key is not None}
        for decision in result.decisions:
            pair = by_link.get(decision.link_key)
            if pair is None:
                continue
            refused = []
            for side in Side:
                write = pair.write(side)
                if write is None or not any(
                    c.mapping_id == decision.mapping_id for c in write.changes
                ):
                    continue
                if returned[side].get(write.record_id) is None:
                    error = self.refusals.get((side, write.record_id), "")
                    refused.append(f"{side.label} refused the value: {error}")
            changes = {
                decision.mapping_id: {
                    "before": dict(decision.before),
                    "after": dict(decision.after),
                    "decision": decision.resolution,
                }
            }
            if refused:
                error = "; ".join(refused)
                self.store.decision_refused(decision.conflict_key, error)
                event = EngineEvent(
                    Action.CONFLICT,
                    pair.trigger,
                    pair.a_id,
                    pair.b_id,
                    changes=changes,
                    message=f"the decision did not take, the conflict is open again: {error}",
                    code="decision_refused",
                )
            else:
                self.store.decision_written(decision.conflict_key)
                event = EngineEvent(
                    Action.RESOLVED,
                    pair.trigger,
                    pair.a_id,
                    pair.b_id,
                    changes=changes,
                    message="a person's decision is written to both sides",
                    code="decided",
                )
            self.emit(event)

    def _settle(
        self,
        pair: PairPlan,
        key: Any,
        links: Mapping[Any, LinkState],
        returned: dict[Side, dict[str, Any]],
    ) -> tuple[Any, dict[str, Any], Record, Record]:
        """The pair's new base and its records after its writes (what `save_pairs` stores):
        (key, base, A record, B record)."""
        settle = set(pair.settle)
        finals: dict[Side, Record] = {}
        values: dict[Side, dict[str, Any]] = {}
        for side in Side:
            current = pair.record(side)
            assert current is not None
            finals[side] = current
            values[side] = dict(current.fields)
            write = pair.write(side)
            if write is None:
                continue
            stored = returned[side].get(write.record_id)
            if stored is None or stored is IN_FLIGHT:
                # Refused, or in a system's job: those fields keep their old base (settling
                # the job sets it).
                settle -= {c.mapping_id for c in write.changes}
                continue
            finals[side] = stored
            # Only the fields this plan wrote take the returned (normalised) values. The
            # returned copy may already carry a user's edit of another field made since we
            # planned; taking that into the base would make the edit look synced and lose it.
            for change in write.changes:
                values[side][change.field] = stored.fields.get(change.field)
        link = links.get(key)
        old_base = link.base if link is not None else {}
        base = settled_base(self.spec, old_base, settle, values[Side.A], values[Side.B])
        return key, base, finals[Side.A], finals[Side.B]

    def _create(self, target: Side, creates: list[Create]) -> None:
        connector = self.sides[target]
        for chunk in chunks(creates, self.batch_size):
            # Every create of the chunk is stored as pending (committed) before the call.
            keys = self.store.add_pendings(target, [(c.source, c.fields) for c in chunk])
            pending = [(c, key) for c, key in zip(chunk, keys, strict=True) if key is not None]
            if not pending:
                continue
            results = connector.create([c.fields for c, _ in pending])
            answered = list(zip(pending, results, strict=True))
            # In a system's job: the pending create stays, with the job's handle, until a
            # later run settles it (recovery leaves it alone meanwhile).
            in_flight = [(c, key, res) for (c, key), res in answered if res.ok and res.in_flight]
            for create, _, _ in in_flight:
                self.in_flight.hold_create(target, create.source.id, create.fields)
            self.store.add_in_flight(
                [
                    InFlightWrite(
                        link_id=key,
                        side=target.value,
                        action=InFlightWrite.Action.CREATE,
                        other_id=create.source.id,
                        handle=res.pending,
                        run_ref=self.run_ref,
                        detail={"source_fields": create.source.fields},
                    )
                    for create, key, res in in_flight
                ]
            )
            # A record with an error was created but a follow-up step failed (say, Jira
            # could not move the new issue to the wanted status): it exists, so it is
            # linked, or the next run would create it a second time.
            self.confirm_all(
                target,
                [
                    (create.source, key, res.record, res.error)
                    for (create, key), res in answered
                    if not (res.ok and res.in_flight)
                ],
            )

    def confirm(
        self, target: Side, source: Record, key: Any, created: Record | None, error: Any
    ) -> None:
        """Link a created record (base: the values as returned) or drop the pending create.

        With both a record and an error the record is linked and the error reported too.
        """
        self.confirm_all(target, [(source, key, created, error)])

    def confirm_all(
        self, target: Side, outcomes: list[tuple[Record, Any, Record | None, Any]]
    ) -> None:
        """`confirm` for each (source, pending key, created record, error) of one call's
        creates: the links are stored together, in one transaction, then reported."""
        waits: dict[str, set[str]] = {}
        if self.references:
            waits = self.store.waiting_of(target.other, [source.id for source, *_ in outcomes])
        bases = [
            None
            if created is None
            else self._created_base(target, source, created, error, waits.get(source.id, set()))
            for source, _, created, error in outcomes
        ]
        self.store.confirm_creates(
            target,
            [
                (key, created, base)
                for (_, key, created, _), base in zip(outcomes, bases, strict=True)
                if created is not None and base is not None
            ],
        )
        for source, key, created, error in outcomes:
            if created is None:
                self.store.drop_pending(key)
                self.emit(
                    EngineEvent(
                        Action.ERROR,
                        target,
                        *ids_on(target.other, source.id),
                        message=f"{target.label} refused to create the counterpart of "
                        f"{source.id}: {error}",
                        code="write",
                    )
                )
                continue
            if self.on_written is not None:
                self.on_written(target, created)
            a_id, b_id = (created.id, source.id) if target is Side.A else (source.id, created.id)
            self.emit(
                EngineEvent(
                    Action.CREATED,
                    target,
                    a_id,
                    b_id,
                    changes={
                        name: {"before": None, "after": v} for name, v in created.fields.items()
                    },
                    message=f"created as the counterpart of {source.id}",
                )
            )
            if error is not None:
                self.emit(
                    EngineEvent(
                        Action.ERROR,
                        target,
                        a_id,
                        b_id,
                        message=f"{target.label} created {created.id} as the counterpart of "
                        f"{source.id}, but reported an error: {error}",
                        code="write",
                    )
                )

    def _created_base(
        self, target: Side, source: Record, created: Record, error: Any, waiting: set[str]
    ) -> dict[str, Any]:
        """The base of a new link: the values as the system returned them."""
        fields = {Side.A: source.fields, Side.B: created.fields}
        if target is Side.A:
            fields = {Side.A: created.fields, Side.B: source.fields}
        base = settled_base(
            self.spec, {}, {m.id for m in self.spec.mappings}, fields[Side.A], fields[Side.B]
        )
        if error is not None:
            # Part of the create did not take (say, Jira made the issue but could not move it
            # to the wanted status). Where the new record disagrees with its source, the base
            # records the source's value as not delivered yet, so the next run that reads
            # the pair (the retry of the failed record) writes it again; a base of both
            # values as they stand would call the disagreement settled and drop the value.
            for mapping in self.spec.mappings:
                value_a = fields[Side.A].get(mapping.field_a)
                value_b = fields[Side.B].get(mapping.field_b)
                if mapping.id in base and not mapping.agree(value_a, value_b):
                    base[mapping.id][target.other.value] = None
        for mapping_id in waiting & set(base):
            # A reference left out of the create: not delivered yet, so the run that reads
            # the record once its wait is over writes it.
            base[mapping_id][target.other.value] = None
        return base

    def _delete(self, side: Side, deletes: list[Delete]) -> None:
        connector = self.sides[side]
        for chunk in chunks(deletes, self.batch_size):
            results = connector.delete([d.record_id for d in chunk])
            in_flight: list[InFlightWrite] = []
            for delete, res in zip(chunk, results, strict=True):
                if res.ok and res.in_flight:
                    self.in_flight.hold(side, delete.record_id)
                    self.in_flight.hold(side.other, delete.other_id)
                    in_flight.append(
                        InFlightWrite(
                            link_id=delete.link_key,
                            side=side.value,
                            action=InFlightWrite.Action.DELETE,
                            record_id=delete.record_id,
                            other_id=delete.other_id or "",
                            handle=res.pending,
                            run_ref=self.run_ref,
                            detail={"reason": delete.reason},
                        )
                    )
                elif res.ok:
                    self.store.end_link(delete.link_key, LinkStatus.DELETED, delete.reason)
                    a_id, b_id = delete.record_id, delete.other_id
                    if side is Side.B:
                        a_id, b_id = b_id, a_id
                    self.emit(
                        EngineEvent(
                            Action.DELETED,
                            side,
                            a_id,
                            b_id,
                            message=delete.reason,
                        )
                    )
                else:
                    self.emit(
                        EngineEvent(
                            Action.ERROR,
                            side,
                            *ids_on(side, delete.record_id),
                            message=f"{side.label} refused to delete "
                            f"{delete.record_id}: {res.error}",
                            code="write",
                        )
                    )
            self.store.add_in_flight(in_flight)


def _decision_message(resolutions: list[str]) -> str:
    """The event message of an update that writes a person's decision."""
    if not resolutions:
        return ""
    chosen = {"a": "A's value", "b": "B's value", "custom": "a value of their own"}
    return "a person decided the conflict: " + ", ".join(chosen.get(r, r) for r in resolutions)
