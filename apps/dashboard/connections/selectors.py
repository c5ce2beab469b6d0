"""What the connections pages read across apps: which syncs use a connection, and how its
webhooks fare (last delivery, rejected deliveries in the last hour, a test delivery's fate).

Connections cannot import syncs or webhooks (they sit above it), so these reads live with
the dashboard, which may import every app; each one reads through the owning app's
selectors where it has them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from apps.connections.models import Connection
from apps.connections.selectors import ConnectorOffer, connector_offer
from apps.syncs.models import Sync
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.rejections import Rejection, rejection_counts, rejection_last
from apps.webhooks.selectors import (
    deliveries_by_status,
    deliveries_last_received,
    delivery_first_since,
)


@dataclass(frozen=True)
class SyncUse:
    """One sync that reads and writes through a connection, on one side."""

    sync: Sync
    side: str  # "A" or "B"
    object_type: str


@dataclass(frozen=True)
class WebhookHealth:
    last_delivery_at: datetime | None
    rejected_last_hour: int
    last_rejection: Rejection | None = None
    # The last hour's verified deliveries by what came of them ({"processed": 3, "echo": 5}).
    fared_last_hour: dict[str, int] | None = None

    @property
    def fared(self) -> list[tuple[str, int]]:
        """(label, count) in a fixed order, for the connection page."""
        counts = self.fared_last_hour or {}
        return [(label, counts[status]) for status, label in FARED if counts.get(status)]


# Delivery statuses as the connection page names them.
FARED = (
    ("processed", "ran a sync"),
    ("echo", "echoes of Concord's own writes (no run)"),
    ("ignored", "read by no sync"),
    ("received", "waiting"),
    ("failed", "failed"),
)


@dataclass(frozen=True)
class ConnectionRow:
    """A connection as the list shows it."""

    connection: Connection
    offer: ConnectorOffer | None  # None for a kind this installation no longer ships
    used_by: list[SyncUse]
    webhooks: WebhookHealth


@dataclass(frozen=True)
class TrialDeliveryFate:
    """What became of a test delivery asked for at `since`: it arrived (the first verified
    delivery since then), or it was refused (more rejections than when it was asked)."""

    delivery: WebhookDelivery | None
    rejected: bool
    rejection: Rejection | None


def connection_usage(connections: Iterable[Connection]) -> dict[int, list[SyncUse]]:
    """The syncs of each connection's workspace that use it, by connection id, by name."""
    by_id = {c.pk: c for c in connections}
    usage: dict[int, list[SyncUse]] = defaultdict(list)
    if not by_id:
        return usage
    workspaces = {c.workspace_id for c in by_id.values()}
    syncs = (
        Sync.objects.filter(workspace_id__in=workspaces)
        .filter(Q(connection_a_id__in=by_id) | Q(connection_b_id__in=by_id))
        .order_by("name")
    )
    for sync in syncs:
        if sync.connection_a_id in by_id:
            usage[sync.connection_a_id].append(SyncUse(sync, "A", sync.object_type_a))
        if sync.connection_b_id in by_id:
            usage[sync.connection_b_id].append(SyncUse(sync, "B", sync.object_type_b))
    return usage


def connection_rows(connections: Sequence[Connection]) -> list[ConnectionRow]:
    """The list page: each connection with its connector, its syncs and its webhooks, in a
    fixed number of queries whatever the number of connections."""
    ids = [c.pk for c in connections]
    usage = connection_usage(connections)
    last = deliveries_last_received(ids)
    rejected = rejection_counts(ids)
    offers: dict[str, ConnectorOffer | None] = {}
    rows = []
    for connection in connections:
        if connection.kind not in offers:
            offers[connection.kind] = connector_offer(connection.kind)
        rows.append(
            ConnectionRow(
                connection=connection,
                offer=offers[connection.kind],
                used_by=usage.get(connection.pk, []),
                webhooks=WebhookHealth(last.get(connection.pk), rejected[connection.pk]),
            )
        )
    return rows


def connection_webhook_health(connection: Connection) -> WebhookHealth:
    return WebhookHealth(
        last_delivery_at=deliveries_last_received([connection.pk]).get(connection.pk),
        rejected_last_hour=rejection_counts([connection.pk])[connection.pk],
        last_rejection=rejection_last(connection.pk),
        fared_last_hour=deliveries_by_status(connection),
    )


def rejections_since(connection: Connection, since: datetime) -> int:
    """Rejected deliveries from the minute of `since` on (for comparing before and after a
    test delivery)."""
    return rejection_counts([connection.pk], since=since)[connection.pk]


def trial_delivery_fate(
    connection: Connection, since: datetime, rejected_before: int
) -> TrialDeliveryFate:
    delivery = delivery_first_since(connection, since)
    rejected = delivery is None and rejections_since(connection, since) > rejected_before
    return TrialDeliveryFate(
        delivery=delivery,
        rejected=rejected,
        rejection=rejection_last(connection.pk) if rejected else None,
    )
