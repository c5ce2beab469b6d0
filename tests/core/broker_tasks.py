"""A task for broker tests, loaded by their workers with --include: it records each number
it is given with an exclusive create, so that a message run twice leaves a `dup-` file."""

import os

from celery import shared_task


@shared_task(name="tests.record", ignore_result=True)
def record(folder: str, number: int) -> None:
    try:
        os.close(os.open(os.path.join(folder, str(number)), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        with open(os.path.join(folder, f"dup-{number}"), "a") as out:
            out.write("x")
