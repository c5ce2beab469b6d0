"""HubSpot webhook deliveries: `X-HubSpot-Signature-v3` verification, then event parsing.

Reference: HubSpot "Validating requests" (v3 signature) and "Webhooks API" (event payload).

Verification, before anything in the body is trusted:
- both `X-HubSpot-Signature-v3` and `X-HubSpot-Request-Timestamp` (epoch ms) are present;
- the timestamp is no more than five minutes old (and not more than five minutes ahead, to
  tolerate clock skew but not forged future stamps);
- base64(HMAC-SHA256(client secret, method + URI + body + timestamp)) equals the header,
  compared in constant time. The URI is the full delivery URL with HubSpot's listed
  percent-encodings decoded (":", "/", "?", "@", "!", "$", "'", "(", ")", "*", ",", ";").
The legacy v1/v2 `X-HubSpot-Signature` is ignored: it has no timestamp, so no replay window.

The body is a JSON array of events; creation, propertyChange, deletion (and privacyDeletion),
restore and merge events name records. Legacy types ("contact.creation") and generic ones
("object.creation" with `objectTypeId`) are both understood; anything else is ignored.
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

REPLAY_WINDOW_SECONDS = 300
SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
_URI_DECODE = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
OBJECT_BY_NAME = {
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
    "ticket": "tickets",
}
OBJECT_BY_TYPE_ID = {"0-1": "contacts", "0-2": "companies", "0-3": "deals", "0-5": "tickets"}
ACTIONS = {
    "creation": "created",
    "restore": "created",
    "propertyChange": "updated",
    "deletion": "deleted",
    "privacyDeletion": "deleted",
}


def signature_uri(url: str) -> str:
    """The URI as HubSpot signs it: the listed percent-encodings decoded."""
    for encoded, char in _URI_DECODE.items():
        url = url.replace(encoded, char).replace(encoded.lower(), char)
    return url


def sign_v3(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    """The v3 signature HubSpot would send for this request."""
    source = method.upper() + signature_uri(url) + body.decode("utf-8") + timestamp
    digest = hmac.new(secret.encode(), source.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(request: WebhookRequest, secret: str, *, now: float | None = None) -> None:
    """Raise WebhookVerificationError unless the delivery carries a fresh, valid v3 signature."""
    if not secret:
        raise WebhookVerificationError("no HubSpot client secret is configured")
    signature = request.header(SIGNATURE_HEADER)
    timestamp = request.header(TIMESTAMP_HEADER)
    if not signature or not timestamp:
        raise WebhookVerificationError(
            f"unsigned: {SIGNATURE_HEADER} and {TIMESTAMP_HEADER} are required"
        )
    try:
        stamp_ms = int(timestamp.strip())
    except ValueError:
        raise WebhookVerificationError(f"{TIMESTAMP_HEADER} is not a number") from None
    current_ms = (time.time() if now is None else now) * 1000
    age = current_ms - stamp_ms
    if age > REPLAY_WINDOW_SECONDS * 1000:
        raise WebhookVerificationError(f"stale: signed {age / 1000:.0f}s ago (limit 300s)")
    if age < -REPLAY_WINDOW_SECONDS * 1000:
        raise WebhookVerificationError("timestamp is more than 300s in the future")
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError(f"{SIGNATURE_HEADER} is not base64") from None
    try:
        expected = base64.b64decode(
            sign_v3(secret, request.method, request.url, request.body, timestamp.strip())
        )
    except UnicodeDecodeError:
        raise WebhookVerificationError("the body is not UTF-8") from None
    if not hmac.compare_digest(given, expected):
        raise WebhookVerificationError("signature mismatch")


def parse(body: bytes) -> WebhookResult:
    """The records a verified delivery names, and a delivery id built from its eventIds."""
    try:
        events = webhook_json(body)
    except ValueError:
        raise WebhookVerificationError("the body is not JSON") from None
    if not isinstance(events, list):
        raise WebhookVerificationError("expected a JSON array of events")
    out: list[WebhookEvent] = []
    event_ids: list[str] = []
    for event in events:
        if not isinstance(event, dict):
            continue
        if event.get("eventId") is not None:
            event_ids.append(str(event["eventId"]))
        out.extend(_events(event))
    return WebhookResult(events=out, delivery_id=_delivery_id(event_ids))


def _events(event: dict[str, Any]) -> list[WebhookEvent]:
    subscription = str(event.get("subscriptionType", ""))
    prefix, _, change = subscription.partition(".")
    if prefix == "object":
        object_type = OBJECT_BY_TYPE_ID.get(str(event.get("objectTypeId", "")))
    else:
        object_type = OBJECT_BY_NAME.get(prefix)
    if object_type is None:
        return []
    occurred = _occurred(event.get("occurredAt"))
    if change == "merge":
        merged = [
            WebhookEvent(object_type, str(i), "deleted", occurred)
            for i in event.get("mergedObjectIds") or ()
        ]
        primary = event.get("primaryObjectId") or event.get("objectId")
        if primary is not None:
            merged.append(WebhookEvent(object_type, str(primary), "updated", occurred))
        return merged
    action = ACTIONS.get(change)
    if action is None or event.get("objectId") is None:
        return []
    return [WebhookEvent(object_type, str(event["objectId"]), action, occurred)]


def _occurred(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


def _delivery_id(event_ids: list[str]) -> str | None:
    """One id per delivery: the eventId itself, or a digest of all of them for a batch.

    A retried or duplicated delivery carries the same events, so it gets the same id. The
    eventIds are in the signed body, so a replay cannot change them (HubSpot sends no
    delivery id header to trust instead).
    """
    if not event_ids:
        return None
    if len(event_ids) == 1:
        return event_ids[0]
    digest = hashlib.sha256(",".join(sorted(event_ids)).encode()).hexdigest()[:24]
    return f"batch-{len(event_ids)}-{digest}"
