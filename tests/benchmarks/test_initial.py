"""The initial-sync benchmark's measured run (benchmarks.initial.timed_run), at a size a test
affords: it includes the runs that settle the Zendesk jobs of the first run, so what it
counts is the whole initial sync, not the part before Zendesk's queue did the work."""

from __future__ import annotations

import pytest

from benchmarks.initial import make_sync, seed, timed_run
from tests.sandbox_fixtures import Sandbox

pytestmark = pytest.mark.django_db


def test_the_measured_initial_run_includes_settling_zendesks_jobs(sandbox: Sandbox) -> None:
    seed(sandbox.url, 12)  # 12 contacts, the emails of 6 of them as Zendesk users
    sync = make_sync(sandbox.url)

    measured = timed_run(sandbox.url, sync)

    assert measured["status"] == "succeeded"
    assert measured["settling_runs"] >= 1
    assert measured["counters"]["created_b"] == 6  # created in a job, settled, counted
    assert sync.in_flight_writes.filter(state="in_flight").count() == 0
    polls = measured["calls_by_endpoint"]["GET /zendesk/api/v2/job_statuses/show_many.json"]
    assert polls == measured["settling_runs"]  # one look per settling run, never a wait
