"""Zendesk webhook signatures and payloads.

Signature (https://developer.zendesk.com/documentation/webhooks/verifying/):
`X-Zendesk-Webhook-Signature` is base64(HMAC-SHA256(signing secret, TIMESTAMP + BODY)), where
TIMESTAMP is the `X-Zendesk-Webhook-Signature-Timestamp` header exactly as sent (Zendesk sends
ISO 8601, "2024-05-01T10:00:00Z") and BODY the raw bytes (empty for GET/DELETE webhooks). The
secret is used as the UTF-8 bytes of the string Zendesk shows, not base64-decoded. Zendesk
calls verification optional; Concord always requires it, compares in constant time, and
refuses a timestamp more than REPLAY_WINDOW seconds away from now (either direction).

Payloads. A Zendesk webhook carries whatever its trigger's JSON body defines, so Concord
documents one (docs/connectors.md, "Zendesk"); the recommended trigger body is

    {"ticket_id": "{{ticket.id}}", "event": "updated",
     "updated_at": "{{ticket.updated_at_with_timestamp}}"}

(`user_id` or `organization_id` instead of `ticket_id` for user and organization triggers;
`event` one of "created", "updated", "deleted", default "updated"). Webhooks subscribed to
Zendesk events (https://developer.zendesk.com/api-reference/webhooks/event-types/) are
understood too: `type` such as "zen:event-type:ticket.status_changed", the record id in
`detail.id`, the delivery id in `id`, the time in `time`. Event types of other objects are
accepted and ignored.

Deduplication keys come from signed content only: the event's `id` (inside the signed body)
for event subscriptions, a digest of timestamp + body otherwise. The
`X-Zendesk-Webhook-Invocation-Id` header is not signed, so it is never the key. A retry that
Zendesk signs anew (a new timestamp) is then stored once more and processed again, which is
harmless: processing reads the records' current state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from datetime import UTC, datetime
from typing import Any

from connectors.base import WebhookEvent, WebhookRequest, WebhookResult, webhook_json
from connectors.errors import WebhookVerificationError
from connectors.zendesk.mappers import parse_time

SIGNATURE_HEADER = "X-Zendesk-Webhook-Signature"
TIMESTAMP_HEADER = "X-Zendesk-Webhook-Signature-Timestamp"
INVOCATION_HEADER = "X-Zendesk-Webhook-Invocation-Id"
REPLAY_WINDOW = 300.0  # seconds either side of now

EVENT_TYPE_PREFIX = "zen:event-type:"
_EVENT_OBJECTS = {"ticket": "tickets", "user": "users", "organization": "organizations"}
_ID_KEYS = {"ticket_id": "tickets", "user_id": "users", "organization_id": "organizations"}
_DELETED_EVENTS = frozenset({"deleted", "soft_deleted", "permanently_deleted"})
_ACTIONS = frozenset({"created", "updated", "deleted"})


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature Zendesk sends for `body` signed at `timestamp` with `secret`."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def format_timestamp(ts: float) -> str:
    """A signature timestamp as Zendesk writes it: ISO 8601 UTC to the second."""
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def signed_headers(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The two signature headers for a delivery of `body` (for the sandbox and tests)."""
    timestamp = format_timestamp(time.time() if now is None else now)
    return {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        TIMESTAMP_HEADER: timestamp,
    }


def _timestamp_seconds(value: str) -> float:
    text = value.strip()
    if text.isdigit():  # tolerate Unix seconds as well as Zendesk's ISO 8601
        return float(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise WebhookVerificationError(f"unreadable signature timestamp {text[:40]!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def verify(
    request: WebhookRequest,
    secret: str,
    *,
    now: float | None = None,
    window: float = REPLAY_WINDOW,
) -> None:
    """Check the signature and the replay window; raise WebhookVerificationError if either fails.

    Nothing in the body is read before the signature matches.
    """
    if not secret:
        raise WebhookVerificationError("no signing secret is configured for this connection")
    signature = request.header(SIGNATURE_HEADER)
    timestamp = request.header(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise WebhookVerificationError(
            f"unsigned delivery: {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required"
        )
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("the signature is not base64") from None
    expected = hmac.new(secret.encode(), timestamp.encode() + request.body, hashlib.sha256).digest()
    if not hmac.compare_digest(given, expected):
        raise WebhookVerificationError("the signature does not match the body")
    current = time.time() if now is None else now
    age = current - _timestamp_seconds(timestamp)
    if abs(age) > window:
        raise WebhookVerificationError(
            f"stale delivery: signed {age:.0f}s from now, outside the {window:.0f}s window"
        )


def _record_id(value: Any) -> str:
    text = str(value).strip() if isinstance(value, int | str) else ""
    if not text.isdigit():
        raise WebhookVerificationError(f"malformed record id {str(value)[:40]!r} in the payload")
    return text


def _event_subscription(data: dict[str, Any]) -> list[WebhookEvent]:
    kind = str(data.get("type", ""))[len(EVENT_TYPE_PREFIX) :]
    noun, _, verb = kind.partition(".")
    object_type = _EVENT_OBJECTS.get(noun)
    if object_type is None:
        return []  # other Zendesk objects (articles, chats...): accepted and ignored
    detail = data.get("detail")
    if not isinstance(detail, dict) or "id" not in detail:
        raise WebhookVerificationError(f"{data.get('type')} event without detail.id")
    if verb == "created":
        action = "created"
    elif verb in _DELETED_EVENTS:
        action = "deleted"
    else:
        action = "updated"
    return [
        WebhookEvent(
            object_type=object_type,
            record_id=_record_id(detail["id"]),
            action=action,
            occurred_at=_time_or_none(data.get("time")),
        )
    ]


def _trigger_body(data: dict[str, Any]) -> list[WebhookEvent]:
    action = str(data.get("event") or "updated").rsplit(".", 1)[-1]
    if action not in _ACTIONS:
        action = "updated"
    occurred = _time_or_none(data.get("updated_at"))
    return [
        WebhookEvent(object_type, _record_id(data[key]), action, occurred)
        for key, object_type in _ID_KEYS.items()
        if data.get(key) not in (None, "")
    ]


def _time_or_none(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_time(value.replace(" ", "T", 1) if "T" not in value else value)
    except ValueError:
        return None  # a display-formatted placeholder; the time is only a hint


def signed_digest(request: WebhookRequest) -> str:
    """The delivery id of a trigger webhook: a digest of exactly what the signature covers
    (timestamp + body). The invocation id header is not signed, so a replay of a captured
    delivery inside the window could carry a fresh one and pass as new."""
    timestamp = (request.header(TIMESTAMP_HEADER) or "").encode()
    return "sha256:" + hashlib.sha256(timestamp + request.body).hexdigest()


def parse(request: WebhookRequest) -> WebhookResult:
    """The records a verified delivery names. Call only after verify()."""
    delivery_id = signed_digest(request)
    if not request.body.strip():
        return WebhookResult(events=[], delivery_id=delivery_id)
    try:
        data = webhook_json(request.body)
    except (UnicodeDecodeError, ValueError):
        raise WebhookVerificationError("the body is not JSON") from None
    if not isinstance(data, dict):
        raise WebhookVerificationError("the body is not a JSON object")
    if str(data.get("type", "")).startswith(EVENT_TYPE_PREFIX):
        event_id = data.get("id")
        return WebhookResult(
            events=_event_subscription(data),
            delivery_id=str(event_id) if event_id else delivery_id,
        )
    return WebhookResult(events=_trigger_body(data), delivery_id=delivery_id)


def parse_webhook(
    request: WebhookRequest, secret: str, *, now: float | None = None
) -> WebhookResult:
    """Verify, then parse. Raises WebhookVerificationError before parsing if unverified."""
    verify(request, secret, now=now)
    return parse(request)


def test_answer_status(answer: Any) -> int | None:
    """The status the endpoint gave a Test Webhook request, from Zendesk's answer.

    Zendesk's reference shows the endpoint's answer as `response` (`status`, `headers`,
    `body`); clients generated from its OpenAPI description read `test` (`response_code`,
    `status`, `message`). Both are read. None when the answer names no status (Zendesk
    could not reach the endpoint).
    """
    if not isinstance(answer, dict):
        return None
    for outer, inner in (("response", "status"), ("test", "response_code")):
        part = answer.get(outer)
        value = part.get(inner) if isinstance(part, dict) else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None
