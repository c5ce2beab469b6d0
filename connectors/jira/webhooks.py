"""Jira Cloud admin webhooks: signature verification and event parsing.

What is confirmed and what we chose (see ../shared/reference/vendor-contracts.md, Jira
"Webhooks"):

- Admin webhooks (Jira settings > System > WebHooks, or /rest/webhooks/1.0/webhook) that are
  registered with a secret carry `X-Hub-Signature: sha256=<hex HMAC-SHA256(secret, raw
  body)>`, the WebSub form. Atlassian's page "Webhooks", section "Secure admin webhooks",
  describes it; the contracts file marks it [2nd] because the page text was not captured, and
  every independent implementation we checked (n8n, Hookdeck, trigger.dev) agrees. This is
  the scheme implemented. Webhooks of Connect and OAuth 2.0 apps are signed with a JWT
  instead; Concord registers admin webhooks, so those are refused as unsigned.
- The signature covers only the body, with no timestamp header, so a captured delivery
  could be replayed forever. The payload's own `timestamp` (epoch milliseconds, inside the
  signed body) bounds that: a delivery older than REPLAY_WINDOW or more than FUTURE_SKEW
  ahead of our clock is refused. The window is wide (30 minutes) because Jira delivers
  "secondary" events up to a quarter of an hour late ([2nd] jira.js) and retries failed
  deliveries, whose timestamp we assume is the event's (UNCONFIRMED); a refused delivery is
  still caught by polling. Exact duplicates inside the window are caught by the inbox's
  deduplication on the delivery id.
- The delivery id is the SHA-256 of the signed body (which holds the event's `timestamp`),
  stable across retries of the same payload. The `X-Atlassian-Webhook-Identifier` header
  ([2nd] jira.js) is not signed: a replay inside the window could carry a fresh one and
  pass as a new delivery, so it is kept with the delivery's headers but never the key.

Events: `jira:issue_created|updated|deleted` name the issue; `comment_created|updated|
deleted` name their issue as updated (a comment changes the issue's `updated`). Other events
and issues of other projects are accepted and ignored.
"""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime
from typing import Any

from connectors.base import (
    WebhookEvent,
    WebhookRequest,
    WebhookResult,
    hub_signature,
    hub_signature_verify,
    webhook_json,
)
from connectors.errors import WebhookVerificationError

SIGNATURE_HEADER = "X-Hub-Signature"
DELIVERY_HEADER = "X-Atlassian-Webhook-Identifier"
REPLAY_WINDOW = 30 * 60.0  # seconds a delivery stays acceptable after its timestamp
FUTURE_SKEW = 5 * 60.0  # tolerated clock difference the other way
OBJECT_TYPE = "issues"

_ISSUE_ACTIONS = {
    "jira:issue_created": "created",
    "jira:issue_updated": "updated",
    "jira:issue_deleted": "deleted",
    "comment_created": "updated",
    "comment_updated": "updated",
    "comment_deleted": "updated",
}


def sign(body: bytes, secret: str) -> str:
    """The X-Hub-Signature value Jira sends for `body` under `secret`."""
    return hub_signature(body, secret)


def verify(request: WebhookRequest, secret: str) -> None:
    """Check X-Hub-Signature over the raw body (connectors.base.hub_signature_verify)."""
    hub_signature_verify(request, secret, SIGNATURE_HEADER)


def parse(
    request: WebhookRequest, secret: str, *, project_key: str, now: float | None = None
) -> WebhookResult:
    """Verify, then read the events of one delivery (see the module docstring).

    Raises WebhookVerificationError for a bad signature, and, after verification, for a body
    that is not a JSON object or a timestamp that is missing or outside the replay window.
    """
    verify(request, secret)
    try:
        payload = webhook_json(request.body)
    except ValueError:
        raise WebhookVerificationError("the signed body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookVerificationError("the signed body is not a JSON object")
    occurred = _check_timestamp(payload.get("timestamp"), time.time() if now is None else now)
    delivery_id = "sha256:" + hashlib.sha256(request.body).hexdigest()
    action = _ISSUE_ACTIONS.get(str(payload.get("webhookEvent")))
    issue = payload.get("issue")
    if action is None or not isinstance(issue, dict) or issue.get("id") is None:
        return WebhookResult(events=[], delivery_id=delivery_id)
    if not _in_project(issue, project_key):
        return WebhookResult(events=[], delivery_id=delivery_id)
    event = WebhookEvent(OBJECT_TYPE, str(issue["id"]), action, occurred)
    return WebhookResult(events=[event], delivery_id=delivery_id)


def _check_timestamp(value: Any, now: float) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WebhookVerificationError("the delivery has no numeric 'timestamp' to check")
    seconds = value / 1000.0
    age = now - seconds
    if age > REPLAY_WINDOW:
        raise WebhookVerificationError(
            f"stale delivery: sent {age:.0f}s ago, the limit is {REPLAY_WINDOW:.0f}s"
        )
    if age < -FUTURE_SKEW:
        raise WebhookVerificationError(
            f"delivery timestamp is {-age:.0f}s in the future, beyond the allowed clock skew"
        )
    return datetime.fromtimestamp(seconds, UTC)


def _in_project(issue: dict[str, Any], project_key: str) -> bool:
    fields = issue.get("fields")
    project = fields.get("project") if isinstance(fields, dict) else None
    key = project.get("key") if isinstance(project, dict) else None
    if isinstance(key, str):
        return key.upper() == project_key.upper()
    issue_key = issue.get("key")
    # Deleted-issue payloads still carry the key; without either, keep the event (a
    # needless read costs less than a missed change).
    return not isinstance(issue_key, str) or issue_key.upper().startswith(project_key.upper() + "-")
