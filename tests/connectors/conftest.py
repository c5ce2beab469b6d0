"""Fixtures for the connector tests: `jira_traffic` and `github_traffic` validate a test's
exchanges with that vendor against its OpenAPI description."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.sandbox.server import SandboxServer
from tests.connectors.github_openapi import GITHUB, GitHubTrafficRecorder, rest_only
from tests.connectors.jira_openapi import JIRA, JiraTrafficRecorder
from tests.connectors.openapi_traffic import assert_valid


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
