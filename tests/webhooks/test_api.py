"""The webhook deliveries API: the inbox as the receiving endpoint stored it, for every
role, filtered, without secrets, and invisible to other workspaces.

Deliveries arrive the real way: signed POSTs to /hooks/<connection>/ (the memory connector's
signature scheme), so what the API shows is what the receiver kept.
"""

from __future__ import annotations

import pytest

from apps.accounts.models import Role
from apps.connections.models import Connection
from apps.webhooks.models import WebhookDelivery
from connectors.memory.connector import sign_webhook
from tests.factories import MembershipFactory, WorkspaceFactory
from tests.syncs import factories as f
from tests.syncs.test_api import _fast_and_roomy, assert_error, client_for  # noqa: F401

pytestmark = pytest.mark.django_db

ROLES = ["viewer", "editor", "admin", "owner"]
URL = "/api/v1/webhook-deliveries/"
SECRET = "whsec-deliveries-0123456789abcdef"


@pytest.fixture
def workspace():
    return WorkspaceFactory()


@pytest.fixture
def clients(workspace):
    return {role: client_for(MembershipFactory(workspace=workspace, role=role)) for role in ROLES}


def connection(workspace, name: str) -> Connection:
    crm, _ = f.stores()
    return Connection.objects.create(
        workspace=workspace,
        name=name,
        kind="memory",
        config={"base_url": f.MEMORY_URL, "store": crm.name},
        webhook_secret=SECRET,
    )


def deliver(client, conn: Connection, *record_ids: str) -> WebhookDelivery:
    events = [{"object_type": "contacts", "record_id": r, "action": "updated"} for r in record_ids]
    headers, body = sign_webhook(SECRET, events)
    response = client.generic(
        "POST",
        f"/hooks/{conn.public_id}/",
        body,
        content_type="application/json",
        HTTP_X_MEMORY_SIGNATURE=headers["X-Memory-Signature"],
        HTTP_AUTHORIZATION=f"Bearer {SECRET}",
        HTTP_USER_AGENT="memory-hooks/1.0",
    )
    assert response.status_code == 202, response.content
    return WebhookDelivery.objects.latest("id")


@pytest.fixture
def deliveries(client, workspace):
    crm = connection(workspace, "CRM")
    desk = connection(workspace, "Desk")
    first = deliver(client, crm, "crm-1")
    second = deliver(client, desk, "des-1", "des-2")
    WebhookDelivery.objects.filter(pk=second.pk).update(status="processed")
    return crm, desk, first, second


@pytest.fixture
def foreign(client):
    owner = MembershipFactory(role=Role.OWNER)
    theirs = deliver(client, connection(owner.workspace, "Theirs"), "x-1")
    return client_for(owner), theirs


@pytest.mark.parametrize("role", ROLES)
def test_every_role_lists_and_reads_deliveries(clients, deliveries, foreign, role):
    crm, _desk, first, second = deliveries
    listed = clients[role].get(URL)
    assert listed.status_code == 200
    body = listed.json()
    assert [d["id"] for d in body["results"]] == [str(second.public_id), str(first.public_id)]
    assert body["results"][1]["processed_at"] is not None
    assert body["results"][1] == {
        "id": str(first.public_id),
        "connection": str(crm.public_id),
        "connection_name": "CRM",
        "dedupe_key": first.dedupe_key,
        "received_at": body["results"][1]["received_at"],
        # Routed when it arrived: no sync reads these contacts.
        "status": "ignored",
        "processed_at": body["results"][1]["processed_at"],
        "attempts": 0,
        "error": "",
        "events": [
            {
                "object_type": "contacts",
                "record_id": "crm-1",
                "action": "updated",
                "occurred_at": None,
            }
        ],
    }
    read = clients[role].get(f"{URL}{second.public_id}/")
    assert read.status_code == 200
    detail = read.json()
    assert detail["status"] == "processed"
    assert [e["record_id"] for e in detail["events"]] == ["des-1", "des-2"]
    assert detail["body"] == second.body
    assert detail["headers"]["user-agent"] == "memory-hooks/1.0"
    assert "x-memory-signature" in detail["headers"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_inbox_is_read_only(clients, deliveries, method):
    _, _, first, _ = deliveries
    for role in ROLES:
        response = getattr(clients[role], method)(f"{URL}{first.public_id}/", {}, format="json")
        assert_error(response, 405, "method_not_allowed")
    assert_error(clients["owner"].post(URL, {}, format="json"), 405, "method_not_allowed")
    assert WebhookDelivery.objects.filter(pk=first.pk).exists()


def test_deliveries_are_filtered_by_connection_and_status(clients, deliveries):
    crm, desk, first, second = deliveries
    viewer = clients["viewer"]

    def ids(**params) -> list[str]:
        response = viewer.get(URL, params)
        assert response.status_code == 200, response.content
        return [d["id"] for d in response.json()["results"]]

    assert ids(connection=crm.public_id) == [str(first.public_id)]
    assert ids(connection=desk.public_id, status="processed") == [str(second.public_id)]
    assert ids(connection=desk.public_id, status="received") == []
    assert ids(status="ignored") == [str(first.public_id)]
    assert ids(status="received") == []
    page = viewer.get(URL, {"page_size": 1}).json()
    assert [d["id"] for d in page["results"]] == [str(second.public_id)]
    assert [d["id"] for d in viewer.get(page["next"]).json()["results"]] == [str(first.public_id)]
    bad = viewer.get(URL, {"connection": "crm", "status": "lost"})
    assert set(assert_error(bad, 400, "validation_error")["fields"]) == {"connection", "status"}


def test_another_workspaces_deliveries_are_not_found(clients, deliveries, foreign):
    client, theirs = foreign
    for role in ROLES:
        assert_error(clients[role].get(f"{URL}{theirs.public_id}/"), 404, "not_found")
        response = clients[role].get(URL, {"connection": str(theirs.connection.public_id)})
        assert response.json()["results"] == []
    assert [d["id"] for d in client.get(URL).json()["results"]] == [str(theirs.public_id)]


def test_no_answer_carries_a_secret(clients, deliveries):
    _, _, first, second = deliveries
    viewer = clients["viewer"]
    for url in (URL, f"{URL}{first.public_id}/", f"{URL}{second.public_id}/"):
        response = viewer.get(url)
        assert response.status_code == 200
        assert SECRET.encode() not in response.content
        assert b"authorization" not in response.content.lower()
