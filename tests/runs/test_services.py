"""What a person asks of runs: run now, retry what failed, decide on a held run."""

from __future__ import annotations

import pytest

from apps.core.errors import Refused
from apps.runs.execution import run_execute
from apps.runs.models import SyncRun
from apps.runs.queue import run_request
from apps.runs.services import held_run_approve, held_run_cancel, run_manual, run_retry_failed
from tests.running import run_now
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


def setup(**kw):
    ws = f.workspace()
    crm, desk = f.stores()
    return f.sync(ws, crm, desk, **kw), crm, desk


def test_held_run_is_recorded_and_approving_it_runs_the_change():
    s, crm, _ = setup(safety_limit_count=1)
    contacts = [crm.insert("contacts", {"email": f"h{i}@x.com", "name": "x"}) for i in range(3)]
    run_now(s)
    for a in contacts:
        crm.edit("contacts", a.id, {"name": "everyone"})

    held = run_now(s)

    assert held.status == SyncRun.Status.HELD
    assert "more than the safety limit of 1" in held.error
    with pytest.raises(Refused) as refused:
        run_manual(s)
    assert refused.value.code == "sync_paused"
    approver = f.user()
    follow_up = held_run_approve(held, user=approver)
    assert (follow_up.trigger, follow_up.status) == (SyncRun.Trigger.APPROVAL, "queued")
    assert run_execute(follow_up.pk) == SyncRun.Status.SUCCEEDED
    follow_up.refresh_from_db()
    assert follow_up.updated_b == 3
    held.refresh_from_db()
    assert (held.decision, held.decided_by) == ("approved", approver)
    with pytest.raises(Refused) as refused:
        held_run_cancel(held)
    assert refused.value.code == "no_held_run"


def test_cancelling_a_held_run_writes_nothing():
    s, crm, desk = setup(safety_limit_count=1)
    contacts = [crm.insert("contacts", {"email": f"k{i}@x.com", "name": "x"}) for i in range(3)]
    run_now(s)
    for a in contacts:
        crm.edit("contacts", a.id, {"name": "everyone"})
    held = run_now(s)
    writes = desk.writes
    held_run_cancel(held, user=f.user("ops@x.com"))
    held.refresh_from_db()
    s.refresh_from_db()
    assert held.decision == "cancelled"
    assert "cancelled by ops@x.com" in s.paused_reason
    assert desk.writes == writes


def test_records_that_failed_are_retried_by_the_next_poll_and_by_retry_now():
    sync, crm, desk = setup()
    ann = crm.insert("contacts", {"email": "ann@example.com", "name": "Ann"})
    crm.insert("contacts", {"email": "bob@example.com", "name": "Bob"})
    desk.fail("create", when=lambda fields: fields.get("email") == "ann@example.com")
    first = run_request(sync, trigger="schedule")
    assert run_execute(first.pk) == "partial"
    assert sorted(r.fields["email"] for r in desk.all("users")) == ["bob@example.com"]

    # "Retry now" while the cause persists: a run of just that record, partial again.
    retry = run_retry_failed(SyncRun.objects.get(pk=first.pk))
    assert retry.record_ids == {"a": [ann.id], "b": []}
    assert run_execute(retry.pk) == "partial"

    # The cause goes away; ann has not changed since, yet the next poll reads her again.
    desk.record_faults.clear()
    second = run_request(sync, trigger="schedule")
    assert run_execute(second.pk) == "succeeded"
    second.refresh_from_db()
    assert second.created_b == 1
    emails = sorted(r.fields["email"] for r in desk.all("users"))
    assert emails == ["ann@example.com", "bob@example.com"]
    # Nothing failed in the latest poll: the one after it retries nothing.
    third = run_request(sync, trigger="schedule")
    run_execute(third.pk)
    third.refresh_from_db()
    assert (third.read_a, third.created_b) == (0, 0)
    with pytest.raises(Refused) as refused:
        run_retry_failed(third)
    assert refused.value.code == "nothing_to_retry"
