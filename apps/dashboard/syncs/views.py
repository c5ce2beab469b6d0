"""Syncs pages: the list, the sync builder (sides, fields, scope and rules, review) and a
saved sync's review (its preview, switching it on and off).

Views translate and call services: the draft's rules live in apps.syncs.drafts, the
suggestions in apps.syncs.suggestions, what an edit would do in apps.syncs.transfer.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.forms.utils import ErrorDict
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.accounts.models import Permission
from apps.accounts.scoping import get_scoped_or_404, has_permission, scoped, workspace_required
from apps.connections.models import Connection
from apps.core.errors import DomainError, Invalid, UpstreamError
from apps.dashboard.syncs import forms, session
from apps.syncs import drafts, services, suggestions
from apps.syncs.drafts import STEPS, Draft, Fields
from apps.syncs.engine.types import Side
from apps.syncs.models import Sync
from apps.syncs.previews import preview_request
from apps.syncs.transfer import interval_words

BUILDER = "dashboard/syncs/builder.html"
STEP_TITLES = {
    "sides": "Sides",
    "fields": "Fields",
    "scope": "Scope and rules",
    "review": "Review",
}


@workspace_required()
@require_GET
def sync_list(request: HttpRequest) -> HttpResponse:
    syncs = scoped(request, Sync).select_related("connection_a", "connection_b").order_by("name")
    has_connections = scoped(request, Connection).exists()
    return render(
        request,
        "dashboard/syncs/list.html",
        {"syncs": syncs, "has_connections": has_connections},
    )


# --- starting a draft -------------------------------------------------------------------------
@workspace_required()
@require_GET
def sync_new(request: HttpRequest) -> HttpResponse:
    """A new draft, at its first step. (Viewers see the builder with every control off.)"""
    draft_id = session.draft_put(request, drafts.draft_new())
    return redirect("syncs:build", draft_id=draft_id, step="sides")


@workspace_required()
@require_GET
def sync_edit(request: HttpRequest, public_id: str) -> HttpResponse:
    """A draft of the sync's definition as it is now, at its fields step."""
    sync = get_scoped_or_404(request, Sync, public_id=public_id)
    draft_id = session.draft_put(request, drafts.draft_for_sync(sync))
    return redirect("syncs:build", draft_id=draft_id, step="fields")


# --- the builder ----------------------------------------------------------------------------
def _fields(request: HttpRequest, draft: Draft) -> tuple[Fields | None, dict[str, str]]:
    """Both sides' fields (cached in the draft), or the reason they cannot be read."""
    try:
        return drafts.draft_fields(draft, request.workspace), {}
    except (UpstreamError, Invalid) as exc:
        return None, exc.problems() or {"": exc.message}


def _side_names(request: HttpRequest, draft: Draft) -> dict[str, str]:
    names = {}
    for side in Side:
        connection = drafts.draft_connection(draft, request.workspace, side)
        object_type = draft[f"object_type_{side}"]
        names[side.value] = f"{connection.name} {object_type}".strip() if connection else side.label
    return names


def _refuse_viewers(request: HttpRequest) -> None:
    if not has_permission(request, Permission.EDIT):
        raise PermissionDenied("your role can look at syncs but not change them")


@workspace_required()
def sync_build(request: HttpRequest, draft_id: str, step: str) -> HttpResponse:
    if step not in STEPS:
        raise Http404("no such step")
    try:
        draft = session.draft_get(request, draft_id)
    except Http404:
        return render(request, "dashboard/syncs/draft_gone.html", status=404)
    action = ""
    problems: dict[str, str] = {}
    extra: dict[str, Any] = {}
    if request.method == "POST":
        _refuse_viewers(request)
        action = request.POST.get("action", "update")
        if action == "refresh":
            try:
                drafts.draft_refresh(draft, request.workspace)
            except (UpstreamError, Invalid) as exc:
                problems.update(exc.problems() or {"": exc.message})
        else:
            problems, extra = STEP_POSTS[step](request, draft, action)
        session.draft_put(request, draft, draft_id)
        complete = action in ("next", "back")
        if complete and not problems and (action == "back" or not _blocking(request, draft, step)):
            target = STEPS[STEPS.index(step) + (1 if action == "next" else -1)]
            url = reverse("syncs:build", kwargs={"draft_id": draft_id, "step": target})
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    elif request.method != "GET":
        return HttpResponse(status=405)
    context = _context(request, draft_id, draft, step, problems, action, extra)
    template = f"{BUILDER}#step" if request.htmx and request.method == "POST" else BUILDER
    return render(request, template, context)


def _blocking(request: HttpRequest, draft: Draft, step: str) -> dict[str, str]:
    """What keeps a person on this step when they ask for the next one."""
    fields, unreadable = _fields(request, draft)
    if step == "sides" and unreadable:
        return unreadable
    return drafts.draft_problems(draft, request.workspace, fields, step, missing=True)


def _post_sides(request: HttpRequest, draft: Draft, action: str) -> tuple[dict, dict]:
    values = {key: request.POST.get(key, "") for key in drafts.SIDES_KEYS}
    if draft["sync"] is not None:
        values = {"name": values["name"]}
    try:
        problems = drafts.draft_sides_set(draft, request.workspace, **values)
    except (UpstreamError, Invalid) as exc:
        problems = exc.problems() or {"": exc.message}
    return problems, {}


def _post_fields(request: HttpRequest, draft: Draft, action: str) -> tuple[dict, dict]:
    fields, unreadable = _fields(request, draft)
    if fields is None:
        return unreadable, {}
    rows = forms.mapping_rows_posted(request.POST, fields)
    blank = {"field_a": "", "field_b": "", "direction": "both", "was": None}
    forms.rows_edit(rows, action, "mapping", blank)
    drafts.draft_mappings_set(draft, fields, rows)
    return {}, {}


def _post_scope(request: HttpRequest, draft: Draft, action: str) -> tuple[dict, dict]:
    fields, unreadable = _fields(request, draft)
    if fields is None:
        return unreadable, {}
    filters = forms.filter_rows_posted(request.POST, fields)
    for side in ("a", "b"):
        blank = {"side": side, "field": "", "operator": "", "value": None}
        forms.rows_edit(filters, action, f"filter-{side}", blank, remove="filter")
    rule = forms.match_rows_posted(request.POST)
    forms.rows_edit(rule, action, "match", {"a": "", "b": "", "normalise": "email"})
    form = forms.RulesForm(request.POST, interval=draft["interval_seconds"])
    settings = form.settings() if form.is_valid() else {}
    drafts.draft_scope_set(draft, filters=filters, match_rule=rule, settings=settings)
    return ({"": "check the rules below"} if form.errors else {}), {"rules_form": form}


def _post_review(request: HttpRequest, draft: Draft, action: str) -> tuple[dict, dict]:
    return {}, {}


STEP_POSTS = {
    "sides": _post_sides,
    "fields": _post_fields,
    "scope": _post_scope,
    "review": _post_review,
}


def _context(
    request: HttpRequest,
    draft_id: str,
    draft: Draft,
    step: str,
    problems: dict[str, str],
    action: str,
    extra: dict[str, Any],
) -> dict[str, Any]:
    ws = request.workspace
    fields, unreadable = _fields(request, draft) if draft_connections_set(draft) else (None, {})
    # A step being filled in shows what is wrong, not what is merely not chosen yet;
    # "Continue" and the review show both.
    checked = drafts.draft_problems(
        draft,
        ws,
        fields,
        None if step == "review" else step,
        missing=step == "review" or action == "next",
    )
    if step != "sides" and unreadable:  # no field of this step to show it beside
        unreadable = {"": " ".join(unreadable.values())}
    shown = {**checked, **unreadable, **problems}
    names = _side_names(request, draft)
    context: dict[str, Any] = {
        "draft_id": draft_id,
        "draft": draft,
        "step": step,
        "steps": [(s, STEP_TITLES[s]) for s in STEPS],
        "step_title": STEP_TITLES[step],
        "editing": draft["sync"] is not None,
        "sync": drafts.draft_sync(draft, ws) if draft["sync"] else None,
        "fields": fields,
        "sides_chosen": all(draft[f"object_type_{side}"] for side in Side)
        and draft_connections_set(draft),
        "problems": shown,
        "general_problems": [m for p, m in shown.items() if not p],
        "names": names,
        "direction_choices": forms.DIRECTION_CHOICES,
        "prev_step": STEPS[STEPS.index(step) - 1] if step != "sides" else None,
        "next_step": STEPS[STEPS.index(step) + 1] if step != "review" else None,
    }
    context.update(STEP_CONTEXTS[step](request, draft, fields, shown, extra))
    return context


def draft_connections_set(draft: Draft) -> bool:
    return bool(draft["connection_a"] and draft["connection_b"])


def _sides_context(request, draft, fields, problems, extra) -> dict[str, Any]:
    ws = request.workspace
    connections = [(str(c.public_id), f"{c.name} ({c.kind})") for c in scoped(request, Connection)]
    object_types: dict[str, list[dict[str, str]]] = {}
    for side in Side:
        try:
            object_types[side.value] = drafts.draft_object_types(draft, ws, side)
        except UpstreamError as exc:
            object_types[side.value] = []
            problems.setdefault(f"connection_{side}", exc.message)
    initial = {key: draft[key] or "" for key in drafts.SIDES_KEYS}
    form = forms.SidesForm(
        initial=initial,
        connections=connections,
        object_types=object_types,
        locked=draft["sync"] is not None,
    )
    _form_problems(form, problems)
    return {"form": form, "has_connections": bool(connections)}


def _form_problems(form: Any, problems: dict[str, str]) -> None:
    """Show the draft's problems beside the form's fields (bound or not)."""
    for path, message in problems.items():
        name = path.split(".", 1)[0]
        if name in form.fields:
            if form._errors is None:  # an unbound form: no add_error()
                form._errors = ErrorDict()
            form._errors.setdefault(name, form.error_class()).append(message)


def _fields_context(request, draft, fields, problems, extra) -> dict[str, Any]:
    if fields is None:
        return {"rows": []}
    opened = forms.editors_opened(request.POST) if request.method == "POST" else set()
    rows = forms.mapping_rows(
        draft["mappings"],
        fields,
        problems,
        _side_names(request, draft),
        opened,
        drafts.draft_sides(draft, request.workspace),
    )
    required = suggestions.required_unmapped(draft["mappings"], fields)
    return {
        "rows": rows,
        "set_problems": [m for p, m in problems.items() if p == "mappings"],
        "choices_a": list(fields[Side.A].values()),
        "choices_b": list(fields[Side.B].values()),
        "required_unmapped": {side.value: specs for side, specs in required.items() if specs},
    }


def _scope_context(request, draft, fields, problems, extra) -> dict[str, Any]:
    form = extra.get("rules_form") or forms.RulesForm(
        initial=forms.RulesForm.initial_from(draft), interval=draft["interval_seconds"]
    )
    _form_problems(form, problems)
    if fields is None:
        return {"rules_form": form, "filter_rows": {"a": [], "b": []}, "match_rows": []}
    return {
        "rules_form": form,
        "filter_rows": forms.filter_rows(draft["filters"], fields, problems),
        "match_rows": forms.match_rows(draft["match_rule"], problems),
        "choices_a": list(fields[Side.A].values()),
        "choices_b": list(fields[Side.B].values()),
        "normalise_choices": list(forms.NORMALISE_WORDS.items()),
        "rule_descriptions": forms.RulesForm.descriptions,
    }


def _review_context(request, draft, fields, problems, extra) -> dict[str, Any]:
    by_step: dict[str, dict[str, str]] = {}
    for path, message in problems.items():
        by_step.setdefault(drafts.step_of(path) if path else "review", {})[path] = message
    effects = []
    if draft["sync"] is not None and fields is not None and not problems:
        try:
            effects = drafts.draft_effects(draft, request.workspace, fields)
        except DomainError as exc:
            by_step.setdefault("review", {})[""] = exc.message
    return {
        "problems_by_step": [(s, STEP_TITLES[s], by_step[s]) for s in STEPS if s in by_step],
        "effects": effects,
        "resync": any(e.resync for e in effects),
        "mapping_rows": (
            forms.mapping_rows(draft["mappings"], fields, {}, _side_names(request, draft))
            if fields
            else []
        ),
        "filter_rows": forms.filter_rows(draft["filters"], fields, {}) if fields else {},
        "rules": forms.rules_summary(draft),
        "match_pairs": [
            (pair, forms.NORMALISE_WORDS.get(pair.get("normalise", ""), ""))
            for pair in draft["match_rule"]
        ],
    }


STEP_CONTEXTS = {
    "sides": _sides_context,
    "fields": _fields_context,
    "scope": _scope_context,
    "review": _review_context,
}


@workspace_required(Permission.EDIT)
@require_POST
def sync_save(request: HttpRequest, draft_id: str) -> HttpResponse:
    """Save the draft (a new sync stays off) and go to the saved sync's review."""
    try:
        draft = session.draft_get(request, draft_id)
    except Http404:
        return render(request, "dashboard/syncs/draft_gone.html", status=404)
    editing = draft["sync"] is not None
    try:
        sync = drafts.draft_save(draft, request.workspace)
    except DomainError as exc:
        context = _context(
            request, draft_id, draft, "review", exc.problems() or {"": exc.message}, "save", {}
        )
        return render(request, BUILDER, context, status=400)
    session.draft_drop(request, draft_id)
    # What the next run of the saved definition would do, computed by a worker while the
    # review page shows its progress.
    preview_request(sync, user=request.user)
    if editing:
        note = " The next run reads both sides in full." if sync.resync_requested else ""
        messages.success(request, f"Saved.{note}")
    else:
        messages.success(
            request, "Saved. The sync stays off until you enable it: check the preview first."
        )
    return redirect("syncs:review", public_id=sync.public_id)


# --- a saved sync -------------------------------------------------------------------------
@workspace_required()
@require_GET
def sync_review(request: HttpRequest, public_id: str) -> HttpResponse:
    sync = get_scoped_or_404(
        request, Sync.objects.select_related("connection_a", "connection_b"), public_id=public_id
    )
    preview = sync.previews.first()  # the latest
    last_run = sync.runs.first()
    # A preview made before the last run answers a question nobody asks any more.
    stale = (
        preview is not None and last_run is not None and preview.created_at < last_run.created_at
    )
    return render(
        request,
        "dashboard/syncs/review.html",
        {
            "sync": sync,
            "interval": interval_words(sync.interval_seconds),
            "preview": None if stale else preview,
            "stale_preview": stale,
            "last_run": last_run,
        },
    )


@workspace_required(Permission.EDIT)
@require_POST
def sync_enable(request: HttpRequest, public_id: str) -> HttpResponse:
    sync = get_scoped_or_404(request, Sync, public_id=public_id)
    try:
        services.sync_enable(sync)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The sync is on: its first run starts within a few seconds.")
    return redirect("syncs:review", public_id=sync.public_id)


@workspace_required(Permission.EDIT)
@require_POST
def sync_disable(request: HttpRequest, public_id: str) -> HttpResponse:
    sync = get_scoped_or_404(request, Sync, public_id=public_id)
    services.sync_disable(sync)
    messages.success(request, "The sync is off: it no longer runs on its schedule.")
    return redirect("syncs:review", public_id=sync.public_id)
