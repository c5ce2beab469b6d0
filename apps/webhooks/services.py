"""Receiving webhooks: verify, store, acknowledge; processing happens in a task. And the
inbox's upkeep: the check that webhooks still arrive, and pruning.

Nothing is written for a delivery that fails verification except a per-minute counter in
the cache and, at most once a minute per connection, a log line and its reason
(apps/webhooks/rejections.py). A verified delivery is stored in the inbox with a unique key
from the system's delivery id, so a redelivery is recognised and acknowledged without being
processed twice.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.connections.models import Connection
from apps.connections.services import connection_webhook_parse
from apps.core.broker import task_send
from apps.syncs.models import Sync
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.processing import delivery_route
from apps.webhooks.rejections import rejection_record
from apps.webhooks.selectors import deliveries_since, has_deliveries
from connectors.base import WebhookRequest, WebhookResult
from connectors.errors import ConnectorError, WebhookPayloadError, WebhookVerificationError

logger = logging.getLogger(__name__)

# The Celery task that turns a stored delivery into runs (apps/webhooks/tasks.py registers
# it under this name); sent by name, so receiving does not import the tasks.
PROCESS_TASK = "webhooks.process_delivery"

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


def webhook_verify(connection: Connection, request: WebhookRequest) -> WebhookResult:
    """Let the connector check the signature and parse. Raises WebhookRejected: 401 when the
    delivery is not verified, 400 (with the reason) when its signed content cannot be stored.
    """
    try:
        result = connection_webhook_parse(connection, request)
    except WebhookPayloadError as exc:
        rejection_record(connection.pk, connection.kind, str(exc))
        raise WebhookRejected(400, str(exc)) from exc
    except (WebhookVerificationError, ConnectorError, ValueError) as exc:
        rejection_record(connection.pk, connection.kind, str(exc))
        raise WebhookRejected(401, "signature verification failed") from exc
    problem = _unstorable(result)
    if problem:
        rejection_record(connection.pk, connection.kind, problem)
        raise WebhookRejected(400, problem)
    return result


def _unstorable(result: WebhookResult) -> str:
    """Why the parsed delivery cannot be stored, or "". PostgreSQL's text and jsonb cannot
    hold NUL, which a signed payload may still carry in an id (a 500 there otherwise)."""
    if result.delivery_id and "\x00" in result.delivery_id:
        return f"delivery id {result.delivery_id[:60]!r} contains a NUL character"
    for event in result.events:
        for name, value in (("object type", event.object_type), ("record id", event.record_id)):
            if "\x00" in value:
                return f"{name} {value[:60]!r} contains a NUL character"
    return ""


def webhook_receive(connection: Connection, request: WebhookRequest) -> Receipt:
    """Verify and store one delivery, and request the runs it calls for. Idempotent."""
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
            _route_at_receipt(delivery)
    except IntegrityError:
        return _redelivery(connection, dedupe_key[:200])
    return Receipt(status=202, body=b'{"status": "accepted"}', delivery_id=delivery.pk)


def _route_at_receipt(delivery: WebhookDelivery) -> None:
    """Fold the delivery's records into runs now, in the receiving transaction (see
    processing.delivery_route). Routing must never cost a verified delivery: if it fails,
    its savepoint is rolled back, the delivery stays received and the processing task (or,
    without a broker, the sweep) routes it later."""
    try:
        with transaction.atomic():
            delivery_route(delivery)
    except Exception:
        logger.exception("webhook delivery %s: routing at receipt failed; queued", delivery.pk)
        transaction.on_commit(lambda: _enqueue(delivery.pk))


def _redelivery(connection: Connection, dedupe_key: str) -> Receipt:
    """A delivery stored before. Still waiting to be processed (its processing message was
    never sent, or lost): send it again, and accept. Handled: a duplicate."""
    waiting = (
        WebhookDelivery.objects.filter(
            connection=connection, dedupe_key=dedupe_key, status=WebhookDelivery.Status.RECEIVED
        )
        .values_list("pk", flat=True)
        .first()
    )
    if waiting is None:
        return Receipt(status=200, body=b'{"status": "duplicate"}', duplicate=True)
    transaction.on_commit(lambda: _enqueue(waiting))
    return Receipt(status=202, body=b'{"status": "accepted"}', delivery_id=waiting)


def _enqueue(delivery_id: int) -> None:
    """Send the processing message. The delivery is stored already, so a message that cannot
    be sent (the broker is down) loses nothing: the sender still gets its 2xx, and the sweep
    (`webhooks.sweep`) processes the delivery once the broker is back."""
    task_send(PROCESS_TASK, [delivery_id])


# --- keeping the inbox honest ---------------------------------------------------------------
def webhook_arrivals_check() -> int:
    """Warn on each sync whose latest poll found changes on a side whose connection receives
    webhooks, while no delivery arrived on it since the poll before: the webhook setup in
    that system looks broken. Clears the warning once deliveries arrive again. Returns how
    many syncs carry a warning.

    Runs periodically (`webhooks.check_arrivals`); apps.runs records what each poll read on
    the sync (`Sync.last_poll`).
    """
    warned = 0
    polled = Sync.objects.filter(last_poll__isnull=False).select_related(
        "connection_a", "connection_b"
    )
    for sync in polled:
        warning = _arrival_warning(sync)
        if warning != sync.webhook_warning:
            Sync.objects.filter(pk=sync.pk).update(webhook_warning=warning)
            sync.webhook_warning = warning
        warned += bool(warning)
    return warned


def _arrival_warning(sync: Sync) -> str:
    poll = sync.last_poll or {}
    previous = parse_datetime(poll.get("previous_started_at") or "")
    if previous is None:
        return ""  # the first poll has nothing to compare with
    warnings = []
    for side, connection in (("a", sync.connection_a), ("b", sync.connection_b)):
        read = (poll.get("read") or {}).get(side, 0)
        if not read or not has_deliveries(connection):
            continue
        if not deliveries_since(connection, previous):
            warnings.append(
                f"polling found {read} changed record(s) on side {side.upper()} "
                f"({connection.name}) that no webhook announced; check the webhook setup in "
                "that system"
            )
    return "; ".join(warnings)


def deliveries_prune(*, now: datetime | None = None) -> int:
    """Delete handled deliveries older than the event retention period; returns how many.
    Deliveries still waiting to be processed are never deleted."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.CONCORD_EVENT_RETENTION_DAYS)
    deleted, _ = (
        WebhookDelivery.objects.filter(received_at__lt=cutoff)
        .exclude(status=WebhookDelivery.Status.RECEIVED)
        .delete()
    )
    return deleted
