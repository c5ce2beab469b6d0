"""POST /hooks/<connection public id>/: verify, store, acknowledge. Nothing else here."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from apps.connections.models import Connection
from apps.webhooks import services
from connectors.base import WebhookRequest


@csrf_exempt
@require_http_methods(["POST", "GET"])
def receive(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    # Size first, from the header, before reading the body or touching the database.
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > settings.CONCORD_WEBHOOK_MAX_BYTES:
        return JsonResponse({"error": "body too large"}, status=413)
    # Webhooks are unauthenticated by session; this is the one view that reads a connection
    # by its unguessable public id without a workspace: the signature is the authentication.
    connection = (
        Connection.objects.only("id", "workspace_id", "kind", "config", "secrets", "webhook_secret")
        .filter(public_id=public_id)
        .first()
    )
    if connection is None:
        return JsonResponse({"error": "unknown webhook endpoint"}, status=404)
    inbound = WebhookRequest(
        method=request.method,
        # Systems sign the URL they were given, which is built from CONCORD_PUBLIC_URL.
        url=settings.CONCORD_PUBLIC_URL.rstrip("/") + request.get_full_path(),
        headers=dict(request.headers),
        body=request.body,
    )
    try:
        receipt = services.webhook_receive(connection, inbound)
    except services.WebhookRejected as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)
    return HttpResponse(receipt.body, status=receipt.status, content_type=receipt.content_type)
