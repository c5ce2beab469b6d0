"""What field discovery found, kept per connection and object type in Django's cache.

Every run used to ask both systems for their fields again (one or more calls per side
before reading a single record). Connectors ask through Connector.discovered(); this is
the cache behind it. A connection's entries are keyed by its `updated_at`, so saving the
connection (new credentials, another account or project) starts afresh; a write refused
over a field forgets its object type's entry (apps.syncs.engine.sides), and the sync
builder's "refresh" bypasses it (connection_fields(fresh=True)). Entries live
CONCORD_FIELD_CACHE_SECONDS.

The cache is a help, never a requirement: when it cannot be reached the connector simply
discovers again.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError
from redis.exceptions import RedisError

from apps.connections.models import Connection

logger = logging.getLogger(__name__)

CACHE_ERRORS = (RedisError, DatabaseError, OSError)


class ConnectionDiscoveryCache:
    """Implements connectors.base.DiscoveryCache for one connection."""

    def __init__(self, connection: Connection, *, timeout: float | None = None) -> None:
        version = connection.updated_at.timestamp() if connection.updated_at else 0
        self.prefix = f"concord:fields:{connection.pk}:{version:.6f}"
        self.timeout = settings.CONCORD_FIELD_CACHE_SECONDS if timeout is None else timeout

    def _key(self, object_type: str) -> str:
        # Object type names come from the systems: hashed, they are safe for any backend.
        return f"{self.prefix}:{hashlib.sha256(object_type.encode()).hexdigest()[:32]}"

    def get(self, object_type: str) -> Any:
        try:
            return cache.get(self._key(object_type))
        except CACHE_ERRORS as exc:
            logger.warning("field cache unreachable, discovering again: %s", exc)
            return None

    def set(self, object_type: str, value: Any) -> None:
        try:
            cache.set(self._key(object_type), value, timeout=self.timeout)
        except CACHE_ERRORS as exc:
            logger.warning("field cache unreachable, discovery not kept: %s", exc)

    def forget(self, object_type: str) -> None:
        try:
            cache.delete(self._key(object_type))
        except CACHE_ERRORS as exc:
            logger.warning("field cache unreachable, an entry could not be dropped: %s", exc)


def discovery_cache(connection: Connection) -> ConnectionDiscoveryCache | None:
    """The connection's discovery cache, or None when CONCORD_FIELD_CACHE_SECONDS is 0."""
    if settings.CONCORD_FIELD_CACHE_SECONDS <= 0 or connection.pk is None:
        return None
    return ConnectionDiscoveryCache(connection)
