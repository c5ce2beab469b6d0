"""Connection: which connector, its configuration, encrypted credentials and health."""

from __future__ import annotations

import secrets

from django.db import models

from apps.core.fields import EncryptedJSONField, EncryptedTextField
from apps.core.models import WorkspaceScopedModel


def new_webhook_secret() -> str:
    return secrets.token_urlsafe(32)


class Connection(WorkspaceScopedModel):
    class Status(models.TextChoices):
        UNKNOWN = "unknown", "Not checked yet"
        OK = "ok", "Working"
        FAILING = "failing", "Failing"

    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=40)  # connectors.registry key
    # Non-secret configuration (base URL, site, project key…).
    config = models.JSONField(default=dict, blank=True)
    # Secret configuration (tokens, client secrets), encrypted at rest, write-only in the API.
    secrets = EncryptedJSONField(default=dict, blank=True)
    # The secret the external system signs webhooks with. Where the system lets the sender
    # choose it (Jira, Zendesk), Concord generates it; where the system dictates it
    # (HubSpot's app client secret), the user pastes it.
    webhook_secret = EncryptedTextField(default=new_webhook_secret, blank=True)

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UNKNOWN)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="connection_name_unique")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class RateLimitCounter(models.Model):
    """Requests spent per budget key and window, for the shared limiter without Redis.

    Incremented with UPDATE ... SET count = count + 1, which the database serialises, so
    workers in several processes never overspend a window. Old windows of a key are deleted
    when its next window starts.
    """

    key = models.CharField(max_length=200)
    window = models.BigIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["key", "window"], name="ratelimit_key_window")
        ]

    def __str__(self) -> str:
        return f"{self.key} @ {self.window}: {self.count}"
