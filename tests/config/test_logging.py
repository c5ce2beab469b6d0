"""The console stays readable: the periodic ticks' task lines are DEBUG, while runs, webhook
processing and every failure keep their level (apps/config/logs.py, LOGGING in settings)."""

from __future__ import annotations

import logging
import time

import pytest
from celery.app.trace import LOG_FAILURE, LOG_RECEIVED, LOG_SUCCESS
from django.conf import settings

from apps.runs.models import SyncRun
from tests.syncs import factories as f
from tests.workers import wait_until

TICKS = ["runs.dispatch", "webhooks.sweep", "webhooks.check_arrivals", "dashboard.demo_activity"]


def task_lines(name: str) -> None:
    """The lines Celery writes about one task: beat sends it, the worker receives it, it
    succeeds (or fails)."""
    context = {"id": "0f1e", "name": name, "args": "()", "kwargs": "{}", "eta": None}
    logging.getLogger("celery.beat").info("Scheduler: Sending due task %s (%s)", "entry", name)
    logging.getLogger("celery.worker.strategy").info(LOG_RECEIVED, context)
    trace = logging.getLogger("celery.app.trace")
    trace.info(LOG_SUCCESS, {**context, "return_value": "{}", "runtime": 0.01})
    failure = {"exc": "OperationalError()", "description": "raised unexpected"}
    trace.error(LOG_FAILURE, {**context, **failure})


def seen(caplog) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage().split("[")[0].split(" (")[0]) for r in caplog.records]


def test_the_quiet_tasks_are_the_periodic_ticks():
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert set(settings.QUIET_TASKS) == set(TICKS)
    assert set(TICKS) <= scheduled


@pytest.mark.parametrize("tick", TICKS)
def test_at_info_a_tick_shows_only_its_failures_and_a_run_shows_everything(caplog, tick):
    caplog.set_level(logging.INFO)

    task_lines(tick)
    task_lines("runs.run_sync")

    assert seen(caplog) == [
        ("ERROR", f"Task {tick}"),
        ("INFO", "Scheduler: Sending due task entry"),
        ("INFO", "Task runs.run_sync"),
        ("INFO", "Task runs.run_sync"),
        ("ERROR", "Task runs.run_sync"),
    ]


def test_at_debug_a_tick_shows_its_lines_as_debug(caplog):
    caplog.set_level(logging.DEBUG)

    task_lines("runs.dispatch")

    assert [r.levelname for r in caplog.records] == ["DEBUG", "DEBUG", "DEBUG", "ERROR"]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_worker_with_beat_logs_the_runs_it_dispatches_but_not_its_ticks(workers):
    sync = f.sync(f.workspace(), *f.stores())  # enabled and due: the dispatcher queues it
    workers.start(beat=True)  # the dispatcher ticks every second

    wait_until(
        lambda: SyncRun.objects.filter(sync=sync, trigger="schedule", finished_at__isnull=False)
    )
    time.sleep(3)  # a few more ticks

    log = workers.logs[0].read_text()
    assert "Task runs.run_sync[" in log
    assert "runs.dispatch[" not in log
    assert "Sending due task" not in log
