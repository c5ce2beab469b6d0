"""Tasks for tests that need a real worker to leave a trace; their workers load this module
with `workers.start(include="tests.probe_tasks")`. Each writes what it saw into a folder the
test names, so nothing depends on a result backend."""

import os

from celery import shared_task
from django.db import connection


@shared_task(name="tests.record", ignore_result=True)
def record(folder: str, number: int) -> None:
    """Record `number` with an exclusive create: a message run twice leaves a `dup-` file."""
    try:
        os.close(os.open(os.path.join(folder, str(number)), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        with open(os.path.join(folder, f"dup-{number}"), "a") as out:
            out.write("x")


@shared_task(name="tests.backend_pid", ignore_result=True)
def backend_pid(folder: str, number: int) -> None:
    """Record which PostgreSQL backend (server process, one per connection) served task
    `number`."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    with open(os.path.join(folder, f"{number}.tmp"), "w") as out:
        out.write(str(pid))
    os.replace(os.path.join(folder, f"{number}.tmp"), os.path.join(folder, str(number)))
