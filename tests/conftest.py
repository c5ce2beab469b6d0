"""Shared fixtures. Factories live in tests/factories.py."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# The sandbox server, `sandbox` and `webhook_receiver` fixtures, for any test package.
pytest_plugins = ["tests.sandbox_fixtures", "tests.workers"]

# `make test` draws the same examples on every run (derandomize), so a run's verdict is the
# code's, not the draw's; `make fuzz` draws new ones each time to look for what is unknown.
settings.register_profile(
    "default",
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "fuzz", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("CONCORD_HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _token_failures_out_of_the_way(settings):
    """Failed token authentications are counted per address and minute in the cache
    (apps/accounts/lockout.py), and on Redis the cache outlives a test: every test's bad
    tokens come from 127.0.0.1, so together they would throttle later tests. The brake is
    tested with its own limit and addresses in tests/accounts/test_lockout.py."""
    settings.CONCORD_TOKEN_FAILURE_LIMIT = 1_000_000


@pytest.fixture(scope="session", autouse=True)
def _redis_cache_of_this_session_only():
    """On Redis the cache outlives the test process: an earlier session's counters (webhook
    rejections per connection, token failures per address) would land on this session's
    rows, which reuse the same ids in a fresh test database. Each test process has a Redis
    database of its own (apps/config/settings.py), so emptying it here touches no other."""
    from django.conf import settings as django_settings
    from django.core.cache import cache

    if django_settings.REDIS_URL:
        cache.clear()
