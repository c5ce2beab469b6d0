"""Runs through real Celery worker processes against the sandboxes over HTTP.

The broker is whatever the settings say: Redis in CI (REDIS_URL), the filesystem transport
without it. Worker processes open the test database (committed data: transactional tests).
"""

from __future__ import annotations

import itertools
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from apps.accounts.services import api_token_create
from apps.connections.services import connector_for
from apps.runs.models import SyncRun
from apps.runs.queue import run_request
from apps.syncs.models import Conflict, InFlightWrite, RecordLink, Sync
from apps.webhooks.models import WebhookDelivery
from connectors.base import RecordUpdate
from tests.factories import MembershipFactory
from tests.runs.sandbox_sync import SEED_COUNTS, hub_desk_sync
from tests.sandbox_fixtures import Sandbox
from tests.workers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def hub_desk(sandbox: Sandbox) -> Sync:
    return hub_desk_sync(sandbox)


def zendesk_users(sync: Sync) -> dict[str, dict[str, Any]]:
    connector = connector_for(sync.connection_b)
    try:
        records = [r for page in connector.changes("users", None) for r in page.records]
    finally:
        connector.close()
    return {r.fields["email"]: r.fields for r in records if not r.deleted}


def zendesk_user(sync: Sync, email: str) -> dict[str, Any] | None:
    """One user by email (the search API: cheap, unlike the 10-per-minute export)."""
    connector = connector_for(sync.connection_b)
    try:
        found = connector.find("users", "email", [email])
    finally:
        connector.close()
    return found[0].fields if found else None


def hubspot_contacts(sync: Sync) -> dict[str, dict[str, Any]]:
    connector = connector_for(sync.connection_a)
    try:
        records = [r for page in connector.changes("contacts", None) for r in page.records]
    finally:
        connector.close()
    return {r.fields["email"]: r.fields for r in records if not r.deleted}


def finished_runs(sync: Sync) -> list[SyncRun]:
    done = ("succeeded", "partial", "failed", "cancelled", "held")
    return list(SyncRun.objects.filter(sync=sync, status__in=done).order_by("started_at"))


def test_a_schedule_fires_and_syncs(workers, hub_desk):
    sync = hub_desk
    users_before, contacts_before = zendesk_users(sync), hubspot_contacts(sync)
    assert not set(users_before) & set(contacts_before)
    Sync.objects.filter(pk=sync.pk).update(enabled=True, next_run_at=timezone.now())
    workers.start(beat=True)
    [run] = wait_until(lambda: finished_runs(sync))
    assert (run.trigger, run.status) == ("schedule", "succeeded")
    assert (run.created_a, run.created_b) == (len(users_before), len(contacts_before))
    contacts = hubspot_contacts(sync)
    users = zendesk_users(sync)
    assert set(contacts) == set(users)
    assert all(users[e]["name"] == contacts[e]["firstname"] for e in contacts)


def test_a_sandbox_change_reaches_the_other_side_by_webhook(
    workers, hub_desk, sandbox, live_server, settings
):
    sync = hub_desk
    settings.CONCORD_PUBLIC_URL = live_server.url  # the URL HubSpot signs (signature v3)
    Sync.objects.filter(pk=sync.pk).update(enabled=True, next_run_at=None)
    workers.start()
    # The first (scheduled) run links the seeded records.
    run_request(sync, trigger="manual")
    wait_until(lambda: finished_runs(sync))
    hubspot = sync.connection_a
    sandbox.admin.register_webhook(
        "hubspot", f"{live_server.url}/hooks/{hubspot.public_id}/", hubspot.webhook_secret
    )
    for n in range(5):
        email = f"webhook.person{n}@example.org"
        connector = connector_for(hubspot)
        [result] = connector.create("contacts", [{"email": email, "firstname": f"Hook{n}"}])
        connector.close()
        assert result.ok, result.error
        user = wait_until(lambda e=email: zendesk_user(sync, e), every=0.05)
        assert user["name"] == f"Hook{n}"
    runs = finished_runs(sync)
    assert {r.trigger for r in runs[1:]} == {"webhook"}
    assert WebhookDelivery.objects.filter(connection=hubspot).count() >= 5


def test_a_webhook_delivered_three_times_is_processed_once(
    workers, hub_desk, sandbox, live_server, settings
):
    sync = hub_desk
    settings.CONCORD_PUBLIC_URL = live_server.url
    Sync.objects.filter(pk=sync.pk).update(enabled=True, next_run_at=None)
    hubspot = sync.connection_a
    sandbox.admin.set_faults("hubspot", webhook_duplicate_share=1.0)
    sandbox.admin.register_webhook(
        "hubspot", f"{live_server.url}/hooks/{hubspot.public_id}/", hubspot.webhook_secret
    )
    workers.start()
    connector = connector_for(hubspot)
    [created] = connector.create("contacts", [{"email": "thrice@example.org", "firstname": "Tri"}])
    connector.close()
    sandbox.admin.flush_webhooks()
    # Deliver the same body twice more, as a sender's retries would.
    first = WebhookDelivery.objects.filter(connection=hubspot).first()
    assert first is not None
    import requests

    for _ in range(2):
        response = requests.post(
            f"{live_server.url}/hooks/{hubspot.public_id}/",
            data=first.body.encode(),
            headers={k: v for k, v in first.headers.items()},
            timeout=10,
        )
        # Duplicate; accepted again while not yet processed (its processing is sent again,
        # and runs once); or stale signature headers.
        assert response.status_code in (200, 202, 401)
    wait_until(lambda: finished_runs(sync))
    wait_until(lambda: zendesk_user(sync, "thrice@example.org"))
    deliveries = WebhookDelivery.objects.filter(connection=hubspot)
    assert deliveries.filter(events__icontains=created.record.id).count() == 1
    webhook_runs = SyncRun.objects.filter(sync=sync, trigger="webhook")
    assert webhook_runs.count() == 1
    assert len([e for e in zendesk_users(sync) if e == "thrice@example.org"]) == 1


def test_concurrent_triggers_never_overlap(workers, hub_desk, sandbox):
    sync = hub_desk
    Sync.objects.filter(pk=sync.pk).update(enabled=True, next_run_at=None)
    sandbox.admin.set_faults("hubspot", latency_ms=40)
    sandbox.admin.set_faults("zendesk", latency_ms=40)
    workers.start(concurrency=3)
    threads = [
        threading.Thread(target=run_request, args=(sync,), kwargs={"trigger": "manual"})
        for _ in range(10)
    ]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    wait_until(
        lambda: not SyncRun.objects.filter(sync=sync, status__in=["queued", "running"]).exists()
    )
    runs = finished_runs(sync)
    assert 1 <= len(runs) <= 10
    assert all(r.status == "succeeded" for r in runs), [(r.status, r.error) for r in runs]
    spans = sorted((r.started_at, r.finished_at) for r in runs)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, "two runs of one sync overlapped"
    fences = [r.fence for r in runs]
    assert fences == sorted(fences)
    assert len(set(fences)) == len(fences)


def test_a_killed_worker_leaves_no_duplicate_and_its_run_is_taken_up_within_30s(
    workers, hub_desk, sandbox
):
    """Default settings (a heartbeat every 5 s, the default lease, a dispatcher tick every
    5 s): a worker killed mid-run has its run claimed again by another worker within 30 s,
    and the run completes with every record present once."""
    sync = hub_desk
    sandbox.admin.seed(
        2, counts={**SEED_COUNTS, "hubspot": {**SEED_COUNTS["hubspot"], "contacts": 24}}
    )
    sandbox.admin.configure("zendesk", export_lag_seconds=0)
    sandbox.admin.set_faults("zendesk", latency_ms=150)  # slow writes: time to kill mid-run
    # Not due for an hour: the run we kill must be finished by the sweeper's requeue, not by
    # a scheduled follow-up.
    later = timezone.now() + timedelta(hours=1)
    Sync.objects.filter(pk=sync.pk).update(enabled=True, next_run_at=later)
    defaults = {"CONCORD_RUN_HEARTBEAT_EVERY": 5, "CONCORD_DISPATCH_EVERY": 5}
    first = workers.start(**defaults)
    run = run_request(sync, trigger="manual")
    wait_until(lambda: RecordLink.objects.filter(sync=sync).count() >= 3, every=0.05)
    workers.kill(first)
    killed = time.monotonic()
    assert SyncRun.objects.get(pk=run.pk).status == "running"
    # Another worker with beat: the dispatcher's sweeper requeues the run once its lease
    # has run out, and the worker takes it up.
    workers.start(beat=True, **defaults)
    wait_until(lambda: SyncRun.objects.get(pk=run.pk).attempts == 2, timeout=60, every=0.1)
    taken_up = time.monotonic() - killed
    print(f"killed worker's run taken up again after {taken_up:.1f}s")  # noqa: T201
    assert taken_up <= 30, f"taken up after {taken_up:.1f}s"
    wait_until(lambda: SyncRun.objects.get(pk=run.pk).status == "succeeded", timeout=120)
    # The creates it left in Zendesk's jobs are linked by the settling run that follows.
    wait_until(
        lambda: (
            not InFlightWrite.objects.filter(sync=sync, state="in_flight").exists()
            and not SyncRun.objects.filter(sync=sync, status__in=["queued", "running"]).exists()
        ),
        timeout=60,
    )
    contacts = hubspot_contacts(sync)
    users = zendesk_users(sync)
    assert set(users) == set(contacts)
    links = RecordLink.objects.filter(sync=sync)
    assert links.count() == len(contacts)
    assert links.values("b_id").distinct().count() == links.count()
    assert SyncRun.objects.get(pk=run.pk).attempts == 2


def test_a_429_storm_ends_in_a_completed_run_that_respected_retry_after(workers, hub_desk, sandbox):
    sync = hub_desk
    Sync.objects.filter(pk=sync.pk).update(enabled=True, next_run_at=None)
    for _ in range(4):
        sandbox.admin.queue_fault("hubspot", status=429, retry_after=2)
    workers.start()
    run = run_request(sync, trigger="manual")
    wait_until(lambda: SyncRun.objects.get(pk=run.pk).status == "succeeded", timeout=120)
    stats = sandbox.admin.stats("hubspot")
    requests_seen = sorted(stats["requests"], key=lambda r: r["t"])
    limited = [r for r in requests_seen if r["status"] == 429]
    assert len(limited) == 4
    for r in limited:
        after = [x for x in requests_seen if x["t"] > r["t"]]
        assert after, "nothing was sent after a 429"
        assert after[0]["t"] - r["t"] >= 2.0 - 0.05


def test_a_conflict_decided_while_a_run_writes_waits_for_it(workers, hub_desk, sandbox):
    """Deciding a conflict while a run of the same sync is writing never interleaves: the
    API answers at once, and the decision is written by the next run, after the lease."""
    sync = hub_desk
    workers.start()
    first = run_request(sync, trigger="manual")
    wait_until(lambda: SyncRun.objects.get(pk=first.pk).status == "succeeded")
    link = RecordLink.objects.filter(sync=sync, status="linked").first()
    hubspot, zendesk = connector_for(sync.connection_a), connector_for(sync.connection_b)
    try:
        hubspot.update("contacts", [RecordUpdate(link.a_id, {"firstname": "From HubSpot"})])
        zendesk.update("users", [RecordUpdate(link.b_id, {"name": "From Zendesk"})])
    finally:
        hubspot.close()
        zendesk.close()
    opening = run_request(sync, trigger="webhook", record_ids={"a": [link.a_id]})
    wait_until(lambda: SyncRun.objects.get(pk=opening.pk).status == "succeeded")
    conflict = Conflict.objects.get(sync=sync, status="open")

    # A long run: 20 new contacts, each create on Zendesk slowed down.
    connector = connector_for(sync.connection_a)
    try:
        connector.create(
            "contacts",
            [{"email": f"slow{n}@example.org", "firstname": f"Slow{n}"} for n in range(20)],
        )
    finally:
        connector.close()
    sandbox.admin.set_faults("zendesk", latency_ms=150)
    long_run = run_request(sync, trigger="manual")
    wait_until(lambda: SyncRun.objects.get(pk=long_run.pk).status == "running", every=0.02)

    member = MembershipFactory(workspace=sync.workspace, role="editor")
    _, token = api_token_create(workspace=sync.workspace, user=member.user, name="tests")
    editor = APIClient(HTTP_AUTHORIZATION=f"Bearer {token}")
    answer = editor.post(
        f"/api/v1/conflicts/{conflict.public_id}/resolve/", {"resolution": "a"}, format="json"
    )

    assert answer.status_code == 202, answer.content
    assert answer.json()["status"] == "decided"
    applying = SyncRun.objects.get(public_id=answer.json()["run"]["id"])
    assert applying.pk != long_run.pk  # a follow-up: the running run is not touched
    assert SyncRun.objects.get(pk=long_run.pk).status == "running"
    assert zendesk_user(sync, link_email(sync, link))["name"] == "From Zendesk"  # not yet

    wait_until(
        lambda: not SyncRun.objects.filter(sync=sync, status__in=["queued", "running"]).exists(),
        timeout=120,
    )
    long_run.refresh_from_db()
    applying.refresh_from_db()
    assert (long_run.status, applying.status) == ("succeeded", "succeeded")
    assert long_run.finished_at <= applying.started_at
    assert long_run.fence < applying.fence
    # Every write of the sandbox log falls inside one run's span, the decision's after the
    # long run's last.
    writes = [
        r
        for vendor in ("hubspot", "zendesk")
        for r in sandbox.admin.stats(vendor)["requests"]
        if r["method"] in ("POST", "PUT", "PATCH", "DELETE") and "search" not in r["path"]
    ]
    long_end, applying_start = long_run.finished_at.timestamp(), applying.started_at.timestamp()
    assert [w for w in writes if long_end < w["t"] < applying_start] == []
    conflict.refresh_from_db()
    assert conflict.status == "resolved"
    assert zendesk_user(sync, link_email(sync, link))["name"] == "From HubSpot"


def link_email(sync: Sync, link: RecordLink) -> str:
    connector = connector_for(sync.connection_a)
    try:
        [contact] = connector.get("contacts", [link.a_id])
    finally:
        connector.close()
    return contact.fields["email"]
