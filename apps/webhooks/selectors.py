"""Reads for webhook deliveries."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db.models import Count, Max
from django.utils import timezone

from apps.connections.models import Connection
from apps.webhooks.models import WebhookDelivery


def has_deliveries(connection: Connection) -> bool:
    return WebhookDelivery.objects.filter(connection=connection).exists()


def deliveries_since(connection: Connection, since: datetime) -> bool:
    return WebhookDelivery.objects.filter(connection=connection, received_at__gte=since).exists()


def deliveries_last_received(connection_ids: Iterable[int]) -> dict[int, datetime]:
    """When each connection's latest verified delivery arrived; connections without any are
    left out. One query for all of them."""
    rows = (
        WebhookDelivery.objects.filter(connection_id__in=list(connection_ids))
        .values("connection_id")
        .annotate(last=Max("received_at"))
    )
    return {row["connection_id"]: row["last"] for row in rows}


def delivery_first_since(connection: Connection, since: datetime) -> WebhookDelivery | None:
    """The first verified delivery received at or after `since`, or None."""
    return (
        WebhookDelivery.objects.filter(connection=connection, received_at__gte=since)
        .order_by("received_at")
        .only("id", "received_at", "status", "events")
        .first()
    )


def deliveries_by_status(connection: Connection, *, hours: int = 1) -> dict[str, int]:
    """How the connection's deliveries of the last `hours` fared, by status (processed: ran
    a sync; echo: Concord's own write coming back, no run; ignored: no sync reads it;
    received: waiting; failed). Statuses without deliveries are left out."""
    since = timezone.now() - timedelta(hours=hours)
    rows = (
        WebhookDelivery.objects.filter(connection=connection, received_at__gte=since)
        .values("status")
        .annotate(n=Count("id"))
    )
    return {row["status"]: row["n"] for row in rows}
