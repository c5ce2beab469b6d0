"""A task travels through a real broker to a real worker process and back."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery import Celery

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


# A queue of its own: the broker may hold other tests' messages, which are not ours to run.
QUEUE = "concord-test-ping"


def start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "apps.config",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            QUEUE,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop(worker: subprocess.Popen[bytes]) -> str:
    worker.terminate()
    try:
        _, err = worker.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()
        _, err = worker.communicate()
    return err.decode(errors="replace")


def base_env(var_dir: Path) -> dict[str, str]:
    # Configured by this environment alone: not by the xdist process's share of Redis and
    # of the broker folder (apps/config/settings.py), which the client below does not use.
    dropped = ("REDIS_URL", "DATABASE_URL", "PYTEST_XDIST_WORKER")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(CONCORD_VAR_DIR=str(var_dir), CONCORD_MODE="development")
    return env


def test_round_trip_through_the_filesystem_broker(tmp_path):
    worker = start_worker(base_env(tmp_path))
    celery_dir = tmp_path / "celery"
    try:
        # A client of its own, configured like settings.py configures the embedded broker.
        deadline = time.monotonic() + 30
        while not (celery_dir / "queue").is_dir() and time.monotonic() < deadline:
            time.sleep(0.1)
        client = Celery(
            broker="filesystem://",
            broker_transport="apps.core.filebroker:Transport",
            backend=f"file://{celery_dir / 'results'}",
            broker_transport_options={
                "data_folder_in": str(celery_dir / "queue"),
                "data_folder_out": str(celery_dir / "queue"),
                "control_folder": str(celery_dir / "control"),
            },
        )
        client.conf.task_serializer = "json"
        result = client.send_task("core.ping", queue=QUEUE)
        assert result.get(timeout=60) == "pong"
    finally:
        errors = stop(worker)
    assert "Traceback" not in errors, errors


def test_round_trip_through_redis(tmp_path):
    redis_url = os.environ.get("REDIS_URL")
    if not redis_url:
        pytest.skip("REDIS_URL is not set (CI sets it)")
    env = base_env(tmp_path)
    env["REDIS_URL"] = redis_url
    worker = start_worker(env)
    try:
        client = Celery(broker=redis_url, backend=redis_url)
        result = client.send_task("core.ping", queue=QUEUE)
        assert result.get(timeout=60) == "pong"
    finally:
        errors = stop(worker)
    assert "Traceback" not in errors, errors
