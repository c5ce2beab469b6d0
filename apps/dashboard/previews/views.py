"""Preview pages: start a preview of a sync's next run, and show one while it runs and once
it is done. The sync builder's review step includes `dashboard/previews/_preview.html` and
posts to `previews:start`; the partial polls `previews:status` until the preview finished.

Views translate and call services; the preview itself is a job (apps/syncs/previews.py).
"""

from __future__ import annotations

from uuid import UUID

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import Permission
from apps.accounts.scoping import get_scoped_or_404, workspace_required
from apps.core.errors import DomainError
from apps.core.forms import form_error_add
from apps.syncs.models import Sync, SyncPreview
from apps.syncs.previews import MAX_SAMPLE_SIZE, preview_request

PARTIAL = "dashboard/previews/_preview.html"


class PreviewStartForm(forms.Form):
    sample_size = forms.IntegerField(
        required=False, min_value=0, max_value=MAX_SAMPLE_SIZE, initial=5
    )
    full = forms.BooleanField(required=False)


@workspace_required(Permission.EDIT)
@require_POST
def preview_start(request: HttpRequest, sync_id: UUID) -> HttpResponse:
    """Start a preview of the sync's next run: the partial for htmx (it polls itself), or a
    redirect to the preview's page. Optional fields `sample_size` (0-50, default 5) and
    `full` (preview a full resync)."""
    sync = get_scoped_or_404(request, Sync, public_id=sync_id)
    form = PreviewStartForm(request.POST)
    if form.is_valid():
        size = form.cleaned_data["sample_size"]
        try:
            preview = preview_request(
                sync,
                sample_size=5 if size is None else size,
                full=form.cleaned_data["full"],
                user=request.user,
            )
        except DomainError as exc:
            form_error_add(form, exc)
        else:
            if request.htmx:
                return render(request, PARTIAL, {"preview": preview})
            return redirect("previews:status", preview_id=preview.public_id)
    return render(
        request, "dashboard/previews/_refused.html", {"form": form, "sync": sync}, status=400
    )


@workspace_required()
@require_GET
def preview_status(request: HttpRequest, preview_id: UUID) -> HttpResponse:
    """One preview: the partial for htmx (what the partial's polling asks for), else the
    page around it."""
    preview = get_scoped_or_404(
        request,
        SyncPreview.objects.select_related(
            "sync__connection_a", "sync__connection_b", "requested_by"
        ),
        public_id=preview_id,
    )
    template = PARTIAL if request.htmx else "dashboard/previews/preview.html"
    return render(request, template, {"preview": preview})
