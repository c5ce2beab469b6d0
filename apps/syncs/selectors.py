"""Reads for syncs."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.accounts.models import Workspace
from apps.syncs.engine.types import LinkStatus
from apps.syncs.models import Conflict, RecordLink, Sync


def syncs_for_workspace(workspace: Workspace) -> QuerySet[Sync]:
    return Sync.objects.for_workspace(workspace).select_related("connection_a", "connection_b")


def open_conflicts(workspace: Workspace, *, sync: Sync | None = None) -> QuerySet[Conflict]:
    """Open conflicts, newest first, ready for the review screen."""
    qs = Conflict.objects.for_workspace(workspace).filter(status=Conflict.Status.OPEN)
    if sync is not None:
        qs = qs.filter(sync=sync)
    return qs.select_related("link", "mapping", "sync")


def linked_pairs(sync: Sync) -> QuerySet[RecordLink]:
    return RecordLink.objects.filter(sync=sync, status=LinkStatus.LINKED)


def link_for_record(sync: Sync, *, side: str, record_id: str) -> RecordLink | None:
    """The active link of a record, if it has one."""
    field = "a_id" if side == "a" else "b_id"
    return (
        RecordLink.objects.filter(sync=sync, **{field: record_id})
        .exclude(status__in=[LinkStatus.UNLINKED, LinkStatus.DELETED])
        .first()
    )
