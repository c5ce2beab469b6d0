"""Reads for runs."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connections
from django.db.models import Q, QuerySet

from apps.runs.models import SyncEvent, SyncRun
from apps.syncs.models import ACTIVE, Conflict, FieldMapping, InFlightWrite, RecordLink, Sync

# A run re-reads at most this many records that failed before; more wait for later runs.
MAX_RETRY_IDS = 1000

HELD_CONFLICTS = (Conflict.Status.OPEN, Conflict.Status.DECIDED)
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


def events_about_field(
    events: QuerySet[SyncEvent], field: str, *, sync_id: int | None = None
) -> QuerySet[SyncEvent]:
    """The events among `events` that changed or conflicted on `field` (its name on either
    side). Updates are keyed by the field's name; conflicts and their decisions by the id
    of the mapping that pairs the two sides' fields, so those mappings are looked up too
    (in the sync `sync_id` when the caller knows it, else in the syncs of `events`)."""
    syncs = [sync_id] if sync_id is not None else events.values("sync_id").distinct()
    mapping_ids = [
        str(pk)
        for pk in FieldMapping.objects.filter(
            Q(field_a=field) | Q(field_b=field), sync__in=syncs
        ).values_list("pk", flat=True)
    ]
    about = Q(changes__has_key=field)
    if mapping_ids:
        about |= Q(changes__has_any_keys=mapping_ids)
    return events.filter(about)


# --- the run log and a record's history ----------------------------------------------------
EVENTS_PAGE_SIZE = 50
# A filtered set is counted up to this many events; more read as "1,000+".
COUNT_CAP = 1000


@dataclass(frozen=True)
class EventPage:
    """One page of events, and the ids that continue it either way (None: no more)."""

    events: list[SyncEvent]
    next_cursor: int | None  # pass as `after` (oldest first) or `before` (newest first)
    previous_cursor: int | None  # the other one, to page back


def run_events(
    run: SyncRun,
    *,
    action: str = "",
    side: str = "",
    record_id: str = "",
    field: str = "",
) -> QuerySet[SyncEvent]:
    """A run's events, narrowed by action, side, a record (its id on either side) and a
    field (its name on either side), oldest first, for events_page.

    The order leads with the run (and the action) as the index the page walks does:
    (run, id), or (run, action, id). On PostgreSQL the run is matched as a range of one,
    not with "=": PostgreSQL drops a column fixed by "=" from the order, is left with "by
    id", and when the run is a large share of all events it walks the primary key and
    filters out every event of the runs before (18 ms instead of 0.1 for a first page,
    benchmarks/runlog.py). SQLite uses no index column after a range, so it gets "=".
    """
    events = SyncEvent.objects.filter(_one_run(run)).order_by("run_id", "id")
    if action:
        events = events.filter(action=action).order_by("run_id", "action", "id")
    if side:
        events = events.filter(side=side)
    if record_id:
        # A record has few events: each side's (sync, record id) index finds them, rather
        # than a walk through the run's events in id order looking for them.
        about = SyncEvent.objects.filter(
            Q(sync_id=run.sync_id, record_id_a=record_id)
            | Q(sync_id=run.sync_id, record_id_b=record_id)
        )
        events = events.filter(pk__in=about.values("pk"))
    if field:
        events = events_about_field(events, field, sync_id=run.sync_id)
    return events


def _one_run(run: SyncRun) -> Q:
    if connections[SyncEvent.objects.db].vendor == "postgresql":
        return Q(run_id__gte=run.pk, run_id__lte=run.pk)
    return Q(run_id=run.pk)


def record_events(sync: Sync, side: str, record_id: str) -> QuerySet[SyncEvent]:
    """Every event of `sync`, across its runs, about the record `record_id` on `side`,
    oldest first, for events_page (a record has few: they are sorted, not walked)."""
    lookup = "record_id_a" if side == "a" else "record_id_b"
    return (
        SyncEvent.objects.filter(sync=sync, **{lookup: record_id})
        .select_related("run")
        .order_by("id")
    )


def events_page(
    events: QuerySet[SyncEvent],
    *,
    after: int | None = None,
    before: int | None = None,
    newest_first: bool = False,
    size: int = EVENTS_PAGE_SIZE,
) -> EventPage:
    """One page of `events` (ordered oldest first, by id last) by keyset on the id: never
    an OFFSET, so the thousandth page costs what the first does. Oldest first, a page
    holds the events with ids above `after` (or the last ones below `before`, paging
    back); newest first, those below `before` (or the first ones above `after`, paging
    back). Give at most one of the two."""
    back = before is not None if not newest_first else after is not None
    ascending = newest_first == back  # the order the rows are read in
    bound = Q()
    if after is not None:
        bound = Q(id__gt=after)
    elif before is not None:
        bound = Q(id__lt=before)
    page = events.filter(bound)
    rows = list((page if ascending else page.reverse())[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if back:
        rows.reverse()
    if not rows:
        return EventPage([], None, None)
    first, last = rows[0].pk, rows[-1].pk
    if back:
        return EventPage(rows, last, first if more else None)
    if after is None and before is None:
        return EventPage(rows, last if more else None, None)
    # Whether anything comes before this page: one step along the index.
    earlier = events.filter(id__gt=first) if newest_first else events.filter(id__lt=first)
    probe = earlier if newest_first else earlier.reverse()
    previous = first if probe.values_list("id", flat=True)[:1] else None
    return EventPage(rows, last if more else None, previous)


def events_count(events: QuerySet[SyncEvent], cap: int = COUNT_CAP) -> int:
    """How many `events` there are, counting no further than `cap` + 1 (a page must not
    count fifty thousand rows to say there are more than a thousand). In their order, so
    the count walks the index a page walks."""
    return events[: cap + 1].count()


def record_link(sync: Sync, side: str, record_id: str) -> RecordLink | None:
    """The link of the record `record_id` on `side`: the active one, else the latest that
    ended (unlinked or deleted)."""
    lookup = "a_id" if side == "a" else "b_id"
    links = RecordLink.objects.filter(sync=sync, **{lookup: record_id})
    return links.filter(status__in=ACTIVE).order_by("-id").first() or links.order_by("-id").first()


def conflicts_on(link: RecordLink, *, held: bool = True) -> QuerySet[Conflict]:
    """The conflicts of a link: those waiting on a person (or a run writing a decision),
    or all of them."""
    found = Conflict.objects.filter(link=link).select_related("mapping")
    return found.filter(status__in=HELD_CONFLICTS) if held else found


def conflicts_for_events(sync: Sync, events: list[SyncEvent]) -> dict[int, Conflict]:
    """The Conflict each conflict or resolved event is about, by event id: the conflict on
    the event's link and field detected last before the event was stored. One query."""
    wanted = [
        (e, key)
        for e in events
        if e.action in (SyncEvent.Action.CONFLICT, SyncEvent.Action.RESOLVED)
        for key in e.changes
        if str(key).isdigit()
    ]
    if not wanted:
        return {}
    conflicts = Conflict.objects.filter(
        sync=sync,
        mapping_id__in={int(key) for _, key in wanted},
        link__a_id__in={e.record_id_a for e, _ in wanted if e.record_id_a},
    ).select_related("link")
    by_pair: dict[tuple[str, int], list[Conflict]] = {}
    for conflict in conflicts.order_by("detected_at", "id"):
        by_pair.setdefault((conflict.link.a_id or "", conflict.mapping_id), []).append(conflict)
    found: dict[int, Conflict] = {}
    for event, key in wanted:
        candidates = by_pair.get((event.record_id_a, int(key)), [])
        earlier = [c for c in candidates if c.detected_at <= event.created_at]
        chosen = earlier[-1] if earlier else (candidates[0] if candidates else None)
        if chosen is not None and event.pk not in found:
            found[event.pk] = chosen
    return found


# --- writes a run left in a system's background job ---------------------------------------
IN_FLIGHT_SHOWN = 100


@dataclass(frozen=True)
class WriteInFlight:
    """One write a run submitted to a system's background job, as the run page shows it."""

    row: InFlightWrite
    settled_by: SyncRun | None  # the run that settled it, once one did


def run_writes_in_flight(
    run: SyncRun, *, limit: int = IN_FLIGHT_SHOWN
) -> tuple[list[WriteInFlight], int, int]:
    """The writes `run` left in a system's job (the first `limit`), how many there are in
    all, and how many of them are still waiting."""
    rows = InFlightWrite.objects.filter(sync_id=run.sync_id, run_ref=run.pk)
    total = rows.count()
    if not total:
        return [], 0, 0
    waiting = rows.filter(state=InFlightWrite.State.IN_FLIGHT).count()
    shown = list(rows.order_by("id")[:limit])
    settling = {
        r.pk: r
        for r in SyncRun.objects.filter(
            pk__in={w.settled_run_ref for w in shown if w.settled_run_ref}
        )
    }
    return [WriteInFlight(w, settling.get(w.settled_run_ref or 0)) for w in shown], total, waiting
