"""The demo's activity simulator, against a real sandbox server with the demo seeded: every
kind of edit lands in the sandbox (read back through the connectors) and flows through a
run; the conflict maker leaves a conflict for a person; off, or without a demo or a
sandbox, a tick does nothing."""

from __future__ import annotations

import logging
import random

import pytest

from apps.dashboard import demo, simulator
from apps.dashboard.tasks import demo_activity
from apps.runs.models import SyncRun
from apps.syncs.models import Conflict, RecordLink, Sync
from connectors.sandbox.server import start_in_thread
from tests.dashboard.test_demo import connections_of, get_one, partner
from tests.factories import WorkspaceFactory
from tests.running import run_now, run_settled

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(sandbox, settings, webhook_receiver):
    """The demo seeded in the demo workspace, both syncs run once so that pairs are linked
    (and the runs that settle Zendesk's jobs after them)."""
    settings.CONCORD_PUBLIC_URL = webhook_receiver.origin
    settings.CONCORD_DEMO_ACTIVITY = True
    # The issues sync's first run reads every issue's comments on both sides, one call
    # each: under the request budget that took a minute per test. These tests are about
    # the simulator's edits, not the budget (tests/runs/test_costs.py is).
    settings.CONCORD_CONNECTION_REQUESTS_PER_WINDOW = 1_000_000
    workspace = WorkspaceFactory(name=demo.DEMO_WORKSPACE_NAME, slug="demo")
    demo.demo_seed(workspace=workspace, sandbox_url=sandbox.url)
    for sync in Sync.objects.for_workspace(workspace):
        assert {r.status for r in run_settled(sync)} == {SyncRun.Status.SUCCEEDED}
    return workspace


def sync_named(name: str) -> Sync:
    return Sync.objects.get(name=name)


def assert_landed(workspace, activity: simulator.Activity) -> None:
    """Every value the activity says it wrote is what the sandbox now holds."""
    assert activity.writes, activity
    connections = connections_of(workspace)
    for written in activity.writes:
        record = get_one(connections[written.kind], written.object_type, written.record_id)
        held = {name: record.fields.get(name) for name in written.values}
        assert held == written.values, (activity.kind, written)


def test_every_kind_of_edit_lands_in_the_sandbox_and_flows_to_the_other_side(seeded):
    connections = connections_of(seeded)
    contacts, tickets = sync_named(demo.CONTACTS_SYNC), sync_named(demo.TICKETS_SYNC)
    found = simulator.demo_find()
    activities = {}
    try:
        for kind in simulator.EDITS:
            activity = simulator.edit(kind, found, random.Random(kind))
            assert activity.kind == kind
            assert_landed(seeded, activity)
            activities[kind] = activity
    finally:
        found.close()

    # Zendesk's incremental export holds changes back for a minute, so polling would not
    # see its edits yet: run for the records the sandbox's webhooks name, as the demo does.
    written = [w for activity in activities.values() for w in activity.writes]
    sides = {
        contacts: {"a": ("hubspot", "contacts"), "b": ("zendesk", "users")},
        tickets: {"a": ("jira", "issues"), "b": ("zendesk", "tickets")},
    }
    for sync, where in sides.items():
        record_ids = {
            side: [w.record_id for w in written if (w.kind, w.object_type) == kind_type]
            for side, kind_type in where.items()
        }
        run = run_now(sync, trigger=SyncRun.Trigger.WEBHOOK, record_ids=record_ids)
        assert (run.status, run.errors_a, run.errors_b) == (SyncRun.Status.SUCCEEDED, 0, 0)
        assert (run.conflicts_a, run.conflicts_b) == (0, 0)
    hubspot, zendesk, jira = connections["hubspot"], connections["zendesk"], connections["jira"]

    (new_contact,) = activities["contact_create"].writes
    user = get_one(zendesk, "users", partner(contacts, a_id=new_contact.record_id).b_id)
    assert (user.fields["email"], user.fields["phone"], user.fields["role"]) == (
        new_contact.values["email"],
        new_contact.values["phone"],
        "end-user",
    )
    (phone,) = activities["contact_phone"].writes
    user = get_one(zendesk, "users", partner(contacts, a_id=phone.record_id).b_id)
    assert user.fields["phone"] == phone.values["phone"]
    (vip,) = activities["contact_vip"].writes
    user = get_one(zendesk, "users", partner(contacts, a_id=vip.record_id).b_id)
    assert user.fields["custom_vip"] is vip.values["vip"]
    (phone,) = activities["user_phone"].writes
    contact = get_one(hubspot, "contacts", partner(contacts, b_id=phone.record_id).a_id)
    assert contact.fields["phone"] == phone.values["phone"]

    (new_ticket,) = activities["ticket_create"].writes
    issue = get_one(jira, "issues", partner(tickets, b_id=new_ticket.record_id).a_id)
    assert issue.fields["summary"] == new_ticket.values["subject"]
    assert new_ticket.values["requester_id"] in set(
        RecordLink.objects.filter(sync=contacts).values_list("b_id", flat=True)
    )
    (priority,) = activities["ticket_priority"].writes
    issue = get_one(jira, "issues", partner(tickets, b_id=priority.record_id).a_id)
    assert issue.fields["priority"] == demo.ZENDESK_TO_JIRA_PRIORITY[priority.values["priority"]]
    (move,) = activities["issue_move"].writes
    ticket = get_one(zendesk, "tickets", partner(tickets, a_id=move.record_id).b_id)
    assert ticket.fields["status"] == demo.JIRA_TO_ZENDESK_STATUS[move.values["status"]]
    (priority,) = activities["issue_priority"].writes
    ticket = get_one(zendesk, "tickets", partner(tickets, a_id=priority.record_id).b_id)
    assert ticket.fields["priority"] == demo.JIRA_TO_ZENDESK_PRIORITY[priority.values["priority"]]


def test_the_conflict_maker_then_a_run_leaves_a_conflict_for_a_person(seeded):
    contacts = sync_named(demo.CONTACTS_SYNC)
    assert contacts.conflict_policy == "manual"
    found = simulator.demo_find()
    try:
        activity = simulator.conflict_make(found, random.Random(7))
    finally:
        found.close()
    assert activity is not None
    assert activity.kind == "conflict"
    assert_landed(seeded, activity)
    on_a, on_b = activity.writes
    assert (on_a.kind, on_b.kind) == ("hubspot", "zendesk")
    assert on_a.values["phone"] != on_b.values["phone"]

    run = run_now(contacts)

    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.conflicts_a + run.conflicts_b >= 1
    (conflict,) = Conflict.objects.filter(sync=contacts, status=Conflict.Status.OPEN)
    assert (conflict.link.a_id, conflict.link.b_id) == (on_a.record_id, on_b.record_id)
    assert conflict.mapping.field_a == "phone"
    assert (conflict.value_a, conflict.value_b) == (on_a.values["phone"], on_b.values["phone"])
    # Held, not decided: both sides keep their own number until a person chooses.
    connections = connections_of(seeded)
    assert (
        get_one(connections["zendesk"], "users", on_b.record_id).fields["phone"]
        == (on_b.values["phone"])
    )
    assert (
        get_one(connections["hubspot"], "contacts", on_a.record_id).fields["phone"]
        == (on_a.values["phone"])
    )


def test_the_conflict_maker_waits_while_a_run_of_the_contacts_sync_is_queued(seeded):
    contacts = sync_named(demo.CONTACTS_SYNC)
    SyncRun.objects.create(
        sync=contacts, workspace=seeded, trigger="webhook", status=SyncRun.Status.QUEUED
    )
    found = simulator.demo_find()
    try:
        assert simulator.conflict_make(found, random.Random(7)) is None
    finally:
        found.close()


def test_ticks_make_one_edit_each_and_the_first_conflict_on_the_third(seeded, sandbox):
    rng = random.Random(3)
    before = sandbox.admin.stats()["total"]

    kinds = [demo_activity.apply().result for _ in range(2)]
    third = simulator.activity_tick(rng=rng)
    fourth = simulator.activity_tick(rng=rng)

    assert all(kinds)
    assert sandbox.admin.stats()["total"] > before
    assert third is not None
    assert third.kind == "conflict"
    assert fourth is not None
    assert fourth.kind in simulator.EDITS
    run = run_now(sync_named(demo.CONTACTS_SYNC))
    assert run.conflicts_a + run.conflicts_b >= 1
    assert Conflict.objects.filter(status=Conflict.Status.OPEN).exists()


def test_the_next_conflict_waits_ten_ticks_and_stops_at_three_waiting(seeded, monkeypatch):
    made = []
    monkeypatch.setattr(
        simulator,
        "conflict_make",
        lambda demo_, rng: made.append(1) or simulator.Activity("conflict", "made"),
    )
    monkeypatch.setattr(simulator, "edit_random", lambda demo_, rng: None)

    ticks = [simulator.activity_tick() for _ in range(23)]

    conflict_ticks = [n + 1 for n, a in enumerate(ticks) if a is not None]
    assert conflict_ticks == [3, 13, 23]
    contacts = sync_named(demo.CONTACTS_SYNC)
    for link in RecordLink.objects.filter(sync=contacts)[: simulator.MAX_OPEN_CONFLICTS]:
        Conflict.objects.create(
            workspace=seeded,
            sync=contacts,
            link=link,
            mapping=contacts.mappings.get(field_a="phone"),
            value_a="1",
            value_b="2",
            detected_at=link.created_at,
        )
    assert [simulator.activity_tick() for _ in range(12)] == [None] * 12


def test_switched_off_a_tick_does_nothing(seeded, sandbox, settings):
    settings.CONCORD_DEMO_ACTIVITY = False
    before = sandbox.admin.stats()["total"]

    assert simulator.activity_tick() is None
    assert demo_activity.apply().result == ""

    assert sandbox.admin.stats()["total"] == before


def test_without_a_demo_or_its_sandbox_a_tick_does_nothing(db, settings, caplog):
    settings.CONCORD_DEMO_ACTIVITY = True
    caplog.set_level(logging.DEBUG, logger="apps.dashboard.simulator")
    assert simulator.activity_tick() is None
    assert "the demo is not seeded" in caplog.text

    server = start_in_thread(port=0, seed=1)
    try:
        workspace = WorkspaceFactory(name=demo.DEMO_WORKSPACE_NAME, slug="demo")
        demo.demo_seed(workspace=workspace, sandbox_url=server.url)
    finally:
        server.stop()

    assert simulator.activity_tick() is None
    assert "the demo's sandbox does not answer" in caplog.text
