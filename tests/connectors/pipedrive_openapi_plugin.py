"""A pytest plugin: record the Pipedrive sandbox traffic of a run and validate it at the end.

Used by tests/connectors/test_pipedrive.py, which runs the shared contract suite for
Pipedrive in a child pytest with `-p tests.connectors.pipedrive_openapi_plugin` and
PIPEDRIVE_TRAFFIC_REPORT set to a file path. The plugin puts both recorders (v1 and v2) in
front of every sandbox server the run starts, and at the end writes a JSON report per
version: how many exchanges, which operations, the problems found and the undocumented
statuses.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any

import pytest

from connectors.sandbox import server as sandbox_server
from tests.connectors.openapi_traffic import check_all
from tests.connectors.pipedrive_openapi import PipedriveTraffic

_traffic: list[PipedriveTraffic] = []


def pytest_configure(config: pytest.Config) -> None:
    original_init = sandbox_server.SandboxServer.__init__

    def recording_init(self: sandbox_server.SandboxServer, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        _traffic.append(PipedriveTraffic(self))

    sandbox_server.SandboxServer.__init__ = recording_init  # type: ignore[method-assign]


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = os.environ.get("PIPEDRIVE_TRAFFIC_REPORT")
    if not path:
        return
    report: dict[str, Any] = {}
    for traffic in _traffic:
        for spec, exchanges in traffic.pairs():
            findings = check_all(spec, exchanges)
            entry = report.setdefault(
                spec.name,
                {
                    "exchanges": 0,
                    "operations": Counter(),
                    "problems": [],
                    "undocumented": Counter(),
                },
            )
            entry["exchanges"] += len(exchanges)
            entry["operations"].update(f.operation or f.exchange.call for f in findings)
            entry["problems"].extend(p for f in findings for p in f.problems)
            entry["undocumented"].update(
                f"{f.operation or f.exchange.call} -> {f.exchange.status}"
                for f in findings
                if f.undocumented_status
            )
    for entry in report.values():
        entry["operations_seen"] = len(entry["operations"])
        entry["operations"] = dict(entry["operations"])
        entry["undocumented"] = dict(entry["undocumented"])
    with open(path, "w") as handle:
        json.dump(report, handle, indent=2)
