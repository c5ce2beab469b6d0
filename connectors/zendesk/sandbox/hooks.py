"""The Zendesk sandbox's Webhooks API: list the webhooks, and test one.

The sandbox's webhooks are the subscriptions registered with POST /_sandbox/webhooks (one
per target URL, each with its own signing secret); this shows them as Zendesk's Webhooks
API shows webhooks, so a client can find the webhook that sends to its URL and ask Zendesk
to test it, as "Send a test event" does in Concord.

From https://developer.zendesk.com/api-reference/webhooks/webhooks-api/webhooks/:
- List Webhooks, GET /api/v2/webhooks: `webhooks`, cursor paging (`page[size]`,
  `page[after]`, `meta.has_more`, `links.next`).
- Test Webhook, POST /api/v2/webhooks/test[?webhook_id=]: "Tests a new or existing webhook.
  When testing an existing webhook, the existing webhook data will be attached
  automatically as part of the outbound test request." The sandbox sends one request,
  signed with the existing webhook's secret, and answers with what the endpoint answered.
  The request object is read from `webhook` (as clients generated from Zendesk's OpenAPI
  description send it) or `request`; its `payload` is the body to send (a JSON object by
  default). The answer is `response` with the endpoint's `status`, `headers` and `body`,
  as the reference's example shows it.
Not emulated: creating, changing or deleting webhooks through this API, the separate
signing-secret endpoints, and the admin-only permission (any sandbox agent may call these).
"""

from __future__ import annotations

import json
from typing import Any

from connectors.sandbox.core import HttpError, Request, Response, route
from connectors.zendesk.sandbox import webhooks
from connectors.zendesk.sandbox.schema import iso
from connectors.zendesk.sandbox.views import zendesk_error

PAGE_DEFAULT = 100


class WebhookRoutes:
    """Mixed into ZendeskSandbox (which provides `context`)."""

    context: Any

    @route("GET", "/api/v2/webhooks.json")
    def webhooks_list(self, request: Request) -> Response:
        """List Webhooks (cursor paging, ordered by id)."""
        created = iso(self.context.now())
        hooks = sorted(
            (webhooks.webhook_json(t, created) for t in self.context.webhook_targets()),
            key=lambda hook: hook["id"],
        )
        try:
            size = max(1, min(PAGE_DEFAULT, int(request.arg("page[size]") or PAGE_DEFAULT)))
        except ValueError:
            raise HttpError(
                zendesk_error(400, "InvalidValue", "page[size] must be a number")
            ) from None
        after = request.arg("page[after]")
        if after:
            hooks = [hook for hook in hooks if hook["id"] > after]
        page, more = hooks[:size], len(hooks) > size
        last = page[-1]["id"] if page else None
        next_link = (
            f"{request.base_url}/api/v2/webhooks?page[size]={size}&page[after]={last}"
            if more
            else None
        )
        return Response.json(
            200,
            {
                "webhooks": page,
                "meta": {
                    "has_more": more,
                    "after_cursor": last if more else None,
                    "before_cursor": page[0]["id"] if page else None,
                },
                "links": {"next": next_link, "prev": None},
            },
        )

    @route("POST", "/api/v2/webhooks/test.json")
    def webhook_test(self, request: Request) -> Response:
        """Test Webhook: one request to the webhook's endpoint, answered with its answer."""
        data = request.json() if request.body.strip() else {}
        spec = (data.get("webhook") or data.get("request") or {}) if isinstance(data, dict) else {}
        if not isinstance(spec, dict):
            spec = {}
        webhook_id = request.arg("webhook_id")
        secret = None
        endpoint = spec.get("endpoint")
        if webhook_id:
            target = next(
                (
                    t
                    for t in self.context.webhook_targets()
                    if webhooks.webhook_id(t.url) == webhook_id
                ),
                None,
            )
            if target is None:
                return zendesk_error(404, "RecordNotFound", f"No webhook {webhook_id}")
            endpoint, secret = target.url, target.secret
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            return zendesk_error(400, "InvalidValue", "endpoint must be an http(s) URL")
        payload = spec.get("payload")
        body = (payload if isinstance(payload, str) else json.dumps(payload or {})).encode()
        delivery = webhooks.test_delivery(endpoint, secret, body, self.context.now())
        status = self.context.deliver_now(delivery)
        answer: dict[str, Any] = {"status": status, "headers": [], "body": ""}
        return Response.json(200, {"response": answer})
