"""Real Celery worker processes for tests: start them against the test database (committed
data: transactional tests) and the broker the settings name, read their logs on failure.

`workers` is a fixture for any test package (tests/conftest.py registers this module)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings

from apps.config.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[1]


def wait_until(predicate: Callable[[], Any], timeout: float = 90.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s")


def database_url() -> str:
    db = django_settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Workers:
    def __init__(self, log_dir: Path) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log_dir = log_dir
        self.logs: list[Path] = []

    def start(
        self, *, beat: bool = False, concurrency: int = 1, include: str = "", **env: Any
    ) -> subprocess.Popen:
        """Start a worker; `include` names extra task modules (-I), e.g. a test's own."""
        environment = dict(os.environ)
        environment.update(
            DATABASE_URL=database_url(),
            CONCORD_RUN_HEARTBEAT_EVERY="0.2",
            CONCORD_DISPATCH_EVERY="1",
        )
        environment.update({k: str(v) for k, v in env.items()})
        argv = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "apps.config",
            "worker",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            f"--concurrency={concurrency}",
        ]
        argv += ["--pool=solo"] if concurrency == 1 else ["--pool=prefork"]
        if include:
            argv += ["--include", include]
        if beat:
            argv += ["-B", "--schedule", str(self.log_dir / "beat-schedule")]
        log = self.log_dir / f"worker-{len(self.procs)}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=environment,
                start_new_session=True,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.procs.append(proc)
        return proc

    def print_logs(self) -> None:
        for log in self.logs:
            lines = log.read_text(errors="replace").splitlines()
            print(f"--- {log.name} (last 40 lines)", *lines[-40:], sep="\n")  # noqa: T201

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=20)

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    celery_app.control.purge()  # messages of earlier tests name runs of another database
    pool = Workers(tmp_path)
    yield pool
    pool.stop_all()
    pool.print_logs()  # shown by pytest only when the test failed
