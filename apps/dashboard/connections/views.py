"""Connections pages. Views translate and call services and selectors; no rule lives here.

Every page is shown to every member; what a role may not do is disabled on the page and
refused here (admins and owners manage connections, editors may test them). Parts that
change in place (a test's answer, the webhook status) are partials of the same templates,
answered to htmx requests; without JavaScript the same buttons post and redirect back.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import select_template
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from apps.accounts.models import Permission
from apps.accounts.scoping import get_scoped_or_404, has_permission, scoped, workspace_required
from apps.connections import services
from apps.connections.models import Connection
from apps.connections.selectors import (
    ConnectorOffer,
    connector_catalogue,
    connector_config_schema,
    connector_offer,
)
from apps.core.errors import DomainError, Invalid
from apps.core.forms import form_error_add
from apps.dashboard.connections import selectors
from apps.dashboard.connections.forms import ConnectionForm
from connectors.errors import ConfigurationError

TEMPLATES = "dashboard/connections"
# How long the page keeps asking whether a test delivery arrived.
TRIAL_WAIT_SECONDS = 30
# Where a new webhook secret waits (in the session) for the one page view that shows it.
NEW_SECRET_KEY = "connections:new-webhook-secret:{}"  # noqa: S105 - a key name, not a secret


# -- helpers ------------------------------------------------------------------------------------


def _require(request: HttpRequest, permission: Permission) -> None:
    if not has_permission(request, permission):
        who = "admins and owners" if permission == Permission.ADMIN else "editors and above"
        raise PermissionDenied(f"only {who} can do this; your role here is read-only for it")


def _offer_or_404(kind: str) -> ConnectorOffer:
    offer = connector_offer(kind)
    if offer is None:
        raise Http404(f"no connector kind {kind!r}")
    return offer


def _connection(request: HttpRequest, public_id: UUID) -> Connection:
    return get_scoped_or_404(request, Connection, public_id=public_id)


def _form(
    request: HttpRequest,
    offer: ConnectorOffer,
    connection: Connection | None = None,
    *,
    data: Any = None,
) -> ConnectionForm:
    return ConnectionForm(
        data,
        offer=offer,
        schema=connector_config_schema(offer.kind),
        connection=connection,
        disabled=not has_permission(request, Permission.ADMIN),
    )


def _remember_secret(request: HttpRequest, connection: Connection, secret: str) -> None:
    """Keep a new webhook secret until the connection's page shows it, once."""
    request.session[NEW_SECRET_KEY.format(connection.public_id)] = secret


def _check_answer(
    request: HttpRequest, form: ConnectionForm, kind: str, connection: Connection | None
) -> dict[str, Any]:
    """Try the typed configuration; the service's refusals go beside their fields."""
    result: dict[str, Any] = {"ok": None, "message": ""}
    if form.is_valid():
        try:
            ok, message = services.connection_check_values(
                kind, form.values(), connection=connection
            )
        except Invalid as exc:
            form_error_add(form, exc)
            result["message"] = "Fix the fields marked below, then test again."
        else:
            result.update(ok=ok, message=message)
    return result


# -- the list and the catalogue -------------------------------------------------------------


@workspace_required()
def connection_list(request: HttpRequest) -> HttpResponse:
    connections = list(scoped(request, Connection).order_by("name"))
    return render(
        request,
        f"{TEMPLATES}/list.html",
        {"rows": selectors.connection_rows(connections)},
    )


@workspace_required()
def connection_add(request: HttpRequest) -> HttpResponse:
    return render(request, f"{TEMPLATES}/add.html", {"catalogue": connector_catalogue()})


# -- creating -----------------------------------------------------------------------------------


@workspace_required()
def connection_create(request: HttpRequest, kind: str) -> HttpResponse:
    offer = _offer_or_404(kind)
    if request.method != "POST":
        return _render_form(request, offer, _form(request, offer))
    _require(request, Permission.ADMIN)
    form = _form(request, offer, data=request.POST)
    if form.is_valid():
        try:
            connection = services.connection_create(
                workspace=request.workspace,
                name=form.cleaned_data["name"],
                kind=kind,
                values=form.values(),
                webhook_secret=form.webhook_secret_value(),
            )
        except DomainError as exc:
            form_error_add(form, exc)
        else:
            if not offer.webhook_secret_from_system:
                _remember_secret(request, connection, connection.webhook_secret)
            messages.success(request, f"Saved {connection.name}. Now set up its webhooks.")
            return redirect("connections:detail", public_id=connection.public_id)
    return _render_form(request, offer, form, status=400)


@require_POST
@workspace_required(Permission.ADMIN)
def connection_create_check(request: HttpRequest, kind: str) -> HttpResponse:
    offer = _offer_or_404(kind)
    form = _form(request, offer, data=request.POST)
    check = _check_answer(request, form, kind, None)
    if request.htmx:
        return _render_check(request, form, check)
    return _render_form(request, offer, form, check=check)


def _render_form(
    request: HttpRequest,
    offer: ConnectorOffer,
    form: ConnectionForm,
    *,
    connection: Connection | None = None,
    check: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    return render(
        request,
        f"{TEMPLATES}/form.html",
        {"offer": offer, "form": form, "connection": connection, "check": check},
        status=status,
    )


def _render_check(
    request: HttpRequest, form: ConnectionForm, check: dict[str, Any]
) -> HttpResponse:
    """The answer to "Test connection": the result, and each field's errors swapped in
    beside it (so what was typed, secrets included, stays in the form)."""
    return render(request, f"{TEMPLATES}/form.html#check", {"form": form, "check": check})


# -- one connection -----------------------------------------------------------------------------


@workspace_required()
def connection_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    connection = _connection(request, public_id)
    new_secret = request.session.pop(NEW_SECRET_KEY.format(connection.public_id), None)
    return render(request, f"{TEMPLATES}/detail.html", _detail_context(connection, new_secret))


def _detail_context(connection: Connection, new_secret: str | None = None) -> dict[str, Any]:
    offer = connector_offer(connection.kind)
    health = selectors.connection_webhook_health(connection)
    return {
        "connection": connection,
        "offer": offer,
        "used_by": selectors.connection_usage([connection]).get(connection.pk, []),
        "webhooks": health,
        "webhook_url": services.connection_webhook_url(connection),
        "new_secret": new_secret,
        "steps_template": select_template(
            [
                f"{TEMPLATES}/webhook_steps/{connection.kind}.html",
                f"{TEMPLATES}/webhook_steps/other.html",
            ]
        ).template.name,
        # Open the setup steps until the first delivery arrives.
        "steps_open": new_secret is not None or health.last_delivery_at is None,
        "settings": _settings(connection),
    }


def _settings(connection: Connection) -> list[tuple[str, Any, bool]]:
    """The configuration as (label, value, secret) rows, labelled as the form labels them;
    a secret's value is only whether one is stored."""
    try:
        properties = connector_config_schema(connection.kind).get("properties", {})
    except ConfigurationError:  # a kind this installation no longer ships
        properties = {}
    offer = connector_offer(connection.kind)
    secret_names = set(offer.secret_fields) if offer else set(connection.secrets or {})
    rows: list[tuple[str, Any, bool]] = []
    for name in properties or connection.config:
        title = properties.get(name, {}).get("title", name)
        if name in secret_names:
            rows.append((title, bool((connection.secrets or {}).get(name)), True))
        else:
            rows.append((title, connection.config.get(name), False))
    return rows


@require_POST
@workspace_required(Permission.EDIT)
def connection_check(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Test the stored credentials and record the outcome as the connection's health."""
    connection = _connection(request, public_id)
    ok, message = services.connection_check(connection)
    connection.refresh_from_db()
    if request.htmx:
        return render(
            request,
            f"{TEMPLATES}/detail.html#health",
            {"connection": connection, "check": {"ok": ok, "message": message}},
        )
    (messages.success if ok else messages.error)(request, message)
    return redirect("connections:detail", public_id=connection.public_id)


@workspace_required()
def connection_edit(request: HttpRequest, public_id: UUID) -> HttpResponse:
    connection = _connection(request, public_id)
    offer = _offer_or_404(connection.kind)
    if request.method != "POST":
        form = _form(request, offer, connection)
        return _render_form(request, offer, form, connection=connection)
    _require(request, Permission.ADMIN)
    form = _form(request, offer, connection, data=request.POST)
    if form.is_valid():
        try:
            services.connection_update(
                connection,
                name=form.cleaned_data["name"],
                values=form.values(),
                webhook_secret=form.webhook_secret_value(),
                replace=False,
            )
        except DomainError as exc:
            form_error_add(form, exc)
            connection.refresh_from_db()
        else:
            messages.success(request, f"Saved {connection.name}. Test it to see its health.")
            return redirect("connections:detail", public_id=connection.public_id)
    return _render_form(request, offer, form, connection=connection, status=400)


@require_POST
@workspace_required(Permission.ADMIN)
def connection_edit_check(request: HttpRequest, public_id: UUID) -> HttpResponse:
    connection = _connection(request, public_id)
    offer = _offer_or_404(connection.kind)
    form = _form(request, offer, connection, data=request.POST)
    check = _check_answer(request, form, connection.kind, connection)
    if request.htmx:
        return _render_check(request, form, check)
    return _render_form(request, offer, form, connection=connection, check=check)


@require_POST
@workspace_required(Permission.ADMIN)
def connection_webhook_secret_rotate(request: HttpRequest, public_id: UUID) -> HttpResponse:
    connection = _connection(request, public_id)
    _remember_secret(request, connection, services.connection_webhook_secret_rotate(connection))
    messages.success(
        request,
        "A new webhook signing secret is set: deliveries signed with the old one are refused "
        "from now on. Paste the new one into the system's webhook settings.",
    )
    url = reverse("connections:detail", kwargs={"public_id": connection.public_id})
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@workspace_required()
def connection_delete(request: HttpRequest, public_id: UUID) -> HttpResponse:
    connection = _connection(request, public_id)
    error = None
    if request.method == "POST":
        _require(request, Permission.ADMIN)
        try:
            services.connection_delete(connection)
        except DomainError as exc:
            error = exc.message
        else:
            messages.success(request, f"Deleted {connection.name} and its stored credentials.")
            return redirect("connections:list")
    return render(
        request,
        f"{TEMPLATES}/delete.html",
        {
            "connection": connection,
            "used_by": selectors.connection_usage([connection]).get(connection.pk, []),
            "error": error,
        },
        status=409 if error else 200,
    )


# -- webhooks: a test delivery and its fate ---------------------------------------------------


@require_POST
@workspace_required(Permission.EDIT)
def connection_test_event(request: HttpRequest, public_id: UUID) -> HttpResponse:
    connection = _connection(request, public_id)
    since = timezone.now()
    rejected_before = selectors.rejections_since(connection, since)
    trial: dict[str, Any] = {"since": since, "rejected_before": rejected_before}
    try:
        sent = services.connection_test_event_send(connection)
    except DomainError as exc:
        trial["error"] = exc.message
    else:
        trial["answered"] = sent.answered
    if not request.htmx:
        if "error" in trial:
            messages.error(request, trial["error"])
        else:
            messages.success(request, "Test delivery sent; its arrival shows under Webhooks.")
        return redirect("connections:detail", public_id=connection.public_id)
    return _render_webhook_status(request, connection, trial)


@require_GET
@workspace_required()
def connection_webhook_status(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The webhook status part, polled while a test delivery is awaited."""
    connection = _connection(request, public_id)
    trial = None
    since = parse_datetime(request.GET.get("since", ""))
    if since is not None:
        try:
            rejected_before = int(request.GET.get("rejected_before", "0"))
        except ValueError:
            rejected_before = 0
        trial = {"since": since, "rejected_before": rejected_before}
        answered = request.GET.get("answered", "")
        trial["answered"] = int(answered) if answered.isdigit() else None
    return _render_webhook_status(request, connection, trial)


def _render_webhook_status(
    request: HttpRequest, connection: Connection, trial: dict[str, Any] | None
) -> HttpResponse:
    if trial is not None and "error" not in trial:
        since: datetime = trial["since"]
        fate = selectors.trial_delivery_fate(connection, since, trial["rejected_before"])
        waited = (timezone.now() - since).total_seconds()
        trial.update(
            fate=fate,
            waiting=fate.delivery is None and not fate.rejected and waited < TRIAL_WAIT_SECONDS,
        )
    return render(
        request,
        f"{TEMPLATES}/detail.html#webhook-status",
        {
            "connection": connection,
            "offer": connector_offer(connection.kind),
            "webhooks": selectors.connection_webhook_health(connection),
            "trial": trial,
            "trial_wait": TRIAL_WAIT_SECONDS,
        },
    )
