"""Conflict review pages: the queue of conflicts across every sync, one conflict, and
deciding them one at a time or several at once.

Views translate and call apps.syncs.conflicts (the decisions) and the selectors; a
decision writes nothing to a system here: a run writes it, and the card polls until that
run has resolved the conflict or reopened it with the system's refusal. Every member sees
everything; deciding needs the editor role (as the API's resolve does).
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from apps.accounts.models import Permission
from apps.accounts.scoping import get_scoped_or_404, scoped, workspace_required
from apps.core.errors import DomainError
from apps.core.forms import form_error_add
from apps.dashboard.conflicts import selectors
from apps.dashboard.conflicts.forms import BulkDecideForm, DecideForm, QueueFilter
from apps.syncs.conflicts import conflict_decide, conflicts_decide
from apps.syncs.models import Conflict, Sync

TEMPLATES = "dashboard/conflicts"
# At most this many conflicts decided by one "all of this field" request; the rest stay in
# the queue for the next one (the page says how many are left).
BULK_MAX = 500


def _conflicts(request: HttpRequest) -> QuerySet[Conflict]:
    return scoped(request, Conflict)


def _conflict(request: HttpRequest, public_id: UUID) -> Conflict:
    return get_scoped_or_404(
        request,
        Conflict.objects.select_related(
            "sync__connection_a",
            "sync__connection_b",
            "mapping",
            "link",
            "decided_by",
            "resolved_by",
        ),
        public_id=public_id,
    )


# -- the queue ----------------------------------------------------------------------------


def _queue_context(
    request: HttpRequest, params: Any, *, refusals: dict[int, str] | None = None
) -> dict[str, Any]:
    filters = QueueFilter(params)
    tab = filters.value("tab", "open")
    syncs = list(scoped(request, Sync).select_related("connection_a", "connection_b"))
    sync_id = filters.value("sync", None)
    sync = next((s for s in syncs if s.public_id == sync_id), None)
    field_name = filters.value("field")
    search = filters.value("q")
    found = selectors.conflict_queue(
        _conflicts(request), tab=tab, sync=sync, field_name=field_name, search=search
    )
    page = Paginator(found, selectors.PAGE_SIZE).get_page(filters.value("page", 1))
    cards = selectors.conflict_cards(page.object_list)
    refusals = refusals or {}
    for card in cards:
        card.refusal = refusals.get(card.conflict.pk, "")
    field_scope = None
    if tab == "open" and sync is not None and field_name:
        field_scope = found.filter(status=Conflict.Status.OPEN).count()
    return {
        "filters": filters,
        "tab": tab,
        "syncs": syncs,
        "sync": sync,
        "field_name": field_name,
        "search": search,
        "fields": selectors.field_names(_conflicts(request)),
        "page": page,
        "cards": cards,
        "field_scope": field_scope,
        "open_count": _conflicts(request).filter(status__in=selectors.OPEN).count(),
        "query": _query(tab=tab, sync=sync, field=field_name, q=search),
    }


def _query(**params: Any) -> str:
    """The queue's filters as a query string (without the page)."""
    values = {k: (v.public_id if isinstance(v, Sync) else v) for k, v in params.items() if v}
    return urlencode(values)


@workspace_required()
def conflict_list(request: HttpRequest) -> HttpResponse:
    context = _queue_context(request, request.GET)
    if request.htmx and request.htmx.target == "queue":
        return render(request, f"{TEMPLATES}/list.html#queue", context)
    return render(request, f"{TEMPLATES}/list.html", context)


@require_POST
@workspace_required(Permission.EDIT)
def conflicts_decide_many(request: HttpRequest) -> HttpResponse:
    """A's or B's value for the ticked conflicts, or for every open one of a field in a
    sync. Each is decided or refused on its own; refusals show on their cards."""
    form = BulkDecideForm(request.POST)
    refusals: dict[int, str] = {}
    if form.is_valid():
        chosen = _bulk_conflicts(request, form)
        outcome = conflicts_decide(
            chosen, resolution=form.cleaned_data["choice"], user=request.user
        )
        refusals = {pk: exc.message for pk, exc in outcome.refused.items()}
        side = form.cleaned_data["choice"].upper()
        summary = f"Decided {len(outcome.decided)} with {side}'s value"
        if refusals:
            summary += f"; {len(refusals)} could not be decided (see each)"
        messages.success(request, summary + ". Each shows as pending until both systems hold it.")
    else:
        for error in form.non_field_errors() or ["Choose A's or B's value."]:
            messages.error(request, error)
    context = _queue_context(request, request.POST, refusals=refusals)
    if request.htmx:
        return render(request, f"{TEMPLATES}/list.html#queue", context)
    return render(
        request, f"{TEMPLATES}/list.html", context, status=200 if form.is_valid() else 400
    )


def _bulk_conflicts(request: HttpRequest, form: BulkDecideForm) -> list[Conflict]:
    if form.cleaned_data["scope"] == "field":
        sync = get_scoped_or_404(request, Sync, public_id=form.cleaned_data["sync"])
        found = selectors.conflict_queue(
            _conflicts(request), sync=sync, field_name=form.cleaned_data["field"]
        )
        return list(found.filter(status=Conflict.Status.OPEN)[:BULK_MAX])
    ids = []
    for raw in form.cleaned_data["ids"]:
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            continue
    found = _conflicts(request).filter(public_id__in=ids).select_related("link", "mapping")
    return list(found.order_by("detected_at", "id"))


# -- one conflict -------------------------------------------------------------------------


@workspace_required()
def conflict_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    conflict = _conflict(request, public_id)
    if request.htmx and request.GET.get("part") == "card":
        return _render_card(request, conflict, in_list=request.GET.get("in") == "list")
    return _render_detail(request, conflict)


def _render_card(
    request: HttpRequest,
    conflict: Conflict,
    *,
    form: DecideForm | None = None,
    in_list: bool = False,
) -> HttpResponse:
    [card] = selectors.conflict_cards([conflict], with_runs=not in_list)
    return render(
        request,
        f"{TEMPLATES}/_card.html",
        {"card": card, "form": form, "in_list": in_list},
    )


def _render_detail(
    request: HttpRequest, conflict: Conflict, *, form: DecideForm | None = None, status: int = 200
) -> HttpResponse:
    [card] = selectors.conflict_cards([conflict])
    same_field = selectors.conflict_queue(
        _conflicts(request), sync=conflict.sync, field_name=conflict.mapping.field_a
    ).filter(mapping=conflict.mapping)
    return render(
        request,
        f"{TEMPLATES}/detail.html",
        {
            "card": card,
            "form": form,
            "same_field_open": same_field.count(),
            "same_field_query": _query(sync=conflict.sync, field=conflict.mapping.field_a),
        },
        status=status,
    )


@require_POST
@workspace_required(Permission.EDIT)
def conflict_decide_one(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """A's value, B's value or a typed one, checked for both systems' types before it is
    accepted; a refusal shows beside the value (or above the choices) and nothing is
    decided."""
    conflict = _conflict(request, public_id)
    in_list = request.POST.get("in") == "list"
    form = DecideForm(request.POST)
    if form.is_valid():
        try:
            conflict_decide(
                conflict,
                resolution=form.cleaned_data["choice"],
                custom_value=form.cleaned_data["value"]
                if form.cleaned_data["choice"] == "custom"
                else None,
                user=request.user,
            )
        except DomainError as exc:
            form_error_add(form, exc)
        else:
            conflict = _conflict(request, public_id)
            if request.htmx:
                return _render_card(request, conflict, in_list=in_list)
            messages.success(request, "Decided. It is being written to both systems.")
            return redirect(_next(request) or conflict_path(conflict))
    conflict = _conflict(request, public_id)
    if request.htmx:  # htmx swaps 2xx answers only: the errors are in the card
        return _render_card(request, conflict, form=form, in_list=in_list)
    return _render_detail(request, conflict, form=form, status=400)


def conflict_path(conflict: Conflict) -> str:
    return reverse("conflicts:detail", args=[conflict.public_id])


def _next(request: HttpRequest) -> str | None:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return target
    return None
