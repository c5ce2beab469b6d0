"""The webhooks the Jira sandbox sends, as Jira admin webhooks do.

Written from Atlassian's description of admin webhooks ("Webhooks", section "Secure admin
webhooks"), apart from connectors/jira/webhooks.py, so that the connector's verification is
checked against an independent signer: one POST per event, the payload with `timestamp`,
`webhookEvent`, `issue_event_type_name`, `user`, `issue` (and `changelog`, `comment`),
`X-Atlassian-Webhook-Identifier` naming the delivery, and `X-Hub-Signature: sha256=<hex
HMAC-SHA256 of the raw body under the webhook's secret>`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from connectors.sandbox.core import JSON, Delivery, WebhookTarget
from connectors.sandbox.records import Row

if TYPE_CHECKING:
    from connectors.jira.sandbox.beans import Beans


def event(
    beans: Beans,
    sequence: int,
    timestamp_ms: int,
    name: str,
    type_name: str,
    row: Row,
    items: list[Any],
    changelog_id: str | None,
    comment: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """One queued event: the delivery identifier and the payload (built now, as the issue
    is now)."""
    payload: dict[str, Any] = {
        "timestamp": timestamp_ms,
        "webhookEvent": name,
        "issue_event_type_name": type_name,
        "user": beans.user(beans.state.me),
        "issue": beans.issue(row),
    }
    if items:
        payload["changelog"] = {"id": changelog_id, "items": items}
    if comment is not None:
        payload["comment"] = beans.comment(row, comment)
    identifier = hashlib.sha256(f"{sequence}:{timestamp_ms}:{name}:{row.id}".encode()).hexdigest()
    return {"identifier": identifier[:32], "payload": payload}


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliveries(events: list[JSON], target: WebhookTarget) -> list[Delivery]:
    """One signed POST per event to `target`."""
    out = []
    for queued in events:
        body = json.dumps(queued["payload"], separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "X-Atlassian-Webhook-Identifier": queued["identifier"],
            "X-Atlassian-Webhook-Flow": "Primary",
            "X-Hub-Signature": signature(target.secret, body),
        }
        out.append(Delivery(target.url, body, headers, delivery_id=queued["identifier"]))
    return out
