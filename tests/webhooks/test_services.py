"""The inbox's upkeep: the check that webhooks still arrive, and pruning old deliveries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connections.models import Connection
from apps.syncs.models import Sync
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.services import deliveries_prune, webhook_arrivals_check
from tests.running import run_now
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    ws = f.workspace()
    crm, desk = f.stores()
    return f.sync(ws, crm, desk), crm, desk


def deliver(connection: Connection, key: str, *, status: str = "received") -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        workspace_id=connection.workspace_id,
        connection=connection,
        dedupe_key=key,
        body="{}",
        status=status,
    )


def test_polling_that_finds_unannounced_changes_warns_about_webhooks(setup):
    sync, crm, _ = setup
    connection = sync.connection_a

    def poll() -> Sync:
        run_now(sync, trigger="schedule")
        webhook_arrivals_check()
        sync.refresh_from_db()
        return sync

    deliver(connection, "long-ago")  # the connection is known to receive webhooks
    WebhookDelivery.objects.update(received_at=timezone.now() - timedelta(hours=1))
    crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    assert poll().webhook_warning == ""  # the first poll has nothing to compare with
    crm.insert("contacts", {"email": "bob@example.com", "name": "Bob"})
    warning = poll().webhook_warning
    assert "polling found 1 changed record(s) on side A" in warning
    assert "no webhook announced" in warning
    deliver(connection, "fresh")  # webhooks arrive again
    crm.insert("contacts", {"email": "cy@example.com", "name": "Cy"})
    assert poll().webhook_warning == ""


def test_a_connection_that_never_received_webhooks_is_not_warned_about(setup):
    sync, crm, _ = setup
    for email in ("ann@example.com", "bob@example.com"):
        crm.insert("contacts", {"email": email, "name": "x"})
        run_now(sync, trigger="schedule")
    assert webhook_arrivals_check() == 0
    sync.refresh_from_db()
    assert sync.last_poll["read"]["a"] == 1
    assert sync.webhook_warning == ""


def test_pruning_removes_old_handled_deliveries_and_keeps_waiting_ones(setup, settings):
    sync, _, _ = setup
    old = timezone.now() - timedelta(days=settings.CONCORD_EVENT_RETENTION_DAYS + 1)
    handled = deliver(sync.connection_a, "handled", status="processed")
    waiting = deliver(sync.connection_a, "waiting")
    fresh = deliver(sync.connection_a, "fresh", status="ignored")
    WebhookDelivery.objects.filter(pk__in=[handled.pk, waiting.pk]).update(received_at=old)
    assert deliveries_prune() == 1
    assert set(WebhookDelivery.objects.values_list("pk", flat=True)) == {waiting.pk, fresh.pk}
