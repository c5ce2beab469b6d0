"""Applying a plan: what the systems answer becomes the base, refusals and partial answers
are reported, and a record that was created is never created again."""

from __future__ import annotations

import pytest

from apps.syncs.engine.recorder import Action, Outcome
from apps.syncs.models import RecordLink
from tests.syncs import factories as f
from tests.syncs.factories import STATUS_MAPPING, linked_pair, memory_sync, only, run

pytestmark = pytest.mark.django_db


def test_normalising_system_does_not_start_a_ping_pong():
    s, crm, desk = memory_sync(
        normalise_b=True,
        mappings=[*f.BASIC_MAPPINGS, {"field_a": "renewal", "field_b": "renewal"}],
    )
    a = crm.insert("contacts", {"email": "Ann@X.com", "name": "Ann  ", "renewal": "2026-03-01"})
    run(s)
    b = only(desk, "users")
    assert b.fields["email"] == "ann@x.com"
    assert b.fields["full_name"] == "Ann"
    assert b.fields["renewal"] == "2026-03-01T00:00:00Z"

    desk.edit("users", b.id, {"renewal": "2026-04-01T10:00:00+02:00"})  # stored as ...08:00Z
    run(s)
    assert crm.record("contacts", a.id).fields["renewal"] == "2026-04-01"
    writes = (crm.writes, desk.writes)
    for _ in range(3):
        _, recorder = run(s)
        assert recorder.events == []
    assert (crm.writes, desk.writes) == writes
    assert crm.record("contacts", a.id).fields["email"] == "Ann@X.com"  # A keeps its spelling


def test_refused_write_is_a_record_error_and_others_continue():
    s, crm, desk = memory_sync()
    desk.fail("create", when=lambda fields: fields.get("email") == "no@x.com", message="nope")
    crm.insert("contacts", {"email": "no@x.com"})
    crm.insert("contacts", {"email": "yes@x.com"})
    report, recorder = run(s)
    assert [r.fields["email"] for r in desk.all("users")] == ["yes@x.com"]
    [error] = recorder.of(Action.ERROR)
    assert "nope" in error.message
    assert report.outcome is Outcome.PARTIAL
    assert not RecordLink.objects.exclude(status="linked").exists()  # pending dropped


def test_edit_made_while_the_other_field_is_written_is_synced_next_run():
    s, crm, desk = memory_sync()
    a, b = linked_pair(s, crm, desk)
    crm.edit("contacts", a.id, {"name": "Annie"})
    # While the run writes the name to B, a user changes B's phone: the answer to the
    # write already carries that edit, which the run never planned.
    desk.on_write("update", lambda record_id: desk.edit("users", record_id, {"phone": "2"}))
    run(s)
    desk.write_hooks.clear()

    run(s)  # (B's feed may already bring the edit in the same run: it is read after A's)

    assert crm.record("contacts", a.id).fields == {
        "email": "ann@x.com",
        "name": "Annie",
        "phone": "2",
    }
    assert desk.record("users", b.id).fields == {
        "email": "ann@x.com",
        "full_name": "Annie",
        "phone": "2",
    }
    writes = (crm.writes, desk.writes)
    _, recorder = run(s)
    assert recorder.events == []
    assert (crm.writes, desk.writes) == writes


def test_normalised_write_answer_is_the_base_of_the_written_field_only():
    s, crm, desk = memory_sync(normalise_b=True)
    a, b = linked_pair(s, crm, desk)
    crm.edit("contacts", a.id, {"name": "Annie  "})
    run(s)
    assert desk.record("users", b.id).fields["full_name"] == "Annie"
    writes = (crm.writes, desk.writes)
    for _ in range(2):
        _, recorder = run(s)  # "Annie" coming back from B is our own write: an echo
        assert recorder.events == []
    assert (crm.writes, desk.writes) == writes
    assert crm.record("contacts", a.id).fields["name"] == "Annie  "


def test_create_that_succeeds_with_an_error_is_linked_and_never_created_again():
    # No match rule: nothing but the link can tell that the record already exists.
    s, crm, desk = memory_sync(mappings=[*f.BASIC_MAPPINGS, STATUS_MAPPING], match_rule=())
    # Like Jira: the record is created, but moving it to the wanted state fails.
    desk.fail("create", field="state", partial=True, message="no transition to Done")
    a = crm.insert("contacts", {"email": "ann@x.com", "name": "Ann", "status": "closed"})

    report, recorder = run(s)

    b = only(desk, "users")
    assert b.fields == {"email": "ann@x.com", "full_name": "Ann"}
    [link] = RecordLink.objects.all()
    assert (link.status, link.a_id, link.b_id) == ("linked", a.id, b.id)
    [created] = recorder.of(Action.CREATED)
    assert (created.record_id_a, created.record_id_b) == (a.id, b.id)
    [error] = recorder.of(Action.ERROR)
    assert (error.side, error.record_id_a, error.record_id_b) == ("b", a.id, b.id)
    assert "no transition to Done" in error.message
    assert report.outcome is Outcome.PARTIAL

    # The next run retries the records the error named (what a run's execution passes from
    # records_to_retry) and delivers the state the create could not set.
    second, again = run(s, retry_ids={"a": [a.id], "b": [b.id]})
    [updated] = again.of(Action.UPDATED)
    assert (updated.side, updated.record_id_a, updated.record_id_b) == ("b", a.id, b.id)
    assert updated.changes == {"state": {"before": None, "after": "Done"}}
    assert second.outcome is Outcome.SUCCEEDED
    assert only(desk, "users").fields["state"] == "Done"
    assert only(crm, "contacts").fields["status"] == "closed"

    third, quiet = run(s)
    assert quiet.events == []
    assert third.outcome is Outcome.SUCCEEDED
    assert (crm.writes, desk.writes) == (0, 2)
    assert [r.id for r in desk.all("users")] == [b.id]


def test_create_whose_follow_up_keeps_failing_is_retried_and_reported_each_run():
    s, crm, desk = memory_sync(mappings=[*f.BASIC_MAPPINGS, STATUS_MAPPING], match_rule=())
    desk.fail("create", field="state", partial=True, message="no transition to Done")
    desk.fail("update", field="state", partial=True, message="no transition to Done")
    a = crm.insert("contacts", {"email": "ann@x.com", "name": "Ann", "status": "closed"})
    run(s)

    for _ in range(2):
        b = only(desk, "users")
        report, recorder = run(s, retry_ids={"a": [a.id], "b": [b.id]})
        [error] = recorder.of(Action.ERROR)
        assert "no transition to Done" in error.message
        assert report.outcome is Outcome.PARTIAL
    assert "state" not in only(desk, "users").fields
    assert only(crm, "contacts").fields["status"] == "closed"
    assert len(desk.all("users")) == 1
