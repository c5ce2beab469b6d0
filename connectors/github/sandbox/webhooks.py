"""The webhooks the GitHub sandbox sends, as a repository webhook does.

Written from GitHub's "Webhook events and payloads" and "Validating webhook deliveries",
apart from connectors/github/webhooks.py, so the connector's verification is checked
against an independent signer: one POST per event with `X-GitHub-Event`,
`X-GitHub-Delivery` (a GUID per event), `X-GitHub-Hook-ID`, the installation target
headers, `X-Hub-Signature` (HMAC-SHA1, legacy) and `X-Hub-Signature-256` (HMAC-SHA256 of
the raw body under the webhook's secret), and a body of `action`, `issue`, `repository`
and `sender` (an `issue_comment` event adds `comment`, and `changes` when edited).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

from connectors.sandbox.core import JSON, Delivery, WebhookTarget

HOOK_ID = "109948940"


def event(
    name: str,
    action: str,
    issue: dict[str, Any],
    repository: dict[str, Any],
    sender: dict[str, Any],
    sequence: int,
    **extra: Any,
) -> dict[str, Any]:
    """One queued event: its name, GUID and payload (built now, as the issue is now);
    `extra` adds keys to the payload (`comment`, `changes`)."""
    guid = str(
        uuid.uuid5(uuid.NAMESPACE_URL, f"{repository['full_name']}:{sequence}:{name}:{action}")
    )
    payload = {
        "action": action,
        "issue": issue,
        **extra,
        "repository": repository,
        "sender": sender,
    }
    return {"event": name, "guid": guid, "payload": payload}


def deliveries(events: list[JSON], target: WebhookTarget) -> list[Delivery]:
    out = []
    for queued in events:
        body = json.dumps(queued["payload"], separators=(",", ":")).encode()
        key = target.secret.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/sandbox",
            "X-GitHub-Event": queued["event"],
            "X-GitHub-Delivery": queued["guid"],
            "X-GitHub-Hook-ID": HOOK_ID,
            "X-GitHub-Hook-Installation-Target-Type": "repository",
            "X-GitHub-Hook-Installation-Target-ID": str(queued["payload"]["repository"]["id"]),
            "X-Hub-Signature": "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
            "X-Hub-Signature-256": "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
        }
        out.append(Delivery(target.url, body, headers, delivery_id=queued["guid"]))
    return out
