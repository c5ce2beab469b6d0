"""The trail every run leaves: one SyncRun per run, one SyncEvent per record action."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from apps.core.models import WorkspaceScopedModel

SIDES = [("a", "A"), ("b", "B")]
PHASES = [
    ("recovering", "Recovering an interrupted run"),
    ("checking", "Checking the safety limit"),
    ("retrying", "Retrying failed records and decisions"),
    ("side_a", "Syncing A's changes"),
    ("side_b", "Syncing B's changes"),
    ("second_look", "Looking again at unmatched records"),
]


class SyncRun(WorkspaceScopedModel):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Succeeded with record errors"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        HELD = "held", "Held by the safety limit"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Manual"
        WEBHOOK = "webhook", "Webhook"
        RESYNC = "resync", "Full resync"
        APPROVAL = "approval", "Approval of a held run"
        RESOLUTION = "resolution", "Conflict decisions"
        # References waiting for records another sync has linked since.
        REFERENCE = "reference", "References now linked"
        SETTLE = "settle", "Settling a system's jobs"

    sync = models.ForeignKey("syncs.Sync", on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    read_a = models.PositiveIntegerField(default=0)
    read_b = models.PositiveIntegerField(default=0)
    created_a = models.PositiveIntegerField(default=0)
    created_b = models.PositiveIntegerField(default=0)
    updated_a = models.PositiveIntegerField(default=0)
    updated_b = models.PositiveIntegerField(default=0)
    unchanged_a = models.PositiveIntegerField(default=0)
    unchanged_b = models.PositiveIntegerField(default=0)
    deleted_a = models.PositiveIntegerField(default=0)
    deleted_b = models.PositiveIntegerField(default=0)
    conflicts_a = models.PositiveIntegerField(default=0)
    conflicts_b = models.PositiveIntegerField(default=0)
    errors_a = models.PositiveIntegerField(default=0)
    errors_b = models.PositiveIntegerField(default=0)
    api_calls = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # What a running run is doing now (apps.syncs.engine.recorder.Phase), for the live view.
    phase = models.CharField(max_length=12, choices=PHASES, blank=True)

    # What to run: None reads every change since the cursors; {"a": [...], "b": [...]}
    # only those records (webhooks); `full` everything from the start (resync).
    record_ids = models.JSONField(null=True, blank=True)
    full = models.BooleanField(default=False)
    folded = models.PositiveIntegerField(default=0)  # triggers folded into this run
    # Orchestration: attempts so far, not before when (Retry-After), the lease's fence
    # number, the last heartbeat of its worker, and a cooperative cancellation flag.
    attempts = models.PositiveIntegerField(default=0)
    not_before = models.DateTimeField(null=True, blank=True)
    fence = models.PositiveBigIntegerField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # When its last message was sent (when due, for a message with a countdown): the
    # sweeper sends a queued run again once that is CONCORD_RUN_REDISPATCH_AFTER ago. Not
    # updated_at, which every trigger folded into the run bumps.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)

    # For a held run: who approved or cancelled it, and when.
    decision = models.CharField(max_length=10, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["sync", "-created_at"], name="run_sync_recent"),
            models.Index(fields=["status", "updated_at"], name="run_status_updated"),
        ]
        constraints = [
            # At most one queued run per sync: further triggers fold into it.
            models.UniqueConstraint(
                fields=["sync"], condition=models.Q(status="queued"), name="one_queued_run_per_sync"
            )
        ]

    def __str__(self) -> str:
        return f"run {self.pk} of {self.sync_id} ({self.status})"

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class SyncEvent(models.Model):
    class Action(models.TextChoices):
        CREATED = "created", "Created"
        UPDATED = "updated", "Updated"
        MATCHED = "matched", "Matched"
        UNLINKED = "unlinked", "Unlinked"
        DELETED = "deleted", "Deleted"
        CONFLICT = "conflict", "Conflict"
        RESOLVED = "resolved", "Conflict resolved"
        ERROR = "error", "Error"
        SKIPPED = "skipped", "Skipped"
        WAITING = "waiting", "Waiting"

    # Indexed by (run, id) below, which also serves every lookup by run alone.
    run = models.ForeignKey(
        SyncRun, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    sync = models.ForeignKey("syncs.Sync", on_delete=models.CASCADE, related_name="+")
    action = models.CharField(max_length=10, choices=Action.choices)
    side = models.CharField(max_length=1, choices=SIDES)
    record_id_a = models.CharField(max_length=255, blank=True)
    record_id_b = models.CharField(max_length=255, blank=True)
    # {field: {"before": v, "after": v}} (or the conflict's base/a/b/decision).
    changes = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    code = models.CharField(max_length=30, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["sync", "record_id_a"], name="event_sync_a"),
            models.Index(fields=["sync", "record_id_b"], name="event_sync_b"),
            # The run log pages a run's events by keyset on the id, unfiltered or by action
            # (benchmarks/runlog.py: without them PostgreSQL sorts the whole run per page).
            models.Index(fields=["run", "id"], name="event_run_page"),
            models.Index(fields=["run", "action", "id"], name="event_run_action"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.record_id_a or '-'}/{self.record_id_b or '-'}"


class SyncLock(models.Model):
    """The lease that lets one run at a time work on a sync.

    Taken and renewed with conditional UPDATEs (apps/runs/lease.py). `token` is random
    per acquisition; `fence` grows by one with each, so anything a holder did can be told
    apart from what a later holder did; `expires_at` frees the lease of a worker that died.
    """

    sync = models.OneToOneField(
        "syncs.Sync", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    token = models.UUIDField(null=True, blank=True)
    fence = models.PositiveBigIntegerField(default=0)
    run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"lock of sync {self.sync_id} (fence {self.fence})"
