"""What a run leaves: a SyncRun with counters and one SyncEvent per record action."""

from __future__ import annotations

import pytest

from apps.runs.models import SyncEvent, SyncRun
from tests.running import run_now
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


def setup(**kw):
    ws = f.workspace()
    crm, desk = f.stores()
    return f.sync(ws, crm, desk, **kw), crm, desk


def test_a_run_leaves_counters_and_field_level_events():
    s, crm, desk = setup()
    a = crm.insert("contacts", {"email": "ann@x.com", "name": "Ann"})
    desk.insert("users", {"email": "bob@x.com", "full_name": "Bob"})

    run = run_now(s)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.read_a, run.read_b, run.created_a, run.created_b) == (1, 2, 1, 1)
    assert run.api_calls > 0
    assert run.started_at <= run.finished_at
    created = SyncEvent.objects.filter(run=run, action="created").order_by("side")
    assert [(e.side, e.record_id_a == a.id) for e in created] == [("a", False), ("b", True)]
    assert created[1].changes["full_name"] == {"before": None, "after": "Ann"}

    [b] = [r for r in desk.all("users") if r.fields["email"] == "ann@x.com"]
    crm.edit("contacts", a.id, {"name": "Annie"})
    run = run_now(s)
    [event] = SyncEvent.objects.filter(run=run)
    assert (event.action, event.side, event.record_id_a, event.record_id_b) == (
        "updated",
        "b",
        a.id,
        b.id,
    )
    assert event.changes == {"full_name": {"before": "Ann", "after": "Annie"}}
    # B's feed, read after the update, already shows it: an echo, counted as unchanged.
    assert (run.updated_b, run.read_b, run.unchanged_b) == (1, 1, 1)


def test_record_errors_make_a_partial_run_with_the_message():
    s, crm, desk = setup()
    desk.fail("create", message="email domain blocked")
    crm.insert("contacts", {"email": "x@blocked.com"})
    run = run_now(s)
    assert run.status == SyncRun.Status.PARTIAL
    assert run.errors_b == 1
    [event] = SyncEvent.objects.filter(run=run, action="error")
    assert "email domain blocked" in event.message
