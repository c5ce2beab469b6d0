"""A person's conflict decisions: recorded at once, written by a run of the sync through the
engine, and closed (or reopened with the refusal) by that run."""

from __future__ import annotations

import pytest

from apps.core.errors import Invalid, Refused
from apps.runs.execution import run_execute
from apps.runs.models import SyncRun
from apps.syncs.conflicts import conflict_decide, conflicts_decide
from apps.syncs.models import Conflict, RecordLink
from apps.syncs.services import sync_pause, sync_resume
from tests.running import events, run_now
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


def setup(**kw):
    ws = f.workspace()
    crm, desk = f.stores()
    return f.sync(ws, crm, desk, **kw), crm, desk


def conflicted(crm, desk, s, email="c@x.com"):
    """A linked pair whose name both sides changed differently: an open conflict."""
    a = crm.insert("contacts", {"email": email, "name": "Base"})
    run_now(s)
    b = next(r for r in desk.all("users") if r.fields["email"] == email)
    crm.edit("contacts", a.id, {"name": "From A"})
    desk.edit("users", b.id, {"full_name": "From B"})
    run_now(s)
    return a, b, Conflict.objects.get(link__a_id=a.id, status="open")


@pytest.mark.parametrize(
    ("resolution", "custom", "expected"),
    [("a", None, "From A"), ("b", None, "From B"), ("custom", "Both", "Both")],
)
def test_a_decision_is_written_by_a_run_and_closes_the_conflict(resolution, custom, expected):
    s, crm, desk = setup()
    a, b, conflict = conflicted(crm, desk, s)
    decider = f.user()
    writes = (crm.writes, desk.writes)

    run = conflict_decide(conflict, resolution=resolution, custom_value=custom, user=decider)

    # Decided at once; nothing is written outside a run.
    conflict.refresh_from_db()
    assert (conflict.status, conflict.resolution, conflict.decided_by) == (
        "decided",
        resolution,
        decider,
    )
    assert (crm.writes, desk.writes) == writes
    assert (run.status, run.trigger, run.record_ids) == (
        "queued",
        "resolution",
        {
            "a": [a.id],
            "b": [b.id],
        },
    )

    assert run_execute(run.pk) == SyncRun.Status.SUCCEEDED

    assert crm.record("contacts", a.id).fields["name"] == expected
    assert desk.record("users", b.id).fields["full_name"] == expected
    conflict.refresh_from_db()
    assert (conflict.status, conflict.resolution, conflict.resolved_by) == (
        "resolved",
        resolution,
        decider,
    )
    link = RecordLink.objects.get()
    assert link.base[str(conflict.mapping_id)] == {"a": expected, "b": expected}
    [*updates] = events(SyncRun.objects.get(pk=run.pk), "updated")
    assert {e.code for e in updates} == {"resolution"}
    # The decision itself is an event of the run that applied it, with before and after.
    [resolved] = events(SyncRun.objects.get(pk=run.pk), "resolved")
    assert (resolved.record_id_a, resolved.record_id_b, resolved.code) == (a.id, b.id, "decided")
    assert resolved.changes == {
        str(conflict.mapping_id): {
            "before": {"a": "From A", "b": "From B"},
            "after": {"a": expected, "b": expected},
            "decision": resolution,
        }
    }
    writes = (crm.writes, desk.writes)
    assert events(run_now(s)) == []  # the decision's echoes cost nothing
    assert (crm.writes, desk.writes) == writes
    with pytest.raises(Refused) as refused:
        conflict_decide(conflict, resolution="a")
    assert refused.value.code == "conflict_already_resolved"


def test_a_value_that_cannot_be_converted_is_refused_and_nothing_is_decided():
    s, crm, desk = setup(mappings=[*f.BASIC_MAPPINGS, {"field_a": "score", "field_b": "score"}])
    a = crm.insert("contacts", {"email": "c@x.com", "score": 1})
    run_now(s)
    b = desk.all("users")[0]
    crm.edit("contacts", a.id, {"score": 2})
    desk.edit("users", b.id, {"score": "3"})
    run_now(s)
    conflict = Conflict.objects.get(status="open")
    with pytest.raises(Invalid) as invalid:
        conflict_decide(conflict, resolution="custom", custom_value="lots")
    assert invalid.value.field == "value"
    assert Conflict.objects.get(pk=conflict.pk).status == "open"
    assert not SyncRun.objects.filter(trigger="resolution").exists()
    run = conflict_decide(conflict, resolution="custom", custom_value="7")
    run_execute(run.pk)
    assert crm.record("contacts", a.id).fields["score"] == 7
    assert desk.record("users", b.id).fields["score"] == "7"


def test_a_refused_write_reopens_the_conflict_with_the_systems_reason():
    s, crm, desk = setup()
    _a, b, conflict = conflicted(crm, desk, s)
    desk.fail("update", message="name locked by an admin")
    run = conflict_decide(conflict, resolution="a")
    assert run_execute(run.pk) == SyncRun.Status.PARTIAL
    conflict.refresh_from_db()
    assert conflict.status == "open"
    assert conflict.error  # the refusal, for the person to read
    assert conflict.resolution == ""
    assert desk.record("users", b.id).fields["full_name"] == "From B"
    # The pair's base for the field is untouched: deciding again still works.
    desk.record_faults.clear()
    run_execute(conflict_decide(conflict, resolution="a").pk)
    conflict.refresh_from_db()
    assert conflict.status == "resolved"
    assert desk.record("users", b.id).fields["full_name"] == "From A"


def test_a_side_that_changes_after_the_decision_voids_it():
    s, crm, desk = setup()
    a, b, conflict = conflicted(crm, desk, s)
    run = conflict_decide(conflict, resolution="a")
    desk.edit("users", b.id, {"full_name": "From B, later"})  # after the person looked
    run_execute(run.pk)
    conflict.refresh_from_db()
    assert (conflict.status, conflict.value_b) == ("open", "From B, later")
    assert conflict.error
    assert desk.record("users", b.id).fields["full_name"] == "From B, later"  # not overwritten
    assert crm.record("contacts", a.id).fields["name"] == "From A"


def test_two_hundred_decisions_queue_one_run():
    s, crm, desk = setup()
    for i in range(200):
        crm.insert("contacts", {"email": f"p{i}@x.com", "name": "Base"})
    run_now(s)
    for record in crm.all("contacts"):
        crm.edit("contacts", record.id, {"name": "From A"})
    for record in desk.all("users"):
        desk.edit("users", record.id, {"full_name": "From B"})
    run_now(s)
    conflicts = list(Conflict.objects.filter(status="open"))
    assert len(conflicts) == 200
    before = SyncRun.objects.count()

    outcome = conflicts_decide(conflicts, resolution="b")

    assert (len(outcome.decided), outcome.refused) == (200, {})
    assert SyncRun.objects.count() == before + 1
    [run] = outcome.runs.values()
    assert run_execute(run.pk) == SyncRun.Status.SUCCEEDED
    assert {r.fields["name"] for r in crm.all("contacts")} == {"From B"}
    assert not Conflict.objects.exclude(status="resolved").exists()


def test_a_paused_sync_applies_decisions_when_it_resumes():
    s, crm, _desk = setup()
    a, _b, conflict = conflicted(crm, _desk, s)
    sync_pause(s, reason="maintenance")
    assert conflict_decide(conflict, resolution="b") is None  # no run while paused
    assert not SyncRun.objects.filter(trigger="resolution").exists()
    sync_resume(s)
    run_now(s, trigger="schedule")  # any run applies decisions still pending
    conflict.refresh_from_db()
    assert conflict.status == "resolved"
    assert crm.record("contacts", a.id).fields["name"] == "From B"


def test_a_conflict_of_records_no_longer_linked_cannot_be_decided():
    s, crm, desk = setup()
    _a, _b, conflict = conflicted(crm, desk, s)
    RecordLink.objects.filter(pk=conflict.link_id).update(status="unlinked")
    with pytest.raises(Refused) as refused:
        conflict_decide(conflict, resolution="a")
    assert refused.value.code == "conflict_not_resolvable"
