"""Requesting runs: one queued run per sync, requests folding into it, follow-ups."""

from __future__ import annotations

import pytest

from apps.runs.models import SyncRun
from apps.runs.queue import run_request
from tests.runs.conftest import queued

pytestmark = pytest.mark.django_db


# --- requesting and folding -----------------------------------------------------------------
def test_a_request_queues_one_run_and_enqueues_it_after_commit(
    setup, django_capture_on_commit_callbacks
):
    sync, _, _ = setup
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = run_request(sync, trigger="manual")
    assert (run.status, run.trigger, run.record_ids, run.full) == ("queued", "manual", None, False)
    assert len(callbacks) == 1


def test_requests_while_queued_fold_into_the_queued_run(setup, django_capture_on_commit_callbacks):
    sync, _, _ = setup
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = run_request(sync, trigger="webhook", record_ids={"a": ["1"]})
        for i in range(2, 11):
            run_request(sync, trigger="webhook", record_ids={"a": [str(i)]})
        run_request(sync, trigger="webhook", record_ids={"b": ["x"], "a": ["1"]})
    [run] = queued(sync)
    assert run.pk == first.pk
    assert run.record_ids == {"a": [str(i) for i in range(1, 11)], "b": ["x"]}
    assert run.folded == 10
    assert len(callbacks) == 1  # one message for eleven triggers


def test_a_poll_folded_into_a_webhook_run_widens_it(setup):
    sync, _, _ = setup
    run_request(sync, trigger="webhook", record_ids={"a": ["1"]})
    run = run_request(sync, trigger="schedule")
    assert (run.trigger, run.record_ids) == ("schedule", None)
    run = run_request(sync, trigger="webhook", record_ids={"b": ["2"]})
    assert run.record_ids is None  # a poll reads every change, the webhook's too


def test_requests_while_running_make_a_single_follow_up(setup):
    sync, _, _ = setup
    running = run_request(sync, trigger="manual")
    SyncRun.objects.filter(pk=running.pk).update(status=SyncRun.Status.RUNNING)
    follow_ups = {
        run_request(sync, trigger="webhook", record_ids={"a": [str(i)]}).pk for i in range(5)
    }
    assert len(follow_ups) == 1
    assert follow_ups != {running.pk}
    assert len(queued(sync)) == 1
