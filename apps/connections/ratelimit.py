"""The per-connection request budget shared by every worker.

A fixed-window counter: `requests` per `window` seconds per budget key (one per connection).
With REDIS_URL the counter lives in Redis (the cache's add() is SET NX and incr() is INCR,
both atomic); without it, in a database row incremented with an atomic UPDATE. Either way
two workers on one connection together stay within the budget.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from redis.exceptions import RedisError

from apps.connections.models import RateLimitCounter
from connectors.errors import RateLimited, TransientError

# How long a run waits before trying again when the budget's counter cannot be reached.
COUNTER_DOWN_RETRY_AFTER = 10.0


def _spend_redis(key: str, window: int, ttl: int) -> int:
    bucket = f"ratelimit:{key}:{window}"
    try:
        cache.add(bucket, 0, timeout=ttl)
        try:
            return cache.incr(bucket)
        except ValueError:  # expired between add and incr
            cache.add(bucket, 1, timeout=ttl)
            return 1
    except RedisError as exc:
        # Without the counter no worker can know the budget is kept: send no request and
        # let the run retry later (a transient failure), rather than crash or overspend.
        raise TransientError(
            f"the shared request budget cannot be counted (Redis unreachable: {exc})",
            retry_after=COUNTER_DOWN_RETRY_AFTER,
            system="concord",
            call=key,
        ) from exc


def _spend_database(key: str, window: int, ttl: int) -> int:
    for _ in range(3):
        if RateLimitCounter.objects.filter(key=key, window=window).update(count=F("count") + 1):
            # A concurrent spend may land between the update and this read: the value read
            # is then higher than our own position, which errs on the side of waiting.
            return RateLimitCounter.objects.values_list("count", flat=True).get(
                key=key, window=window
            )
        try:
            with transaction.atomic():
                RateLimitCounter.objects.create(key=key, window=window, count=1)
        except IntegrityError:
            continue  # another worker opened the window first: increment it
        RateLimitCounter.objects.filter(key=key, window__lt=window).delete()
        return 1
    raise RuntimeError(f"could not count a request for {key}")


class SharedRateLimiter:
    """Implements connectors.base.RateLimiter over Redis or the database."""

    def __init__(self, requests: int, window: float) -> None:
        if requests < 1 or window <= 0:
            raise ValueError("a request budget needs requests >= 1 and window > 0")
        self.requests = requests
        self.window = window
        self._spend = _spend_redis if settings.REDIS_URL else _spend_database

    def acquire(self, key: str, *, max_wait: float) -> int:
        """Spend one request of `key`'s budget, waiting for the next window if needed.

        Returns the number of the window the request was counted in. Raises RateLimited
        (with retry_after) when that would mean waiting longer than `max_wait` seconds.
        """
        deadline = time.monotonic() + max_wait
        ttl = int(self.window) + 5
        while True:
            now = time.time()
            window = int(now // self.window)
            if self._spend(key, window, ttl) <= self.requests:
                return window
            wait = (window + 1) * self.window - now
            if time.monotonic() + wait > deadline:
                raise RateLimited(
                    f"the request budget of {self.requests} per {self.window:g}s is spent",
                    retry_after=wait,
                    system="concord",
                    call=key,
                )
            time.sleep(wait)


def shared_rate_limiter() -> SharedRateLimiter:
    return SharedRateLimiter(
        settings.CONCORD_CONNECTION_REQUESTS_PER_WINDOW,
        settings.CONCORD_CONNECTION_RATE_WINDOW,
    )
