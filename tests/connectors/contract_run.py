"""Running the shared contract suite for one connector in a child pytest with a traffic
plugin (tests/connectors/openapi_plugin.py, pipedrive_openapi_plugin.py), which records every
exchange with the sandbox and writes a JSON report of its validation against the vendor's
description. The child is a process of its own so that the plugin's recorders see every
sandbox server the suite starts, and nothing of the parent's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = Path(__file__).with_name("test_contract.py")


def contract_run(
    keyword: str, *, plugin: str, report: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run the contract tests matching `keyword` with `plugin`, which writes its report to
    the file named by the `*_TRAFFIC_REPORT` variable in `env`; the report, read back.
    Fails the calling test with the child's output if the suite fails."""
    completed = subprocess.run(
        [
            sys.executable, "-m", "pytest", str(CONTRACT), "-k", keyword, "-q",
            "-p", plugin, "-p", "no:randomly", "-p", "no:xdist",
        ],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    return json.loads(report.read_text())
