"""Writes left in a system's background job: never waited for under the lease, settled by
a later run. HubSpot contacts (A) <-> Zendesk users (B) through the real connectors and the
sandbox, whose `jobs_held` switch keeps Zendesk's jobs queued until a test lets them run,
so that what happens while a job is in flight is shown without timing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.connections.services import connector_for
from apps.runs.execution import run_execute
from apps.runs.models import SyncLock, SyncRun
from apps.runs.sweeping import sweep
from apps.syncs.engine.store import LinkStore
from apps.syncs.engine.types import LinkStatus
from apps.syncs.models import InFlightWrite, RecordLink, Sync
from connectors.base import Record, RecordUpdate
from tests.running import events, run_now, run_settled
from tests.runs.sandbox_sync import hub_desk_sync
from tests.sandbox_fixtures import Sandbox

pytestmark = pytest.mark.django_db

CREATE_MANY = "POST /zendesk/api/v2/users/create_many.json"
UPDATE_MANY = "PUT /zendesk/api/v2/users/update_many.json"
JOB_POLLS = "GET /zendesk/api/v2/job_statuses/show_many.json"


def calls(sandbox: Sandbox, endpoint: str) -> int:
    stats = sandbox.admin.stats("zendesk")["endpoints"].get(endpoint, {})
    return sum(stats.get("statuses", {}).values())


def contacts_sync(sandbox: Sandbox, contacts: int = 6) -> Sync:
    """`contacts` HubSpot contacts, no Zendesk user but the owner: the first run creates
    them all on Zendesk, through jobs (more than three records)."""
    sync = hub_desk_sync(
        sandbox,
        seed_counts={
            "hubspot": {"contacts": contacts, "companies": 0, "deals": 0, "tickets": 0},
            "zendesk": {"users": 0, "tickets": 0, "organizations": 0},
        },
        # The account's owner (an admin) stays out of it.
        filters=[{"side": "b", "field": "role", "operator": "equals", "value": "end-user"}],
    )
    sandbox.admin.configure("zendesk", job_polls=0)
    return sync


def hubspot(sync: Sync, method: str, *args: Any) -> Any:
    connector = connector_for(sync.connection_a)
    try:
        return getattr(connector, method)("contacts", *args)
    finally:
        connector.close()


def zendesk(sync: Sync, method: str, *args: Any) -> Any:
    connector = connector_for(sync.connection_b)
    try:
        return getattr(connector, method)("users", *args)
    finally:
        connector.close()


def contact_emails(sync: Sync) -> list[str]:
    return sorted(r.fields["email"] for p in hubspot(sync, "changes", None) for r in p.records)


def zendesk_users_by_email(sync: Sync, emails: list[str]) -> dict[str, list[Record]]:
    found: dict[str, list[Record]] = {email: [] for email in emails}
    for record in zendesk(sync, "find", "email", emails):
        found[record.fields["email"].lower()].append(record)
    return found


def in_flight(sync: Sync) -> list[InFlightWrite]:
    return list(InFlightWrite.objects.filter(sync=sync, state="in_flight").order_by("id"))


def updates_in_flight(sandbox: Sandbox, sync: Sync, name: str) -> list[RecordLink]:
    """Six linked pairs (created, then settled), then every contact's first name changed
    on HubSpot and run: six updates held in Zendesk's jobs. The pairs' links, in order."""
    run_now(sync)
    run_now(sync)
    links = list(RecordLink.objects.filter(sync=sync).order_by("id"))
    sandbox.admin.configure("zendesk", jobs_held=True)
    hubspot(
        sync,
        "update",
        [RecordUpdate(link.a_id, {"firstname": f"{name} {n}"}) for n, link in enumerate(links)],
    )
    run_now(sync)
    assert len(in_flight(sync)) == 6
    return links


def test_the_run_finishes_and_frees_the_lease_while_its_job_is_queued_then_settling_links(
    sandbox: Sandbox,
) -> None:
    sync = contacts_sync(sandbox)
    emails = contact_emails(sync)
    sandbox.admin.configure("zendesk", jobs_held=True)

    first = run_now(sync)

    assert first.status == SyncRun.Status.SUCCEEDED
    lock = SyncLock.objects.get(sync=sync)
    assert lock.token is None  # the lease is free while Zendesk's job is still queued
    assert lock.run_id is None
    assert calls(sandbox, CREATE_MANY) == 1
    assert calls(sandbox, JOB_POLLS) == 0  # submitted, never waited for
    waiting = in_flight(sync)
    assert len(waiting) == 6
    assert {row.run_ref for row in waiting} == {first.pk}
    assert {row.action for row in waiting} == {"create"}
    assert RecordLink.objects.filter(sync=sync, status=LinkStatus.PENDING_CREATE_B).count() == 6
    assert all(not found for found in zendesk_users_by_email(sync, emails).values())
    assert events(first, "created") == []
    # The run that settles them is queued, for a moment later.
    settling = SyncRun.objects.get(sync=sync, status="queued")
    assert settling.trigger == SyncRun.Trigger.SETTLE
    assert settling.not_before is not None

    sandbox.admin.configure("zendesk", jobs_held=False)
    second = run_now(sync)

    assert second.pk == settling.pk  # the request folded into the settling run
    assert second.status == SyncRun.Status.SUCCEEDED
    assert in_flight(sync) == []
    assert calls(sandbox, JOB_POLLS) == 1  # every job of the sync: one show_many call
    assert calls(sandbox, CREATE_MANY) == 1
    created = events(second, "created")
    assert len(created) == 6
    assert {e.side for e in created} == {"b"}
    links = RecordLink.objects.filter(sync=sync, status=LinkStatus.LINKED)
    assert links.count() == 6
    users = zendesk_users_by_email(sync, emails)
    assert all(len(found) == 1 for found in users.values())
    assert {link.b_id for link in links} == {found[0].id for found in users.values()}
    rows = InFlightWrite.objects.filter(sync=sync)
    assert {(row.state, row.settled_run_ref) for row in rows} == {("done", second.pk)}
    assert all(row.outcome.startswith("created ") for row in rows)
    # Settled: the next run finds everything in agreement and writes nothing.
    third = run_now(sync)
    assert third.created_b == third.updated_b == third.updated_a == third.created_a == 0
    assert calls(sandbox, CREATE_MANY) == 1


def test_a_run_before_settlement_and_a_retry_after_a_crash_create_nothing_twice(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    sync = contacts_sync(sandbox, contacts=5)
    emails = contact_emails(sync)
    sandbox.admin.configure("zendesk", jobs_held=True)
    # The worker dies after the jobs were submitted, before the batch's cursor is stored:
    # the retry reads the same records again.
    real_set_cursor = LinkStore.set_cursor

    def crash(self: LinkStore, side: Any, value: Any) -> None:
        raise SystemExit("worker killed")

    monkeypatch.setattr(LinkStore, "set_cursor", crash)
    with pytest.raises(SystemExit):
        run_now(sync)
    monkeypatch.setattr(LinkStore, "set_cursor", real_set_cursor)
    assert len(in_flight(sync)) == 5
    dead = SyncRun.objects.get(sync=sync, status="running")
    # The sweeper finds its worker silent and requeues it; a worker executes it again.
    assert sweep(now=timezone.now() + timedelta(hours=1))["requeued"] == 1
    run_execute(dead.pk)
    retry = SyncRun.objects.get(pk=dead.pk)  # the job is still queued

    assert retry.status == SyncRun.Status.SUCCEEDED
    assert calls(sandbox, CREATE_MANY) == 1
    assert retry.created_b == 0
    skipped = events(retry, "skipped")
    assert {e.code for e in skipped} == {"in_flight"}
    assert len({e.record_id_a for e in skipped}) == 5
    assert len(in_flight(sync)) == 5

    sandbox.admin.configure("zendesk", jobs_held=False)
    settled = run_now(sync)

    assert settled.created_b == 5
    assert all(len(found) == 1 for found in zendesk_users_by_email(sync, emails).values())
    assert RecordLink.objects.filter(sync=sync, status=LinkStatus.LINKED).count() == 5
    assert RecordLink.objects.filter(sync=sync).exclude(status=LinkStatus.LINKED).count() == 0


def test_a_job_that_fails_some_items_reports_them_per_record_and_they_are_retried(
    sandbox: Sandbox,
) -> None:
    sync = contacts_sync(sandbox)
    emails = contact_emails(sync)
    sandbox.admin.configure("zendesk", jobs_held=True)
    run_now(sync)  # the creates wait in the held job
    # Someone adds one of the users by hand while the job waits: Zendesk refuses that item.
    zendesk(sync, "create", [{"name": "By hand", "email": emails[0]}])
    sandbox.admin.configure("zendesk", jobs_held=False)

    settled = run_now(sync)

    assert settled.status == SyncRun.Status.PARTIAL
    assert settled.created_b == 5
    (error,) = events(settled, "error")
    assert error.side == "b"
    assert "refused to create" in error.message
    assert "email" in error.message.lower()
    failed = InFlightWrite.objects.get(sync=sync, state="failed")
    assert failed.outcome.startswith("refused:")
    assert failed.settled_run_ref == settled.pk
    # Never lost: the same run reads Zendesk's feed, where the user made by hand matches.
    (matched,) = events(settled, "matched")
    assert matched.record_id_a == error.record_id_a
    retried = run_now(sync)
    assert retried.created_b == 0
    assert all(len(found) == 1 for found in zendesk_users_by_email(sync, emails).values())
    assert RecordLink.objects.filter(sync=sync, status=LinkStatus.LINKED).count() == 6


def test_an_update_in_flight_settles_its_base_and_an_edit_made_meanwhile_is_not_lost(
    sandbox: Sandbox,
) -> None:
    sync = contacts_sync(sandbox)
    run_now(sync)  # the creates, in jobs (not held)
    run_now(sync)  # settled
    assert RecordLink.objects.filter(sync=sync, status=LinkStatus.LINKED).count() == 6
    links = list(RecordLink.objects.filter(sync=sync).order_by("id"))
    sandbox.admin.configure("zendesk", jobs_held=True)
    hubspot(
        sync,
        "update",
        [RecordUpdate(link.a_id, {"firstname": f"New {n}"}) for n, link in enumerate(links)],
    )

    writing = run_now(sync)

    assert writing.updated_b == 0
    assert calls(sandbox, UPDATE_MANY) == 1
    assert len(in_flight(sync)) == 6
    # An edit on A while the update is in flight, read by a run before settlement.
    hubspot(sync, "update", [RecordUpdate(links[0].a_id, {"firstname": "Newer"})])
    between = run_now(sync)
    assert {e.code for e in events(between, "skipped")} == {"in_flight"}
    assert calls(sandbox, UPDATE_MANY) == 1  # nothing written twice

    sandbox.admin.configure("zendesk", jobs_held=False)
    settled = run_now(sync)

    updated = events(settled, "updated")
    assert sorted(e.code for e in updated if e.code == "settled") == ["settled"] * 6
    names = {r.id: r.fields["name"] for r in zendesk(sync, "get", [link.b_id for link in links])}
    assert names[links[0].b_id] == "Newer"  # re-read after settling: the edit went through
    assert [names[link.b_id] for link in links[1:]] == [f"New {n}" for n in range(1, 6)]
    quiet = run_now(sync)
    assert quiet.updated_a == quiet.updated_b == 0


def test_records_a_job_made_before_it_is_settled_are_not_copied_back(sandbox: Sandbox) -> None:
    # No match rule: nothing but the engine's care keeps a record the job made (and that
    # Zendesk's feed shows before the job is settled) from being taken for a new one.
    sync = contacts_sync(sandbox, contacts=4)
    sync.match_rule = []
    sync.save(update_fields=["match_rule"])
    # The job, once done, says "working" for its first five looks.
    sandbox.admin.configure("zendesk", jobs_held=True, job_polls=5)
    run_now(sync)
    contacts_before = len(contact_emails(sync))
    sandbox.admin.configure("zendesk", jobs_held=False)  # Zendesk does the job

    between = run_now(sync)

    assert len(in_flight(sync)) == 4  # one look: still working
    assert between.read_b >= 4  # the new users were in Zendesk's feed
    assert between.created_a == 0
    assert len(contact_emails(sync)) == contacts_before
    held = [e for e in events(between, "skipped") if e.side == "b"]
    assert len(held) == 4
    assert {e.code for e in held} == {"in_flight"}

    runs = run_settled(sync)

    assert sum(r.created_b for r in runs) == 4
    assert sum(r.created_a for r in runs) == 0
    assert len(contact_emails(sync)) == contacts_before
    assert RecordLink.objects.filter(sync=sync, status=LinkStatus.LINKED).count() == 4


def test_a_settled_update_no_run_left_alone_is_not_read_again(sandbox: Sandbox) -> None:
    """Under sustained load every settled pair read again doubled the reads per change: a
    pair no run skipped while its write was in flight has nothing new to read."""
    sync = contacts_sync(sandbox)
    updates_in_flight(sandbox, sync, "Later")
    assert not InFlightWrite.objects.filter(sync=sync, missed=True).exists()
    sandbox.admin.configure("zendesk", jobs_held=False)

    settled = run_now(sync)

    assert [e.code for e in events(settled, "updated")] == ["settled"] * 6
    # Nothing read again: HubSpot not at all, Zendesk only its feed, which shows the six
    # users the job wrote (echoes of the writes, found unchanged).
    assert settled.read_a == 0
    assert settled.read_b == 6
    quiet = run_now(sync)
    assert quiet.updated_a == quiet.updated_b == 0


def test_a_webhook_received_while_a_run_settles_the_write_has_its_pair_read_again(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Receipt marks a write missed without the sync's lease (apps.syncs.echoes). When that
    happens after the settling run read the write's row, the run still reads the pair
    again: it asks which rows are marked after it has marked them done."""
    from apps.syncs.echoes import held_in_flight
    from connectors.zendesk.connector import ZendeskConnector

    sync = contacts_sync(sandbox)
    links = updates_in_flight(sandbox, sync, "Race")
    sandbox.admin.configure("zendesk", jobs_held=False)
    real_settle = ZendeskConnector.settle
    held: list[set[str]] = []

    def settle_while_a_webhook_arrives(self, object_type, handles):
        results = real_settle(self, object_type, handles)
        held.append(held_in_flight(sync, "b", [links[2].b_id]))  # the webhook, meanwhile
        return results

    monkeypatch.setattr(ZendeskConnector, "settle", settle_while_a_webhook_arrives)

    settled = run_now(sync)

    assert held == [{links[2].b_id}]  # the delivery started no run
    assert [e.code for e in events(settled, "updated")] == ["settled"] * 6
    assert settled.read_a == 1  # that pair's HubSpot record, read again


@pytest.mark.parametrize(("limit", "left_pending"), [(6, 6), (5, 0)])
def test_a_run_leaves_no_more_writes_pending_than_the_system_keeps_jobs_for(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, limit: int, left_pending: int
) -> None:
    """Zendesk keeps only its latest jobs: an initial sync of 100,000 records that left
    500 jobs pending found 400 of them forgotten when it came to settle them. A run leaves
    at most the connector's settle_later_max pending; past it, its writes wait."""
    from connectors.zendesk.connector import ZendeskConnector

    monkeypatch.setattr(ZendeskConnector, "settle_later_max", limit)
    sync = contacts_sync(sandbox)  # six contacts to create on Zendesk, in one call

    run_now(sync)

    assert len(in_flight(sync)) == left_pending
    linked = RecordLink.objects.filter(sync=sync, status=LinkStatus.LINKED).count()
    assert linked == 6 - left_pending
    assert calls(sandbox, CREATE_MANY) == 1
    run_settled(sync)
    assert RecordLink.objects.filter(sync=sync, status=LinkStatus.LINKED).count() == 6


def test_a_run_that_would_leave_too_many_pending_settles_them_first_then_waits(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Waited jobs push pending ones out of the system's window as surely as pending ones
    do: before leaving more pending than the window, a run settles what is in flight."""
    from connectors.zendesk.connector import ZendeskConnector

    monkeypatch.setattr(ZendeskConnector, "settle_later_max", 6)
    settings.CONCORD_RUN_BATCH_SIZE = 4  # three creates of four contacts, each a job
    sync = contacts_sync(sandbox, contacts=12)

    run = run_now(sync)

    assert calls(sandbox, CREATE_MANY) == 3
    # The first four went pending, were settled before the second call (which did not
    # fit), and the last eight were waited for: nothing is left in flight.
    assert in_flight(sync) == []
    assert InFlightWrite.objects.filter(sync=sync, state="done").count() == 4
    assert RecordLink.objects.filter(sync=sync, status=LinkStatus.LINKED).count() == 12
    assert run.created_b == 12
    assert calls(sandbox, JOB_POLLS) >= 1
