"""A system that pages without end, answers in the wrong shape, or times out after a write,
against a real worker and the sandboxes over HTTP."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from apps.connections.services import connector_for
from apps.runs.execution import run_execute
from apps.runs.models import SyncRun
from apps.runs.queue import run_request
from apps.runs.services import run_cancel
from apps.syncs.models import RecordLink, Sync
from connectors.http import HttpClient
from tests.runs.sandbox_sync import hub_desk_sync
from tests.sandbox_fixtures import Sandbox
from tests.workers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def hub_desk(sandbox: Sandbox) -> Sync:
    sync = hub_desk_sync(sandbox)
    Sync.objects.filter(pk=sync.pk).update(enabled=True, next_run_at=None)
    return sync


def _listed(sandbox: Sandbox) -> int:
    endpoints = sandbox.admin.stats("zendesk")["endpoints"]
    return sum(e["count"] for name, e in endpoints.items() if "incremental/users" in name)


def test_a_run_stuck_in_endless_paging_is_cancelled_within_two_seconds(workers, hub_desk, sandbox):
    # A first run lists the Zendesk users in full (to match by email); that listing now
    # answers empty pages that say more follow, forever (slowly, so the page guard's bound
    # is far off).
    sandbox.admin.set_faults(
        "zendesk",
        latency_ms=150,
        paging=[{"mode": "endless", "path": "/api/v2/incremental/users"}],
    )
    workers.start()
    run = run_request(hub_desk, trigger="manual")
    wait_until(lambda: _listed(sandbox) >= 5, timeout=60, every=0.05)
    asked = time.monotonic()
    run_cancel(SyncRun.objects.get(pk=run.pk))
    wait_until(lambda: SyncRun.objects.get(pk=run.pk).status == "cancelled", timeout=10, every=0.05)
    took = time.monotonic() - asked
    assert took < 2.0, f"the cancel took {took:.2f}s"
    listed = _listed(sandbox)
    time.sleep(0.5)
    assert _listed(sandbox) == listed, "the worker kept paging after the cancel"
    assert not RecordLink.objects.filter(sync=hub_desk).exists()


def test_endless_paging_fails_the_run_with_a_clear_error(workers, hub_desk, sandbox):
    sandbox.admin.set_faults(
        "hubspot", paging=[{"mode": "endless", "path": "/crm/v3/objects/contacts/search"}]
    )
    workers.start()
    run = run_request(hub_desk, trigger="manual")
    wait_until(lambda: SyncRun.objects.get(pk=run.pk).status == "failed", timeout=60)
    error = SyncRun.objects.get(pk=run.pk).error
    assert error.startswith("HubSpot POST /crm/v3/objects/contacts/search: ")
    assert "page cursor twice" in error or "empty pages" in error
    # The sync's row is written just after the run's: wait for it too.
    wait_until(lambda: Sync.objects.get(pk=hub_desk.pk).last_error == error, timeout=10)


def test_a_wrong_shaped_answer_names_system_call_and_field(workers, hub_desk, sandbox):
    sandbox.admin.set_faults("hubspot", shape=[{"drop": "results.id", "path": "/crm/v3/objects"}])
    workers.start()
    run = run_request(hub_desk, trigger="manual")
    wait_until(lambda: SyncRun.objects.get(pk=run.pk).status == "failed", timeout=60)
    error = SyncRun.objects.get(pk=run.pk).error
    assert "internal error" not in error
    assert error == ("HubSpot GET /crm/v3/objects/contacts: the answer has no 'results[0].id'")
    wait_until(lambda: Sync.objects.get(pk=hub_desk.pk).last_error == error, timeout=10)


def test_a_create_that_times_out_after_it_was_applied_is_not_made_twice(
    hub_desk, sandbox, monkeypatch
):
    """The first create in Zendesk is applied, then its answer held past the client's read
    timeout: the run cannot know whether it happened. It fails (a create is never retried
    blindly), and the retry's pending-create recovery links what the create made."""
    # The one thing not run for real: a read timeout of 1 s instead of 30 s.
    defaults = dict(HttpClient.__init__.__kwdefaults__)
    monkeypatch.setattr(HttpClient.__init__, "__kwdefaults__", {**defaults, "read_timeout": 1.0})
    sandbox.admin.set_faults("zendesk", timeout_seconds=3)
    sandbox.admin.queue_fault(
        "zendesk", timeout=True, after_write=True, method="POST", path="/api/v2/users"
    )
    run = run_request(hub_desk, trigger="manual")
    assert run_execute(run.pk) == "queued"  # the transient failure requeues it
    assert "no answer within the read timeout" in SyncRun.objects.get(pk=run.pk).error
    SyncRun.objects.filter(pk=run.pk).update(not_before=None)
    assert run_execute(run.pk) == "succeeded"

    emails = {r.fields["email"] for r in _records(hub_desk.connection_a, "contacts")}
    users = Counter(r.fields["email"] for r in _records(hub_desk.connection_b, "users"))
    assert emails <= set(users)
    assert all(users[e] == 1 for e in emails), users
    assert RecordLink.objects.filter(sync=hub_desk).count() == len(emails | set(users))


def _records(connection, object_type: str) -> list:
    connector = connector_for(connection)
    try:
        return [
            r
            for page in connector.changes(object_type, None)
            for r in page.records
            if not r.deleted
        ]
    finally:
        connector.close()
