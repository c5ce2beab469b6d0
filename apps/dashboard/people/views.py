"""The people table page. Views translate and call services and selectors; no rule lives
here. Every member sees the table; editors and above add and remove entries (the buttons
are disabled for the others, and the posts refused here)."""

from __future__ import annotations

from uuid import UUID

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.models import Permission
from apps.accounts.scoping import get_scoped_or_404, has_permission, scoped, workspace_required
from apps.connections.models import Connection
from apps.core.errors import DomainError
from apps.core.forms import form_error_add
from apps.syncs import people
from apps.syncs.models import PersonMapping, WaitingReference

TEMPLATE = "dashboard/people/list.html"


class PersonForm(forms.Form):
    connection_a = forms.ModelChoiceField(queryset=Connection.objects.none(), label="System")
    value_a = forms.CharField(
        max_length=255, label="The person there", help_text="An email, a login or a user id."
    )
    connection_b = forms.ModelChoiceField(queryset=Connection.objects.none(), label="Other system")
    value_b = forms.CharField(max_length=255, label="The same person there")

    def __init__(self, *args: object, connections: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        for name in ("connection_a", "connection_b"):
            field = self.fields[name]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = connections


@workspace_required()
def people_list(request: HttpRequest) -> HttpResponse:
    connections = scoped(request, Connection).order_by("name")
    form = PersonForm(request.POST or None, connections=connections)
    if request.method == "POST":
        if not has_permission(request, Permission.EDIT):
            raise PermissionDenied("only editors and above change the people table")
        if form.is_valid():
            try:
                row = people.person_mapping_create(workspace=request.workspace, **form.cleaned_data)
            except DomainError as exc:
                form_error_add(form, exc)
            else:
                messages.success(request, f"Added {row.value_a} = {row.value_b}.")
                return redirect("people:list")
    rows = scoped(request, PersonMapping).select_related("connection_a", "connection_b")
    unknown = (
        WaitingReference.objects.filter(sync__workspace=request.workspace, code="unknown_user")
        .select_related("sync")
        .order_by("-updated_at")[:50]
    )
    return render(
        request,
        TEMPLATE,
        {
            "form": form,
            "rows": rows.order_by("connection_a__name", "connection_b__name", "value_a"),
            "unknown": unknown,
            "has_connections": connections.count() >= 2,
        },
        status=400 if request.method == "POST" else 200,
    )


@require_POST
@workspace_required(Permission.EDIT)
def person_delete(request: HttpRequest, public_id: UUID) -> HttpResponse:
    row = get_scoped_or_404(request, PersonMapping, public_id=public_id)
    people.person_mapping_delete(row)
    messages.success(request, f"Removed {row.value_a} = {row.value_b}.")
    return redirect("people:list")
