"""Shared fixtures. Factories live in tests/factories.py."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# The sandbox server, `sandbox` and `webhook_receiver` fixtures, for any test package.
pytest_plugins = ["tests.sandbox_fixtures", "tests.workers"]

settings.register_profile(
    "default", max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("CONCORD_HYPOTHESIS_PROFILE", "default"))
