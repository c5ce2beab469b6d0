"""Fixtures for the connector tests: `jira_traffic` validates a test's Jira exchanges."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.sandbox.server import SandboxServer
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
