"""A sync's own page: its settings in brief, its runs newest first, the run in progress
moving live, and the controls that start, stop and decide runs.

The run in progress is a partial (`sync_live`) that polls itself every second while a run
is queued or running: the recorder adds the run's counters to its row at every page, so a
poll shows them at most a second after the worker wrote them. Once the run it watched has
finished, the partial stops polling and swaps in the runs table, the held run and the
controls as they are now (out of band), since the run's end may have changed them.

Controls post, then redirect back here with what happened (or the service's refusal) as a
message. Views call services and selectors only.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import Permission
from apps.accounts.scoping import get_scoped_or_404, workspace_required
from apps.connections.models import Connection
from apps.connections.selectors import connector_offer
from apps.core.errors import DomainError
from apps.core.forms import form_error_add
from apps.dashboard.syncs.forms import OPERATOR_WORDS, rules_summary
from apps.runs import services as run_services
from apps.runs.models import SyncRun
from apps.runs.progress import run_active, run_progress, runs_of
from apps.runs.selectors import held_run_of
from apps.syncs import services
from apps.syncs.engine.filters import Operator
from apps.syncs.models import Sync
from apps.syncs.transfer import interval_words
from apps.webhooks.selectors import deliveries_last_received

PAGE = "dashboard/syncs/detail.html"
LIVE = "dashboard/syncs/_live.html"
ARROWS = {"both": "↔", "a_to_b": "→", "b_to_a": "←"}
SETTINGS = (
    "conflict_policy",
    "initial_policy",
    "delete_policy",
    "comments",
    "comments_internal",
    "safety_limit_count",
    "safety_limit_share",
    "interval_seconds",
)


class PauseForm(forms.Form):
    reason = forms.CharField(
        max_length=500,
        label="Why pause it",
        help_text="Shown on the sync until someone resumes it.",
        error_messages={"required": "say why the sync is paused: others will read it"},
    )


def _sync(request: HttpRequest, public_id: UUID) -> Sync:
    return get_scoped_or_404(
        request, Sync.objects.select_related("connection_a", "connection_b"), public_id=public_id
    )


def _back(sync: Sync) -> HttpResponse:
    return redirect("syncs:detail", public_id=sync.public_id)


# --- the page -------------------------------------------------------------------------------
@workspace_required()
@require_GET
def sync_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    sync = _sync(request, public_id)
    return render(request, PAGE, _page_context(request, sync, PauseForm()))


def _page_context(request: HttpRequest, sync: Sync, pause_form: PauseForm) -> dict[str, Any]:
    before = _uuid(request.GET.get("before", ""))
    runs, older = runs_of(sync, before=before)
    return {
        "sync": sync,
        "settings": _settings(sync),
        "live": _live(sync),
        "held": _held(sync),
        "runs": runs,
        "older": runs[-1].public_id if older and runs else None,
        "paged": before is not None,
        "pause_form": pause_form,
        "now": timezone.now(),
    }


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(value)
    except ValueError:
        return None


def _live(sync: Sync) -> dict[str, Any]:
    """The run to show in the live card: the one in progress, else the latest."""
    run = run_active(sync) or SyncRun.objects.filter(sync=sync).first()
    return {"progress": run_progress(run) if run else None}


def _held(sync: Sync) -> dict[str, Any] | None:
    run = held_run_of(sync)
    if run is None:
        return None
    change = sync.held_change or {}
    return {"run": run, "changes": change.get("changes"), "reason": change.get("reason", "")}


def _settings(sync: Sync) -> dict[str, Any]:
    mappings = list(sync.mappings.all())
    filters = [
        f"{f.side.upper()}: {f.field} {OPERATOR_WORDS.get(Operator(f.operator), f.operator)}"
        + ("" if f.value in (None, "", []) else f" {_value_words(f.value)}")
        for f in sync.filters.all()
    ]
    rules = rules_summary({name: getattr(sync, name) for name in SETTINGS})
    return {
        "mappings": [(m.field_a, ARROWS.get(m.direction, "↔"), m.field_b) for m in mappings],
        "filters": filters,
        "rules": rules,
        "interval": interval_words(sync.interval_seconds),
        "match_rule": sync.match_rule,
        "webhooks": _webhooks(sync),
    }


def _value_words(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _webhooks(sync: Sync) -> list[dict[str, Any]]:
    """Per side: whether its system announces changes of the sync's object type by
    webhook, and when its connection's last delivery arrived."""
    last = deliveries_last_received([sync.connection_a_id, sync.connection_b_id])
    sides = []
    for side, connection, object_type in (
        ("A", sync.connection_a, sync.object_type_a),
        ("B", sync.connection_b, sync.object_type_b),
    ):
        sides.append(
            {
                "side": side,
                "connection": connection,
                "offered": _webhooks_offered(connection, object_type),
                "last": last.get(connection.pk),
            }
        )
    return sides


def _webhooks_offered(connection: Connection, object_type: str) -> bool:
    offer = connector_offer(connection.kind)
    if offer is None:
        return False
    return any(t.name == object_type and t.webhooks for t in offer.object_types)


# --- the live partial --------------------------------------------------------------------------
@workspace_required()
@require_GET
def sync_live(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The live run card. It polls while a run is queued or running. `?run=` names the
    run the page was watching: when that run is no longer in progress, the runs table, the
    held run and the controls come along too (hx-swap-oob), as its end may change them."""
    sync = _sync(request, public_id)
    live = _live(sync)
    progress = live["progress"]
    watched = _uuid(request.GET.get("run", ""))
    ended = watched is not None and (
        progress is None or not progress.active or progress.run.public_id != watched
    )
    context: dict[str, Any] = {"sync": sync, "live": live, "ended": ended}
    if ended:
        runs, older = runs_of(sync)
        context.update(
            runs=runs,
            older=runs[-1].public_id if older and runs else None,
            held=_held(sync),
            pause_form=PauseForm(),
            interval=interval_words(sync.interval_seconds),
            now=timezone.now(),
        )
    return render(request, LIVE, context)


# --- controls -------------------------------------------------------------------------------
@workspace_required(Permission.EDIT)
@require_POST
def sync_run(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Run now, or (`full`) a full resync that reads both sides from the start."""
    sync = _sync(request, public_id)
    full = request.POST.get("full") == "1"
    try:
        run = run_services.run_manual(sync, full=full)
    except DomainError as exc:
        messages.error(request, f"Not started: {exc.message}.")
    else:
        what = "A full resync" if full else "A run"
        folded = " (it joined the run already waiting)" if run.folded else ""
        messages.success(request, f"{what} is queued{folded}: its progress shows below.")
    return _back(sync)


@workspace_required(Permission.EDIT)
@require_POST
def sync_pause(request: HttpRequest, public_id: UUID) -> HttpResponse:
    sync = _sync(request, public_id)
    form = PauseForm(request.POST)
    if form.is_valid():
        try:
            services.sync_pause(sync, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            form_error_add(form, exc)
        else:
            messages.success(request, "Paused: it does not run until someone resumes it.")
            return _back(sync)
    return render(request, PAGE, _page_context(request, sync, form), status=400)


@workspace_required(Permission.EDIT)
@require_POST
def sync_resume(request: HttpRequest, public_id: UUID) -> HttpResponse:
    sync = _sync(request, public_id)
    try:
        services.sync_resume(sync)
    except DomainError as exc:
        messages.error(request, f"Still paused: {exc.message}.")
    else:
        when = "its next run is due now" if sync.enabled else "it is off, so it runs when asked"
        messages.success(request, f"Resumed: {when}.")
    return _back(sync)


@workspace_required(Permission.EDIT)
@require_POST
def held_approve(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Approve the run the safety limit held: a run that applies its changes is queued."""
    sync = _sync(request, public_id)
    try:
        run_services.held_run_approve(run_services.held_run_waiting(sync), user=request.user)
    except DomainError as exc:
        messages.error(request, f"Nothing approved: {exc.message}.")
    else:
        messages.success(request, "Approved: a run that applies the held changes is queued.")
    return _back(sync)


@workspace_required(Permission.EDIT)
@require_POST
def held_cancel(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Cancel the held run: nothing is written and the sync stays paused."""
    sync = _sync(request, public_id)
    try:
        run_services.held_run_cancel(run_services.held_run_waiting(sync), user=request.user)
    except DomainError as exc:
        messages.error(request, f"Nothing cancelled: {exc.message}.")
    else:
        messages.success(
            request,
            "The held run is cancelled: nothing was written. The sync stays paused until "
            "someone resumes it.",
        )
    return _back(sync)


@workspace_required(Permission.EDIT)
@require_POST
def run_cancel(request: HttpRequest, public_id: UUID, run_id: UUID) -> HttpResponse:
    """Cancel a queued run, or ask a running one to stop after the page it is on."""
    sync = _sync(request, public_id)
    run = get_scoped_or_404(request, SyncRun.objects.filter(sync=sync), public_id=run_id)
    try:
        run = run_services.run_cancel(run)
    except DomainError as exc:
        messages.error(request, f"Not cancelled: {exc.message}.")
    else:
        if run.status == SyncRun.Status.CANCELLED:
            messages.success(request, "The run is cancelled: it had not started.")
        else:
            messages.success(
                request,
                "The run stops after the page it is writing: what it wrote so far stays, "
                "and the next run carries on from there.",
            )
    return _back(sync)
