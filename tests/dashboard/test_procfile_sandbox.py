"""The Procfile's `sandbox` process, started the way honcho starts it (through a shell): it
answers on SANDBOX_PORT, seeds once, and keeps its state across a restart in the var dir."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from connectors.hubspot.sandbox import SANDBOX_TOKEN as HUBSPOT_TOKEN
from connectors.sandbox.client import SandboxAdmin

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def procfile_command(role: str) -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == role:
            return command.strip()
    raise AssertionError(f"no {role!r} line in the Procfile")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start(command: str, env: dict[str, str]) -> subprocess.Popen:
    # honcho runs each line with the shell and the venv's bin first on PATH; `exec` makes
    # the sandbox itself the child, so stop() waits for it to save its state and exit.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.Popen(  # noqa: S602 - the Procfile line is ours, run as honcho runs it
        f"exec {command}",
        shell=True,
        cwd=ROOT,
        env={**os.environ, **env, "PATH": path},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def wait_until_up(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the sandbox exited: {process.stderr.read().decode()[-2000:]}")
        try:
            requests.get(f"{url}/_sandbox/faults", timeout=1).raise_for_status()
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError("the sandbox did not answer within 30 s")


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=15)


def contact_names(url: str) -> list[str]:
    response = requests.get(
        f"{url}/hubspot/crm/v3/objects/contacts",
        params={"limit": 100, "properties": "firstname"},
        headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"},
        timeout=10,
    )
    response.raise_for_status()
    return sorted(r["properties"]["firstname"] or "" for r in response.json()["results"])


def test_the_procfile_sandbox_keeps_its_state_in_the_var_dir_across_a_restart(tmp_path):
    port = free_port()
    env = {"SANDBOX_PORT": str(port), "CONCORD_VAR_DIR": str(tmp_path)}
    url = f"http://127.0.0.1:{port}"
    command = procfile_command("sandbox")

    process = start(command, env)
    try:
        wait_until_up(url, process)
        seeded = contact_names(url)
        requests.post(
            f"{url}/hubspot/crm/v3/objects/contacts",
            json={"properties": {"email": "ada@example.org", "firstname": "Ada"}},
            headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"},
            timeout=10,
        ).raise_for_status()
        SandboxAdmin(url).register_webhook("jira", "http://127.0.0.1:9/hooks/x/", "s3cret")
    finally:
        stop(process)
    assert (tmp_path / "sandbox-state.json").is_file()

    process = start(command, env)
    try:
        wait_until_up(url, process)
        after_restart = contact_names(url)
        subscriptions = SandboxAdmin(url).subscriptions()
        targets = {s["vendor"]: {"url": s["url"]} for s in subscriptions}
    finally:
        stop(process)

    assert len(seeded) == 40
    # Loaded from the state file, not seeded again: the contact made before the restart is
    # there, once, and so is the webhook target.
    assert after_restart == sorted([*seeded, "Ada"])
    assert targets == {"jira": {"url": "http://127.0.0.1:9/hooks/x/"}}
