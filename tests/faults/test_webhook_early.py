"""A webhook for a record that does not exist yet (for the system's reads): nothing is
deleted or unlinked, nothing stalls, and the record syncs once it can be read.

Real processes: a worker, the web app (pytest's live server) receiving HubSpot's signed
webhooks from its sandbox. The sandbox hides the contact from its reads for a while
(`hidden` fault, see connectors/sandbox/app.py `Faults`), as a system whose webhooks run
ahead of its read API does.
"""

from __future__ import annotations

import pytest

from apps.connections.services import connector_for
from apps.runs.models import SyncRun
from apps.runs.queue import run_request
from apps.syncs.models import RecordLink, Sync
from connectors.base import RecordUpdate
from tests.runs.sandbox_sync import hub_desk_sync
from tests.runs.test_worker import hubspot_contacts, zendesk_user, zendesk_users
from tests.workers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

HIDDEN_FOR = 6.0


def _settled(sync: Sync) -> bool:
    return not SyncRun.objects.filter(sync=sync, status__in=["queued", "running"]).exists()


def test_a_webhook_for_a_record_not_readable_yet_deletes_nothing_and_syncs_it_later(
    workers, sandbox, live_server, settings
):
    settings.CONCORD_PUBLIC_URL = live_server.url  # the URL HubSpot signs (signature v3)
    sync = hub_desk_sync(sandbox)
    Sync.objects.filter(pk=sync.pk).update(enabled=True, next_run_at=None)  # not polled
    workers.start()
    first = run_request(sync, trigger="manual")  # links the seeded records
    wait_until(lambda: SyncRun.objects.get(pk=first.pk).status == "succeeded", 60)
    users_before, contacts_before = zendesk_users(sync), hubspot_contacts(sync)
    links_before = set(RecordLink.objects.filter(sync=sync).values_list("a_id", "b_id", "status"))
    assert set(users_before) == set(contacts_before)

    hubspot = sync.connection_a
    connector = connector_for(hubspot)
    try:
        # Made before the subscription: no webhook for the creation.
        [made] = connector.create("contacts", [{"email": "early@example.org", "firstname": "E"}])
        assert made.ok, made.error
        contact_id = made.record.id
        sandbox.admin.set_faults("hubspot", hidden=[{"id": contact_id, "seconds": HIDDEN_FOR}])
        sandbox.admin.register_webhook(
            "hubspot", f"{live_server.url}/hooks/{hubspot.public_id}/", hubspot.webhook_secret
        )
        # A webhook naming it, while HubSpot's reads do not return it.
        connector.update("contacts", [RecordUpdate(contact_id, {"firstname": "Early"})])
        assert not connector.get("contacts", [contact_id]), "the hidden fault does not hide"
    finally:
        connector.close()
    sandbox.admin.flush_webhooks(timeout=30)
    wait_until(lambda: SyncRun.objects.filter(sync=sync, trigger="webhook").exists(), 30)
    wait_until(lambda: _settled(sync), 30)
    early = SyncRun.objects.filter(sync=sync, trigger="webhook").latest("created_at")
    assert early.status == "succeeded", early.error  # no error, no stall
    assert zendesk_user(sync, "early@example.org") is None, "it was readable after all"
    # Nothing deleted or unlinked on either side, nothing recorded against the unseen id.
    assert zendesk_users(sync) == users_before
    assert set(hubspot_contacts(sync)) == set(contacts_before)  # still hidden
    assert (
        set(RecordLink.objects.filter(sync=sync).values_list("a_id", "b_id", "status"))
        == links_before
    )

    # Once readable, the next webhook syncs it, once.
    wait_until(lambda: connector_for(hubspot).get("contacts", [contact_id]), HIDDEN_FOR + 5)
    connector = connector_for(hubspot)
    try:
        connector.update("contacts", [RecordUpdate(contact_id, {"firstname": "Readable"})])
    finally:
        connector.close()
    sandbox.admin.flush_webhooks(timeout=30)
    user = wait_until(lambda: zendesk_user(sync, "early@example.org"), 30)
    assert user["name"] == "Readable"
    wait_until(lambda: _settled(sync), 30)
    failed = SyncRun.objects.filter(sync=sync).exclude(status="succeeded")
    assert not failed.exists(), [(r.status, r.error) for r in failed]
    sync.refresh_from_db()
    assert not sync.last_error
    users = zendesk_users(sync)
    assert set(users) == set(users_before) | {"early@example.org"}
    assert set(hubspot_contacts(sync)) == set(users)
    link = RecordLink.objects.get(sync=sync, a_id=contact_id)
    assert link.status == "linked"
    assert RecordLink.objects.filter(sync=sync).count() == len(links_before) + 1
