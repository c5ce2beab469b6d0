"""Fixtures for the connector tests: `jira_traffic`, `pipedrive_traffic` and
`github_traffic` validate a test's exchanges against the vendor's OpenAPI description."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.sandbox.server import SandboxServer
from tests.connectors.github_openapi import GITHUB, GitHubTrafficRecorder, rest_only
from tests.connectors.jira_openapi import JIRA, JiraTrafficRecorder
from tests.connectors.openapi_traffic import assert_valid
from tests.connectors.pipedrive_openapi import SPECS as PIPEDRIVE_SPECS
from tests.connectors.pipedrive_openapi import PipedriveTraffic


@pytest.fixture
def jira_traffic(sandbox_server: SandboxServer) -> Iterator[JiraTrafficRecorder]:
    """Record this test's Jira traffic; at teardown every exchange must match the spec.

    Statuses the spec does not document for an operation are refused too, unless the test
    put them in `recorder.expected_undocumented` (faults it injected on purpose). Without
    the spec the exchanges are only recorded, for the test's own assertions.
    """
    recorder = JiraTrafficRecorder.install(sandbox_server)
    try:
        yield recorder
    finally:
        recorder.uninstall()
    if JIRA.exists():
        assert_valid(JIRA, recorder.exchanges, recorder.expected_undocumented)


@pytest.fixture
def pipedrive_traffic(sandbox_server: SandboxServer) -> Iterator[PipedriveTraffic]:
    """Record this test's Pipedrive traffic (v1 and v2); at teardown every exchange must
    match Pipedrive's descriptions, as corrected in tests/connectors/pipedrive_openapi.py.
    Undocumented statuses are refused unless the test expects them
    (`traffic.expected_undocumented`)."""
    traffic = PipedriveTraffic(sandbox_server)
    try:
        yield traffic
    finally:
        traffic.uninstall()
    if all(spec.exists() for spec in PIPEDRIVE_SPECS):
        traffic.validate()


@pytest.fixture
def github_traffic(sandbox_server: SandboxServer) -> Iterator[GitHubTrafficRecorder]:
    """Record this test's GitHub traffic; at teardown every exchange the REST description
    covers must match it (GraphQL's deleteIssue is outside it: `recorder.graphql`).

    Statuses the spec does not document for an operation are refused too, unless the test
    put them in `recorder.expected_undocumented`.
    """
    recorder = GitHubTrafficRecorder.install(sandbox_server)
    try:
        yield recorder
    finally:
        recorder.uninstall()
    if GITHUB.exists():
        assert_valid(GITHUB, rest_only(recorder.exchanges), recorder.expected_undocumented)
