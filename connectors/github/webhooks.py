"""GitHub repository (or organization, or App) webhooks: verification and event parsing.

What GitHub documents ("Validating webhook deliveries", "Webhook events and payloads"):

- With a secret set, each delivery carries `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of
  the raw body under the secret>` (and the legacy SHA-1 `X-Hub-Signature`, ignored here).
  It is compared in constant time before anything in the body is read.
- `X-GitHub-Event` names the event (`issues`, `issue_comment`, `ping`, ...), the payload's
  `action` what happened (`opened`, `edited`, `closed`, `deleted`, `transferred`, ...), and
  `X-GitHub-Delivery` is a GUID per event (a redelivery keeps it).
- The signature covers the body only, with no timestamp, and the headers are not signed.
  So no replay window can be enforced from the delivery; the delivery id is the SHA-256 of
  the signed body instead of the unsigned GUID header: a redelivery of the same event (the
  same body) is deduplicated by the inbox, and a captured delivery replayed under a fresh
  GUID is deduplicated too. A replay outside the inbox's memory only makes Concord read the
  named issue again, which changes nothing. The GUID is kept with the delivery's headers.

Events: `issues` names its issue (`deleted` and `transferred` as deleted: the issue is no
longer this repository's); `issue_comment` (`created`, `edited`, `deleted`) names the issue
it is on as updated, at the comment's `updated_at` (a deletion at no time: an edit or a
deletion need not move the issue's `updated_at`, so that time would read as an echo);
`ping` (sent when a webhook is created) and every other event are accepted and name
nothing. Pull requests (an `issue_comment` on one carries
`issue.pull_request`) and repositories outside the connection are ignored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from datetime import UTC, datetime

from connectors.base import (
    WebhookEvent,
    WebhookRequest,
    WebhookResult,
    hub_signature,
    hub_signature_verify,
    webhook_json,
)
from connectors.errors import WebhookVerificationError

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"
OBJECT_TYPE = "issues"

_ISSUE_ACTIONS_DELETED = frozenset({"deleted", "transferred"})
_ISSUE_ACTION_CREATED = "opened"


def sign(body: bytes, secret: str) -> str:
    """The X-Hub-Signature-256 value GitHub sends for `body` under `secret`."""
    return hub_signature(body, secret)


def verify(request: WebhookRequest, secret: str) -> None:
    """Check X-Hub-Signature-256 over the raw body (connectors.base.hub_signature_verify)."""
    hub_signature_verify(request, secret, SIGNATURE_HEADER)


def parse(request: WebhookRequest, secret: str, *, repositories: Collection[str]) -> WebhookResult:
    """Verify, then read the issue a delivery names (see the module docstring).

    `repositories` are the connection's "owner/repo" names; the record id uses the
    configured spelling. Raises WebhookVerificationError for a bad signature and, after
    verification, for a body that is not a JSON object.
    """
    verify(request, secret)
    try:
        payload = webhook_json(request.body)
    except ValueError:
        raise WebhookVerificationError("the signed body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookVerificationError("the signed body is not a JSON object")
    delivery_id = "sha256:" + hashlib.sha256(request.body).hexdigest()
    result = WebhookResult(events=[], delivery_id=delivery_id)
    event = (request.header(EVENT_HEADER) or "").strip().lower()
    if event not in ("issues", "issue_comment"):
        return result  # ping and everything else: acknowledged, nothing to read
    issue = payload.get("issue")
    repository = payload.get("repository")
    if not isinstance(issue, dict) or not isinstance(repository, dict):
        return result
    number = issue.get("number")
    full_name = repository.get("full_name")
    if isinstance(number, bool) or not isinstance(number, int) or not isinstance(full_name, str):
        return result
    if issue.get("pull_request") is not None:
        return result
    configured = {name.casefold(): name for name in repositories}
    repo = configured.get(full_name.casefold())
    if repo is None:
        return result
    action = str(payload.get("action") or "")
    if event == "issues" and action in _ISSUE_ACTIONS_DELETED:
        kind = "deleted"
    elif event == "issues" and action == _ISSUE_ACTION_CREATED:
        kind = "created"
    else:
        kind = "updated"
    if event == "issue_comment":
        occurred = _comment_occurred(payload.get("comment"), action)
    else:
        occurred = _occurred(issue, kind)
    result.events.append(WebhookEvent(OBJECT_TYPE, f"{repo}#{number}", kind, occurred))
    return result


def _comment_occurred(comment: object, action: str) -> datetime | None:
    """When a comment event happened: the comment's `updated_at` for a new or edited one.
    Not the issue's `updated_at`, which an edit or a deletion need not move: that time
    would make the event look like an echo of what Concord last stored. A deletion has
    no time of its own (None: never taken for an echo)."""
    if action == "deleted" or not isinstance(comment, dict):
        return None
    return _parse(comment.get("updated_at"))


def _occurred(issue: dict, kind: str) -> datetime | None:
    # A deletion does not touch `updated_at`; only changes carry their own time.
    return _parse(issue.get("updated_at") if kind != "deleted" else None)


def _parse(stamp: object) -> datetime | None:
    if not isinstance(stamp, str):
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None
