from __future__ import annotations

import pytest

from apps.runs.models import SyncRun
from apps.syncs.models import Sync
from connectors.memory.connector import reset_stores
from tests.syncs import factories as f


@pytest.fixture(autouse=True)
def _fresh_stores():
    reset_stores()
    yield
    reset_stores()


@pytest.fixture
def setup() -> tuple[Sync, object, object]:
    """A sync between two in-memory stores: (sync, crm, desk)."""
    ws = f.workspace()
    crm, desk = f.stores()
    return f.sync(ws, crm, desk), crm, desk


def queued(sync: Sync) -> list[SyncRun]:
    return list(SyncRun.objects.filter(sync=sync, status=SyncRun.Status.QUEUED))
