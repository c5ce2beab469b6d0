"""Turning a stored delivery into targeted runs of the syncs that read its records, and the
sweep that processes deliveries whose processing message never came (the broker was down
when they were stored, or the message was lost)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.syncs.models import Sync
from apps.syncs.triggers import sync_trigger
from apps.webhooks.models import WebhookDelivery

logger = logging.getLogger(__name__)


def delivery_process(delivery_id: int) -> str:
    """Request a run, for just the named records, of every enabled sync that reads them.

    Idempotent: a delivery is processed once (claimed with a conditional update). Unknown
    object types, or records no sync reads, make the delivery "ignored", not an error.
    """
    with transaction.atomic():
        claimed = WebhookDelivery.objects.filter(
            pk=delivery_id, status=WebhookDelivery.Status.RECEIVED
        ).update(attempts=1, processed_at=timezone.now(), status=WebhookDelivery.Status.PROCESSED)
        if not claimed:
            return "already-processed"
        delivery = WebhookDelivery.objects.select_related("connection").get(pk=delivery_id)
        connection_id = delivery.connection_id
        syncs = Sync.objects.filter(enabled=True, paused_reason="").filter(
            Q(connection_a_id=connection_id) | Q(connection_b_id=connection_id)
        )
        requested = 0
        for sync in syncs:
            ids: dict[str, list[str]] = {"a": [], "b": []}
            for event in delivery.events:
                for side, conn_id, object_type in (
                    ("a", sync.connection_a_id, sync.object_type_a),
                    ("b", sync.connection_b_id, sync.object_type_b),
                ):
                    if conn_id == connection_id and event["object_type"] == object_type:
                        ids[side].append(str(event["record_id"]))
            if ids["a"] or ids["b"]:
                sync_trigger(sync, trigger="webhook", record_ids=ids)
                requested += 1
        if not requested:
            WebhookDelivery.objects.filter(pk=delivery_id).update(
                status=WebhookDelivery.Status.IGNORED
            )
            return "ignored"
    return "processed"


# A delivery that failed processing this many times (a bug, not an outage) is marked failed
# with the error instead of being tried at every sweep.
SWEEP_MAX_ATTEMPTS = 5


def deliveries_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Process every delivery still waiting CONCORD_WEBHOOK_SWEEP_AFTER seconds after it
    was received, here and now (not through one more message). Returns how many were
    processed. Runs every CONCORD_WEBHOOK_SWEEP_EVERY seconds (`webhooks.sweep`, from beat),
    so nothing stays received and unprocessed for longer than the two together once the
    broker is back. A delivery whose message arrives later is not processed twice."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.CONCORD_WEBHOOK_SWEEP_AFTER)
    waiting = WebhookDelivery.objects.filter(
        status=WebhookDelivery.Status.RECEIVED, received_at__lt=cutoff
    ).order_by("received_at")
    swept = 0
    for pk in list(waiting.values_list("pk", flat=True)[:limit]):
        try:
            delivery_process(pk)
        except Exception as exc:
            logger.exception("webhook delivery %s could not be processed", pk)
            WebhookDelivery.objects.filter(pk=pk).update(
                attempts=F("attempts") + 1, error=f"{exc!r}"[:2000]
            )
            WebhookDelivery.objects.filter(
                pk=pk,
                status=WebhookDelivery.Status.RECEIVED,
                attempts__gte=SWEEP_MAX_ATTEMPTS,
            ).update(status=WebhookDelivery.Status.FAILED)
            continue
        swept += 1
    return swept
