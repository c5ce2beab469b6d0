"""The benchmarks' stack: the Procfile's roles as commands, process trees, memory sampling,
and a stack that starts and answers (in a child process: it configures Django its own way)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from benchmarks.stack import ROOT, MemorySampler, process_tree, procfile_commands


def test_procfile_roles_become_commands_of_this_interpreter_with_variables_expanded(
    tmp_path: Path,
):
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "# a comment: not a role\n"
        "web: gunicorn app.wsgi --bind ${HOST:-0.0.0.0}:${PORT:-8000} --workers 2\n"
        "worker: celery -A app worker --concurrency=$SLOTS\n"
        "sandbox: python -m sandbox --port 1\n"
    )
    commands = procfile_commands(
        {"PORT": "9001", "SLOTS": "3"}, roles=("web", "worker"), procfile=procfile
    )
    assert commands == {
        "web": [sys.executable, "-m", "gunicorn", "app.wsgi", "--bind", "0.0.0.0:9001",
                "--workers", "2"],
        "worker": [sys.executable, "-m", "celery", "-A", "app", "worker", "--concurrency=3"],
    }  # fmt: skip
    with pytest.raises(RuntimeError, match="no beat role"):
        procfile_commands({}, roles=("web", "beat"), procfile=procfile)


def test_the_projects_procfile_has_web_worker_and_beat():
    commands = procfile_commands({"PORT": "8123"})
    assert "127.0.0.1:8123" in commands["web"]
    assert any(arg.startswith("--concurrency") for arg in commands["worker"])
    assert "beat" in commands["beat"]


def test_process_tree_and_memory_follow_a_parent_and_its_child():
    code = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'input()'])"
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE)
    try:
        for _ in range(500):  # until the child has started
            if len(process_tree(parent.pid)) == 2:
                break
            time.sleep(0.01)
        [child] = [p for p in process_tree(parent.pid) if p != parent.pid]
        with MemorySampler([parent.pid], interval=0.01) as memory:
            single = MemorySampler([child]).sample()
        assert 0 < single < memory.peak_mb  # two interpreters weigh more than one
        assert memory.hwm_mb() >= memory.peak_mb
    finally:
        parent.communicate(b"\n", timeout=10)


@pytest.mark.slow
def test_the_procfile_stack_starts_answers_and_stops():
    script = textwrap.dedent(
        """
        import json, requests
        from benchmarks.stack import running_stack
        with running_stack(procfile=True) as stack:
            health = requests.get(f"http://127.0.0.1:{stack.web_port}/healthz", timeout=10)
            print(json.dumps({"pids": stack.pids, "health": health.status_code}))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=180, check=True,
    )  # fmt: skip
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["health"] == 200
    assert set(answer["pids"]) == {"sandbox", "web", "worker", "beat"}
    for pid in answer["pids"].values():  # every role stopped on the way out
        assert (
            not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
        )
