"""The per-connection request budget shared by every worker.

A fixed-window counter: `requests` per `window` seconds per budget key (one per connection).
With REDIS_URL the counter lives in Redis (the cache's add() is SET NX and incr() is INCR,
both atomic). Without it, in a database row, but not one write per request (that was two
queries per API call, 16 of a run's queries on SQLite): a process reserves a slice of the
window's budget with one atomic upsert and spends it in memory. The database never grants
more than `requests` per window in all, so two workers on one connection together stay
within the budget; what a process reserved and did not spend by the window's end is left
unused (at most a slice per process and window).
"""

from __future__ import annotations

import os
import threading
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
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


class _DatabaseSlices:
    """Slices of windows' budgets this process reserved in RateLimitCounter and not spent."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._left: dict[tuple[str, int], int] = {}
        self._pid = os.getpid()

    def take(self, key: str, window: int, *, requests: int, slice_size: int) -> bool:
        """Spend one request of `key` in `window`; False when the window's budget is spent."""
        with self._lock:
            if self._pid != os.getpid():
                # A forked child must not spend the slices its parent reserved (both would).
                self._left.clear()
                self._pid = os.getpid()
            left = self._left.get((key, window), 0)
            if left <= 0:
                left = _reserve(key, window, requests=requests, wanted=slice_size)
                if left <= 0:
                    return False
                # Slices of earlier windows are worthless now.
                self._left = {k: n for k, n in self._left.items() if k[1] >= window}
            self._left[(key, window)] = left - 1
            return True


def _reserve(key: str, window: int, *, requests: int, wanted: int) -> int:
    """Reserve up to `wanted` requests of `key`'s budget in `window` with one atomic upsert;
    returns how many were granted (0 once the window's budget is spent)."""
    quote = connection.ops.quote_name
    table = quote(RateLimitCounter._meta.db_table)
    key_col, window_col, count_col = (quote(n) for n in ("key", "window", "count"))
    # The names are the model's own, quoted; the values are parameters.
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({key_col}, {window_col}, {count_col}) VALUES (%s, %s, %s) "  # noqa: S608
            f"ON CONFLICT ({key_col}, {window_col}) "
            f"DO UPDATE SET {count_col} = {table}.{count_col} + excluded.{count_col} "
            f"RETURNING {count_col}",
            [key, window, wanted],
        )
        (total,) = cursor.fetchone()
        if total == wanted:
            # The first reservation of this window: the key's earlier windows are done with.
            cursor.execute(
                f"DELETE FROM {table} WHERE {key_col} = %s AND {window_col} < %s",  # noqa: S608
                [key, window],
            )
    spent_before = total - wanted
    return max(0, min(wanted, requests - spent_before))


_slices = _DatabaseSlices()


class SharedRateLimiter:
    """Implements connectors.base.RateLimiter over Redis or the database."""

    def __init__(self, requests: int, window: float) -> None:
        if requests < 1 or window <= 0:
            raise ValueError("a request budget needs requests >= 1 and window > 0")
        self.requests = requests
        self.window = window
        self.redis = bool(settings.REDIS_URL)
        # A tenth of the budget per reservation: few queries, little left unused.
        self.slice_size = max(1, requests // 10)

    def _take(self, key: str, window: int, ttl: int) -> bool:
        if self.redis:
            return _spend_redis(key, window, ttl) <= self.requests
        return _slices.take(key, window, requests=self.requests, slice_size=self.slice_size)

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
            if self._take(key, window, ttl):
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
