"""The settling run (apps/runs/settling.py) through a real Celery worker: a run that leaves
writes in Zendesk's background jobs finishes without waiting for them, the worker keeps
looking for them with settling runs of the sync (each under the lease, each finishing at
once while the jobs are queued), and once Zendesk has done the jobs a settling run links
what they created. The sandbox's `jobs_held` switch keeps the jobs queued until the test
lets them run: nothing here depends on how long anything takes."""

from __future__ import annotations

import pytest

from apps.runs.models import SyncLock, SyncRun
from apps.runs.queue import run_request
from apps.syncs.engine.types import LinkStatus
from apps.syncs.models import InFlightWrite, RecordLink
from tests.runs.sandbox_sync import hub_desk_sync
from tests.sandbox_fixtures import Sandbox
from tests.workers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_worker_settles_the_jobs_a_run_left_without_ever_waiting_for_them(
    workers, sandbox: Sandbox
):
    sync = hub_desk_sync(
        sandbox,
        seed_counts={
            "hubspot": {"contacts": 6, "companies": 0, "deals": 0, "tickets": 0},
            "zendesk": {"users": 0, "tickets": 0, "organizations": 0},
        },
        filters=[{"side": "b", "field": "role", "operator": "equals", "value": "end-user"}],
    )
    sandbox.admin.configure("zendesk", job_polls=0, jobs_held=True)
    workers.start(CONCORD_SETTLE_DELAY="0.2", CONCORD_SETTLE_MAX_DELAY="0.5")

    writing = run_request(sync, trigger="manual")

    wait_until(lambda: SyncRun.objects.get(pk=writing.pk).status == "succeeded")
    # Finished while every one of its writes is still queued in Zendesk.
    assert InFlightWrite.objects.filter(sync=sync, run_ref=writing.pk).count() == 6
    assert InFlightWrite.objects.filter(sync=sync).exclude(state="in_flight").count() == 0
    # The worker keeps settling: two settling runs that found the jobs still queued.
    wait_until(
        lambda: SyncRun.objects.filter(sync=sync, trigger="settle", status="succeeded").count() >= 2
    )
    assert InFlightWrite.objects.filter(sync=sync, state="in_flight").count() == 6
    assert min(InFlightWrite.objects.filter(sync=sync).values_list("polls", flat=True)) >= 2
    assert RecordLink.objects.filter(sync=sync, status=LinkStatus.LINKED).count() == 0

    sandbox.admin.configure("zendesk", jobs_held=False)

    wait_until(lambda: not InFlightWrite.objects.filter(sync=sync, state="in_flight").exists())
    wait_until(
        lambda: not SyncRun.objects.filter(sync=sync, status__in=["queued", "running"]).exists()
    )
    assert RecordLink.objects.filter(sync=sync, status=LinkStatus.LINKED).count() == 6
    settled_by = set(
        InFlightWrite.objects.filter(sync=sync).values_list("settled_run_ref", flat=True)
    )
    (settling,) = SyncRun.objects.filter(pk__in=settled_by)
    assert settling.trigger == "settle"
    assert settling.created_b == 6
    # The last run is finished before its worker gives the lease back: wait for that too.
    wait_until(lambda: SyncLock.objects.get(sync=sync).token is None)
    stats = sandbox.admin.stats("zendesk")["endpoints"]
    assert sum(stats["POST /zendesk/api/v2/users/create_many.json"]["statuses"].values()) == 1
    # No run ever waited: every look at the jobs is one show_many call of a settling run.
    polls = sum(stats["GET /zendesk/api/v2/job_statuses/show_many.json"]["statuses"].values())
    settle_runs = SyncRun.objects.filter(sync=sync, trigger="settle").count()
    assert polls == settle_runs
