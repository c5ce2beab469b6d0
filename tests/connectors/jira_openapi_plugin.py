"""A pytest plugin: record the Jira sandbox traffic of a run and validate it at the end.

Used by tests/connectors/test_jira.py, which runs the shared contract suite for Jira in a
child pytest with `-p tests.connectors.jira_openapi_plugin` and JIRA_TRAFFIC_REPORT set to a
file path. The plugin puts JiraTrafficRecorder in front of every sandbox server the run
starts, and at the end writes a JSON report: how many exchanges, which operations, the
problems found (request or response not matching the spec) and the undocumented statuses.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import pytest

from connectors.sandbox import server as sandbox_server
from tests.connectors.jira_openapi import JiraTrafficRecorder, check_all

_recorders: list[JiraTrafficRecorder] = []


def pytest_configure(config: pytest.Config) -> None:
    original_init = sandbox_server.SandboxServer.__init__

    def recording_init(self: sandbox_server.SandboxServer, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        _recorders.append(JiraTrafficRecorder.install(self))

    sandbox_server.SandboxServer.__init__ = recording_init  # type: ignore[method-assign]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("JIRA_TRAFFIC_REPORT")
    if not path:
        return
    exchanges = [e for r in _recorders for e in r.exchanges]
    findings = check_all(exchanges)
    report = {
        "exchanges": len(exchanges),
        "operations_seen": len({f.operation for f in findings if f.operation}),
        "operations": dict(Counter(f.operation or f.exchange.call for f in findings)),
        "problems": [p for f in findings for p in f.problems],
        "undocumented": dict(
            Counter(str(f.exchange.status) for f in findings if f.undocumented_status)
        ),
    }
    with open(path, "w") as handle:
        json.dump(report, handle, indent=2)
