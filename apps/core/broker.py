"""Sending task messages so that a broker outage costs a delay, never a request or a record.

Every message Concord sends names a row that already says what to do (a queued run, a
received webhook delivery), and the sweeper re-sends what a lost message left behind. So
when the broker cannot be reached, the sender logs it and goes on: the web request still
answers, the row waits, and the work happens once the broker is back.

Messages are sent without subscribing to their result: `send_task` by name otherwise
subscribes to the result backend (Redis pub/sub) for every message, which during a Redis
outage blocked each sender for 20 retries (about 20 s) before it failed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from celery import current_app
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# kombu raises OperationalError for a broker it cannot reach; the result backend and a raw
# socket may surface their own errors.
BROKER_ERRORS: tuple[type[BaseException], ...] = (OperationalError, RedisError, OSError)


def task_send(name: str, args: Sequence[Any], *, countdown: float = 0) -> bool:
    """Send a task message by name. False (and a warning) if the broker is unreachable."""
    try:
        current_app.send_task(
            name, args=list(args), countdown=max(0.0, countdown), ignore_result=True
        )
    except BROKER_ERRORS as exc:
        logger.warning(
            "broker unreachable, %s%s not sent (its row waits; it is sent again once the "
            "broker is back): %s",
            name,
            list(args),
            exc,
        )
        return False
    return True
