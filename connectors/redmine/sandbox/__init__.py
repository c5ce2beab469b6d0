"""A Redmine 5.0 server with two projects, emulated for tests and the demo.

Served under /redmine by connectors.sandbox. Redmine publishes no OpenAPI description; the
sandbox follows its REST API reference and, where the reference is silent, what a real
Redmine 5.0 does (tests/connectors/redmine/ run the same contract suite against both, and
every difference found was fixed here). What it emulates:

- API keys in `X-Redmine-API-Key` (or `?key=`): an administrator's (ADMIN_KEY) and a
  developer's (DEVELOPER_KEY, a member of sync-test with Redmine's default Developer
  workflow, who may not read custom field definitions or see other users' emails).
- Projects `sync-test` (id 1, trackers Bug, Feature, Support) and `archive` (id 2), the
  default statuses and priorities, issue custom fields (string, list, int, multiple list).
- GET /issues.json with Redmine's filters, sort, `limit` capped at 100 and `offset`, open
  issues only without `status_id`, and `updated_on>=T` meaning "after T minus one second";
  issues with whole-second timestamps in answers and fractions kept.
- POST (201), PUT (204, no body), DELETE (204, then 404, no tombstone); 422
  {"errors": [...]} with Redmine's messages; a forbidden or unknown status and a tracker not
  enabled for the project ignored without an error; CRLF descriptions.
- Journals: an update's notes (`private_notes` too) and changes of standard fields, read
  with GET /issues/{id}.json?include=journals; PUT /journals/{id}.json edits a journal's
  notes without stamping the issue, and blank notes delete a journal without changes.
- No rate limits and no webhooks (Redmine has neither).

Layout: state.py (the server, the issues, validation, JSON), routes.py (the endpoints).
"""

from __future__ import annotations

from typing import Any

from connectors.redmine.sandbox.routes import RedmineSandbox, connection_config
from connectors.redmine.sandbox.state import ADMIN_KEY, DEVELOPER_KEY
from connectors.sandbox.contract import ContractCase

SANDBOX = RedmineSandbox

__all__ = ["ADMIN_KEY", "DEVELOPER_KEY", "SANDBOX", "RedmineSandbox", "contract"]


def contract() -> ContractCase:
    """The Redmine facts the shared contract suite needs (tests/connectors/test_contract.py)."""

    def bad_config(base_url: str) -> dict[str, Any]:
        return {**connection_config(base_url), "api_key": "revoked-key"}

    def new_record(n: int) -> dict[str, Any]:
        return {
            "subject": f"Contract check {n}: export stalls at 99%",
            "description": f"Reported by account {n}.\n\nBrowser: Firefox",
            "priority": "High",
            "cf_1": f"Customer {n}",
        }

    def invalid_record() -> dict[str, Any]:
        return {"subject": "Refused: no such severity", "cf_2": "Catastrophic"}

    def update(n: int) -> dict[str, Any]:
        return {
            "subject": f"Contract check {n}: updated",
            "description": f"Updated text {n}.\n\n1. First\n2. Second",
            "priority": "Low",
            "status": "In Progress",
            "cf_2": "Major",
        }

    return ContractCase(
        object_type="issues",
        config=connection_config,
        bad_config=bad_config,
        new_record=new_record,
        invalid_record=invalid_record,
        update=update,
        stale_after=None,
        seed_counts={"issues": 12},
        write_method="POST",
    )
