"""The shared request budget holds across processes, on Redis and on the database."""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from apps.connections.models import RateLimitCounter
from apps.connections.ratelimit import SharedRateLimiter
from connectors.errors import RateLimited

pytestmark = pytest.mark.django_db(transaction=True)

BUDGET, WINDOW, PER_WORKER = 5, 1.0, 12


def spend(key: str, redis: bool, results: multiprocessing.Queue) -> None:
    from django.conf import settings

    settings.REDIS_URL = settings.REDIS_URL if redis else None
    limiter = SharedRateLimiter(BUDGET, WINDOW)
    results.put([limiter.acquire(key, max_wait=30) for _ in range(PER_WORKER)])


@pytest.mark.parametrize("backend", ["database", "redis"])
def test_two_workers_together_stay_within_the_budget(backend, settings):
    if backend == "redis" and not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set (CI sets it)")
    key = f"test:{backend}:{multiprocessing.current_process().pid}"
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    workers = [ctx.Process(target=spend, args=(key, backend == "redis", results)) for _ in range(2)]
    # A forked child must not inherit an open database connection: closing it there would
    # end the parent's session (PostgreSQL) and using it would interleave on one socket.
    connections.close_all()
    for w in workers:
        w.start()
    windows = [window for _ in workers for window in results.get(timeout=60)]
    for w in workers:
        w.join(timeout=30)
        assert w.exitcode == 0
    per_window = Counter(windows)
    assert sum(per_window.values()) == 2 * PER_WORKER
    assert max(per_window.values()) <= BUDGET
    # 24 requests at 5 per window need at least 5 windows.
    assert len(per_window) >= 5


def test_a_wait_longer_than_allowed_raises_with_retry_after(settings):
    settings.REDIS_URL = None
    limiter = SharedRateLimiter(1, 60.0)
    limiter.acquire("test:one", max_wait=0)
    with pytest.raises(RateLimited) as raised:
        limiter.acquire("test:one", max_wait=0)
    assert 0 < raised.value.retry_after <= 60


def test_a_nonsense_budget_is_refused():
    with pytest.raises(ValueError, match="requests >= 1"):
        SharedRateLimiter(0, 10)


def test_without_redis_a_process_reserves_a_slice_of_the_budget_not_a_row_per_request(settings):
    settings.REDIS_URL = None
    limiter = SharedRateLimiter(100, 3600.0)  # one window for the whole test
    with CaptureQueriesContext(connection) as queries:
        windows = {limiter.acquire("test:slices", max_wait=0) for _ in range(25)}
    # 25 requests in slices of 10: three reservations (and one clean-up of older windows).
    reservations = [q for q in queries.captured_queries if q["sql"].startswith("INSERT")]
    assert len(reservations) == 3
    assert len(queries) == 4
    [window] = windows
    assert RateLimitCounter.objects.get(key="test:slices", window=window).count == 30


def test_without_redis_what_other_processes_reserved_is_not_spent_again(settings):
    settings.REDIS_URL = None
    limiter = SharedRateLimiter(10, 3600.0)
    window = limiter.acquire("test:others", max_wait=0)  # reserved 1 (a tenth of 10)
    # Other processes reserved the rest of this window's budget meanwhile.
    RateLimitCounter.objects.filter(key="test:others", window=window).update(count=10)
    with pytest.raises(RateLimited):
        limiter.acquire("test:others", max_wait=0)
    assert RateLimitCounter.objects.get(key="test:others", window=window).count == 11
