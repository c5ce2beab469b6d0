"""Fixtures of the fault-injection suite: private Redis and PostgreSQL instances that a test
may stop and start (never the shared ones), and the web app as a real process.

Each is skipped, saying why, only where its server binaries are missing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import environ
import pytest
from django.db import connections
from django.db.utils import load_backend

from tests.faults.instances import (
    ROOT,
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


@pytest.fixture(scope="session")
def private_template(private_postgres: PostgresCluster) -> str:
    """A migrated database on the private cluster, copied for each test that uses it."""
    name = "concord_faults_template"
    private_postgres.sql(f"CREATE DATABASE {name}")
    env = {**os.environ, "DATABASE_URL": private_postgres.url(name)}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True, timeout=120
    )
    return name


@pytest.fixture
def private_database(
    transactional_db: None, private_postgres: PostgresCluster, private_template: str
) -> Iterator[str]:
    """Point this test's ORM (and the workers it starts, given the URL) at a fresh copy of
    the migrated database on the private cluster. Yields its DATABASE_URL."""
    name = f"concord_faults_{uuid.uuid4().hex[:8]}"
    private_postgres.sql(f"CREATE DATABASE {name} TEMPLATE {private_template}")
    url = private_postgres.url(name)
    config = connections.configure_settings({"default": environ.Env.db_url_config(url)})
    ours = load_backend(config["default"]["ENGINE"]).DatabaseWrapper(config["default"], "default")
    theirs = connections["default"]
    connections["default"] = ours
    try:
        yield url
    finally:
        ours.close()
        connections["default"] = theirs
