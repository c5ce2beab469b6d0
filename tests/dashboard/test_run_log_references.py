"""The run log shows a reference that waits: a warning badge, the value not written and
why, and the filter by action finds it (Django test client, two in-memory systems)."""

from __future__ import annotations

import pytest

from tests.dashboard.test_runs import member, rows_of, run_url
from tests.running import run_now
from tests.syncs.reference_world import build

pytestmark = pytest.mark.django_db


def test_a_waiting_reference_is_a_warning_in_the_run_log(client):
    ws, crm, _, _, _, contacts = build()
    member(client, workspace=ws)
    acme = crm.insert("companies", {"name": "Acme"})
    crm.insert("contacts", {"email": "ann@x.com", "name": "Ann", "company": acme.id})
    run = run_now(contacts)
    assert run.status == "succeeded"

    page = client.get(run_url(run, action="waiting")).content.decode()

    [row] = rows_of(page).values()
    assert 'class="badge action-waiting warn">waiting</span>' in row
    assert f'<q>{acme.id}</q> <span class="muted">not written</span>' in row
    assert "is not linked to a record on B yet" in row
    assert '<code class="code">reference_unlinked</code>' in row
