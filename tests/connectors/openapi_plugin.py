"""A pytest plugin: record one vendor's sandbox traffic during a run, validate it at the end.

Used by the vendor test modules (test_jira.py, test_github.py), which run the shared
contract suite for their connector in a child pytest with `-p
tests.connectors.openapi_plugin`, OPENAPI_VENDOR naming the vendor ("jira", "github") and
OPENAPI_TRAFFIC_REPORT a file path. The plugin puts that vendor's TrafficRecorder in front
of every sandbox server the run starts, and at the end writes a JSON report: how many
exchanges were validated, which operations, the problems found (request or response not
matching the spec), the undocumented statuses, and the exchanges left out of validation
(those the vendor's description does not cover, such as GitHub's GraphQL).
"""

from __future__ import annotations

import importlib
import json
import os
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from connectors.sandbox import server as sandbox_server
from tests.connectors.openapi_traffic import Exchange, Finding, TrafficRecorder

# vendor -> (the module naming its spec, its TrafficRecorder); the module has check_all
VENDORS = {
    "jira": ("tests.connectors.jira_openapi", "JiraTrafficRecorder"),
    "github": ("tests.connectors.github_openapi", "GitHubTrafficRecorder"),
}

_recorders: list[TrafficRecorder] = []


def _vendor() -> tuple[type[TrafficRecorder], Callable[[Iterable[Exchange]], list[Finding]]]:
    name = os.environ.get("OPENAPI_VENDOR", "")
    if name not in VENDORS:
        raise pytest.UsageError(f"OPENAPI_VENDOR must be one of {', '.join(VENDORS)}")
    module_name, recorder = VENDORS[name]
    module = importlib.import_module(module_name)
    return getattr(module, recorder), module.check_all


def pytest_configure(config: pytest.Config) -> None:
    recorder_class, _ = _vendor()
    original_init = sandbox_server.SandboxServer.__init__

    def recording_init(self: sandbox_server.SandboxServer, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        _recorders.append(recorder_class.install(self))

    sandbox_server.SandboxServer.__init__ = recording_init  # type: ignore[method-assign]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("OPENAPI_TRAFFIC_REPORT")
    if not path:
        return
    _, check_all = _vendor()
    exchanges = [e for r in _recorders for e in r.exchanges]
    findings = check_all(exchanges)
    validated = {id(f.exchange) for f in findings}
    report = {
        "exchanges": len(findings),
        "not_validated": dict(Counter(e.call for e in exchanges if id(e) not in validated)),
        "operations_seen": len({f.operation for f in findings if f.operation}),
        "operations": dict(Counter(f.operation or f.exchange.call for f in findings)),
        "problems": [p for f in findings for p in f.problems],
        "undocumented": dict(
            Counter(str(f.exchange.status) for f in findings if f.undocumented_status)
        ),
        "undocumented_calls": dict(
            Counter(
                f"{f.exchange.status} {f.operation or f.exchange.call}"
                for f in findings
                if f.undocumented_status
            )
        ),
    }
    with open(path, "w") as handle:
        json.dump(report, handle, indent=2)
