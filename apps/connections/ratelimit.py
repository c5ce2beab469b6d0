"""The per-connection request budget shared by every worker.

A fixed-window counter in the Django cache: with REDIS_URL it is Redis (INCR is atomic, so
two workers on one connection together stay within the budget); without it, the database
cache, good enough for the single-machine embedded setup.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

from connectors.errors import RateLimited


class CacheRateLimiter:
    """`requests` per `window` seconds per key, counted in the shared cache."""

    def __init__(self, requests: int, window: float) -> None:
        self.requests = requests
        self.window = window

    def acquire(self, key: str, *, max_wait: float) -> None:
        deadline = time.monotonic() + max_wait
        while True:
            now = time.time()
            window_start = int(now // self.window)
            bucket = f"ratelimit:{key}:{window_start}"
            # add() creates the counter only if absent; incr() is atomic on Redis.
            cache.add(bucket, 0, timeout=int(self.window) + 5)
            try:
                used = cache.incr(bucket)
            except ValueError:  # expired between add and incr: take the next round
                continue
            if used <= self.requests:
                return
            wait = (window_start + 1) * self.window - now
            if time.monotonic() + wait > deadline:
                raise RateLimited(
                    f"request budget of {self.requests} per {self.window:g}s is spent",
                    retry_after=wait,
                    system="concord",
                    call=key,
                )
            time.sleep(wait)


def shared_rate_limiter() -> CacheRateLimiter:
    return CacheRateLimiter(
        settings.CONCORD_CONNECTION_REQUESTS_PER_WINDOW,
        settings.CONCORD_CONNECTION_RATE_WINDOW,
    )
