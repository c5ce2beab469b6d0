"""The webhooks the Zendesk sandbox sends: event-subscription events and their signatures.

Written from Zendesk's documentation, apart from connectors/zendesk/webhooks.py, so that
the connector's verification is checked against an independent signer:

- events as in "Webhook event types" (developer.zendesk.com/api-reference/webhooks/
  event-types/webhook-event-types/): `type` "zen:event-type:ticket.status_changed" and so
  on, `detail` with the record, `event` with previous and current values; one POST each;
- signatures as in "Verifying webhooks" (developer.zendesk.com/documentation/webhooks/
  verifying/): `X-Zendesk-Webhook-Signature` is base64(HMAC-SHA256(signing secret, timestamp
  + body)) and `X-Zendesk-Webhook-Signature-Timestamp` the timestamp as sent, ISO 8601 UTC.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any

from connectors.sandbox.core import JSON, Delivery, WebhookTarget
from connectors.sandbox.records import Row
from connectors.zendesk.sandbox.schema import SINGULAR, iso

ACCOUNT_ID = 9_100_001
WEBHOOK_ID = "01HSANDBOXWEBHOOK0000000001"
# The event of an update, by the attribute that changed (several attributes: several events).
EVENT_OF_ATTRIBUTE = {
    "status": "status_changed",
    "priority": "priority_changed",
    "subject": "subject_changed",
    "tags": "tags_changed",
    "assignee_id": "agent_assignment_changed",
    "custom_fields": "custom_field_changed",
    "user_fields": "custom_field_changed",
    "organization_fields": "custom_field_changed",
    "name": "name_changed",
    "email": "email_changed",
    "role": "role_changed",
    "organization_id": "organization_changed",
    "external_id": "external_id_changed",
}


def events(row: Row, action: str, before: Mapping[str, Any], now: float) -> list[dict[str, Any]]:
    """The events of one change: "created", "deleted" or "updated" (with the values the
    changed attributes had before; an update without any is a comment)."""
    noun = SINGULAR[row.type]
    record = row.data
    if action == "created":
        kinds = ["created"]
    elif action == "deleted":
        kinds = ["soft_deleted" if row.type == "tickets" else "deleted"]
    else:
        kinds = sorted({EVENT_OF_ATTRIBUTE.get(k, "updated") for k in before}) or ["comment_added"]
    return [
        {
            "type": f"zen:event-type:{noun}.{kind}",
            "id": str(uuid.uuid4()),
            "subject": f"zen:{noun}:{row.id}",
            "time": iso(now),
            "detail": {
                "id": str(row.id),
                "updated_at": record.get("updated_at"),
                **({"status": record["status"]} if "status" in record else {}),
            },
            "event": {
                k.removesuffix("_id"): {"previous": before.get(k), "current": record.get(k)}
                for k in sorted(before)
                if not isinstance(record.get(k), list | dict)
            },
        }
        for kind in kinds
    ]


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """base64(HMAC-SHA256(secret, timestamp + body)); the secret's UTF-8 bytes are the key."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def deliveries(events_: list[JSON], target: WebhookTarget, now: float) -> list[Delivery]:
    """One signed POST per event to `target`, as Zendesk sends event-subscription webhooks."""
    out = []
    for event in events_:
        payload = {"account_id": ACCOUNT_ID, "zendesk_event_version": "2022-11-06", **event}
        body = json.dumps(payload, separators=(",", ":")).encode()
        timestamp = iso(now)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Zendesk Webhook",
            "X-Zendesk-Webhook-Id": WEBHOOK_ID,
            "X-Zendesk-Webhook-Invocation-Id": str(uuid.uuid4()),
            "X-Zendesk-Webhook-Signature": signature(target.secret, timestamp, body),
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
        }
        out.append(Delivery(target.url, body, headers, delivery_id=event["id"]))
    return out


# -- the Webhooks API's view of the subscriptions ------------------------------------------
def webhook_id(url: str) -> str:
    """A stable, ULID-shaped id for the subscription to `url` (26 characters)."""
    return "01HSANDBOX" + hashlib.sha256(url.encode()).hexdigest()[:16].upper()


def webhook_json(target: WebhookTarget, created_at: str) -> dict[str, Any]:
    """A subscription as the Webhooks API shows a webhook ("JSON format" of Webhooks API):
    active, POST, JSON, subscribed to the event types the sandbox emits. The signing secret
    is never part of it (Zendesk has a separate endpoint to reveal it)."""
    return {
        "id": webhook_id(target.url),
        "name": f"Sandbox webhook to {target.url}",
        "endpoint": target.url,
        "http_method": "POST",
        "request_format": "json",
        "status": "active",
        "subscriptions": [
            "zen:event-type:ticket.created",
            "zen:event-type:user.created",
            "zen:event-type:organization.created",
        ],
        "created_at": created_at,
        "created_by": "-1",
        "updated_at": created_at,
    }


def test_delivery(url: str, secret: str | None, payload: bytes, now: float) -> Delivery:
    """The request "Test Webhook" sends: `payload` (the tester's body, {} by default) to
    `url`, signed with the webhook's secret when it has one (an existing webhook), with a
    fresh invocation id."""
    timestamp = iso(now)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Zendesk Webhook",
        "X-Zendesk-Webhook-Id": webhook_id(url),
        "X-Zendesk-Webhook-Invocation-Id": str(uuid.uuid4()),
    }
    if secret:
        headers["X-Zendesk-Webhook-Signature"] = signature(secret, timestamp, payload)
        headers["X-Zendesk-Webhook-Signature-Timestamp"] = timestamp
    return Delivery(url, payload, headers, delivery_id=headers["X-Zendesk-Webhook-Invocation-Id"])
