"""Pipedrive webhook deliveries (v2): HTTP Basic verification, then event parsing.

Pipedrive signs nothing. A webhook is registered (POST /v1/webhooks) with
`http_auth_user` and `http_auth_password`, and Pipedrive sends them as HTTP Basic
credentials on every delivery. What verification can mean here:

- The credentials prove that the sender knows them, nothing more: the body is not bound
  to them, so anyone who holds them (or reads one delivery in clear) can send any body.
  Deliveries must therefore come over HTTPS, and the password be a long random secret
  (Concord generates one per connection and stores it encrypted).
- Both the user name and the password are compared in constant time, both always, so the
  timing of a refusal does not tell which one was wrong.
- There is no signed timestamp, so no replay window: a replay of a genuine delivery is
  stored as the same delivery (its event id, `meta.id`, is the delivery id) and processed
  once. A delivery never carries data Concord writes: it only names records, which the
  connector then reads through the API, so a forged delivery can at worst cause a read.

The body is {meta, data, previous} ("Guide for Webhooks v2"): `meta.action` create, change
or delete; `meta.entity` person or organization; `meta.entity_id`; `meta.id` the event.
A merge arrives as a delete of the merged record (meta.merged_to_id) and a change of the
one kept. Other entities and v1-format bodies are accepted and ignored.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from datetime import UTC, datetime
from typing import Any

from connectors.base import WebhookEvent, WebhookRequest, WebhookResult, webhook_json
from connectors.errors import WebhookVerificationError

OBJECTS = {"person": "persons", "organization": "organizations"}
ACTIONS = {"create": "created", "change": "updated", "delete": "deleted"}


def basic_credentials(header: str | None) -> tuple[bytes, bytes]:
    """(user, password) of an `Authorization: Basic` header; raises when there is none."""
    if not header:
        raise WebhookVerificationError("no HTTP Basic credentials (Authorization header)")
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise WebhookVerificationError("the Authorization header is not HTTP Basic")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("the Basic credentials are not base64") from None
    user, colon, password = decoded.partition(b":")
    if not colon:
        raise WebhookVerificationError("the Basic credentials have no user:password form")
    return user, password


def verify(request: WebhookRequest, user: str, password: str) -> None:
    """Raise WebhookVerificationError unless the delivery carries exactly these Basic
    credentials (compared in constant time)."""
    if not password:
        raise WebhookVerificationError("no webhook password is configured for this connection")
    given_user, given_password = basic_credentials(request.header("Authorization"))
    user_ok = hmac.compare_digest(given_user, user.encode())
    password_ok = hmac.compare_digest(given_password, password.encode())
    if not (user_ok & password_ok):
        raise WebhookVerificationError("wrong HTTP Basic credentials")


def parse(body: bytes) -> WebhookResult:
    """The record a verified v2 delivery names, and its event id as the delivery id."""
    try:
        payload = webhook_json(body)
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookVerificationError("expected a JSON object")
    meta = payload.get("meta")
    if not isinstance(meta, dict) or str(meta.get("version", "")) != "2.0":
        return WebhookResult(events=[])  # v1 or unknown format: accepted, ignored
    delivery_id = str(meta["id"]) if meta.get("id") else None
    object_type = OBJECTS.get(str(meta.get("entity", "")))
    action = ACTIONS.get(str(meta.get("action", "")))
    entity_id = meta.get("entity_id")
    if object_type is None or action is None or entity_id in (None, ""):
        return WebhookResult(events=[], delivery_id=delivery_id)
    event = WebhookEvent(object_type, str(entity_id), action, _occurred(meta.get("timestamp")))
    return WebhookResult(events=[event], delivery_id=delivery_id)


def _occurred(value: Any) -> datetime | None:
    """`meta.timestamp`: ISO 8601 in the guide's example, "10 character timestamp" in its
    table; both are read."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        if value.isdigit():
            return datetime.fromtimestamp(int(value), UTC)
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return None
