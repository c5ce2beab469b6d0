"""Crash recovery: a run that died around a create never leaves a duplicate."""

from __future__ import annotations

import pytest

from apps.syncs.models import RecordLink, SyncCursor
from connectors.memory.connector import SimulatedCrash
from tests.syncs.factories import memory_sync, run

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("after", [False, True])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_a_crash_at_any_create_never_duplicates(n, after):
    s, crm, desk = memory_sync()
    for i in range(3):
        crm.insert("contacts", {"email": f"c{i}@x.com", "name": f"C{i}"})
    desk.crash_on_write(n, after=after)
    with pytest.raises(SimulatedCrash):
        run(s)
    assert SyncCursor.objects.filter(sync=s, side="a").count() == 0  # page not stored
    run(s)
    run(s)
    emails = sorted(r.fields["email"] for r in desk.all("users"))
    assert emails == ["c0@x.com", "c1@x.com", "c2@x.com"]
    assert RecordLink.objects.filter(status="linked").count() == 3
    assert not RecordLink.objects.exclude(status="linked").exists()
