"""Planning a batch: echoes are dropped before any call, and only what is needed is read."""

from __future__ import annotations

import pytest

from apps.syncs.engine.recorder import Outcome
from tests.syncs.factories import memory_sync, only, run

pytestmark = pytest.mark.django_db


def test_own_writes_coming_back_cost_nothing():
    s, crm, desk = memory_sync()
    crm.insert("contacts", {"email": "ann@x.com", "name": "Ann"})
    run(s)
    b = only(desk, "users")
    crm.calls.clear()
    desk.calls.clear()

    report, recorder = run(s)  # the create on B comes back in B's feed

    assert recorder.events == []
    assert (crm.writes, desk.writes) == (0, 1)
    assert set(crm.calls) | set(desk.calls) == {"changes"}
    assert report.outcome is Outcome.SUCCEEDED

    # ... and as a webhook naming the record: one get, nothing else.
    desk.calls.clear()
    _, recorder = run(s, record_ids={"b": [b.id]})
    assert recorder.events == []
    assert dict(desk.calls) == {"get": 1}
    assert desk.writes == 1
