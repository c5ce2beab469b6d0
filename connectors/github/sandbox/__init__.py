"""GitHub's REST API for issues, emulated for tests and the demo.

Served under /github by connectors.sandbox. Paths, payloads and errors follow GitHub's
OpenAPI description (../shared/vendor-specs/github/api.github.com.json; every request and
response the tests make is validated against it). What it emulates:

- Bearer tokens with three permission levels (Issues read and write, Issues read only,
  Metadata only; schema.TOKENS), 401 "Bad credentials" otherwise; a GitHub App (APP_ID,
  installed as INSTALLATION_ID, its key made per process by app_private_key()) whose RS256
  JWT (checked by apps.py) buys hour-long installation tokens; 403 "Resource not
  accessible by personal access token" for what a token may not do.
- Repositories of an organization (with issue types) and of a user (without), one with
  issues turned off and one archived; labels, milestones, assignable users.
- Issues and a few pull requests sharing the number sequence, listed together by
  /repos/{owner}/{repo}/issues with state, since (updated at or after), sort, direction,
  page and per_page, paged by a Link header; one-second timestamps; 410 for a deleted
  issue; labels named in a write are created; 422 "Validation Failed" for an assignee,
  milestone or type the repository does not have.
- Search (/search/issues) over a subset of the query syntax, with its own 30-a-minute limit.
- GraphQL's `deleteIssue` mutation at /graphql (REST cannot delete issues).
- Rate limits as GitHub answers them: x-ratelimit-* headers on every answer, 403 with
  x-ratelimit-remaining 0 for a spent primary limit, 429 with retry-after for a secondary
  one (and for injected faults).
- Issue comments: list (since, paged), create, get, edit, delete; a new comment moves the
  issue's `updated_at`, an edit or a deletion does not.
- Repository webhooks for `issues` and `issue_comment` events, signed with
  X-Hub-Signature-256 (webhooks.py).

Layout: schema.py (the account), beans.py (GitHub's JSON), state.py (issues on the shared
RecordTable), routes.py (the endpoints), webhooks.py.
"""

from __future__ import annotations

from typing import Any

from connectors.github.sandbox.routes import GitHubSandbox
from connectors.github.sandbox.schema import (
    APP_ID,
    INSTALLATION_ID,
    INSTALLATION_TOKEN,
    METADATA_TOKEN,
    READ_ONLY_TOKEN,
    SANDBOX_TOKEN,
    app_private_key,
)
from connectors.github.sandbox.state import connection_config
from connectors.sandbox.contract import ContractCase

SANDBOX = GitHubSandbox

__all__ = [
    "APP_ID",
    "INSTALLATION_ID",
    "INSTALLATION_TOKEN",
    "METADATA_TOKEN",
    "READ_ONLY_TOKEN",
    "SANDBOX",
    "SANDBOX_TOKEN",
    "GitHubSandbox",
    "app_private_key",
    "connection_config",
    "contract",
]


def contract() -> ContractCase:
    """The GitHub facts the shared contract suite needs (tests/connectors/test_contract.py)."""

    def bad_config(base_url: str) -> dict[str, Any]:
        return {**connection_config(base_url), "token": "github_pat_revoked"}

    def new_record(n: int) -> dict[str, Any]:
        return {
            "title": f"Contract check {n}: export stalls at 99%",
            "body": f"Reported by account {n}.\n\n- Browser: Firefox\n- Plan: Business",
            "labels": ["bug", f"contract-{n}"],
            "type": "Bug",
        }

    def invalid_record() -> dict[str, Any]:
        return {"title": "Refused: nobody by that name", "assignees": ["no-such-user"]}

    def update(n: int) -> dict[str, Any]:
        return {
            "title": f"Contract check {n}: updated",
            "body": f"Updated text {n}.\n\n1. First\n2. Second",
            "labels": [f"updated-{n}"],
            "state": "closed",
            "state_reason": "not_planned",
        }

    return ContractCase(
        object_type="issues",
        config=connection_config,
        bad_config=bad_config,
        new_record=new_record,
        invalid_record=invalid_record,
        update=update,
        # GitHub's signature covers the body only, with no time in it: no replay window can
        # be enforced (connectors/github/webhooks.py says what guards against replays).
        stale_after=None,
        seed_counts={"issues": 12},
        write_method="POST",
    )
