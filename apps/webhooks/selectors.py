"""Reads for webhook deliveries."""

from __future__ import annotations

from datetime import datetime

from apps.connections.models import Connection
from apps.webhooks.models import WebhookDelivery


def has_deliveries(connection: Connection) -> bool:
    return WebhookDelivery.objects.filter(connection=connection).exists()


def deliveries_since(connection: Connection, since: datetime) -> bool:
    return WebhookDelivery.objects.filter(connection=connection, received_at__gte=since).exists()
