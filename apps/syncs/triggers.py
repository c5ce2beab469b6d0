"""Asking for a run of a sync, from the parts of Concord that sit beside or beneath runs.

apps.runs owns the queue (SyncRun rows, folding, the Celery message) and sits above syncs;
webhooks sits beside runs. Both webhooks (a delivery names records) and syncs itself (a
conflict decision is applied by a run) need to ask for runs without importing runs, so
they ask here, and apps.runs plugs its queue in when Django starts (RunsConfig.ready).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from apps.syncs.models import Sync


class RequestedRun(Protocol):
    """What a caller learns of the run its request was queued in or folded into."""

    pk: int
    public_id: Any
    status: str


class RunRequester(Protocol):
    def __call__(
        self,
        sync: Sync,
        *,
        trigger: str,
        record_ids: Mapping[str, Sequence[str]] | None = None,
    ) -> RequestedRun: ...


_requester: RunRequester | None = None


def requester_set(requester: RunRequester) -> None:
    """Plug in the run queue (apps.runs does, once, at start-up)."""
    global _requester
    _requester = requester


def sync_trigger(
    sync: Sync, *, trigger: str, record_ids: Mapping[str, Sequence[str]] | None = None
) -> RequestedRun:
    """Ask for a run of `sync`, of just `record_ids` ({"a": [...], "b": [...]}) or of every
    change since the cursors (None). Folds into a run already queued; sent after commit."""
    if _requester is None:
        raise RuntimeError("no run queue is plugged in: is apps.runs in INSTALLED_APPS?")
    return _requester(sync, trigger=trigger, record_ids=record_ids)
