"""Reads for runs."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from apps.runs.models import SyncEvent, SyncRun
from apps.syncs.models import FieldMapping, Sync

# A run re-reads at most this many records that failed before; more wait for later runs.
MAX_RETRY_IDS = 1000

FINISHED = (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL, SyncRun.Status.FAILED)


def failed_record_ids(runs: list[SyncRun]) -> dict[str, list[str]]:
    """The records (both sides' ids) that per-record errors of these runs name."""
    ids: dict[str, list[str]] = {"a": [], "b": []}
    seen: dict[str, set[str]] = {"a": set(), "b": set()}
    events = SyncEvent.objects.filter(run__in=runs, action=SyncEvent.Action.ERROR).values_list(
        "record_id_a", "record_id_b"
    )
    for record_a, record_b in events.iterator():
        for side, record_id in (("a", record_a), ("b", record_b)):
            if record_id and record_id not in seen[side] and len(ids[side]) < MAX_RETRY_IDS:
                seen[side].add(record_id)
                ids[side].append(record_id)
    return ids


def records_to_retry(sync_id: int, *, before: SyncRun) -> dict[str, list[str]]:
    """What the next polling run of a sync must read again: the records that failed in the
    latest polling run, and in the targeted (webhook) runs that finished since."""
    finished = SyncRun.objects.filter(sync_id=sync_id, status__in=FINISHED).exclude(pk=before.pk)
    last_poll = finished.filter(record_ids__isnull=True).order_by("-finished_at").first()
    runs = list(finished.filter(finished_at__gt=last_poll.finished_at)) if last_poll else []
    if last_poll is not None:
        runs.append(last_poll)
    return failed_record_ids(runs)


def held_run_of(sync: Sync) -> SyncRun | None:
    """The latest run of `sync` held by the safety limit that nobody has decided on."""
    return (
        SyncRun.objects.filter(sync=sync, status=SyncRun.Status.HELD, decision="")
        .order_by("-created_at", "-id")
        .first()
    )


def events_about_field(events: QuerySet[SyncEvent], field: str) -> QuerySet[SyncEvent]:
    """The events among `events` that changed or conflicted on `field` (its name on either
    side). Updates are keyed by the field's name; conflicts and their decisions by the id
    of the mapping that pairs the two sides' fields, so those mappings are looked up too."""
    mapping_ids = [
        str(pk)
        for pk in FieldMapping.objects.filter(
            Q(field_a=field) | Q(field_b=field),
            sync__in=events.values("sync_id").distinct(),
        ).values_list("pk", flat=True)
    ]
    about = Q(changes__has_key=field)
    if mapping_ids:
        about |= Q(changes__has_any_keys=mapping_ids)
    return events.filter(about)
