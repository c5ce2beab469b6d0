"""Routing a delivery at receipt: its records fold into the sync's queued run inside the
receiving transaction (no task per delivery), and an echo of the sync's own write starts no
run. Deliveries arrive the real way, as signed POSTs to /hooks/<connection>/."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from apps.runs.models import SyncRun
from apps.syncs.models import RecordLink, Sync
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.processing import delivery_process
from connectors.memory.connector import sign_webhook
from tests.running import run_now
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db

SECRET = "whsec-processing-0123456789abcdef"


@pytest.fixture
def linked():
    """A sync whose B connection receives webhooks, with Ann linked on both sides."""
    sync, crm, desk = f.memory_sync()
    sync.connection_b.webhook_secret = SECRET
    sync.connection_b.save(update_fields=["webhook_secret"])
    a, b = f.linked_pair(sync, crm, desk)
    return sync, crm, desk, a, b


def deliver(client, sync: Sync, *events: dict) -> WebhookDelivery:
    headers, body = sign_webhook(SECRET, list(events))
    response = client.generic(
        "POST",
        f"/hooks/{sync.connection_b.public_id}/",
        body,
        content_type="application/json",
        HTTP_X_MEMORY_SIGNATURE=headers["X-Memory-Signature"],
    )
    assert response.status_code == 202, response.content
    return WebhookDelivery.objects.latest("id")


def event(record_id: str, occurred_at=None, action: str = "updated") -> dict:
    found = {"object_type": "users", "record_id": record_id, "action": action}
    if occurred_at is not None:
        found["occurred_at"] = occurred_at.isoformat()
    return found


def test_deliveries_fold_into_one_queued_run_when_they_arrive(
    client, linked, django_capture_on_commit_callbacks
):
    sync, _, desk, _, b = linked
    other = desk.insert("users", {"email": "bo@x.com", "full_name": "Bo"})
    with django_capture_on_commit_callbacks() as sent:
        first = deliver(client, sync, event(b.id))
        second = deliver(client, sync, event(other.id))

    assert (first.status, second.status) == ("processed", "processed")
    queued = SyncRun.objects.get(sync=sync, status="queued")
    assert queued.trigger == "webhook"
    assert queued.record_ids == {"a": [], "b": [b.id, other.id]}
    assert queued.folded == 1
    # One message: the run's. No processing task per delivery.
    assert len(sent) == 1


def test_an_echo_of_the_syncs_own_write_starts_no_run(client, linked):
    sync, _, _, _, b = linked
    written_at = RecordLink.objects.get(sync=sync).b_modified_at

    delivery = deliver(client, sync, event(b.id, written_at))

    assert delivery.status == "echo"
    assert delivery.processed_at is not None
    assert not SyncRun.objects.filter(sync=sync, status="queued").exists()


def test_a_later_change_of_a_written_record_is_run(client, linked):
    sync, crm, desk, a, b = linked
    written_at = RecordLink.objects.get(sync=sync).b_modified_at
    desk.edit("users", b.id, {"full_name": "Ann B."})

    delivery = deliver(client, sync, event(b.id, written_at + timedelta(seconds=5)))

    assert delivery.status == "processed"
    run = SyncRun.objects.get(sync=sync, status="queued")
    assert run.record_ids == {"a": [], "b": [b.id]}
    run_now(sync, trigger="webhook", record_ids={"b": [b.id]})
    assert crm.record("contacts", a.id).fields["name"] == "Ann B."


def test_a_delivery_mixing_an_echo_and_a_change_runs_only_the_change(client, linked):
    sync, _, desk, _, b = linked
    written_at = RecordLink.objects.get(sync=sync).b_modified_at
    other = desk.insert("users", {"email": "cy@x.com", "full_name": "Cy"})

    delivery = deliver(client, sync, event(b.id, written_at), event(other.id))

    assert delivery.status == "processed"
    run = SyncRun.objects.get(sync=sync, status="queued")
    assert run.record_ids == {"a": [], "b": [other.id]}


def test_a_delete_is_never_taken_for_an_echo(client, linked):
    sync, _, _, _, b = linked
    written_at = RecordLink.objects.get(sync=sync).b_modified_at

    delivery = deliver(client, sync, event(b.id, written_at, action="deleted"))

    assert delivery.status == "processed"
    assert SyncRun.objects.filter(sync=sync, status="queued").exists()


def test_a_delivery_left_received_is_routed_once_by_its_task(client, linked):
    sync, _, _, _, b = linked
    delivery = deliver(client, sync, event(b.id))
    SyncRun.objects.filter(sync=sync, status="queued").delete()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="received", processed_at=None)

    assert delivery_process(delivery.pk) == "processed"
    assert delivery_process(delivery.pk) == "already-processed"
    assert SyncRun.objects.filter(sync=sync, status="queued").count() == 1


def test_a_delivery_for_a_pair_whose_write_is_in_a_job_starts_no_run_and_is_read_at_settling(
    client, sandbox
):
    """Zendesk's echo of an update still in its bulk job carries no time Concord stored (the
    write has not settled): the delivery starts no run, and the run that settles the write
    reads the pair again instead, so a change it announced is not lost either."""
    from apps.syncs.models import InFlightWrite
    from connectors.zendesk.webhooks import format_timestamp, sign
    from tests.syncs.test_settle import (
        UPDATE_MANY,
        calls,
        contacts_sync,
        in_flight,
        updates_in_flight,
        zendesk,
    )

    sync = contacts_sync(sandbox)
    Sync.objects.filter(pk=sync.pk).update(enabled=True)  # webhooks route to enabled syncs
    links = updates_in_flight(sandbox, sync, "Job")
    desk = sync.connection_b

    def post(user_id: str, invocation: str) -> WebhookDelivery:
        # (the invocation id is not signed: the dedupe key is the signed body's digest)
        body = f'{{"user_id": "{user_id}", "event": "updated", "n": "{invocation}"}}'.encode()
        stamp = format_timestamp(time.time())
        response = client.generic(
            "POST",
            f"/hooks/{desk.public_id}/",
            body,
            content_type="application/json",
            HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP=stamp,
            HTTP_X_ZENDESK_WEBHOOK_SIGNATURE=sign(desk.webhook_secret, stamp, body),
            HTTP_X_ZENDESK_WEBHOOK_INVOCATION_ID=invocation,
        )
        assert response.status_code == 202, response.content
        return WebhookDelivery.objects.latest("id")

    delivery = post(links[0].b_id, "inv-1")

    assert delivery.status == "echo"
    # (the settling run the writing run asked for is queued; no webhook run)
    assert not SyncRun.objects.filter(sync=sync, status="queued", trigger="webhook").exists()
    assert list(
        InFlightWrite.objects.filter(sync=sync, missed=True).values_list("record_id", flat=True)
    ) == [links[0].b_id]

    sandbox.admin.configure("zendesk", jobs_held=False)
    settling = run_now(sync)

    assert not in_flight(sync)
    assert settling.read_a == 1  # the marked pair's HubSpot record, read again
    assert settling.updated_a == 0  # an echo: nothing written back
    assert calls(sandbox, UPDATE_MANY) == 1  # nor to Zendesk again (the 6 settled are the job's)
    names = {r.id: r.fields["name"] for r in zendesk(sync, "get", [lk.b_id for lk in links])}
    assert [names[lk.b_id] for lk in links] == [f"Job {n}" for n in range(6)]
    # Once the write has settled, a delivery about the record is run as usual.
    assert post(links[0].b_id, "inv-2").status == "processed"
    assert SyncRun.objects.filter(sync=sync, status="queued", trigger="webhook").exists()
