"""The real stack for a benchmark: the sandbox, gunicorn and one Celery worker, each its own
process on free localhost ports, sharing a fresh SQLite database (or PostgreSQL/Redis from
the environment when a benchmark passes them through) under a temporary CONCORD_VAR_DIR."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@dataclass(frozen=True)
class Stack:
    sandbox_port: int
    web_port: int
    var_dir: Path


@contextmanager
def running_stack(
    *, env: Mapping[str, str] = (), gunicorn_args: Sequence[str] = ()
) -> Iterator[Stack]:
    """Configure Django in this process for a fresh database, migrate it, start the three
    processes and wait until they answer; stop them on the way out. `env` is added to the
    environment (DATABASE_URL and REDIS_URL are dropped unless given there)."""
    var_dir = Path(tempfile.mkdtemp(prefix="concord-bench-"))
    sandbox_port, web_port = free_port(), free_port()
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    environment.update(
        CONCORD_MODE="development",
        CONCORD_VAR_DIR=str(var_dir),
        CONCORD_PUBLIC_URL=f"http://127.0.0.1:{web_port}",
        LOG_LEVEL="WARNING",
    )
    environment.update(dict(env))
    os.environ.clear()
    os.environ.update(environment)
    os.environ["DJANGO_SETTINGS_MODULE"] = "apps.config.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    procs: list[subprocess.Popen[bytes]] = []
    logs = var_dir / "logs"
    logs.mkdir()

    def start(name: str, argv: list[str]) -> None:
        out = (logs / f"{name}.log").open("wb")
        procs.append(
            subprocess.Popen(argv, cwd=ROOT, env=os.environ.copy(), stdout=out, stderr=out)  # noqa: S603
        )

    gunicorn = [sys.executable, "-m", "gunicorn", "apps.config.wsgi"]
    gunicorn += ["--bind", f"127.0.0.1:{web_port}", "--workers", "2", "--threads", "4"]
    worker = [sys.executable, "-m", "celery", "-A", "apps.config", "worker", "--pool=solo"]
    worker += ["--loglevel=WARNING", "--without-gossip", "--without-mingle"]
    try:
        start("sandbox", [sys.executable, "-m", "connectors.sandbox", "--port", str(sandbox_port)])
        start("web", [*gunicorn, *gunicorn_args])
        start("worker", worker)
        wait_http(f"http://127.0.0.1:{sandbox_port}/_sandbox/stats")
        wait_http(f"http://127.0.0.1:{web_port}/healthz")
        yield Stack(sandbox_port=sandbox_port, web_port=web_port, var_dir=var_dir)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
