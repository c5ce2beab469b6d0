"""Rejected deliveries are counted per minute, so the page can say how many in the last hour."""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime

import pytest

from apps.webhooks.rejections import (
    rejection_counts,
    rejection_last,
    rejection_record,
)

pytestmark = pytest.mark.django_db  # the database cache lives in a table

# Ids no real connection of another test has, also when the cache is a shared Redis.
_ids = itertools.count(int(time.time() * 1000) % 10**9 * 1000)


def test_the_count_covers_the_last_hour_and_forgets_what_is_older():
    pk = next(_ids)
    now = 1_800_000_000.0
    rejection_record(pk, "zendesk", "signature mismatch", now=now - 2 * 3600)  # too old
    rejection_record(pk, "zendesk", "signature mismatch", now=now - 3599)
    rejection_record(pk, "zendesk", "signature mismatch", now=now - 60)
    rejection_record(pk, "zendesk", "stale", now=now)
    assert rejection_counts([pk], now=now) == {pk: 3}
    # An hour and a minute later only the newest two are within the hour.
    assert rejection_counts([pk], now=now + 3540) == {pk: 2}


def test_counts_since_a_moment_and_for_several_connections_at_once():
    a, b, quiet = next(_ids), next(_ids), next(_ids)
    now = 1_800_000_000.0
    for offset in (600, 120, 0):
        rejection_record(a, "jira", "signature mismatch", now=now - offset)
    rejection_record(b, "jira", "signature mismatch", now=now)
    since = datetime.fromtimestamp(now - 180, UTC)
    assert rejection_counts([a, b, quiet], since=since, now=now) == {a: 2, b: 1, quiet: 0}


def test_the_reason_is_kept_at_most_once_a_minute():
    pk = next(_ids)
    rejection_record(pk, "hubspot", "stale: signed 400s ago")
    rejection_record(pk, "hubspot", "signature mismatch")
    last = rejection_last(pk)
    assert last is not None
    assert last.reason == "stale: signed 400s ago"
    assert rejection_last(next(_ids)) is None
