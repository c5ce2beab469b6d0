"""A Jira Cloud site with one software project, emulated for tests and the demo.

Served under /jira by connectors.sandbox. Paths, payloads and errors follow Atlassian's
OpenAPI description of the platform REST API v3 (../shared/vendor-specs/jira/
swagger-v3.v3.json; every request and response the tests make is validated against it),
and each handler names its operation id. What it emulates:

- Basic auth with an account email and API token (401 otherwise), the account's time zone.
- Fields (/field and the paged /field/search), create metadata per issue type with required
  flags and allowed values, edit metadata per issue, project statuses, users.
- Issues with Jira's field shapes: ADF rich text, option objects, users by accountId,
  timestamps like "2025-11-03T09:15:02.417+1100" in the account's zone.
- Enhanced search (/search/jql, GET and POST, and the approximate count) over a subset of
  JQL (query.py). Unbounded queries, unknown fields and values, and keys that do not exist
  are refused with 400, as Jira does. Pages follow `nextPageToken` (a keyset position, so
  writes between pages never shift a record past the reader; expires after 7 days like
  Jira's) and `isLast`.
- Bulk fetch, bulk create (50 per call, per-element errors with failedElementNumber), create,
  edit (status refused as a field), assign, delete, comments (list, add, read, edit,
  delete; ADF bodies), the change history (per issue, paged with `nextPage` on the sandbox,
  and in bulk), and the workflow To Do -> In Progress -> Done (transitions 11 "Start
  Progress", 21 "Stop Progress", 31 "Done", 41 "Reopen").
- Errors as {"errorMessages": [...], "errors": {field: message}}; 429 with Retry-After,
  X-RateLimit-* and RateLimit-Reason; admin webhooks signed with X-Hub-Signature by
  webhooks.py, apart from the connector's verification.

Layout: schema.py (the site: project, workflow, fields), documents.py (ADF, the sandbox's
own), state.py (issues on the shared RecordTable, users, seed), beans.py (Jira's JSON),
query.py (JQL), views.py (errors, paging), routes.py (account, fields, users, search),
issues.py (issue endpoints), webhooks.py.
"""

from __future__ import annotations

from typing import Any

from connectors.jira.sandbox.routes import JiraSandbox
from connectors.jira.sandbox.schema import SANDBOX_EMAIL, SANDBOX_TOKEN
from connectors.jira.sandbox.state import connection_config
from connectors.sandbox.contract import ContractCase

SANDBOX = JiraSandbox

__all__ = ["SANDBOX", "SANDBOX_EMAIL", "SANDBOX_TOKEN", "JiraSandbox", "contract"]


def contract() -> ContractCase:
    """The Jira facts the shared contract suite needs (tests/connectors/test_contract.py)."""

    def bad_config(base_url: str) -> dict[str, Any]:
        return {**connection_config(base_url), "api_token": "revoked-token"}

    def new_record(n: int) -> dict[str, Any]:
        return {
            "summary": f"Contract check {n}: export stalls at 99%",
            "description": f"Reported by account {n}.\n\n- Browser: Firefox\n- Plan: Business",
            "priority": "High",
            "labels": [f"contract-{n}"],
        }

    def invalid_record() -> dict[str, Any]:
        return {"summary": "Refused: no such priority", "priority": "Catastrophic"}

    def update(n: int) -> dict[str, Any]:
        return {
            "summary": f"Contract check {n}: updated",
            "description": f"Updated text {n}.\n\n1. First\n2. Second",
            "priority": "Low",
            "labels": [f"updated-{n}"],
        }

    return ContractCase(
        object_type="issues",
        config=connection_config,
        bad_config=bad_config,
        new_record=new_record,
        invalid_record=invalid_record,
        update=update,
        # What the connector promises: Jira's signature carries no time, so a delivery is
        # refused 30 minutes after the timestamp in its payload.
        stale_after=30 * 60.0,
        seed_counts={"issues": 12},
        write_method="POST",
    )
