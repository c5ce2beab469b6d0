"""Rejected webhook deliveries, counted per connection and minute in the cache.

A delivery that fails verification writes nothing to the inbox: a flood of forged requests
must not fill the database. Each rejection adds one to its connection's counter for the
current minute; a counter lives a little longer than the hour it can be asked about, so
"rejected in the last hour" is the sum of the minute counters of the last hour, exact to
the minute. The reason of a rejection is kept for the page too, at most once a minute per
connection (the same sampling as the log line), and never holds a secret: it is the
connector's verification message ("signature mismatch", "stale: signed 400s ago").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.cache import cache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

BUCKET_SECONDS = 60
WINDOW_SECONDS = 60 * 60
_TTL = WINDOW_SECONDS + 2 * BUCKET_SECONDS  # outlives the window it is summed over


@dataclass(frozen=True)
class Rejection:
    """The latest sampled rejection of a connection: when, and what the connector said."""

    at: datetime
    reason: str


def _bucket(timestamp: float) -> int:
    return int(timestamp // BUCKET_SECONDS)


def _count_key(connection_id: int, bucket: int) -> str:
    return f"webhooks:rejected:{connection_id}:{bucket}"


def _last_key(connection_id: int) -> str:
    return f"webhooks:rejected-last:{connection_id}"


def rejection_record(
    connection_id: int, kind: str, reason: str, *, now: float | None = None
) -> None:
    """Count one rejected delivery; at most once a minute, log it and keep its reason."""
    try:
        _count(connection_id, kind, reason, now=time.time() if now is None else now)
    except RedisError as exc:
        # The counter is for the dashboard; the sender is refused all the same.
        logger.warning(
            "webhook for connection %s (%s) rejected: %s (not counted: %s)",
            connection_id,
            kind,
            reason,
            exc,
        )


def _count(connection_id: int, kind: str, reason: str, *, now: float) -> None:
    key = _count_key(connection_id, _bucket(now))
    cache.add(key, 0, timeout=_TTL)
    try:
        cache.incr(key)
    except ValueError:  # the counter expired between add and incr
        cache.set(key, 1, timeout=_TTL)
    # Sampled: a flood of forged requests must not flood the logs (or the cache).
    if cache.add(f"webhooks:rejected-logged:{connection_id}", 1, timeout=BUCKET_SECONDS):
        logger.warning("webhook for connection %s (%s) rejected: %s", connection_id, kind, reason)
        cache.set(_last_key(connection_id), {"at": now, "reason": reason[:300]}, timeout=_TTL)


def rejection_counts(
    connection_ids: Iterable[int], *, since: datetime | None = None, now: float | None = None
) -> dict[int, int]:
    """Rejected deliveries per connection from the minute of `since` until now, counting
    at most the last hour (the default). Every id asked about is in the answer."""
    ids = list(connection_ids)
    now = time.time() if now is None else now
    last = _bucket(now)
    # The minute that began an hour ago counts whole: never fewer than happened in the hour.
    first = _bucket(now - WINDOW_SECONDS + 1)
    if since is not None:
        first = max(first, _bucket(since.timestamp()))
    keys = {_count_key(pk, bucket): pk for pk in ids for bucket in range(first, last + 1)}
    counts = dict.fromkeys(ids, 0)
    try:
        found = cache.get_many(list(keys))
    except RedisError as exc:  # the page shows no counts rather than failing
        logger.warning("rejected webhook counts unavailable: %s", exc)
        found = {}
    for key, value in found.items():
        counts[keys[key]] += int(value or 0)
    return counts


def rejection_last(connection_id: int) -> Rejection | None:
    """The latest sampled rejection of the last hour, or None."""
    try:
        found = cache.get(_last_key(connection_id))
    except RedisError as exc:
        logger.warning("the latest rejected webhook is unavailable: %s", exc)
        return None
    if not found:
        return None
    return Rejection(at=datetime.fromtimestamp(found["at"], UTC), reason=str(found["reason"]))
