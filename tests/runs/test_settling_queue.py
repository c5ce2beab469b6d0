"""The settling run's place in the queue (apps/runs/settling.py, apps/runs/queue.py): queued
with a delay only when writes are in flight, backing off with each look, never holding back
a request that folds into it, and never queued for a paused sync."""

from __future__ import annotations

import pytest
from django.utils import timezone

from apps.runs.models import SyncRun
from apps.runs.queue import run_request
from apps.runs.settling import settlement_request
from apps.syncs.models import InFlightWrite
from tests.runs.conftest import queued

pytestmark = pytest.mark.django_db


def in_flight(sync, *, polls: int = 0) -> InFlightWrite:
    return InFlightWrite.objects.create(
        sync=sync, side="b", action="create", handle={"job": "j"}, polls=polls
    )


def test_nothing_in_flight_queues_nothing(setup):
    sync, _, _ = setup
    assert settlement_request(sync) is None
    assert queued(sync) == []


def test_writes_in_flight_queue_a_settling_run_later_backing_off_with_each_look(
    setup, settings, django_capture_on_commit_callbacks
):
    sync, _, _ = setup
    settings.CONCORD_SETTLE_DELAY = 1.0
    settings.CONCORD_SETTLE_MAX_DELAY = 6.0
    row = in_flight(sync)

    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=False) as sent:
        run = settlement_request(sync)

    assert run is not None
    assert (run.trigger, run.record_ids) == (SyncRun.Trigger.SETTLE, {"a": [], "b": []})
    assert 0.9 <= (run.not_before - before).total_seconds() <= 1.5
    assert len(sent) == 1
    run.delete()
    InFlightWrite.objects.filter(pk=row.pk).update(polls=2)
    later = settlement_request(sync)
    assert 3.9 <= (later.not_before - timezone.now()).total_seconds() <= 4.1
    later.delete()
    InFlightWrite.objects.filter(pk=row.pk).update(polls=9)
    capped = settlement_request(sync)
    assert (capped.not_before - timezone.now()).total_seconds() <= 6.0


def test_a_request_folding_into_a_settling_run_is_not_held_back(
    setup, django_capture_on_commit_callbacks
):
    sync, _, _ = setup
    in_flight(sync)
    settling = settlement_request(sync)

    with django_capture_on_commit_callbacks(execute=False) as sent:
        folded = run_request(sync, trigger="webhook", record_ids={"a": ["1"]})

    assert folded.pk == settling.pk
    assert folded.trigger == "webhook"
    assert folded.record_ids == {"a": ["1"], "b": []}
    assert folded.not_before is None
    assert len(sent) == 1  # sent again, now


def test_a_paused_sync_settles_when_it_runs_again(setup):
    sync, _, _ = setup
    in_flight(sync)
    sync.paused_reason = "held by the safety limit"
    sync.save(update_fields=["paused_reason"])

    assert settlement_request(sync) is None
    assert queued(sync) == []
