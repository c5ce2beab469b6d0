"""The lease: one running run per sync.

The SyncLock row is taken and renewed with conditional UPDATEs, never check-then-act. A
lease expires (a worker that died cannot block a sync forever) and carries a random token
and a fence number that grows with each acquisition: a late holder whose lease expired and
was taken over fails its renewal at its next checkpoint and stops, and can neither renew
nor release the new holder's lease.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from apps.runs.models import SyncLock
from apps.syncs.engine.recorder import RunInterrupted


@dataclass(frozen=True)
class Lease:
    sync_id: int
    token: uuid.UUID
    fence: int


class LeaseLost(RunInterrupted):
    """Our lease expired and another run holds the sync now: stop before writing more."""


def _expires() -> datetime:
    return timezone.now() + timedelta(seconds=settings.CONCORD_RUN_LOCK_TTL)


def lease_acquire(sync_id: int, run_id: int) -> Lease | None:
    """Take the sync's lease if it is free or expired. None if another run holds it."""
    SyncLock.objects.get_or_create(sync_id=sync_id)
    token = uuid.uuid4()
    taken = SyncLock.objects.filter(
        Q(token__isnull=True) | Q(expires_at__lt=timezone.now()), sync_id=sync_id
    ).update(token=token, fence=F("fence") + 1, run_id=run_id, expires_at=_expires())
    if not taken:
        return None
    fence = SyncLock.objects.values_list("fence", flat=True).get(sync_id=sync_id)
    return Lease(sync_id=sync_id, token=token, fence=fence)


def lease_renew(lease: Lease) -> None:
    """Extend our lease. Raises LeaseLost if it expired and was taken by another run."""
    renewed = SyncLock.objects.filter(sync_id=lease.sync_id, token=lease.token).update(
        expires_at=_expires()
    )
    if not renewed:
        raise LeaseLost(f"run lost the lease of sync {lease.sync_id} (fence {lease.fence})")


def lease_release(lease: Lease) -> bool:
    """Give the lease back. Releases nothing if it is no longer ours."""
    return bool(
        SyncLock.objects.filter(sync_id=lease.sync_id, token=lease.token).update(
            token=None, run=None, expires_at=None
        )
    )


def lease_held_by(sync_id: int, run_id: int, *, now: datetime) -> bool:
    """Whether `run_id` holds a live (unexpired) lease on the sync."""
    return SyncLock.objects.filter(sync_id=sync_id, run_id=run_id, expires_at__gte=now).exists()


def lease_free(sync_id: int, run_id: int) -> None:
    """Free the sync's lease if `run_id` still holds it (its worker is gone)."""
    SyncLock.objects.filter(sync_id=sync_id, run_id=run_id).update(
        token=None, run=None, expires_at=None
    )
