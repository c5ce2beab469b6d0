"""The run log and a record's history.

The run log is every event of one run, filtered (action, side, record, field) and paged by
keyset on the event id, so a run of fifty thousand events pages as fast on its last page
as on its first and nothing counts the whole set (the run's own counters give the totals).
A record's history is every event of a sync about one record, across runs, newest first,
with the record's link as it stands and the conflicts waiting on it.

Views translate and call selectors and services (apps.runs.selectors, services).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import Permission
from apps.accounts.scoping import get_scoped_or_404, workspace_required
from apps.core.errors import DomainError
from apps.dashboard.runs import rows
from apps.dashboard.runs.forms import EventFilterForm
from apps.runs import selectors, services
from apps.runs.models import SyncEvent, SyncRun
from apps.syncs.models import Conflict, FieldMapping, Sync

RUN = "dashboard/runs/run.html"
RECORD = "dashboard/runs/record.html"
COUNTER_ROWS = [
    ("read", "Read"),
    ("created", "Created"),
    ("updated", "Updated"),
    ("unchanged", "Unchanged"),
    ("deleted", "Deleted"),
    ("conflicts", "Conflicts"),
    ("errors", "Errors"),
]


def sync_url(sync: Sync) -> str:
    return reverse("syncs:detail", kwargs={"public_id": sync.public_id})


def conflict_url(sync: Sync, conflict: Conflict | None) -> str:
    """One conflict's review, or (not found) the sync's conflicts."""
    if conflict is not None:
        return reverse("conflicts:detail", kwargs={"public_id": conflict.public_id})
    return reverse("conflicts:list") + f"?sync={sync.public_id}"


def record_url(sync: Sync, side: str, record_id: str) -> str:
    return reverse(
        "runs:record",
        kwargs={"sync_public_id": sync.public_id, "side": side, "record_id": record_id},
    )


def _mappings(sync: Sync) -> dict[str, FieldMapping]:
    """The sync's field pairs by id (as conflict events key them): one query."""
    return {str(m.pk): m for m in FieldMapping.objects.filter(sync=sync).order_by("id")}


def _rows(sync: Sync, events: list[SyncEvent], mappings: dict[str, FieldMapping]) -> list:
    return rows.event_rows(
        events,
        mappings,
        selectors.conflicts_for_events(sync, events),
        record_url=lambda side, record_id: record_url(sync, side, record_id),
        conflict_url=lambda conflict: conflict_url(sync, conflict),
    )


def _page_query(query: QueryDict, **cursor: int) -> str:
    """The query string of another page: the same filters, a new cursor."""
    out = query.copy()
    for name in ("after", "before"):
        out.pop(name, None)
    out.update({k: str(v) for k, v in cursor.items()})
    return "?" + out.urlencode()


def _side_names(sync: Sync) -> dict[str, str]:
    return {
        "a": f"{sync.connection_a.name} {sync.object_type_a}",
        "b": f"{sync.connection_b.name} {sync.object_type_b}",
    }


@workspace_required()
@require_GET
def run_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    run = get_scoped_or_404(
        request,
        SyncRun.objects.select_related("sync__connection_a", "sync__connection_b"),
        public_id=public_id,
    )
    sync = run.sync
    names = _side_names(sync)
    form = EventFilterForm(request.GET, side_names=names)
    mappings = _mappings(sync)
    page = selectors.EventPage([], None, None)
    matching = None
    if form.is_valid():
        filters = form.filters()
        events = selectors.run_events(
            run,
            action=filters.get("action", ""),
            side=filters.get("side", ""),
            record_id=filters.get("record", ""),
            field=filters.get("field", ""),
        )
        page = selectors.events_page(
            events, after=form.cleaned_data["after"], before=form.cleaned_data["before"]
        )
        # A first page that is also the last holds them all: nothing more to count.
        cursor = form.cleaned_data["after"] is not None or form.cleaned_data["before"] is not None
        alone = not cursor and page.next_cursor is None
        matching = len(page.events) if alone else selectors.events_count(events)
    context = {
        "run": run,
        "sync": sync,
        "sync_url": sync_url(sync),
        "names": names,
        "form": form,
        "filtered": bool(form.filters()),
        "rows": _rows(sync, page.events, mappings),
        "matching": matching,
        "count_cap": selectors.COUNT_CAP,
        "next_url": _page_query(request.GET, after=page.next_cursor) if page.next_cursor else "",
        "previous_url": _page_query(request.GET, before=page.previous_cursor)
        if page.previous_cursor
        else "",
        "first_url": _page_query(request.GET) if page.previous_cursor else "",
        "field_names": sorted(
            {m.field_a for m in mappings.values()} | {m.field_b for m in mappings.values()}
        ),
        "counters": [
            (label, getattr(run, f"{name}_a"), getattr(run, f"{name}_b"))
            for name, label in COUNTER_ROWS
        ],
        "has_errors": bool(run.errors_a or run.errors_b),
        "conflicts_url": conflict_url(sync, None),
    }
    in_flight, in_flight_total, in_flight_waiting = selectors.run_writes_in_flight(run)
    context.update(
        in_flight=in_flight,
        in_flight_total=in_flight_total,
        in_flight_waiting=in_flight_waiting,
    )
    template = f"{RUN}#events" if request.htmx and not request.htmx.history_restore_request else RUN
    return render(request, template, context, status=200 if form.is_valid() else 400)


@workspace_required(Permission.EDIT)
@require_POST
def run_retry(request: HttpRequest, public_id: str) -> HttpResponse:
    """ "Retry these records": queue a run of the records whose errors this run recorded."""
    run = get_scoped_or_404(request, SyncRun, public_id=public_id)
    try:
        retry = services.run_retry_failed(run)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        ids = retry.record_ids or {}
        count = len(ids.get("a", [])) + len(ids.get("b", []))
        messages.success(
            request,
            format_html(
                'Queued <a href="{}">a run</a> that reads the {} record{} that failed again.',
                reverse("runs:detail", kwargs={"public_id": retry.public_id}),
                count,
                "" if count == 1 else "s",
            ),
        )
    return redirect("runs:detail", public_id=run.public_id)


@workspace_required()
@require_GET
def record_history(
    request: HttpRequest, sync_public_id: str, side: str, record_id: str
) -> HttpResponse:
    if side not in ("a", "b"):
        raise Http404("a side is a or b")
    sync = get_scoped_or_404(
        request,
        Sync.objects.select_related("connection_a", "connection_b"),
        public_id=sync_public_id,
    )
    form = EventFilterForm(request.GET, side_names=_side_names(sync))
    after = before = None
    if form.is_valid():
        after, before = form.cleaned_data["after"], form.cleaned_data["before"]
    page = selectors.events_page(
        selectors.record_events(sync, side, record_id),
        after=after,
        before=before,
        newest_first=True,
    )
    mappings = _mappings(sync)
    link = selectors.record_link(sync, side, record_id)
    other = "b" if side == "a" else "a"
    base = []
    held: list[Conflict] = []
    if link is not None:
        for key in mappings:
            values = (link.base or {}).get(key)
            if values is not None:
                a, b = rows.side_values(values)
                base.append((rows.mapping_label(mappings, key), a, b))
        held = list(selectors.conflicts_on(link))
    partner = getattr(link, f"{other}_id", None) if link is not None else None
    names = _side_names(sync)
    context = {
        "sync": sync,
        "sync_url": sync_url(sync),
        "names": names,
        "side": side,
        "side_name": names[side],
        "other": other,
        "other_name": names[other],
        "record_id": record_id,
        "form_errors": form.errors if not form.is_valid() else {},
        "rows": _rows(sync, page.events, mappings),
        "link": link,
        "partner": partner,
        "partner_url": record_url(sync, other, partner) if partner else "",
        "base": base,
        "held": [
            (c, rows.mapping_label(mappings, str(c.mapping_id)), conflict_url(sync, c))
            for c in held
        ],
        "next_url": _page_query(request.GET, before=page.next_cursor) if page.next_cursor else "",
        "previous_url": _page_query(request.GET, after=page.previous_cursor)
        if page.previous_cursor
        else "",
        "first_url": _page_query(request.GET) if page.previous_cursor else "",
    }
    return render(request, RECORD, context)
