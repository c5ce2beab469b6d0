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
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from apps.syncs.engine.types import LinkStatus
from apps.syncs.models import RecordLink, Sync


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
