"""Receiving webhooks: verify, store, acknowledge; processing happens in a task.

Nothing is written for a delivery that fails verification except a counter in the cache
and, at most once a minute per connection, a log line. A verified delivery is stored in the
inbox with a unique key from the system's delivery id, so a redelivery is recognised and
acknowledged without being processed twice.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction

from apps.connections.models import Connection
from apps.webhooks.models import WebhookDelivery
from connectors import registry
from connectors.base import WebhookRequest, WebhookResult
from connectors.errors import ConnectorError, WebhookVerificationError

logger = logging.getLogger(__name__)

# Headers worth keeping for debugging; anything else (Authorization, cookies) is dropped.
KEPT_HEADER_PREFIXES = ("content-type", "user-agent", "x-")
DROPPED_HEADERS = {"x-api-key", "x-auth-token", "x-csrftoken"}


@dataclass(frozen=True)
class Receipt:
    """The answer to give the sender."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    delivery_id: int | None = None
    duplicate: bool = False


class WebhookRejected(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _kept_headers(headers: dict[str, str]) -> dict[str, str]:
    kept = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in DROPPED_HEADERS or "token" in lowered or "auth" in lowered:
            continue
        if lowered.startswith(KEPT_HEADER_PREFIXES):
            kept[lowered] = value[:500]
    return kept


def _count_rejection(connection: Connection, reason: str) -> None:
    key = f"webhooks:rejected:{connection.pk}"
    cache.add(key, 0, timeout=None)
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, timeout=None)
    # A sampled log line: a flood of forged requests must not flood the logs.
    if cache.add(f"webhooks:rejected-logged:{connection.pk}", 1, timeout=60):
        logger.warning(
            "webhook for connection %s (%s) rejected: %s", connection.pk, connection.kind, reason
        )


def rejected_count(connection: Connection) -> int:
    return int(cache.get(f"webhooks:rejected:{connection.pk}") or 0)


def webhook_verify(connection: Connection, request: WebhookRequest) -> WebhookResult:
    """Let the connector check the signature and parse. Raises WebhookRejected(401)."""
    connector_class = registry.get(connection.kind)
    try:
        # parse_webhook needs the config (not the network); no HTTP session is opened.
        connector = connector_class(
            registry.parse_config(connection.kind, {**connection.config, **connection.secrets})
        )
        return connector.parse_webhook(request, connection.webhook_secret)
    except (WebhookVerificationError, ConnectorError, ValueError) as exc:
        _count_rejection(connection, str(exc))
        raise WebhookRejected(401, "signature verification failed") from exc


def webhook_receive(connection: Connection, request: WebhookRequest) -> Receipt:
    """Verify and store one delivery. Enqueues processing after commit. Idempotent."""
    if len(request.body) > settings.CONCORD_WEBHOOK_MAX_BYTES:
        raise WebhookRejected(413, "body too large")
    result = webhook_verify(connection, request)
    if result.reply is not None and not result.events:
        status, content_type, body = result.reply
        return Receipt(status=status, body=body, content_type=content_type)
    dedupe_key = result.delivery_id or "sha256:" + hashlib.sha256(request.body).hexdigest()
    events = [
        {
            "object_type": e.object_type,
            "record_id": e.record_id,
            "action": e.action,
            "occurred_at": e.occurred_at.isoformat() if e.occurred_at else None,
        }
        for e in result.events
    ]
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                workspace_id=connection.workspace_id,
                connection=connection,
                dedupe_key=dedupe_key[:200],
                headers=_kept_headers(dict(request.headers)),
                body=request.body.decode("utf-8", errors="replace"),
                events=events,
            )
            transaction.on_commit(lambda: _enqueue(delivery.pk))
    except IntegrityError:
        return Receipt(status=200, body=b'{"status": "duplicate"}', duplicate=True)
    return Receipt(status=202, body=b'{"status": "accepted"}', delivery_id=delivery.pk)


def _enqueue(delivery_id: int) -> None:
    from apps.webhooks.tasks import process_delivery

    process_delivery.delay(delivery_id)
