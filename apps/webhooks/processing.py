"""Turning a stored delivery into targeted runs of the syncs that read its records."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Q
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
