"""PostgreSQL stopped mid-run: the run resumes by itself once the database is back.

A real worker runs a sync between the sandboxes on a private PostgreSQL cluster that the
test stops (immediately: every connection cut) while the run writes, and starts again.
No beat, no sweeper: the run must finish by itself, every record once on both sides.
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from apps.connections.services import connector_for
from apps.runs.models import SyncRun
from apps.runs.queue import run_request
from apps.syncs.models import RecordLink, Sync
from tests.runs.sandbox_sync import SEED_COUNTS, hub_desk_sync
from tests.runs.test_worker import hubspot_contacts, zendesk_users
from tests.workers import wait_until

pytestmark = [pytest.mark.slow]

OUTAGE = float(os.environ.get("CONCORD_FAULTS_OUTAGE", "8"))  # the issue: 30 s


def test_a_run_interrupted_by_a_database_outage_finishes_by_itself(
    private_database, private_postgres, workers, sandbox
):
    sandbox.admin.seed(
        2, counts={**SEED_COUNTS, "hubspot": {**SEED_COUNTS["hubspot"], "contacts": 24}}
    )
    sync = hub_desk_sync(sandbox)
    sandbox.admin.set_faults("zendesk", latency_ms=150)  # slow writes: time to stop mid-run
    later = timezone.now() + timedelta(hours=1)
    Sync.objects.filter(pk=sync.pk).update(enabled=True, next_run_at=later)
    worker = workers.start(DATABASE_URL=private_database)
    run = run_request(sync, trigger="manual")
    wait_until(lambda: RecordLink.objects.filter(sync=sync).count() >= 3, every=0.05)

    connections["default"].close()
    private_postgres.stop()
    time.sleep(OUTAGE)
    private_postgres.start()
    back = time.monotonic()

    wait_until(lambda: SyncRun.objects.get(pk=run.pk).status == "succeeded", timeout=60)
    finished_after = time.monotonic() - back
    print(f"database outage {OUTAGE:.0f}s: the run finished {finished_after:.1f}s after")  # noqa: T201
    assert worker.poll() is None
    run = SyncRun.objects.get(pk=run.pk)
    assert run.attempts == 2, "the same run, resumed once"
    contacts = hubspot_contacts(sync)
    users = zendesk_users(sync)
    assert set(users) == set(contacts)
    connector = connector_for(sync.connection_b)
    try:
        raw = [r for page in connector.changes("users", None) for r in page.records]
    finally:
        connector.close()
    assert len([r for r in raw if not r.deleted]) == len(users), "a user was created twice"
    links = RecordLink.objects.filter(sync=sync)
    assert links.count() == len(contacts)
    assert links.values("b_id").distinct().count() == links.count()
    assert links.values("a_id").distinct().count() == links.count()
