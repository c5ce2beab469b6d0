"""The runner: one run of a sync, in order, around the pure planner.

1. Writes an earlier run left in a system's background job are settled (`settle`): those
   finished are completed as that run would have completed them (links, bases, events)
   and their records read again below; those still in flight are held: their records are
   left out of this run (`inflight`). Then pending creates left by an interrupted run are
   recovered (`recovery`): the record the create made is linked, or, if the create never
   happened, the source record is planned again. So a crash at any point never produces a
   duplicate. Writes this run sends to a system that does them in the background are not
   waited for (connectors.base, `settle_later`): they are stored in flight and held too.
2. Unless the run was approved, the safety limit is checked (`dry_run`): the changes are
   planned without writing, and if they would change or delete more than the limit, the run
   stops here as HELD (nothing written) and the caller pauses the sync.
3. Records that failed in an earlier run, and those of conflicts a person decided that no
   run has written yet, are read again; then the changes are streamed in batches of
   consecutive pages (up to `RunOptions.batch_size` records), A's feed then B's (or only
   the records named for a webhook run). Each batch is planned (`batch`: echoes dropped,
   partners and match candidates fetched, the planner called) and the plan applied
   (`apply`: writes in the largest batches the systems take, links and bases stored). A
   batch's cursor is stored only after everything that batch led to is stored.
4. The second look: records a match question stopped are planned once more at the end.

Matching at the APIs' ceiling: a side whose feed this run reads from the start (a first
run, or a full one) is listed before anything is planned, and a `MatchIndex` built from
that listing answers every match question about it, so matching costs no call at all. The
listing is then what the run plans as that side's feed (it is not read twice); records the
run itself wrote since are left out of that replay (their listed copy is older than what
the run stored; the next run's feed brings them back as echoes). Sides read from a cursor
are streamed and matched with batched find() calls.

Memory use is bounded by the batch size, except for the sides listed in full, which are
held for the run (plus, for the dry pass of a preview or safety check, the ids matched so
far).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from apps.syncs.engine.apply import Applier, ids_on
from apps.syncs.engine.batch import Batch, BatchPlanner, MatchIndex
from apps.syncs.engine.comments import CommentSyncer
from apps.syncs.engine.dry_run import PageDone, Preview, SafetyLimit, dry_pass
from apps.syncs.engine.inflight import InFlight
from apps.syncs.engine.plan_types import Plan, SyncSpec
from apps.syncs.engine.recorder import (
    Action,
    EngineEvent,
    Outcome,
    Phase,
    Recorder,
    RunInterrupted,
    RunReport,
)
from apps.syncs.engine.recovery import recover_pending
from apps.syncs.engine.references import References
from apps.syncs.engine.settle import settle_in_flight
from apps.syncs.engine.sides import SideConnector, SideFailure
from apps.syncs.engine.store import LinkStore, chunks
from apps.syncs.engine.types import ACTIVE_STATUSES, Side
from connectors.base import Connector, Cursor, Record

logger = logging.getLogger(__name__)

# How long a run waits for its systems' jobs when it must settle them before writing more.
SETTLE_NOW_MAX_SECONDS = 600.0

# Skips that depend on other records, looked at again at the end of a run.
SECOND_LOOK_CODES = frozenset({"ambiguous", "already_linked", "match_out_of_scope"})


@dataclass
class RunOptions:
    trigger: str = "manual"
    full: bool = False  # read both sides from the start instead of the cursors
    record_ids: dict[Side, list[str]] | None = None  # a webhook run: only these records
    # Records that failed in an earlier run, read again (with get()) before the feed: a
    # cursor has moved past them, so otherwise only their next change would bring them back.
    retry_ids: dict[Side, list[str]] | None = None
    approved: bool = False  # the safety limit was approved for this run
    # Records planned and applied together: consecutive feed pages are joined up to this
    # many, and writes go to the connectors in chunks this large (each connector splits
    # them into the largest batches its system takes, and may send those together).
    batch_size: int = 1000


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
        self.safety = SafetyLimit(count=safety_limit_count, share=safety_limit_share)
        references = References(store.sync, spec, self.sides)
        self.planner = BatchPlanner(
            spec, store, self.sides, references if references.mappings else None
        )
        self.counters: Counter[str] = Counter()
        self.batch_size = RunOptions.batch_size
        # The sides listed in full for this run (see the module docstring), their pages,
        # and per side the ids of records the run wrote since they were listed.
        self._listings: dict[Side, list[Batch]] | None = None
        self._written: dict[Side, set[str]] = {Side.A: set(), Side.B: set()}
        self._api_calls = api_calls or (lambda: 0)
        self._deferring = True
        self._deferred: dict[Side, list[str]] = {Side.A: [], Side.B: []}
        self._announce_sides = True  # off while the safety check reads ahead
        self._phase: Phase | None = None
        # Comments of the linked pairs each batch touches (None: the sync has them off).
        self.comments = CommentSyncer.for_sync(store.sync, self.sides, recorder, self.counters)

    # --- public ---
    def run(self, options: RunOptions) -> RunReport:
        """One run. Connector errors end it as FAILED (state stored so far is kept)."""
        self.batch_size = options.batch_size
        self._read_again: dict[Side, list[str]] = {Side.A: [], Side.B: []}
        self.recorder.started(trigger=options.trigger)
        applier = Applier(
            spec=self.spec,
            store=self.store,
            sides=self.sides,
            recorder=self.recorder,
            counters=self.counters,
            batch_size=options.batch_size,
            on_written=self._written_by_run,
            creations=self.planner.references,
        )
        for side in self.sides.values():
            side.connector.settle_later = True  # settle_in_flight settles what it answers
        try:
            self.recorder.phase(Phase.RECOVERING)
            settled = settle_in_flight(self.spec, self.store, self.sides, applier)
            # What is still in flight counts against what the systems keep of their jobs;
            # a run that would leave more settles what is in flight first, then waits.
            held = self.store.in_flight_count()
            for side, connector in self.sides.items():
                connector.allow_pending(held.get(side, 0))
                connector.on_full = lambda: self._settle_now(applier)
            retry = recover_pending(self.spec, self.store, self.sides, applier)
            if settled is not None:
                retry = retry or {Side.A: [], Side.B: []}
                for side, ids in settled.items():
                    retry[side] = list(dict.fromkeys([*retry[side], *ids]))
            # A person's decisions not written yet are applied by whichever run comes next.
            self.planner.decided_links, decided = self.store.decisions_pending()
            # Reference fields whose wait is over (the record they name is linked now).
            waited = self.store.waiting_due(self.spec) if options.record_ids is None else None
            for extra in (options.retry_ids, decided, waited):
                if not extra or not any(extra.values()):
                    continue
                retry = retry or {Side.A: [], Side.B: []}
                for side, ids in extra.items():
                    retry[side] = list(dict.fromkeys([*retry[side], *ids]))
            cache: list[Batch] | None = None
            if not options.approved and self.safety.applies:
                self.recorder.phase(Phase.CHECKING)
                self._announce_sides = False
                preview, cache = dry_pass(self.planner, self._batches(options), sample_size=0)
                held = self.safety.reason(preview.change_count, self.store.linked_count)
                if held:
                    report = RunReport(Outcome.HELD, self.counters, held_reason=held)
                    report.counters["held_changes"] = preview.change_count
                    return self._finish(report)
            self._announce_sides = True
            if retry:
                self.recorder.phase(Phase.RETRYING)
                for side in Side:
                    for chunk in chunks(retry[side], self.batch_size):
                        self._apply_batch(applier, side, self._fetch(side, list(chunk)), None)
            self.planner.decided_links = set()  # written (or reopened) by now
            if cache is not None:
                for side, records, cursor in cache:
                    self._announce(side)
                    self._apply_batch(applier, side, records, cursor)
            else:
                for side, records, cursor in self._batches(options):
                    self._apply_batch(applier, side, records, cursor)
            # The pairs that settling mid-run asks to read again (as a settling run would).
            for side in Side:
                for chunk in chunks(list(dict.fromkeys(self._read_again[side])), self.batch_size):
                    self._apply_batch(applier, side, self._fetch(side, list(chunk)), None)
            self._second_look(applier)
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

    def _settle_now(self, applier: Applier) -> None:
        """Settle everything in flight, polling the jobs until they are done: a run about to
        leave more writes pending than a system keeps jobs for (its last 100, Zendesk) would
        otherwise have the oldest forgotten, by the jobs of its pending writes or of its
        waited ones alike. Waits under the lease, as every write did before settle-later,
        at most SETTLE_NOW_MAX_SECONDS; what is still in flight then stays held for a
        later run. The runs that reach this write thousands of records (an initial sync)."""
        delay = 0.1
        deadline = time.monotonic() + SETTLE_NOW_MAX_SECONDS
        while True:
            applier.in_flight = InFlight(self.spec)  # settling holds again what is left
            again = settle_in_flight(self.spec, self.store, self.sides, applier)
            for side, ids in (again or {}).items():
                self._read_again[side].extend(ids)
            self.recorder.checkpoint(self.counters)  # renews the lease while it waits
            if not applier.in_flight or time.monotonic() + delay > deadline:
                return
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def preview(
        self, options: RunOptions, *, sample_size: int = 5, on_page: PageDone | None = None
    ) -> Preview:
        """The plan of a run without writing anything (state and cursors untouched).
        `on_page` is told the preview so far after every page (for a progress display).

        Raises the ConnectorError of a side that cannot be read.
        """
        # Pages are not joined: a preview writes nothing, and its progress follows each page.
        self.batch_size = 1
        try:
            preview, _ = dry_pass(
                self.planner,
                self._batches(options),
                sample_size=sample_size,
                keep_pages=False,
                on_page=on_page,
            )
        except SideFailure as failure:
            error = failure.error
        else:
            return preview
        raise error  # outside the handler: the error keeps its own cause and context

    # --- reading ---
    def _announce(self, side: Side) -> None:
        """Tell the recorder the run moved on to `side`'s changes (once per side)."""
        phase = Phase.SIDE_A if side is Side.A else Phase.SIDE_B
        if self._announce_sides and phase is not self._phase:
            self._phase = phase
            self.recorder.phase(phase)

    def _batches(self, options: RunOptions) -> Iterator[Batch]:
        if options.record_ids is not None:
            for side in Side:
                self._announce(side)
                ids = list(dict.fromkeys(options.record_ids.get(side, [])))
                for chunk in chunks(ids, self.batch_size):
                    yield side, self._fetch(side, list(chunk)), None
            return
        cursors = {side: None if options.full else self.store.cursor(side) for side in Side}
        listings = self._list_in_full(cursors)
        for side in Side:
            self._announce(side)
            if side in listings:
                yield from listings[side]
            else:
                yield from self._joined(side, self.sides[side].changes(cursors[side]))

    def _list_in_full(self, cursors: dict[Side, Cursor | None]) -> dict[Side, list[Batch]]:
        """List every side whose feed starts from the beginning, and index it for matching.

        Done once per run: a second pass over the feeds (the safety check's pages were too
        many to keep) replays the same listings.
        """
        if self._listings is not None:
            return self._listings
        self._listings = {}
        if not self.spec.match_rule:
            return self._listings
        for side in Side:
            if cursors[side] is not None:
                continue
            self._announce(side)
            index = MatchIndex(self.spec, side)
            pages = list(self._joined(side, self.sides[side].changes(None)))
            for _, records, _ in pages:
                for record in records:
                    index.add(record)
            self._listings[side] = pages
            self.planner.indexes[side] = index
        return self._listings

    def _joined(self, side: Side, feed: Iterator[Any]) -> Iterator[Batch]:
        """The feed's pages joined into batches of up to `batch_size` records, each with the
        cursor of its last page (stored once the whole batch is applied)."""
        records: list[Record] = []
        cursor: Cursor | None = None
        for page in feed:
            records.extend(page.records)
            cursor = page.cursor
            if len(records) >= self.batch_size:
                yield side, records, cursor
                records = []
                cursor = None
        if records or cursor is not None:
            yield side, records, cursor

    def _written_by_run(self, side: Side, record: Record) -> None:
        """A system stored `record` for this run: keep the side's index current, and leave
        the record out of the replay of its listing."""
        index = self.planner.indexes.get(side)
        if index is not None:
            index.add(record)
            self._written[side].add(record.id)

    def _fetch(self, side: Side, ids: list[str]) -> list[Record]:
        """Current copies of these records; an id the system no longer has reads as deleted."""
        if not ids:
            return []
        found = {r.id: r for r in self.sides[side].get(ids)}
        return [found.get(i) or Record(id=i, deleted=True) for i in ids]

    # --- planning and applying ---
    def _apply_batch(
        self, applier: Applier, side: Side, records: list[Record], cursor: Cursor | None
    ) -> None:
        if records and applier.in_flight:
            records = self._leave_in_flight(applier, side, records)
        if records and cursor is not None and self._written[side]:
            # A listed page replayed: what the run wrote since is newer than its copy here.
            written = self._written[side]
            kept = [r for r in records if r.id not in written]
            self.counters[f"read_{side}"] += len(records) - len(kept)
            self.counters[f"unchanged_{side}"] += len(records) - len(kept)
            records = kept
        if records:
            result, links = self.planner.plan(side, records, self.counters)
            self.counters[f"unchanged_{Side.A}"] += result.unchanged[Side.A]
            self.counters[f"unchanged_{Side.B}"] += result.unchanged[Side.B]
            if self._deferring:
                self._defer_match_questions(result)
            applier.apply(result, links)
            if self.comments is not None:
                self.comments.sync_records(side, [r.id for r in records if not r.deleted])
        if cursor is not None:
            self.store.set_cursor(side, cursor)
        self.recorder.checkpoint(self.counters)

    def _leave_in_flight(self, applier: Applier, side: Side, records: list[Record]) -> list[Record]:
        """The records without a write in flight; the others are reported as skipped (the
        run that settles their write reads them again)."""
        in_flight = applier.in_flight
        held = {r.id for r in records if r.id in in_flight.ids[side]}
        self.store.in_flight_missed(side, held)
        made = [r for r in records if r.id not in held and in_flight.created_by_job(side, r)]
        if made:
            linked = {
                link.id(side)
                for link in self.store.links_for(side, [r.id for r in made])
                if link.status in ACTIVE_STATUSES
            }
            held.update(r.id for r in made if r.id not in linked)
        if not held:
            return records
        for record_id in dict.fromkeys(r.id for r in records if r.id in held):
            self.counters[f"read_{side}"] += 1
            applier.emit(
                EngineEvent(
                    Action.SKIPPED,
                    side,
                    *ids_on(side, record_id),
                    message="a write to this pair is still in a system's background job; "
                    "it is read again once the job is settled",
                    code="in_flight",
                )
            )
        return [r for r in records if r.id not in held]

    def _defer_match_questions(self, result: Plan) -> None:
        """Take out of the plan the skips that depend on other records; their records are
        planned again in the second look instead of being reported now."""
        for skip in result.skips:
            if skip.code in SECOND_LOOK_CODES:
                self._deferred[skip.side].append(skip.record_id)
        result.skips = [s for s in result.skips if s.code not in SECOND_LOOK_CODES]

    def _second_look(self, applier: Applier) -> None:
        """Plan once more the records a match question stopped earlier in this run.

        Whether a record is ambiguous or its match is taken depends on other records that
        later pages may change (an email edited on the other side, a pair linked). Looking
        again once everything is applied makes the outcome independent of page order, so
        that replaying the same changes reaches the same state.
        """
        self._deferring = False
        if any(self._deferred.values()):
            self.recorder.phase(Phase.SECOND_LOOK)
        deferred, self._deferred = self._deferred, {Side.A: [], Side.B: []}
        for side in Side:
            ids = list(dict.fromkeys(deferred[side]))
            for chunk in chunks(ids, self.batch_size):
                self._apply_batch(applier, side, self._fetch(side, list(chunk)), None)

    def _finish(self, report: RunReport) -> RunReport:
        report.api_calls = self._api_calls()
        self.recorder.finished(report)
        return report
