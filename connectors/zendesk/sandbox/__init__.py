"""A stateful emulator of the Zendesk Support API, served under /zendesk by connectors.sandbox.

What it reproduces, each from Zendesk's public reference (named per endpoint in the route
modules):

- Auth: Basic `{email}/token:{api_token}` for an active agent or admin, or `Bearer {oauth}`;
  anything else answers 401 {"error": "Couldn't authenticate you"}.
- Tickets, users and organizations with Zendesk's JSON shapes, custom ticket fields as
  `custom_fields: [{id, value}]` (every active field listed, numbers answered as strings),
  user and organization fields as `user_fields` / `organization_fields` maps.
- Every endpoint Zendesk documents for reading and writing those records: show, show_many
  (by ids or external ids), list (cursor pages), count, create, update (tickets with
  `safe_update`), delete, create-or-update, the `*_many` writes as background jobs with
  per-item results in /api/v2/job_statuses/{id}, ticket comments, deleted tickets (list,
  restore, delete permanently) and deleted users, search.
- Validation as 422 {"error": "RecordInvalid", "description": "Record validation errors",
  "details": {field: [{"description", "error"}]}}; closed tickets refuse updates.
- The cursor-based incremental exports of tickets and users and the time-based exports of
  all three, with the export lag (items changed in the last minute are held back and a
  `start_time` within it is refused with Zendesk's 422 "Too recent start_time") and the
  limit of 10 export requests per minute (429 with Retry-After). Deleted tickets are kept
  as `status: "deleted"` tombstones that only the exports and the deleted list show.
- Paging links (`links.next`, `next_page`, `after_url`) and record `url`s on the sandbox
  itself, as the request reached it.
- Event-subscription webhooks (`zen:event-type:ticket.created`...), one delivery per event,
  signed by webhooks.py from Zendesk's documentation, apart from the connector's code.

Switches (PUT /_sandbox/settings {"zendesk": {...}}): `export_lag_seconds` (default 60),
`export_rate_limit` ([requests, window seconds], default [10, 60], applied to rate windows
created afterwards: every seed/reset starts new ones), `job_polls` (polls that still see a
job "working", default 1), `jobs_held` (true: background jobs stay queued and do nothing
until it is set back to false, which does their work in order; default false). A reset
(and so every seed) restores these defaults.

Layout: schema.py (types, fields, custom values), validation.py (building and checking
records), state.py (records on the shared RecordTable, jobs, seed), query.py (search
syntax), views.py (JSON and request helpers), routes.py (one record), bulk.py (many
records, jobs), exports.py (lists, exports, search, deleted records), webhooks.py.
"""

from __future__ import annotations

from typing import Any

from connectors.sandbox.contract import ContractCase
from connectors.zendesk.sandbox.routes import ZendeskSandbox
from connectors.zendesk.sandbox.schema import ADMIN_EMAIL, API_TOKEN, OAUTH_TOKEN
from connectors.zendesk.sandbox.state import connection_config

SANDBOX = ZendeskSandbox

__all__ = ["ADMIN_EMAIL", "API_TOKEN", "OAUTH_TOKEN", "SANDBOX", "ZendeskSandbox", "contract"]


def contract() -> ContractCase:
    """Zendesk's facts for the shared contract suite: tickets, API token auth."""

    def bad_config(base_url: str) -> dict[str, Any]:
        return {**connection_config(base_url), "api_token": "not-the-token"}

    def new_record(n: int) -> dict[str, Any]:
        return {
            "subject": f"Contract ticket {n}",
            "description": f"Created by the contract suite, number {n}.",
            "priority": "normal",
            "tags": f"contract n{n}",
        }

    def update(n: int) -> dict[str, Any]:
        return {
            "subject": f"Contract ticket {n} (updated)",
            "priority": "high",
            "status": "pending",
        }

    return ContractCase(
        object_type="tickets",
        config=connection_config,
        bad_config=bad_config,
        new_record=new_record,
        invalid_record=lambda: {
            "subject": "No such status",
            "description": "x",
            "status": "escalated",
        },
        update=update,
        # What the connector promises: a signature timestamp more than five minutes away
        # is refused (Zendesk signs the timestamp; it sets no window of its own).
        stale_after=300.0,
        # No closed tickets: the suite updates records it picks by position, and a closed
        # ticket refuses updates (tests/connectors/test_zendesk.py covers that).
        seed_counts={"tickets": 12, "users": 10, "organizations": 3, "closed_tickets": 0},
        # The contract suite reads right after it writes; the lag has its own tests.
        sandbox_settings={"export_lag_seconds": 0},
        write_method="POST",
    )
