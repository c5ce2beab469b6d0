"""POST /hooks/<connection>/: size limit, unknown endpoint, signature, inbox, duplicates."""

from __future__ import annotations

import json
import time

import pytest
from django.conf import settings as django_settings
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext

from apps.connections.models import Connection
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.rejections import rejection_counts, rejection_last
from connectors.hubspot.webhooks import sign_v3 as hubspot_sign
from connectors.jira.webhooks import sign as jira_sign
from connectors.zendesk.webhooks import format_timestamp, sign
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def zendesk():
    return Connection.objects.create(
        workspace=WorkspaceFactory(),
        name="Zendesk",
        kind="zendesk",
        config={"base_url": "https://acme.zendesk.com", "email": "ops@acme.test"},
        secrets={"api_token": "zd-token"},
    )


def post(client, conn, body: bytes, *, secret=None, timestamp=None, invocation="inv-1", **extra):
    timestamp = timestamp or format_timestamp(time.time())
    headers = {
        "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP": timestamp,
        "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE": sign(secret or conn.webhook_secret, timestamp, body),
        "HTTP_X_ZENDESK_WEBHOOK_INVOCATION_ID": invocation,
        "HTTP_AUTHORIZATION": "Bearer must-never-be-stored",
    }
    headers.update(extra)
    return client.generic(
        "POST", f"/hooks/{conn.public_id}/", body, content_type="application/json", **headers
    )


BODY = json.dumps({"ticket_id": "42", "event": "updated"}).encode()


def test_a_signed_delivery_is_stored_and_acknowledged(
    client, zendesk, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(client, zendesk, BODY)
    assert response.status_code == 202
    delivery = WebhookDelivery.objects.get()
    assert delivery.connection == zendesk
    assert delivery.workspace_id == zendesk.workspace_id
    assert delivery.events == [
        {"object_type": "tickets", "record_id": "42", "action": "updated", "occurred_at": None}
    ]
    assert json.loads(delivery.body) == {"ticket_id": "42", "event": "updated"}
    assert "authorization" not in delivery.headers
    assert delivery.headers["x-zendesk-webhook-invocation-id"] == "inv-1"
    # Routed in the receiving transaction, no task sent: no sync reads ticket 42.
    assert (delivery.status, callbacks) == ("ignored", [])
    assert delivery.processed_at is not None


def test_a_redelivery_answers_200_and_is_stored_once(
    client, zendesk, django_capture_on_commit_callbacks
):
    assert post(client, zendesk, BODY, invocation="inv-7").status_code == 202
    again = post(client, zendesk, BODY, invocation="inv-7")
    assert again.status_code == 200
    assert again.json() == {"status": "duplicate"}
    # One whose routing failed still waits: the redelivery is accepted again and its
    # processing message sent again.
    WebhookDelivery.objects.update(status="received")
    with django_capture_on_commit_callbacks() as resent:
        waiting = post(client, zendesk, BODY, invocation="inv-7")
    assert (waiting.status_code, waiting.json()) == (202, {"status": "accepted"})
    assert len(resent) == 1
    assert WebhookDelivery.objects.count() == 1


def signed_headers(secret: str, body: bytes, timestamp: str) -> dict[str, str]:
    return {
        "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP": timestamp,
        "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE": sign(secret, timestamp, body),
    }


def tampered(kind: str, secret: str) -> tuple[bytes, dict[str, str]]:
    now = format_timestamp(time.time())
    if kind == "body":  # signed for one body, sent with another
        return BODY.replace(b"42", b"43"), signed_headers(secret, BODY, now)
    if kind == "secret":
        return BODY, signed_headers("not-the-secret", BODY, now)
    if kind == "stale":
        return BODY, signed_headers(secret, BODY, format_timestamp(time.time() - 3600))
    return BODY, {}  # unsigned


@pytest.mark.parametrize("kind", ["body", "secret", "stale", "unsigned"])
def test_unverifiable_deliveries_are_401_and_write_nothing(client, zendesk, kind):
    body, headers = tampered(kind, zendesk.webhook_secret)
    with CaptureQueriesContext(db_connection) as queries:
        response = client.generic(
            "POST",
            f"/hooks/{zendesk.public_id}/",
            body,
            content_type="application/json",
            **headers,
        )
    assert response.status_code == 401
    writes = [
        q["sql"]
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and "concord_cache" not in q["sql"]  # the rejection counter, in the cache
    ]
    assert writes == []
    assert WebhookDelivery.objects.count() == 0
    assert rejection_counts([zendesk.pk]) == {zendesk.pk: 1}
    assert rejection_last(zendesk.pk) is not None


def test_unknown_connection_is_404(client):
    response = client.post(
        "/hooks/3f1c1a52-0000-4000-8000-000000000000/", b"{}", content_type="application/json"
    )
    assert response.status_code == 404


def test_a_body_over_the_limit_is_413_before_anything_is_read(client, zendesk, settings):
    settings.CONCORD_WEBHOOK_MAX_BYTES = 100
    with CaptureQueriesContext(db_connection) as queries:
        response = post(client, zendesk, b'{"ticket_id": "1", "pad": "' + b"x" * 200 + b'"}')
    assert response.status_code == 413
    assert queries.captured_queries == []
    assert WebhookDelivery.objects.count() == 0


@pytest.fixture
def broker_down():
    """Point the Celery app at a broker nobody listens on (a refused connection), for real:
    nothing is mocked; sending a message fails as it does when Redis is down."""
    from contextlib import contextmanager

    from apps.config.celery import app

    @contextmanager
    def down():
        saved = app.conf.broker_url, app.conf.broker_transport_options

        def forget_pools() -> None:
            # As after a fork: the app and its producers take a pool for the broker URL
            # configured now from kombu's registry, which keeps the real broker's pool open
            # for the tests that follow.
            app._pool = None
            app.amqp._producer_pool = None

        forget_pools()
        app.conf.broker_url = "redis://127.0.0.1:9/0"  # the discard port: refused
        app.conf.broker_transport_options = {}
        try:
            yield
        finally:
            app.pool.force_close_all()  # the unreachable broker's pool only
            forget_pools()
            app.conf.broker_url, app.conf.broker_transport_options = saved

    return down


def test_a_delivery_whose_routing_failed_while_the_broker_is_down_is_processed_by_the_sweep(
    client, zendesk, broker_down, settings, django_capture_on_commit_callbacks, monkeypatch
):
    """Routing at receipt fails (a bug, a locked database) while the broker is down too: the
    delivery is still stored and accepted (not a 500); the sender's retry is not swallowed as
    a duplicate while it waits; once the broker is back, the sweep processes it within
    CONCORD_WEBHOOK_SWEEP_AFTER of its arrival."""
    from datetime import timedelta

    from django.utils import timezone

    from apps.config.celery import app
    from apps.webhooks import services

    def broken(delivery):
        raise RuntimeError("routing failed")

    stamp = format_timestamp(time.time())  # the sender's retry sends what it signed again
    monkeypatch.setattr(services, "delivery_route", broken)
    with broker_down():
        with pytest.raises(Exception):  # noqa: B017,PT011 - the broker really is unreachable
            app.send_task("webhooks.process_delivery", args=[0])
        with django_capture_on_commit_callbacks(execute=True):
            first = post(client, zendesk, BODY, timestamp=stamp, invocation="outage-1")
        with django_capture_on_commit_callbacks(execute=True) as resent:
            retry = post(client, zendesk, BODY, timestamp=stamp, invocation="outage-1")
    assert first.status_code == 202, first.content
    assert (retry.status_code, retry.json()) == (202, {"status": "accepted"})
    assert len(resent) == 1  # its processing message was sent again (and failed again)
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == "received"
    monkeypatch.undo()
    # The broker is back. Young deliveries are left to their messages...
    from apps.webhooks.processing import deliveries_sweep

    assert deliveries_sweep() == 0
    # ...and the sweep processes one waiting past the bound.
    later = delivery.received_at + timedelta(seconds=settings.CONCORD_WEBHOOK_SWEEP_AFTER + 1)
    assert later < timezone.now() + timedelta(minutes=1)
    assert deliveries_sweep(now=later) == 1
    delivery.refresh_from_db()
    assert delivery.status != "received"  # "ignored" here: no sync reads these tickets
    assert delivery.processed_at is not None
    # A retry now is a plain duplicate: nothing sent, nothing processed twice.
    with django_capture_on_commit_callbacks(execute=True) as sent:
        again = post(client, zendesk, BODY, timestamp=stamp, invocation="outage-1")
    assert (again.status_code, again.json(), sent) == (200, {"status": "duplicate"}, [])


# --- hostile but signed deliveries, for each system -----------------------------------------
# The sender holds the secret (or replays what it signed); what it signed must still not
# break the inbox: too deep JSON or a NUL in a record id is a 400 with the reason and stores
# nothing, and a replay with a fresh unsigned header is the same delivery.
@pytest.fixture
def connections():
    ws = WorkspaceFactory()
    return {
        "zendesk": Connection.objects.create(
            workspace=ws,
            name="Zendesk",
            kind="zendesk",
            config={"base_url": "https://acme.zendesk.com", "email": "ops@acme.test"},
            secrets={"api_token": "zd-token"},
        ),
        "hubspot": Connection.objects.create(
            workspace=ws,
            name="HubSpot",
            kind="hubspot",
            config={"base_url": "https://api.hubapi.com"},
            secrets={"access_token": "pat-na1-test"},
        ),
        "jira": Connection.objects.create(
            workspace=ws,
            name="Jira",
            kind="jira",
            config={
                "base_url": "https://acme.atlassian.net",
                "email": "ops@acme.test",
                "project_key": "OPS",
            },
            secrets={"api_token": "jira-token"},
        ),
    }


def record_body(kind: str, record_id: str, extra=None) -> bytes:
    """A delivery naming one record, as each system sends it."""
    if kind == "zendesk":
        payload = {"ticket_id": record_id, "event": "updated", **(extra or {})}
    elif kind == "hubspot":
        payload = [
            {
                "eventId": 4211,
                "subscriptionType": "contact.propertyChange",
                "objectId": record_id,
                "occurredAt": int(time.time() * 1000),
                **(extra or {}),
            }
        ]
    else:
        payload = {
            "timestamp": int(time.time() * 1000),
            "webhookEvent": "jira:issue_updated",
            "issue": {"id": record_id, "key": "OPS-1", "fields": {"project": {"key": "OPS"}}},
            **(extra or {}),
        }
    return json.dumps(payload).encode()


def send_signed(client, conn, body: bytes, *, delivery_header: str = "d-1", timestamp=None):
    """POST `body` signed as the system signs it, with `delivery_header` in the header the
    system names deliveries by (unsigned in all three schemes)."""
    secret, url = conn.webhook_secret, f"/hooks/{conn.public_id}/"
    if conn.kind == "zendesk":
        stamp = timestamp or format_timestamp(time.time())
        headers = {
            "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE_TIMESTAMP": stamp,
            "HTTP_X_ZENDESK_WEBHOOK_SIGNATURE": sign(secret, stamp, body),
            "HTTP_X_ZENDESK_WEBHOOK_INVOCATION_ID": delivery_header,
        }
    elif conn.kind == "hubspot":
        stamp = timestamp or str(int(time.time() * 1000))
        public = django_settings.CONCORD_PUBLIC_URL.rstrip("/") + url
        headers = {
            "HTTP_X_HUBSPOT_SIGNATURE_V3": hubspot_sign(secret, "POST", public, body, stamp),
            "HTTP_X_HUBSPOT_REQUEST_TIMESTAMP": stamp,
            "HTTP_X_REQUEST_ID": delivery_header,  # HubSpot names deliveries by eventId only
        }
    else:
        headers = {
            "HTTP_X_HUB_SIGNATURE": jira_sign(body, secret),
            "HTTP_X_ATLASSIAN_WEBHOOK_IDENTIFIER": delivery_header,
        }
    return client.generic("POST", url, body, content_type="application/json", **headers)


KINDS = ["zendesk", "hubspot", "jira"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_signed_delivery_is_accepted_for_each_system(client, connections, kind):
    response = send_signed(client, connections[kind], record_body(kind, "42"))
    assert response.status_code == 202, response.content
    assert [e["record_id"] for e in WebhookDelivery.objects.get().events] == ["42"]


@pytest.mark.parametrize("kind", KINDS)
def test_signed_json_nested_1000_deep_is_400_and_stores_nothing(client, connections, kind):
    client.raise_request_exception = False  # a RecursionError must not become a 500
    conn = connections[kind]
    body = record_body(kind, "42").replace(b'"42"', b'"42", "deep": ' + b"[" * 1000 + b"]" * 1000)
    response = send_signed(client, conn, body)
    assert response.status_code == 400, response.content
    assert response.json() == {"error": "the body's JSON is nested more than 100 levels deep"}
    assert WebhookDelivery.objects.count() == 0
    assert rejection_last(conn.pk).reason == "the body's JSON is nested more than 100 levels deep"


@pytest.mark.parametrize("kind", ["hubspot", "jira"])  # Zendesk ids are digits only
def test_a_signed_delivery_with_a_nul_in_a_record_id_is_400_and_stores_nothing(
    client, connections, kind
):
    # PostgreSQL cannot hold NUL in text or jsonb: storing this was a 500 there.
    client.raise_request_exception = False
    conn = connections[kind]
    response = send_signed(client, conn, record_body(kind, "42\x00"))
    assert response.status_code == 400, response.content
    assert response.json() == {"error": "record id '42\\x00' contains a NUL character"}
    assert WebhookDelivery.objects.count() == 0
    assert rejection_last(conn.pk).reason == "record id '42\\x00' contains a NUL character"


def test_a_signed_hubspot_event_id_with_a_nul_is_400_and_stores_nothing(client, connections):
    client.raise_request_exception = False
    conn = connections["hubspot"]
    body = record_body("hubspot", "42", {"eventId": "4211\x00"})
    response = send_signed(client, conn, body)
    assert response.status_code == 400, response.content
    assert response.json() == {"error": "delivery id '4211\\x00' contains a NUL character"}
    assert WebhookDelivery.objects.count() == 0


@pytest.mark.parametrize("kind", KINDS)
def test_a_replay_with_a_fresh_unsigned_delivery_header_is_a_duplicate(
    client, connections, kind, django_capture_on_commit_callbacks
):
    conn = connections[kind]
    body = record_body(kind, "42")
    stamp = format_timestamp(time.time()) if kind == "zendesk" else str(int(time.time() * 1000))
    first = send_signed(client, conn, body, delivery_header="d-1", timestamp=stamp)
    assert first.status_code == 202
    assert WebhookDelivery.objects.get().status != "received"  # routed at receipt
    with django_capture_on_commit_callbacks() as callbacks:
        replay = send_signed(client, conn, body, delivery_header="d-3-fresh", timestamp=stamp)
    assert (replay.status_code, replay.json()) == (200, {"status": "duplicate"})
    assert WebhookDelivery.objects.count() == 1
    assert callbacks == []  # nothing sent: it was processed once
