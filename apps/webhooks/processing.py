"""Turning a stored delivery into targeted runs of the syncs that read its records (at
receipt, in the transaction that stores it), and the sweep that processes deliveries whose
routing did not happen then (it failed, and its processing message was lost or never sent
because the broker was down)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.syncs.echoes import echoes, held_in_flight
from apps.syncs.models import Sync
from apps.syncs.triggers import sync_trigger
from apps.webhooks.models import WebhookDelivery

logger = logging.getLogger(__name__)


def delivery_process(delivery_id: int) -> str:
    """Route a delivery that was stored but not routed at receipt (its routing failed, or it
    is a redelivery of one still waiting): the processing task and the sweep call this.

    Idempotent: a delivery is processed once (claimed with a conditional update).
    """
    with transaction.atomic():
        claimed = WebhookDelivery.objects.filter(
            pk=delivery_id, status=WebhookDelivery.Status.RECEIVED
        ).update(attempts=F("attempts") + 1, status=WebhookDelivery.Status.PROCESSED)
        if not claimed:
            return "already-processed"
        delivery = WebhookDelivery.objects.get(pk=delivery_id)
        return delivery_route(delivery)


def delivery_route(delivery: WebhookDelivery) -> str:
    """Request a run, for just the named records, of every enabled sync that reads them, and
    mark the delivery with what came of it. Runs in the caller's transaction: at receipt,
    the one that stored the delivery, so a run is requested (or folded into the sync's
    queued run) before the sender gets its 202, with no task in between.

    Records whose announced change is an echo of the sync's own write (apps.syncs.echoes),
    and records of a pair whose write is still in a system's job (read again when it
    settles), are left out; a delivery of those only starts no run and is marked "echo". Unknown
    object types, or records no sync reads, make it "ignored", not an error. Returns the
    status given.
    """
    connection_id = delivery.connection_id
    syncs = Sync.objects.filter(enabled=True, paused_reason="").filter(
        Q(connection_a_id=connection_id) | Q(connection_b_id=connection_id)
    )
    requested = echoed = 0
    for sync in syncs:
        announced: dict[str, dict[str, datetime | None]] = {"a": {}, "b": {}}
        for event in delivery.events:
            for side, conn_id, object_type in (
                ("a", sync.connection_a_id, sync.object_type_a),
                ("b", sync.connection_b_id, sync.object_type_b),
            ):
                if conn_id == connection_id and event["object_type"] == object_type:
                    _announce(announced[side], str(event["record_id"]), event)
        wanted: dict[str, list[str]] = {}
        for side, records in announced.items():
            echo = echoes(sync, side, records) if records else set()
            rest = [record_id for record_id in records if record_id not in echo]
            # A write to the pair still in a system's job: the run that settles it reads
            # the pair again (its echo, or an edit made meanwhile), so no run now.
            held = held_in_flight(sync, side, rest) if rest else set()
            echoed += len(echo) + len(held)
            wanted[side] = [record_id for record_id in rest if record_id not in held]
        if wanted["a"] or wanted["b"]:
            sync_trigger(sync, trigger="webhook", record_ids=wanted)
            requested += 1
    if requested:
        status = WebhookDelivery.Status.PROCESSED
    elif echoed:
        status = WebhookDelivery.Status.ECHO
    else:
        status = WebhookDelivery.Status.IGNORED
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status, processed_at=timezone.now()
    )
    return str(status)


def _announce(records: dict[str, datetime | None], record_id: str, event: dict) -> None:
    """Note the latest time a delivery gives for a record; a delete, or an event without a
    time, makes it unknown for good (never an echo)."""
    at = None
    if event.get("action") != "deleted" and event.get("occurred_at"):
        try:
            at = datetime.fromisoformat(event["occurred_at"])
        except (TypeError, ValueError):
            at = None
    if record_id not in records:
        records[record_id] = at
    elif records[record_id] is not None:
        records[record_id] = None if at is None else max(at, records[record_id])


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
