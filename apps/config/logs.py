"""Logging filters for the console of `make run` and of every worker and beat process."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping


class QuietTasks(logging.Filter):
    """Lower Celery's INFO lines about the named tasks to DEBUG.

    Attached to the loggers that write a line per task (`celery.worker.strategy`:
    "received", `celery.app.trace`: "succeeded in", `celery.beat`: "Sending due task"), it
    keeps periodic ticks out of the console at INFO, while every other task's lines stay at
    INFO and a tick's warnings and errors (a failed or retried task) keep their level. At
    LOG_LEVEL=DEBUG the tick's lines are shown, as DEBUG.
    """

    def __init__(self, tasks: Iterable[str] = ()) -> None:
        super().__init__()
        self.tasks = frozenset(tasks)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or not self._about_quiet_task(record.args):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)

    def _about_quiet_task(self, args: object) -> bool:
        # Celery passes the task's name among the message's arguments: a mapping for the
        # worker's lines ({"name": ..., "id": ...}), a tuple for beat's (entry, task name).
        if isinstance(args, Mapping):
            values: Iterable[object] = args.values()
        elif isinstance(args, tuple):
            values = args
        else:
            return False
        return any(isinstance(value, str) and value in self.tasks for value in values)
