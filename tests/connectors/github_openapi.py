"""GitHub traffic validated against GitHub's OpenAPI description of its REST API
(tests/connectors/openapi_traffic.py does the work; this names the spec and its rules).

CONCORD_GITHUB_SPEC points at another copy of the file than the shared vendor-specs folder.
The description is 13 MB; it is loaded once per process.

One call is outside the description: the connector deletes issues through GraphQL's
`deleteIssue` (POST /graphql), which GitHub describes by its GraphQL schema, not in the
REST description. `GRAPHQL` names it; the recorder keeps those exchanges apart
(`graphql`) so tests assert their shape themselves, and validates every other one.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from tests.connectors.openapi_traffic import (
    Exchange,
    Finding,
    TrafficRecorder,
    VendorSpec,
    vendor_specs_dir,
)
from tests.connectors.openapi_traffic import check_all as _check_all

__all__ = ["GITHUB", "GRAPHQL", "Exchange", "Finding", "GitHubTrafficRecorder", "rest_only"]

GRAPHQL = "/graphql"


def _bearer(headers: dict[str, str]) -> str | None:
    if headers.get("authorization", "").lower().startswith("bearer "):
        return None
    return "request without a bearer token"


GITHUB = VendorSpec(
    name="GitHub",
    path=Path(
        os.environ.get("CONCORD_GITHUB_SPEC") or vendor_specs_dir() / "github/api.github.com.json"
    ),
    prefix="/github",
    server="https://api.github.com",
    auth_problem=_bearer,
)


def rest_only(exchanges: Iterable[Exchange]) -> list[Exchange]:
    """The exchanges the REST description covers (all but GraphQL's)."""
    return [e for e in exchanges if e.path != GRAPHQL]


class GitHubTrafficRecorder(TrafficRecorder):
    spec = GITHUB

    @property
    def graphql(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.path == GRAPHQL]


def check_all(exchanges: Iterable[Exchange]) -> list[Finding]:
    return _check_all(GITHUB, rest_only(exchanges))
