"""The runner: connectors and the link store around the pure planner.

A run, in order:

1. Pending creates left by an interrupted run are recovered: the record the create made is
   found (by the values that were sent) and linked, or, if the create never happened, the
   source record is planned again. So a crash at any point never produces a duplicate.
2. Unless the run was approved, the safety limit is checked: the changes are planned without
   writing, and if they would change or delete more than the limit, the run stops here as
   HELD (nothing written) and the caller pauses the sync.
3. The changes are streamed page by page, A's feed then B's (or only the records named for a
   webhook run). Per page: records whose mapped values equal the base (our own echoes,
   edits of unmapped fields) are dropped without any call; for the rest the partners are
   fetched with one get(), match candidates with one find(), the planner decides, and the
   plan is applied in batches. For the fields written, the base stored is what the systems
   returned; the other fields keep the values they were planned with.
4. A page's cursor is stored only after everything that page led to is stored.

Memory use is bounded by the page size (plus, for the dry pass of a preview or safety check,
the ids matched so far).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from apps.syncs.engine.filters import in_scope
from apps.syncs.engine.merge import is_echo, settled_base
from apps.syncs.engine.plan import dedupe, plan
from apps.syncs.engine.plan_types import (
    Create,
    LinkState,
    PairPlan,
    Plan,
    PlanInput,
    SyncSpec,
    Write,
)
from apps.syncs.engine.recorder import (
    COUNTER_OF_ACTION,
    Action,
    EngineEvent,
    Outcome,
    Recorder,
    RunInterrupted,
    RunReport,
)
from apps.syncs.engine.sides import SideConnector, SideFailure
from apps.syncs.engine.store import LinkStore, chunks
from apps.syncs.engine.types import ACTIVE_STATUSES, LinkStatus, Side
from apps.syncs.engine.values import comparable, is_empty, match_key
from connectors.base import Connector, Cursor, Record, RecordUpdate

logger = logging.getLogger(__name__)

# The share part of the safety limit only applies from this many changes on, so that a
# sync with 4 linked records can still change 3 of them without asking.
SAFETY_SHARE_FLOOR = 10
# Skips that depend on other records, looked at again at the end of a run.
SECOND_LOOK_CODES = frozenset({"ambiguous", "already_linked", "match_out_of_scope"})
# Pages read by the dry pass are kept for the real pass while they hold at most this many
# records, so a small run reads its feeds once.
DRY_PASS_CACHE_RECORDS = 2000


@dataclass
class RunOptions:
    trigger: str = "manual"
    full: bool = False  # read both sides from the start instead of the cursors
    record_ids: dict[Side, list[str]] | None = None  # a webhook run: only these records
    # Records that failed in an earlier run, read again (with get()) before the feed: a
    # cursor has moved past them, so otherwise only their next change would bring them back.
    retry_ids: dict[Side, list[str]] | None = None
    approved: bool = False  # the safety limit was approved for this run
    batch_size: int = 50


@dataclass
class Preview:
    """What a run would do, without doing it."""

    counts: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def change_count(self) -> int:
        c = self.counts
        return c["updated_a"] + c["updated_b"] + c["deleted_a"] + c["deleted_b"]

    def as_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "samples": self.samples}


Batch = tuple[Side, list[Record], Cursor | None]


class _DryOverlay:
    """In a dry pass nothing is stored, so what earlier pages would have linked is kept
    here, lest the other side's pages count the same pairs again."""

    def __init__(self) -> None:
        self.links_seen: set[Any] = set()
        self.claimed: dict[Side, dict[str, str | None]] = {Side.A: {}, Side.B: {}}

    def virtual_links(self, side: Side, ids: Sequence[str]) -> list[LinkState]:
        out = []
        for record_id in ids:
            if record_id in self.claimed[side]:
                partner = self.claimed[side][record_id]
                a_id, b_id = (record_id, partner) if side is Side.A else (partner, record_id)
                out.append(LinkState(("virtual", side, record_id), a_id, b_id))
        return out

    def planned(self, link: LinkState) -> bool:
        """Whether an earlier page of the pass already planned this pair."""
        return link.key in self.links_seen or isinstance(link.key, tuple)

    def absorb(self, result: Plan) -> None:
        for pair in result.pairs:
            if pair.link_key is not None:
                self.links_seen.add(pair.link_key)
            else:
                self.claimed[Side.A][pair.a_id] = pair.b_id
                self.claimed[Side.B][pair.b_id] = pair.a_id
        for create in result.creates:
            self.claimed[create.side.other][create.source_id] = None
        for unlink in result.unlinks:
            self.links_seen.add(unlink.link_key)
        for delete in result.deletes:
            self.links_seen.add(delete.link_key)


class Runner:
    """Runs one sync once. Not thread-safe; one Runner per run."""

    def __init__(
        self,
        *,
        spec: SyncSpec,
        store: LinkStore,
        connectors: dict[Side, Connector],
        object_types: dict[Side, str],
        recorder: Recorder,
        safety_limit_share: float | None = None,
        safety_limit_count: int | None = None,
        api_calls: Callable[[], int] | None = None,
    ) -> None:
        self.spec = spec
        self.store = store
        self.sides = {
            side: SideConnector(side, connector, object_types[side])
            for side, connector in connectors.items()
        }
        self.recorder = recorder
        self.safety_limit_share = safety_limit_share
        self.safety_limit_count = safety_limit_count
        self.counters: Counter[str] = Counter()
        self.batch_size = 50
        self._api_calls = api_calls or (lambda: 0)
        self._deferring = True
        self._deferred: dict[Side, list[str]] = {Side.A: [], Side.B: []}

    def _second_look(self) -> None:
        """Plan once more the records a match question stopped earlier in this run.

        Whether a record is ambiguous or its match is taken depends on other records that
        later pages may change (an email edited on the other side, a pair linked). Looking
        again once everything is applied makes the outcome independent of page order, so
        that replaying the same changes reaches the same state.
        """
        self._deferring = False
        deferred, self._deferred = self._deferred, {Side.A: [], Side.B: []}
        for side in Side:
            ids = list(dict.fromkeys(deferred[side]))
            for chunk in chunks(ids, self.batch_size):
                self._apply_batch(side, self._fetch(side, list(chunk)), None)

    def _finish(self, report: RunReport) -> RunReport:
        report.api_calls = self._api_calls()
        self.recorder.finished(report)
        return report

    # --- public ---
    def run(self, options: RunOptions) -> RunReport:
        """One run. Connector errors end it as FAILED (state stored so far is kept)."""
        self.batch_size = options.batch_size
        self.recorder.started(trigger=options.trigger)
        try:
            retry = self._recover_pending()
            if options.retry_ids:
                retry = retry or {Side.A: [], Side.B: []}
                for side, ids in options.retry_ids.items():
                    retry[side] = list(dict.fromkeys([*retry[side], *ids]))
            cache: list[Batch] | None = None
            if not options.approved and self._safety_applies():
                preview, cache = self._dry_pass(options, sample_size=0)
                held = self._safety_reason(preview.change_count)
                if held:
                    report = RunReport(Outcome.HELD, self.counters, held_reason=held)
                    report.counters["held_changes"] = preview.change_count
                    return self._finish(report)
            if retry:
                for side in Side:
                    for chunk in chunks(retry[side], self.batch_size):
                        self._apply_batch(side, self._fetch(side, list(chunk)), None)
            for side, records, cursor in cache if cache is not None else self._batches(options):
                self._apply_batch(side, records, cursor)
            self._second_look()
        except RunInterrupted:
            raise  # stopped between batches on purpose; what came before is stored
        except SideFailure as failure:
            logger.warning("sync run failed: %s", failure.error)
            return self._finish(
                RunReport(
                    Outcome.FAILED,
                    self.counters,
                    error=str(failure.error),
                    exception=failure.error,
                    error_side=failure.side,
                )
            )
        except Exception as exc:
            # A bug: leave a trail saying so, then let it propagate to whoever can log it.
            self._finish(RunReport(Outcome.FAILED, self.counters, error=f"internal error: {exc!r}"))
            raise
        errors = self.counters["errors_a"] + self.counters["errors_b"]
        return self._finish(
            RunReport(Outcome.PARTIAL if errors else Outcome.SUCCEEDED, self.counters)
        )

    def preview(self, options: RunOptions, *, sample_size: int = 5) -> Preview:
        """The plan of a run without writing anything (state and cursors untouched).

        Raises the ConnectorError of a side that cannot be read.
        """
        self.batch_size = options.batch_size
        try:
            preview, _ = self._dry_pass(options, sample_size=sample_size, keep_pages=False)
        except SideFailure as failure:
            error = failure.error
        else:
            return preview
        raise error  # outside the handler: the error keeps its own cause and context

    # --- reading ---
    def _batches(self, options: RunOptions) -> Iterator[Batch]:
        if options.record_ids is not None:
            for side in Side:
                ids = list(dict.fromkeys(options.record_ids.get(side, [])))
                for chunk in chunks(ids, self.batch_size):
                    yield side, self._fetch(side, list(chunk)), None
            return
        for side in Side:
            cursor = None if options.full else self.store.cursor(side)
            for page in self.sides[side].changes(cursor):
                yield side, page.records, page.cursor

    def _fetch(self, side: Side, ids: list[str]) -> list[Record]:
        """Current copies of these records; an id the system no longer has reads as deleted."""
        if not ids:
            return []
        found = {r.id: r for r in self.sides[side].get(ids)}
        return [found.get(i) or Record(id=i, deleted=True) for i in ids]

    # --- planning one batch ---
    def _plan_batch(
        self, side: Side, records: list[Record], overlay: _DryOverlay | None = None
    ) -> tuple[Plan, dict[Any, LinkState]]:
        records = dedupe(records)
        self.counters[f"read_{side}"] += len(records)
        other = side.other
        links = self.store.links_for(side, [r.id for r in records])
        if overlay is not None:
            links += overlay.virtual_links(side, [r.id for r in records])
        active = {link.id(side): link for link in reversed(links) if link.status in ACTIVE_STATUSES}
        changed: list[Record] = []
        for record in records:
            link = active.get(record.id)
            if overlay is not None and link is not None and overlay.planned(link):
                continue
            if is_echo(self.spec, side, record, link):
                self.counters[f"unchanged_{side}"] += 1
                continue
            changed.append(record)
        by_key: dict[Any, LinkState] = {link.key: link for link in links}
        if not changed:
            return Plan(), by_key
        partner_ids = [
            pid
            for r in changed
            if (link := active.get(r.id)) is not None
            and link.status is LinkStatus.LINKED
            and (pid := link.id(other)) is not None
        ]
        others: dict[str, Record] = {}
        if partner_ids:
            for record in self.sides[other].get(partner_ids):
                others[record.id] = record
        unlinked = [
            r
            for r in changed
            if r.id not in active and not r.deleted and in_scope(self.spec.filters(side), r.fields)
        ]
        candidate_links: list[LinkState] = []
        own: dict[str, Record] = {}
        if unlinked and self.spec.match_rule:
            pair = self.spec.match_rule[0]
            values = list(
                dict.fromkeys(
                    r.fields[pair.field(side)]
                    for r in unlinked
                    if match_key(r.fields.get(pair.field(side)), pair.normalise) is not None
                )
            )
            if values:
                found = self.sides[other].find(pair.field(other), values)
                for record in found:
                    others.setdefault(record.id, record)
                # The reverse question: does a candidate match other records of this side?
                back = list(
                    dict.fromkeys(
                        r.fields[pair.field(other)]
                        for r in found
                        if match_key(r.fields.get(pair.field(other)), pair.normalise) is not None
                    )
                )
                known = {r.id for r in records}
                if back:
                    for record in self.sides[side].find(pair.field(side), back):
                        if record.id not in known:
                            own[record.id] = record
                candidate_links = self.store.links_for(other, [r.id for r in found])
                candidate_links += self.store.links_for(side, list(own))
                if overlay is not None:
                    candidate_links += overlay.virtual_links(other, [r.id for r in found])
                    candidate_links += overlay.virtual_links(side, list(own))
        all_links = links + candidate_links
        for link in candidate_links:
            by_key.setdefault(link.key, link)
        inp = PlanInput(
            changed_a=changed if side is Side.A else (),
            changed_b=changed if side is Side.B else (),
            records_a=others if other is Side.A else own,
            records_b=others if other is Side.B else own,
            links=all_links,
            conflicts=self.store.open_conflicts(
                link.key for link in all_links if not isinstance(link.key, tuple)
            ),
        )
        return plan(self.spec, inp), by_key

    # --- the dry pass: preview and safety check ---
    def _dry_pass(
        self, options: RunOptions, *, sample_size: int, keep_pages: bool = True
    ) -> tuple[Preview, list[Batch] | None]:
        preview = Preview()
        overlay = _DryOverlay()
        cache: list[Batch] | None = [] if keep_pages else None
        cached_records = 0
        saved = self.counters
        self.counters = Counter()
        try:
            for side, records, cursor in self._batches(options):
                if cache is not None:
                    cached_records += len(records)
                    if cached_records > DRY_PASS_CACHE_RECORDS:
                        cache = None
                    else:
                        cache.append((side, list(records), cursor))
                result, _ = self._plan_batch(side, records, overlay)
                overlay.absorb(result)
                _tally(preview, result, sample_size)
            preview.counts["read_a"] = self.counters["read_a"]
            preview.counts["read_b"] = self.counters["read_b"]
        finally:
            self.counters = saved
        return preview, cache

    def _safety_applies(self) -> bool:
        return self.safety_limit_share is not None or self.safety_limit_count is not None

    def _safety_reason(self, changes: int) -> str:
        count, share = self.safety_limit_count, self.safety_limit_share
        if count is not None and changes > count:
            return (
                f"this run would change or delete {changes} records, more than the safety "
                f"limit of {count}; approve or cancel it"
            )
        if share is not None and changes >= SAFETY_SHARE_FLOOR:
            linked = self.store.linked_count()
            if changes > share * linked:
                return (
                    f"this run would change or delete {changes} of {linked} linked records, "
                    f"more than the safety limit of {share:.0%}; approve or cancel it"
                )
        return ""

    # --- applying ---
    def _emit(self, event: EngineEvent) -> None:
        counter = COUNTER_OF_ACTION.get(event.action)
        if counter:
            self.counters[f"{counter}_{event.side}"] += 1
        self.recorder.event(event)

    def _apply_batch(self, side: Side, records: list[Record], cursor: Cursor | None) -> None:
        if records:
            result, links = self._plan_batch(side, records)
            self.counters[f"unchanged_{Side.A}"] += result.unchanged[Side.A]
            self.counters[f"unchanged_{Side.B}"] += result.unchanged[Side.B]
            self._execute(result, links)
        if cursor is not None:
            self.store.set_cursor(side, cursor)
        self.recorder.checkpoint()

    def _execute(self, result: Plan, links: dict[Any, LinkState]) -> None:
        for skip in result.skips:
            if self._deferring and skip.code in SECOND_LOOK_CODES:
                self._deferred[skip.side].append(skip.record_id)
                continue
            a_id, b_id = (skip.record_id, None) if skip.side is Side.A else (None, skip.record_id)
            self._emit(
                EngineEvent(
                    Action.SKIPPED, skip.side, a_id, b_id, message=skip.reason, code=skip.code
                )
            )
        for issue in result.errors:
            a_id, b_id = (issue.record_id, issue.other_id)
            if issue.side is Side.B:
                a_id, b_id = b_id, a_id
            self._emit(
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
        for unlink in result.unlinks:
            self.store.end_link(
                unlink.link_key, unlink.status, unlink.reason, unlink.record_a, unlink.record_b
            )
            self._emit(
                EngineEvent(
                    Action.UNLINKED, unlink.trigger, unlink.a_id, unlink.b_id, message=unlink.reason
                )
            )
        keys: dict[int, Any] = {}
        for pair in result.pairs:
            if pair.link_key is None:
                assert pair.record_a is not None
                assert pair.record_b is not None
                key = self.store.add_match(pair.record_a, pair.record_b)
                if key is None:  # taken meanwhile: leave it to the next run
                    continue
                keys[id(pair)] = key
                self._emit(
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
            self._emit(
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
        for converged in result.converged:
            self.store.converge_conflict(
                converged.conflict_key, converged.value_a, converged.value_b
            )
        pairs = [p for p in result.pairs if id(p) in keys]
        returned: dict[Side, dict[str, Record | None]] = {
            side: self._update(side, [(w, p) for p in pairs if (w := p.write(side)) is not None])
            for side in Side
        }
        for pair in pairs:
            self._settle(pair, keys[id(pair)], links, returned)
        for side in Side:
            self._create(side, result.creates_on(side))
            self._delete(side, result)

    def _update(self, side: Side, writes: list[tuple[Write, PairPlan]]) -> dict[str, Record | None]:
        """Apply updates in batches; the stored copy per id, or None where it failed."""
        out: dict[str, Record | None] = {}
        connector = self.sides[side]
        for chunk in chunks(writes, self.batch_size):
            items = [RecordUpdate(w.record_id, w.fields) for w, _ in chunk]
            results = connector.update(items)
            for (write, pair), res in zip(chunk, results, strict=True):
                if res.ok and res.record is not None:
                    out[write.record_id] = res.record
                    self._emit(
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
                        )
                    )
                else:
                    out[write.record_id] = None
                    self._emit(
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
        return out

    def _settle(
        self,
        pair: PairPlan,
        key: Any,
        links: dict[Any, LinkState],
        returned: dict[Side, dict[str, Record | None]],
    ) -> None:
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
            if stored is None:  # refused: those fields keep their old base
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
        self.store.save_pair(key, base, finals[Side.A], finals[Side.B])

    def _create(self, target: Side, creates: list[Create]) -> None:
        connector = self.sides[target]
        for chunk in chunks(creates, self.batch_size):
            pending: list[tuple[Create, Any]] = []
            for create in chunk:
                key = self.store.add_pending(target, create.source, create.fields)
                if key is not None:
                    pending.append((create, key))
            if not pending:
                continue
            results = connector.create([c.fields for c, _ in pending])
            for (create, key), res in zip(pending, results, strict=True):
                # A record with an error was created but a follow-up step failed (say, Jira
                # could not move the new issue to the wanted status): it exists, so it is
                # linked, or the next run would create it a second time.
                self._confirm(target, create.source, key, res.record, res.error)

    def _confirm(
        self, target: Side, source: Record, key: Any, created: Record | None, error: Any
    ) -> None:
        """Link a created record (base: the values as returned) or drop the pending create.

        With both a record and an error the record is linked and the error reported too.
        """
        if created is None:
            self.store.drop_pending(key)
            self._emit(
                EngineEvent(
                    Action.ERROR,
                    target,
                    *(_ids(target.other, source.id)),
                    message=f"{target.label} refused to create the counterpart of "
                    f"{source.id}: {error}",
                    code="write",
                )
            )
            return
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
        self.store.confirm_create(key, target, created, base)
        a_id, b_id = (created.id, source.id) if target is Side.A else (source.id, created.id)
        self._emit(
            EngineEvent(
                Action.CREATED,
                target,
                a_id,
                b_id,
                changes={name: {"before": None, "after": v} for name, v in created.fields.items()},
                message=f"created as the counterpart of {source.id}",
            )
        )
        if error is not None:
            self._emit(
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

    def _delete(self, side: Side, result: Plan) -> None:
        deletes = result.deletes_on(side)
        connector = self.sides[side]
        for chunk in chunks(deletes, self.batch_size):
            results = connector.delete([d.record_id for d in chunk])
            for delete, res in zip(chunk, results, strict=True):
                if res.ok:
                    self.store.end_link(delete.link_key, LinkStatus.DELETED, delete.reason)
                    a_id, b_id = delete.record_id, delete.other_id
                    if side is Side.B:
                        a_id, b_id = b_id, a_id
                    self._emit(
                        EngineEvent(
                            Action.DELETED,
                            side,
                            a_id,
                            b_id,
                            message=delete.reason,
                        )
                    )
                else:
                    self._emit(
                        EngineEvent(
                            Action.ERROR,
                            side,
                            *(_ids(side, delete.record_id)),
                            message=f"{side.label} refused to delete "
                            f"{delete.record_id}: {res.error}",
                            code="write",
                        )
                    )

    # --- crash recovery ---
    def _recover_pending(self) -> dict[Side, list[str]] | None:
        """Link what interrupted creates made; return source ids whose create never happened."""
        retry: dict[Side, list[str]] = {Side.A: [], Side.B: []}
        rows = self.store.pending()
        for row in rows:
            target = Side.A if row.status == LinkStatus.PENDING_CREATE_A else Side.B
            source = target.other
            source_id = row.a_id if source is Side.A else row.b_id
            assert source_id is not None
            found = self._find_created(target, row.pending_fields or {})
            if len(found) > 1:
                self._emit(
                    EngineEvent(
                        Action.ERROR,
                        target,
                        *(_ids(source, source_id)),
                        message=f"an interrupted create of the counterpart of {source_id} left "
                        f"{len(found)} candidates on {target.label} "
                        f"({', '.join(r.id for r in found)}); link one by hand",
                        code="ambiguous",
                    )
                )
                continue
            if not found:
                self.store.drop_pending(row.pk)
                retry[source].append(source_id)
                continue
            sources = self.sides[source].get([source_id])
            source_record = sources[0] if sources else Record(id=source_id, fields={})
            self._confirm(target, source_record, row.pk, found[0], None)
        if not any(retry.values()):
            return None
        return retry

    def _find_created(self, target: Side, sent: dict[str, Any]) -> list[Record]:
        """Unlinked records on `target` holding every value a create sent."""
        values = {k: v for k, v in sent.items() if not is_empty(v)}
        if not values:
            return []
        kinds = {m.field(target): m.kind(target) for m in self.spec.mappings}
        preferred = [p.field(target) for p in self.spec.match_rule if p.field(target) in values]
        search = preferred[0] if preferred else sorted(values)[0]
        found = self.sides[target].find(search, [values[search]])

        def holds(record: Record) -> bool:
            for name, value in values.items():
                kind = kinds.get(name)
                left = record.fields.get(name)
                if kind is None:
                    if left != value:
                        return False
                elif comparable(left, kind) != comparable(value, kind):
                    return False
            return True

        matching = [r for r in found if holds(r)]
        linked = {
            link.id(target)
            for link in self.store.links_for(target, [r.id for r in matching])
            if link.status in ACTIVE_STATUSES
        }
        return [r for r in matching if r.id not in linked]


def _ids(side: Side, record_id: str) -> tuple[str | None, str | None]:
    return (record_id, None) if side is Side.A else (None, record_id)


def _tally(preview: Preview, result: Plan, sample_size: int) -> None:
    counts = preview.counts

    def sample(kind: str, item: dict[str, Any]) -> None:
        bucket = preview.samples.setdefault(kind, [])
        if len(bucket) < sample_size:
            bucket.append(item)

    for pair in result.pairs:
        if pair.matched:
            counts["matched"] += 1
            sample("matched", {"a": pair.a_id, "b": pair.b_id})
        for side in Side:
            write = pair.write(side)
            if write is not None:
                counts[f"updated_{side}"] += 1
                sample(
                    f"updated_{side}",
                    {
                        "a": pair.a_id,
                        "b": pair.b_id,
                        "changes": {
                            c.field: {"before": c.before, "after": c.after} for c in write.changes
                        },
                    },
                )
    for create in result.creates:
        counts[f"created_{create.side}"] += 1
        sample(f"created_{create.side}", {"source": create.source_id, "fields": create.fields})
    for delete in result.deletes:
        counts[f"deleted_{delete.side}"] += 1
        sample(f"deleted_{delete.side}", {"id": delete.record_id, "reason": delete.reason})
    for conflict in result.conflicts:
        counts["conflicts"] += 1
        sample(
            "conflicts",
            {
                "a": conflict.a_id,
                "b": conflict.b_id,
                "mapping": conflict.mapping_id,
                "value_a": conflict.value_a,
                "value_b": conflict.value_b,
                "decision": conflict.decision,
            },
        )
    for unlink in result.unlinks:
        counts["unlinked"] += 1
        sample("unlinked", {"a": unlink.a_id, "b": unlink.b_id, "reason": unlink.reason})
    for skip in result.skips:
        counts["skipped"] += 1
        sample("skipped", {"side": skip.side.value, "id": skip.record_id, "reason": skip.reason})
    for issue in result.errors:
        counts["errors"] += 1
        sample(
            "errors",
            {
                "side": issue.side.value,
                "id": issue.record_id,
                "field": issue.field,
                "value": issue.value,
                "message": issue.message,
            },
        )
