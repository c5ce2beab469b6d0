"""Syncs pages. Views translate and call services and selectors; no rule lives here."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.scoping import scoped, workspace_required
from apps.syncs.models import Sync


@workspace_required()
def sync_list(request: HttpRequest) -> HttpResponse:
    syncs = scoped(request, Sync).select_related("connection_a", "connection_b").order_by("name")
    return render(request, "dashboard/syncs/list.html", {"syncs": syncs})
