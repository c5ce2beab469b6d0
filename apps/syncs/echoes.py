"""Recognising an echo of a sync's own write when its webhook arrives, before any run.

Every write Concord makes comes back from the system as a webhook ("this record changed").
The sync stores, on the record's link, the modification time the system answered the write
with (`a_modified_at`/`b_modified_at`). An event that announces a change no newer than that
time describes a copy the sync already holds: it needs no run. Anything else (no time in the
event, no link, a link without a time, a later time, a delete) is not an echo and is run.

Systems whose records carry whole-second times (Zendesk) announce events with finer times:
the event's time is then compared at whole seconds, so an edit a person makes within the
same second as Concord's write is taken for the echo. It is not lost: the next poll reads
every change since its cursor and the engine compares values, not times, for such a copy
(docs/engine.md).

A write left in a system's job (settle-later, apps/syncs/engine/settle.py) has no stored
time yet when its echo arrives, so the time test cannot recognise it. Such records are
`held_in_flight()` instead: a run would leave them alone anyway until the write settles
(inflight.py), so no run is spent on them; the write's row is marked `missed` in the
receiving transaction, and the run that settles it reads the pair again. An echo then costs
one read there, and a person's edit made meanwhile is found by that read, not lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from django.db.models import Q

from apps.syncs.engine.types import LinkStatus
from apps.syncs.models import InFlightWrite, RecordLink, Sync


def echoes(sync: Sync, side: str, announced: Mapping[str, datetime | None]) -> set[str]:
    """The record ids of `side` ("a" or "b") whose announced change time is no later than
    the copy this sync stored last. `announced` maps each record id to the latest time the
    delivery gives for it (None: unknown, never an echo)."""
    if side not in ("a", "b"):
        raise ValueError(f"side must be 'a' or 'b', not {side!r}")
    timed = {record_id: at for record_id, at in announced.items() if at is not None}
    if not timed:
        return set()
    id_field, at_field = f"{side}_id", f"{side}_modified_at"
    stored = RecordLink.objects.filter(
        sync=sync, status=LinkStatus.LINKED, **{f"{id_field}__in": list(timed)}
    ).exclude(**{f"{at_field}__isnull": True})
    return {
        record_id
        for record_id, modified_at in stored.values_list(id_field, at_field)
        if not_newer(timed[record_id], modified_at)
    }


def not_newer(announced: datetime, stored: datetime) -> bool:
    """Whether a change announced at `announced` is no later than a copy modified at
    `stored`, at the coarser of the two resolutions."""
    if stored.microsecond == 0 and announced.microsecond:
        announced = announced.replace(microsecond=0)
    return announced <= stored


def held_in_flight(sync: Sync, side: str, record_ids: Iterable[str]) -> set[str]:
    """The records of `side` ("a" or "b") that are one of the two records of a pair whose
    write is still in a system's job, now marked for the settling run to read again. Either
    every such write is marked or none is (a write settled meanwhile: then nothing is held,
    and the caller runs the records as usual)."""
    if side not in ("a", "b"):
        raise ValueError(f"side must be 'a' or 'b', not {side!r}")
    ids = list(dict.fromkeys(record_ids))
    if not ids:
        return set()
    rows = list(
        InFlightWrite.objects.filter(
            Q(side=side, record_id__in=ids) | (~Q(side=side) & Q(other_id__in=ids)),
            sync=sync,
            state=InFlightWrite.State.IN_FLIGHT,
            # whose settling reads the pair again when marked (a delete's has nothing to read)
            action__in=[InFlightWrite.Action.UPDATE, InFlightWrite.Action.CREATE],
        ).values_list("pk", "side", "record_id", "other_id")
    )
    if not rows:
        return set()
    marked = InFlightWrite.objects.filter(
        pk__in=[pk for pk, *_ in rows], state=InFlightWrite.State.IN_FLIGHT
    ).update(missed=True)
    if marked != len(rows):
        return set()
    return {
        record_id if row_side == side else other_id for _, row_side, record_id, other_id in rows
    }
