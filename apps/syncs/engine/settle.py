"""Settling writes that were left in a system's job.

A run that wrote through a system's background job (connectors.base: `settle_later`) did
not wait for it: it stored an `InFlightWrite` per record and finished, freeing the sync's
lease. Every run starts here, before crash recovery: the writes still in flight are asked
for with one `settle()` call per side (Zendesk: one job_statuses/show_many call for all of
a sync's jobs), and each finished one is completed as the writing run would have completed
it had it waited:

- a create: the new record is linked to its source (base: the values as returned), or the
  pending create is dropped with the system's error as a per-record error event (the
  source is retried like any refused create). Where the system no longer knows the job,
  the pending create is left to crash recovery, which looks for the record by the values
  sent: so a forgotten job can never make a second record;
- an update: the pair's base takes the returned values of the fields written (the other
  fields keep theirs), with an `updated` event; or a per-record error, the base untouched;
- a delete: the link is marked deleted, or a per-record error.

Each row is marked done or failed with what happened, and the run that settled it, for the
run pages. The two records of every settled pair are read again in the same run: changes
made to them while the write was in flight were left alone by the runs in between (see
inflight.py). For an update, only a pair some run left alone (`InFlightWrite.missed`) is
read again: the others have nothing new to read. Writes still in flight stay held for
this run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from apps.syncs.engine.apply import Applier, ids_on
from apps.syncs.engine.merge import settled_base
from apps.syncs.engine.plan_types import SyncSpec
from apps.syncs.engine.recorder import Action, EngineEvent
from apps.syncs.engine.sides import SideConnector
from apps.syncs.engine.store import LinkStore, link_state
from apps.syncs.engine.types import LinkStatus, Side
from apps.syncs.models import InFlightWrite
from connectors.base import Record, WriteResult
from connectors.errors import OutcomeUnknown


def settle_in_flight(
    spec: SyncSpec,
    store: LinkStore,
    sides: Mapping[Side, SideConnector],
    applier: Applier,
) -> dict[Side, list[str]] | None:
    """Settle what finished; hold what is still in flight (in `applier.in_flight`).
    Returns the records of settled pairs to read again, by side (None: none)."""
    rows = store.in_flight()
    retry: dict[Side, list[str]] = {Side.A: [], Side.B: []}
    for side in Side:
        mine = [row for row in rows if row.side == side.value]
        if not mine:
            continue
        results = sides[side].settle([row.handle for row in mine])
        still: list[Any] = []
        updated = _Updated()
        for row, result in zip(mine, results, strict=True):
            if result.ok and result.in_flight:
                still.append(row.pk)
                _hold(applier, side, row)
                continue
            settle = {
                InFlightWrite.Action.CREATE: _create,
                InFlightWrite.Action.UPDATE: _update,
                InFlightWrite.Action.DELETE: _delete,
            }[InFlightWrite.Action(row.action)]
            for again_side, record_id in settle(
                spec, store, applier, side, row, result, updated=updated
            ):
                retry[again_side].append(record_id)
        for again_side, record_id in _confirm_creates(store, applier, side, updated.creates):
            retry[again_side].append(record_id)
        # Settled updates are stored together: under load a settling run completes a
        # hundred of them, one statement each would be most of its work.
        if updated.pairs:
            store.save_pairs(updated.pairs)
        store.in_flight_done(updated.keys, outcome="updated", run_ref=applier.run_ref)
        # A webhook received while this run settled may have marked a write missed after
        # it was read here (apps.syncs.echoes.held_in_flight, outside the lease): asked
        # after the rows are done, so a mark made before is seen and one made after found
        # the write settled and ran its records itself.
        marked = set(store.in_flight_missed_since(updated.keys))
        for row in mine:
            if row.missed or row.pk not in marked:
                continue
            retry[Side.A].append(row.record_id if side is Side.A else row.other_id)
            retry[Side.B].append(row.other_id if side is Side.A else row.record_id)
        store.in_flight_polled(still)
    if not any(retry.values()):
        return None
    return {side: list(dict.fromkeys(ids)) for side, ids in retry.items()}


class _Updated:
    """The bases and rows of the updates a settling pass completed, and the creates it
    found done, stored at its end."""

    def __init__(self) -> None:
        self.pairs: list[tuple[Any, dict[str, Any], Record | None, Record | None]] = []
        self.keys: list[Any] = []
        self.creates: list[tuple[InFlightWrite, Record, WriteResult]] = []


def _hold(applier: Applier, side: Side, row: InFlightWrite) -> None:
    if row.action == InFlightWrite.Action.CREATE:
        sent = row.link.pending_fields if row.link is not None else None
        applier.in_flight.hold_create(side, row.other_id, sent or {})
    else:
        applier.in_flight.hold(side, row.record_id)
        applier.in_flight.hold(side.other, row.other_id)


def _create(
    spec: SyncSpec,
    store: LinkStore,
    applier: Applier,
    target: Side,
    row: InFlightWrite,
    result: WriteResult,
    *,
    updated: _Updated,
) -> list[tuple[Side, str]]:
    source = Record(id=row.other_id, fields=dict(row.detail.get("source_fields") or {}))
    if isinstance(result.error, OutcomeUnknown):
        # The pending create stays: crash recovery, next in this run, looks for the record
        # by the values sent and links it, or plans the source again.
        store.in_flight_settled(
            row.pk,
            done=False,
            outcome=f"{result.error}; looking for the record by the values sent",
            run_ref=applier.run_ref,
        )
        return []
    if row.link_id is None:  # the pending create is gone (the sync was reset): nothing to do
        store.in_flight_settled(
            row.pk, done=False, outcome="the pending create was gone", run_ref=applier.run_ref
        )
        return []
    # Confirmed with the pass's other creates (_confirm_creates), read again then.
    updated.creates.append((row, source, result))
    return []


def _confirm_creates(
    store: LinkStore,
    applier: Applier,
    target: Side,
    creates: list[tuple[InFlightWrite, Record, WriteResult]],
) -> list[tuple[Side, str]]:
    """Link what a pass's finished create jobs made, all together: one statement for the
    links and one for the rows (a pass of the initial sync settles thousands; three
    statements per record were most of its database work). The sources are read again."""
    if not creates:
        return []
    applier.confirm_all(
        target,
        [(source, row.link_id, result.record, result.error) for row, source, result in creates],
    )
    settled: list[tuple[Any, bool, str, str]] = []
    again: list[tuple[Side, str]] = []
    for row, source, result in creates:
        if result.record is None:
            settled.append((row.pk, False, f"refused: {result.error}", row.record_id))
            continue
        outcome = f"created {result.record.id}"
        if result.error is not None:
            outcome += f", with an error: {result.error}"
        settled.append((row.pk, True, outcome, result.record.id))
        again.append((target.other, source.id))
    store.in_flight_settled_all(settled, run_ref=applier.run_ref)
    return again


def _update(
    spec: SyncSpec,
    store: LinkStore,
    applier: Applier,
    side: Side,
    row: InFlightWrite,
    result: WriteResult,
    *,
    updated: _Updated,
) -> list[tuple[Side, str]]:
    changes = list(row.detail.get("changes") or [])
    a_id, b_id = (row.record_id, row.other_id) if side is Side.A else (row.other_id, row.record_id)
    stored = result.record
    if stored is None or result.error is not None or row.link_id is None:
        error = result.error or "the link was gone"
        if result.error is not None:
            applier.refusals[(side, row.record_id)] = str(result.error)
        applier.emit(
            EngineEvent(
                Action.ERROR,
                side,
                a_id or None,
                b_id or None,
                changes={c["field"]: {"value": c["after"]} for c in changes},
                message=f"{side.label} refused the update of {row.record_id}: {error}",
                code="write",
            )
        )
        store.in_flight_settled(
            row.pk, done=False, outcome=f"refused: {error}", run_ref=applier.run_ref
        )
        return []
    link = link_state(row.link) if row.link is not None else store.link(row.link_id)
    if link.status is LinkStatus.LINKED:
        values = {s: dict(row.detail.get("values", {}).get(s.value) or {}) for s in Side}
        for change in changes:
            values[side][change["field"]] = stored.fields.get(change["field"])
        base = settled_base(
            spec, link.base, row.detail.get("settle") or [], values[Side.A], values[Side.B]
        )
        a, b = (stored, None) if side is Side.A else (None, stored)
        updated.pairs.append((row.link_id, base, a, b))
    if applier.on_written is not None:
        applier.on_written(side, stored)
    applier.emit(
        EngineEvent(
            Action.UPDATED,
            side,
            a_id or None,
            b_id or None,
            changes={
                c["field"]: {"before": c["before"], "after": stored.fields.get(c["field"])}
                for c in changes
            },
            message=f"written by {side.label}'s background job (submitted by an earlier run)",
            code="settled",
        )
    )
    updated.keys.append(row.pk)
    # Read again only a pair some run left alone meanwhile: under sustained load re-reading
    # every settled pair doubled the reads per change.
    return [(Side.A, a_id), (Side.B, b_id)] if a_id and b_id and row.missed else []


def _delete(
    spec: SyncSpec,
    store: LinkStore,
    applier: Applier,
    side: Side,
    row: InFlightWrite,
    result: WriteResult,
    *,
    updated: _Updated,
) -> list[tuple[Side, str]]:
    if result.error is not None:
        applier.emit(
            EngineEvent(
                Action.ERROR,
                side,
                *ids_on(side, row.record_id),
                message=f"{side.label} refused to delete {row.record_id}: {result.error}",
                code="write",
            )
        )
        store.in_flight_settled(
            row.pk, done=False, outcome=f"refused: {result.error}", run_ref=applier.run_ref
        )
        return []
    reason = str(row.detail.get("reason") or "deleted")
    if row.link_id is not None:
        store.end_link(row.link_id, LinkStatus.DELETED, reason)
    a_id, b_id = (row.record_id, row.other_id) if side is Side.A else (row.other_id, row.record_id)
    applier.emit(EngineEvent(Action.DELETED, side, a_id or None, b_id or None, message=reason))
    store.in_flight_settled(row.pk, done=True, outcome="deleted", run_ref=applier.run_ref)
    return []
