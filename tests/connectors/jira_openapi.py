"""Jira traffic validated against Atlassian's OpenAPI description of the REST API v3
(tests/connectors/openapi_traffic.py does the work; this names the spec and its rules).

CONCORD_JIRA_SPEC points at another copy of the file than the shared vendor-specs folder.
The spec is 2.4 MB; it is loaded once per process.
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
from tests.connectors.openapi_traffic import (
    check_all as _check_all,
)

__all__ = ["JIRA", "Exchange", "Finding", "JiraTrafficRecorder"]


def _basic_auth(headers: dict[str, str]) -> str | None:
    if headers.get("authorization", "").lower().startswith("basic "):
        return None
    return "request without basic auth"


JIRA = VendorSpec(
    name="Atlassian",
    path=Path(
        os.environ.get("CONCORD_JIRA_SPEC") or vendor_specs_dir() / "jira/swagger-v3.v3.json"
    ),
    prefix="/jira",
    server="https://your-domain.atlassian.net",
    auth_problem=_basic_auth,
)


class JiraTrafficRecorder(TrafficRecorder):
    spec = JIRA


def check_all(exchanges: Iterable[Exchange]) -> list[Finding]:
    return _check_all(JIRA, exchanges)
