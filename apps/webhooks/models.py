"""The webhook inbox: every verified delivery, stored raw before it is acknowledged."""

from __future__ import annotations

from django.db import models

from apps.core.models import WorkspaceScopedModel


class WebhookDelivery(WorkspaceScopedModel):
    class Status(models.TextChoices):
        RECEIVED = "received", "Received"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (no sync reads these records)"
        ECHO = "echo", "Echo of Concord's own write (no run)"
        FAILED = "failed", "Failed"

    connection = models.ForeignKey(
        "connections.Connection", on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    # The system's delivery or event id; a hash of the body where the system sends none.
    dedupe_key = models.CharField(max_length=200)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    headers = models.JSONField(default=dict)  # credentials-bearing headers are never stored
    body = models.TextField()
    # What the connector's parser found: [{"object_type", "record_id", "action", ...}]
    events = models.JSONField(default=list)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RECEIVED)
    processed_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "dedupe_key"], name="webhook_delivery_once"
            )
        ]
        indexes = [models.Index(fields=["status", "received_at"])]
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"delivery {self.dedupe_key} on {self.connection_id}"
