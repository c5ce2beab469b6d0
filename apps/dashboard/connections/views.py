"""Connections pages. Views translate and call services and selectors; no rule lives here."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.scoping import scoped, workspace_required
from apps.connections.models import Connection


@workspace_required()
def connection_list(request: HttpRequest) -> HttpResponse:
    connections = scoped(request, Connection).order_by("name")
    return render(request, "dashboard/connections/list.html", {"connections": connections})
