"""The overview: the whole page, and its health table alone (htmx polls it every ~10 s so
the page stays current). Views read through selectors only."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from apps.accounts import selectors as accounts
from apps.accounts.scoping import scoped, workspace_required
from apps.connections.models import Connection
from apps.dashboard.overview import selectors

TEMPLATES = "dashboard/overview"
_DAY_WORDS = {1: "Last day"}


def _days(request: HttpRequest) -> tuple[int, str]:
    """The chart's window from ?days=, and what was wrong with it if it was not offered."""
    raw = request.GET.get("days", "")
    if not raw:
        return selectors.ACTIVITY_DAYS[0], ""
    if raw.isdigit() and int(raw) in selectors.ACTIVITY_DAYS:
        return int(raw), ""
    offered = " or ".join(str(d) for d in sorted(selectors.ACTIVITY_DAYS))
    return selectors.ACTIVITY_DAYS[0], (
        f"The chart shows the last {offered} days, not {raw!r}: showing "
        f"the last {selectors.ACTIVITY_DAYS[0]} days."
    )


def _health(request: HttpRequest) -> dict[str, Any]:
    workspace = request.workspace  # type: ignore[attr-defined]
    return {
        "health": selectors.sync_health(workspace),
        "failing": selectors.connections_failing(workspace),
    }


@workspace_required()
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace  # type: ignore[attr-defined]
    days, days_error = _days(request)
    context = _health(request)
    if not context["health"]:
        context["has_connections"] = scoped(request, Connection).exists()
    activity = selectors.activity_per_hour(workspace, days=days)
    context.update(
        activity=activity,
        chart_data=activity.chart_data(),
        days_choices=[
            (d, _DAY_WORDS.get(d, f"Last {d} days")) for d in sorted(selectors.ACTIVITY_DAYS)
        ],
        days_error=days_error,
        members=accounts.workspace_members(workspace).count(),
    )
    return render(request, f"{TEMPLATES}/overview.html", context)


@workspace_required()
@require_GET
def overview_health(request: HttpRequest) -> HttpResponse:
    """The health table and the failing connections, as the page polls them."""
    return render(request, f"{TEMPLATES}/_health.html", _health(request))
