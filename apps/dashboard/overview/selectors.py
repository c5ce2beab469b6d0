"""What the overview reads: each sync's health, the connections that fail, and runs and
changes per hour.

Every read here costs a fixed number of queries whatever the number of syncs: counts are
grouped by sync in the database (one query per kind of count), never one query per row.
Hours are bucketed in the database (TruncHour, in UTC), on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncHour
from django.utils import timezone

from apps.accounts.models import Workspace
from apps.connections.models import Connection
from apps.runs.models import SyncRun
from apps.syncs.engine.types import LinkStatus
from apps.syncs.models import Conflict, RecordLink, Sync
from apps.webhooks.selectors import deliveries_last_received

# Errors count over this window ("errors in the last day").
ERROR_WINDOW = timedelta(days=1)
# The chart's windows, in days; the first is the default.
ACTIVITY_DAYS = (7, 1)
OPEN_CONFLICT = (Conflict.Status.OPEN, Conflict.Status.DECIDED)
# A connection's configuration and encrypted credentials: never shown here, and decrypting
# them for every sync row cost more than the rest of the health table.
SIDES = ("connection_a", "connection_b")
UNSHOWN = ("config", "secrets", "webhook_secret")
LAST_RUN_FIELDS = (
    "public_id",
    "status",
    "trigger",
    "phase",
    "error",
    "created_at",
    "started_at",
    "finished_at",
)
CHANGES = (
    F("created_a")
    + F("created_b")
    + F("updated_a")
    + F("updated_b")
    + F("deleted_a")
    + F("deleted_b")
)


@dataclass(frozen=True)
class WebhookFreshness:
    """How a sync hears of changes: the latest delivery on either of its connections (None:
    none ever, it only polls), and the warning set when polling found changes that no
    webhook announced."""

    last_received_at: datetime | None
    warning: str
    interval_seconds: int


@dataclass(frozen=True)
class SyncHealth:
    """One sync as the overview's health table shows it."""

    sync: Sync
    last_run: SyncRun | None
    linked: int
    open_conflicts: int
    record_errors: int  # errors_a + errors_b of the runs finished in the last day
    failed_runs: int  # runs that failed in the last day
    webhooks: WebhookFreshness
    failing_connections: list[Connection] = field(default_factory=list)

    @property
    def errors(self) -> int:
        """Errors in the last day: every record a run could not write, and every failed run."""
        return self.record_errors + self.failed_runs

    @property
    def state(self) -> str:
        """ "paused", "on" or "off"."""
        if self.sync.paused:
            return "paused"
        return "on" if self.sync.enabled else "off"


def _by_sync(rows: Any, *names: str) -> dict[int, dict[str, int]]:
    return {row["sync_id"]: {name: row[name] or 0 for name in names} for row in rows}


def sync_health(workspace: Workspace, *, now: datetime | None = None) -> list[SyncHealth]:
    """Every sync of the workspace with its health, by name, in six queries whatever the
    number of syncs: the syncs with their connections and latest run's id, then records
    linked, open conflicts, the last day's errors, the latest runs and the latest webhook
    deliveries, each grouped by sync (or connection) in one query."""
    now = now or timezone.now()
    latest_run = (
        SyncRun.objects.filter(sync=OuterRef("pk")).order_by("-created_at", "-id").values("pk")[:1]
    )
    syncs = list(
        Sync.objects.for_workspace(workspace)
        .select_related(*SIDES)
        .defer(*(f"{side}__{name}" for side in SIDES for name in UNSHOWN))
        .annotate(last_run_pk=Subquery(latest_run))
        .order_by("name")
    )
    if not syncs:
        return []
    ids = [s.pk for s in syncs]
    linked = dict(
        RecordLink.objects.filter(sync_id__in=ids, status=LinkStatus.LINKED)
        .order_by()
        .values("sync_id")
        .annotate(n=Count("pk"))
        .values_list("sync_id", "n")
    )
    conflicts = dict(
        Conflict.objects.filter(sync_id__in=ids, status__in=OPEN_CONFLICT)
        .order_by()
        .values("sync_id")
        .annotate(n=Count("pk"))
        .values_list("sync_id", "n")
    )
    recent = _by_sync(
        SyncRun.objects.filter(sync_id__in=ids, finished_at__gte=now - ERROR_WINDOW)
        .order_by()
        .values("sync_id")
        .annotate(
            errors=Sum(F("errors_a") + F("errors_b")),
            failed=Count("pk", filter=Q(status=SyncRun.Status.FAILED)),
        ),
        "errors",
        "failed",
    )
    runs = SyncRun.objects.only(*LAST_RUN_FIELDS).in_bulk(
        [s.last_run_pk for s in syncs if s.last_run_pk]
    )
    connection_ids = {s.connection_a_id for s in syncs} | {s.connection_b_id for s in syncs}
    last_delivery = deliveries_last_received(connection_ids)
    rows = []
    for sync in syncs:
        sides = (sync.connection_a, sync.connection_b)
        deliveries = [last_delivery[c.pk] for c in sides if c.pk in last_delivery]
        counts = recent.get(sync.pk, {})
        rows.append(
            SyncHealth(
                sync=sync,
                last_run=runs.get(sync.last_run_pk),
                linked=linked.get(sync.pk, 0),
                open_conflicts=conflicts.get(sync.pk, 0),
                record_errors=counts.get("errors", 0),
                failed_runs=counts.get("failed", 0),
                webhooks=WebhookFreshness(
                    last_received_at=max(deliveries) if deliveries else None,
                    warning=sync.webhook_warning,
                    interval_seconds=sync.interval_seconds,
                ),
                failing_connections=[
                    c for c in dict.fromkeys(sides) if c.status == Connection.Status.FAILING
                ],
            )
        )
    return rows


def connections_failing(workspace: Workspace) -> list[Connection]:
    """The workspace's connections whose last check or run failed, by name."""
    return list(
        Connection.objects.for_workspace(workspace)
        .filter(status=Connection.Status.FAILING)
        .defer(*UNSHOWN)
        .order_by("name")
    )


@dataclass(frozen=True)
class HourActivity:
    hour: datetime  # the hour's start, in UTC
    runs: int
    failed: int
    changes: int  # records created, updated or deleted on either side


@dataclass(frozen=True)
class Activity:
    """Runs and changes per hour over the last `days` days, the current hour included:
    every hour, quiet ones as zeros, oldest first."""

    days: int
    hours: list[HourActivity]

    @property
    def busy_hours(self) -> list[HourActivity]:
        """The hours in which a run started, newest first (the table's rows)."""
        return [h for h in reversed(self.hours) if h.runs]

    @property
    def runs(self) -> int:
        return sum(h.runs for h in self.hours)

    @property
    def failed(self) -> int:
        return sum(h.failed for h in self.hours)

    @property
    def changes(self) -> int:
        return sum(h.changes for h in self.hours)

    def chart_data(self) -> dict[str, list[int]]:
        """Columns for the chart: the hours as Unix seconds and one list per series."""
        return {
            "t": [int(h.hour.timestamp()) for h in self.hours],
            "runs": [h.runs for h in self.hours],
            "failed": [h.failed for h in self.hours],
            "changes": [h.changes for h in self.hours],
        }


def activity_per_hour(workspace: Workspace, *, days: int, now: datetime | None = None) -> Activity:
    """The runs that started in each hour of the last `days` days, how many of them failed,
    and the records they changed: one grouped query."""
    now = (now or timezone.now()).astimezone(UTC)
    current = now.replace(minute=0, second=0, microsecond=0)
    first = current - timedelta(hours=days * 24 - 1)
    rows = (
        SyncRun.objects.for_workspace(workspace)
        .filter(started_at__gte=first)
        .order_by()
        .annotate(hour=TruncHour("started_at", tzinfo=UTC))
        .values("hour")
        .annotate(
            n=Count("pk"),
            failed=Count("pk", filter=Q(status=SyncRun.Status.FAILED)),
            changes=Sum(CHANGES),
        )
    )
    found = {row["hour"]: row for row in rows}
    hours = []
    for i in range(days * 24):
        hour = first + timedelta(hours=i)
        row = found.get(hour, {})
        hours.append(
            HourActivity(
                hour=hour,
                runs=row.get("n", 0),
                failed=row.get("failed", 0),
                changes=row.get("changes") or 0,
            )
        )
    return Activity(days=days, hours=hours)
