"""Workers keep their database connection across tasks (PostgreSQL), and recover when it
breaks between them."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connection

from apps.core.broker import task_send
from tests.workers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _pid_of_task(folder: Path, number: int) -> int:
    assert task_send("tests.backend_pid", [str(folder), number])
    return int(
        wait_until(lambda: (folder / str(number)).exists() and (folder / str(number)).read_text())
    )


def test_a_worker_reuses_its_database_connection_across_tasks(workers, tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip(
            "counts PostgreSQL backends (pg_backend_pid); SQLite has no connections to reuse"
        )
    workers.start(concurrency=2, include="tests.probe_tasks")
    pids = [_pid_of_task(tmp_path, n) for n in range(8)]
    # One connection per pool process (2), not one per task (8).
    assert len(set(pids)) <= 2, pids

    # The server ends those connections between tasks: the next task still runs, on a new one.
    with connection.cursor() as cursor:
        for pid in set(pids):
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    after = [_pid_of_task(tmp_path, n) for n in range(8, 12)]
    assert not set(after) & set(pids)
    assert len(set(after)) <= 2, after
