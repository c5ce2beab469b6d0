"""The webhooks the Pipedrive sandbox sends: v2 events, authenticated with HTTP Basic.

Written from Pipedrive's "Guide for Webhooks v2", apart from connectors/pipedrive/
webhooks.py: one POST per event, the JSON body {meta, data, previous}, and no signature.
Pipedrive sends the HTTP Basic credentials set when the webhook was registered
(`http_auth_user`, `http_auth_password`); for a subscription registered through
/_sandbox/webhooks the user is "concord" and the password the subscription's secret.
"""

from __future__ import annotations

import base64
import json

from connectors.pipedrive.sandbox.schema import WEBHOOK_USER
from connectors.sandbox.core import JSON, Delivery, WebhookTarget


def deliveries(events: list[JSON], target: WebhookTarget) -> list[Delivery]:
    credentials = base64.b64encode(f"{WEBHOOK_USER}:{target.secret}".encode()).decode()
    out = []
    for event in events:
        body = json.dumps(event, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Pipedrive Webhooks",
            "Authorization": f"Basic {credentials}",
        }
        out.append(Delivery(target.url, body, headers, delivery_id=event["meta"]["id"]))
    return out
