"""Fixtures of the fault-injection suite: private Redis and PostgreSQL instances that a test
may stop and start (never the shared ones), and the web app as a real process.

Each is skipped, saying why, only where its server binaries are missing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.faults.instances import (
    PostgresCluster,
    RedisInstance,
    WebProcess,
    postgres_missing,
    redis_missing,
)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisInstance]:
    if reason := redis_missing():
        pytest.skip(reason)
    redis = RedisInstance(tmp_path)
    redis.start()
    yield redis
    redis.stop()


@pytest.fixture(scope="session")
def private_postgres() -> Iterator[PostgresCluster]:
    if reason := postgres_missing():
        pytest.skip(reason)
    cluster = PostgresCluster()
    cluster.start()
    yield cluster
    cluster.destroy()


@pytest.fixture
def start_web(tmp_path: Path) -> Iterator[Callable[..., WebProcess]]:
    """`start_web(**env)` starts the web app (gunicorn) with `env` over os.environ."""
    started: list[WebProcess] = []

    def start(**env: str) -> WebProcess:
        web = WebProcess(tmp_path / f"web-{len(started)}.log", **env)
        started.append(web)
        return web

    yield start
    for web in started:
        web.stop()
        lines = web.log.read_text(errors="replace").splitlines()
        print(f"--- {web.log.name} (last 40 lines)", *lines[-40:], sep="\n")  # noqa: T201
