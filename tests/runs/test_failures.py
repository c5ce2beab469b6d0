"""What a run does when a system fails: reschedule, retry, fail, mark, pause (in-process,
against the sandboxes over HTTP)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connections.models import Connection
from apps.runs import orchestration
from apps.runs.models import SyncRun
from apps.syncs.models import Sync
from connectors.hubspot.sandbox import SANDBOX_TOKEN
from tests.runs.sandbox_sync import hub_desk_sync

pytestmark = pytest.mark.django_db

SEED = {
    "hubspot": {"contacts": 2, "companies": 0, "deals": 0, "tickets": 0},
    "zendesk": {"users": 1, "tickets": 0, "organizations": 0},
}


@pytest.fixture
def make_sync(sandbox):
    def make(token: str = SANDBOX_TOKEN) -> Sync:
        sync = hub_desk_sync(sandbox, seed_counts=SEED, enabled=True, interval_seconds=300)
        if token != SANDBOX_TOKEN:  # the credentials go bad after the sync was set up
            Connection.objects.filter(pk=sync.connection_a_id).update(
                secrets={"access_token": token}
            )
        sync.refresh_from_db()
        return sync

    return make


def test_a_long_retry_after_requeues_the_run_instead_of_sleeping(make_sync, sandbox):
    sync = make_sync()
    sandbox.admin.queue_fault("hubspot", status=429, retry_after=600)
    run = orchestration.run_request(sync, trigger="manual")
    before = timezone.now()
    assert orchestration.run_execute(run.pk) == "queued"
    run.refresh_from_db()
    assert run.status == "queued"
    assert run.attempts == 1
    assert "retrying after 600s" in run.error
    assert before + timedelta(seconds=590) <= run.not_before <= before + timedelta(seconds=610)
    # Delivered again too early (a redelivery, the sweeper): it is sent back for later.
    assert orchestration.run_execute(run.pk) == "early"
    assert SyncRun.objects.get(pk=run.pk).attempts == 1
    # Once the wait is over, the same run completes.
    SyncRun.objects.filter(pk=run.pk).update(not_before=timezone.now())
    assert orchestration.run_execute(run.pk) == "succeeded"
    run.refresh_from_db()
    assert (run.attempts, run.created_b) == (2, 2)


def test_bad_credentials_fail_the_run_and_mark_the_connection(make_sync):
    sync = make_sync(token="pat-na1-revoked-token")
    run = orchestration.run_request(sync, trigger="manual")
    assert orchestration.run_execute(run.pk) == "failed"
    run.refresh_from_db()
    assert "401" in run.error
    connection = Connection.objects.get(pk=sync.connection_a_id)
    assert connection.status == Connection.Status.FAILING
    assert "HubSpot" in connection.last_error
    assert "pat-na1-revoked-token" not in connection.last_error + run.error
    assert Connection.objects.get(pk=sync.connection_b_id).status != Connection.Status.FAILING


def test_a_sync_that_keeps_failing_pauses_itself_visibly(make_sync, settings):
    settings.CONCORD_SYNC_MAX_FAILURES = 3
    sync = make_sync(token="pat-na1-revoked-token")
    for _ in range(3):
        run = orchestration.run_request(sync, trigger="schedule")
        assert orchestration.run_execute(run.pk) == "failed"
    sync.refresh_from_db()
    assert sync.consecutive_failures == 3
    assert sync.paused_reason.startswith("Paused after 3 failed runs in a row")
    assert "401" in sync.paused_reason
    # The dispatcher leaves a paused sync alone.
    Sync.objects.filter(pk=sync.pk).update(next_run_at=timezone.now())
    assert orchestration.dispatch_due() == 0
