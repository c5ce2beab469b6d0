"""The webhooks the HubSpot sandbox sends: its events and their signatures.

Written from HubSpot's documentation ("Webhooks API", "Validating requests"), apart from
connectors/hubspot/webhooks.py, so that the connector's verification is checked against an
independent signer (and the other way round):

- a POST carries a JSON array of up to 100 events;
- `X-HubSpot-Signature-v3` is base64(HMAC-SHA256(client secret, method + URI + body +
  timestamp)), where the URI is the target URL with the documented percent-escapes decoded
  and the timestamp is `X-HubSpot-Request-Timestamp`, epoch milliseconds;
- the legacy `X-HubSpot-Signature` (v1) is hex(SHA-256(client secret + body)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from connectors.hubspot.sandbox.schema import APP_ID, OBJECTS, PORTAL_ID
from connectors.sandbox.core import JSON, Delivery, WebhookTarget
from connectors.sandbox.records import Row

EVENTS_PER_REQUEST = 100
# The characters "Validating requests" says to decode in the URI before signing.
URI_DECODE = {
    "%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'",
    "%28": "(", "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";",
}  # fmt: skip
# Subscription ids per (object type, change) in the sandbox's app.
_CHANGES = ("creation", "propertyChange", "deletion", "merge", "privacyDeletion")


def events(
    object_type: str,
    row: Row,
    change: str,
    changed: dict[str, str],
    *,
    merged_ids: list[int] | None = None,
    moved: int = 0,
) -> list[dict[str, Any]]:
    """The events one change makes (eventId is added by the caller, in emission order).

    creation, deletion and privacyDeletion name the record; propertyChange makes one event
    per changed property; merge names the primary and the merged ids.
    """
    singular = OBJECTS[object_type][0]
    base = {
        "objectId": row.id,
        "occurredAt": int(row.modified),
        "changeSource": "API",
        "portalId": PORTAL_ID,
        "appId": APP_ID,
        "subscriptionId": 400_000 + list(OBJECTS).index(object_type) * 10 + _CHANGES.index(change),
        "attemptNumber": 0,
        "subscriptionType": f"{singular}.{change}",
    }
    if change == "creation":
        return [{**base, "changeFlag": "CREATED"}]
    if change in ("deletion", "privacyDeletion"):
        return [{**base, "changeFlag": "DELETED", "occurredAt": int(row.deleted or row.modified)}]
    if change == "merge":
        return [
            {
                **base,
                "primaryObjectId": row.id,
                "mergedObjectIds": list(merged_ids or ()),
                "newObjectId": row.id,
                "numberOfPropertiesMoved": moved,
            }
        ]
    return [
        {**base, "propertyName": name, "propertyValue": value} for name, value in changed.items()
    ]


def signature_uri(url: str) -> str:
    """The target URL as it enters the v3 signature."""
    for encoded, char in URI_DECODE.items():
        url = url.replace(encoded, char).replace(encoded.lower(), char)
    return url


def sign_v3(secret: str, method: str, url: str, body: bytes, timestamp: str) -> str:
    source = method + signature_uri(url) + body.decode() + timestamp
    digest = hmac.new(secret.encode(), source.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def sign_v1(secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


def deliveries(events_: list[JSON], target: WebhookTarget, now: float) -> list[Delivery]:
    """Batches of up to 100 events to `target`, signed v3 (and legacy v1) with its secret."""
    out = []
    for start in range(0, len(events_), EVENTS_PER_REQUEST):
        chunk = events_[start : start + EVENTS_PER_REQUEST]
        body = json.dumps(chunk, separators=(",", ":")).encode()
        timestamp = str(int(now * 1000))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
            "X-HubSpot-Signature-v3": sign_v3(target.secret, "POST", target.url, body, timestamp),
            "X-HubSpot-Request-Timestamp": timestamp,
            "X-HubSpot-Signature": sign_v1(target.secret, body),
            "X-HubSpot-Signature-Version": "v1",
            "X-HubSpot-Timeout-Millis": "10000",
        }
        ids = ",".join(str(e["eventId"]) for e in chunk)
        out.append(Delivery(target.url, body, headers, delivery_id=ids))
    return out
