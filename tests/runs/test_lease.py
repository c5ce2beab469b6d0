"""The lease: one holder per sync, fenced, expiring; a late holder cannot touch the new one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.runs.lease import LeaseLost, lease_acquire, lease_release, lease_renew
from apps.runs.models import SyncLock
from apps.runs.queue import run_request

pytestmark = pytest.mark.django_db


# --- the lock -------------------------------------------------------------------------------
def test_the_lock_admits_one_holder(setup):
    sync, _, _ = setup
    run = run_request(sync, trigger="manual")
    lease = lease_acquire(sync.pk, run.pk)
    assert lease is not None
    assert lease_acquire(sync.pk, run.pk) is None
    assert lease_release(lease) is True
    again = lease_acquire(sync.pk, run.pk)
    assert again is not None
    assert again.fence == lease.fence + 1


def test_a_late_holder_can_neither_renew_nor_release_the_new_lease(setup, settings):
    sync, _, _ = setup
    run = run_request(sync, trigger="manual")
    late = lease_acquire(sync.pk, run.pk)
    # The late holder's lease runs out (its worker stalled) and another run takes the sync.
    SyncLock.objects.filter(sync_id=sync.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    current = lease_acquire(sync.pk, run.pk)
    assert current is not None
    assert current.fence == late.fence + 1
    with pytest.raises(LeaseLost):
        lease_renew(late)
    assert lease_release(late) is False
    assert SyncLock.objects.get(sync_id=sync.pk).token == current.token
