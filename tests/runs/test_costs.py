"""What a run of the sandbox HubSpot <-> Zendesk sync costs in database queries and API calls.

Counts, not timings (issue 14): the request budget must not cost queries per API call, and
runs must not discover the systems' fields again each time.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.connections.services import connection_fields, connection_update, connector_for
from apps.runs.models import SyncRun
from connectors.base import RecordUpdate
from tests.running import run_now
from tests.runs.sandbox_sync import hub_desk_sync

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DISCOVERY = {
    "hubspot": "GET /hubspot/crm/v3/properties/{object_type}",
    "zendesk": "GET /zendesk/api/v2/user_fields.json",
}


def calls(sandbox) -> dict[str, int]:
    return {k: v["count"] for k, v in sandbox.admin.stats()["endpoints"].items()}


def discoveries(sandbox) -> dict[str, int]:
    seen = calls(sandbox)
    return {vendor: seen.get(endpoint, 0) for vendor, endpoint in DISCOVERY.items()}


def change_a_contact(sync, first_name: str) -> None:
    crm = connector_for(sync.connection_a)
    contact = next(iter(crm.changes("contacts", None))).records[0]
    crm.update("contacts", [RecordUpdate(contact.id, {"firstname": first_name})])


def test_runs_discover_fields_once_until_the_connection_is_edited(sandbox):
    sync = hub_desk_sync(sandbox)  # creating the sync discovers both sides' fields
    assert discoveries(sandbox) == {"hubspot": 1, "zendesk": 1}

    assert run_now(sync).status == SyncRun.Status.SUCCEEDED
    change_a_contact(sync, "Changed")
    assert run_now(sync).status == SyncRun.Status.SUCCEEDED
    assert run_now(sync).status == SyncRun.Status.SUCCEEDED
    assert discoveries(sandbox) == {"hubspot": 1, "zendesk": 1}

    # A saved edit of one connection (a new token, another account) discovers it again.
    connection_update(sync.connection_b, name="Zendesk (support)")
    sync.refresh_from_db()
    assert run_now(sync).status == SyncRun.Status.SUCCEEDED
    assert run_now(sync).status == SyncRun.Status.SUCCEEDED
    assert discoveries(sandbox) == {"hubspot": 1, "zendesk": 2}

    # Asked to read the fields again (the sync builder's "refresh"), discovery goes out.
    connection_fields(sync.connection_a, "contacts", fresh=True)
    assert discoveries(sandbox) == {"hubspot": 2, "zendesk": 2}


def test_the_request_budget_costs_no_query_per_api_call(sandbox, settings):
    settings.CONCORD_CONNECTION_REQUESTS_PER_WINDOW = 100  # slices of 10
    settings.CONCORD_CONNECTION_RATE_WINDOW = 3600.0  # no window ends during the test
    sync = hub_desk_sync(sandbox)
    run_now(sync)
    change_a_contact(sync, "Changed")
    before = sum(calls(sandbox).values())
    with CaptureQueriesContext(connection) as queries:
        run = run_now(sync)
    assert run.status == SyncRun.Status.SUCCEEDED
    made = sum(calls(sandbox).values()) - before
    budget = [q for q in queries.captured_queries if "ratelimitcounter" in q["sql"].lower()]
    assert made >= 4  # read both sides, fetch the changed record, write it
    # Before: an UPDATE and a SELECT per call (14). Now: at most one reservation per side's
    # process-wide slice of 10, which the setup's calls may already have reserved.
    assert len(budget) <= 1
