"""Fixtures for the connector tests: `jira_traffic` validates a test's Jira exchanges."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.sandbox.server import SandboxServer
from tests.connectors.jira_openapi import SPEC_PATH, JiraTrafficRecorder, check_all


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
    if not SPEC_PATH.exists():
        return
    findings = check_all(recorder.exchanges)
    problems = [p for f in findings for p in f.problems]
    unexpected = [
        f.exchange.call + f" -> {f.exchange.status}"
        for f in findings
        if f.undocumented_status and f.exchange.status not in recorder.expected_undocumented
    ]
    assert not problems, "\n".join(problems)
    assert not unexpected, f"statuses the spec does not document: {unexpected}"
