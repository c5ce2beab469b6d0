"""The broker's message for a run deleted: the run is sent again, although triggers keep
folding into it, and completes with every record present once on both sides.

Real processes: a worker with beat (the dispatcher sweeps) against the sandboxes over HTTP,
on the broker the settings name (Redis in CI, the filesystem transport without it). Default
settings except a dispatcher tick of 1 s and CONCORD_RUN_REDISPATCH_AFTER of 3 s (30 s by
default), to keep the test short; the bound scales with them.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.config.celery import app as celery_app
from apps.runs.models import SyncRun
from apps.runs.queue import run_request
from apps.syncs.models import RecordLink, Sync
from tests.runs.sandbox_sync import hub_desk_sync
from tests.runs.test_worker import hubspot_contacts, zendesk_users

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

REDISPATCH_AFTER = 3
DISPATCH_EVERY = 1


def test_a_run_whose_message_was_deleted_completes_while_triggers_keep_folding_into_it(
    workers, sandbox
):
    sync = hub_desk_sync(sandbox)
    # Due in an hour: only the requested run (and its follow-ups) can sync the records.
    later = timezone.now() + timedelta(hours=1)
    Sync.objects.filter(pk=sync.pk).update(enabled=True, next_run_at=later)
    users_before, contacts_before = zendesk_users(sync), hubspot_contacts(sync)
    assert users_before
    assert contacts_before
    assert not set(users_before) & set(contacts_before)

    run = run_request(sync, trigger="manual")  # no worker yet: its message waits in the queue
    assert celery_app.control.purge() >= 1, "the run's message was not in the broker's queue"

    env = {
        "CONCORD_RUN_HEARTBEAT_EVERY": 5,
        "CONCORD_DISPATCH_EVERY": DISPATCH_EVERY,
        "CONCORD_RUN_REDISPATCH_AFTER": REDISPATCH_AFTER,
    }
    worker = workers.start(beat=True, **env)
    started = time.monotonic()
    # A trigger every second folds into the queued run (and bumps its updated_at), as polls
    # and webhooks do: it must not keep the lost run from being sent again.
    bound = 25.0
    folds = 0
    while SyncRun.objects.get(pk=run.pk).status == "queued":
        assert time.monotonic() - started < bound, (
            f"the run stayed queued {bound:.0f}s after the worker started ({folds} folds)"
        )
        if run_request(sync, trigger="schedule").pk == run.pk:
            folds += 1
        time.sleep(1)
    taken_up = time.monotonic() - started
    assert folds >= REDISPATCH_AFTER, "the triggers did not fold into the lost run"

    # Settle: the run and whatever follow-up the last triggers made.
    deadline = time.monotonic() + 30
    while SyncRun.objects.filter(sync=sync, status__in=["queued", "running"]).exists():
        assert time.monotonic() < deadline, "a run stayed queued or running"
        time.sleep(0.2)
    print(f"lost message: the run was taken up {taken_up:.1f}s after the worker started")  # noqa: T201
    assert worker.poll() is None
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert run.folded >= folds

    contacts = hubspot_contacts(sync)
    users = zendesk_users(sync)
    assert set(contacts) == set(users) == set(contacts_before) | set(users_before)
    links = RecordLink.objects.filter(sync=sync)
    assert links.count() == len(contacts)
    assert links.values("a_id").distinct().count() == links.count()
    assert links.values("b_id").distinct().count() == links.count()
