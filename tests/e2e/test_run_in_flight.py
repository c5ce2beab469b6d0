"""A run whose writes wait in Zendesk's background jobs, in a browser: its page lists them as
waiting while the jobs are queued (the sandbox holds them), then, once a later run settled
them, each one's outcome and the run that settled it, one click away.

HubSpot contacts <-> Zendesk users through the real connectors and the sandbox; the runs are
executed in-process the way a worker executes them. Saves the page under var/screenshots/.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from tests.e2e.test_run_log import log_in, screenshot
from tests.factories import MembershipFactory
from tests.running import run_now
from tests.runs.sandbox_sync import hub_desk_sync
from tests.sandbox_fixtures import Sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_the_run_page_shows_writes_waiting_for_a_job_and_then_their_outcome(
    page: Page, live_server, sandbox: Sandbox
):
    sync = hub_desk_sync(
        sandbox,
        seed_counts={
            "hubspot": {"contacts": 5, "companies": 0, "deals": 0, "tickets": 0},
            "zendesk": {"users": 0, "tickets": 0, "organizations": 0},
        },
        filters=[{"side": "b", "field": "role", "operator": "equals", "value": "end-user"}],
    )
    sandbox.admin.configure("zendesk", job_polls=0, jobs_held=True)
    member = MembershipFactory(role=Role.VIEWER, workspace=sync.workspace)
    writing = run_now(sync)
    base = live_server.url
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, base, member.user.username)

    page.goto(f"{base}/runs/{writing.public_id}/")

    section = page.locator("#in-flight")
    expect(section.get_by_role("heading", name=re.compile("background job"))).to_be_visible()
    expect(section).to_contain_text("5 still waiting")
    rows = section.locator("tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.filter(has_text="waiting for the job")).to_have_count(5)
    expect(rows.first).to_contain_text("Create")
    screenshot(page, "run-in-flight")

    sandbox.admin.configure("zendesk", jobs_held=False)
    settling = run_now(sync)
    page.reload()

    expect(section).to_contain_text("Every one is settled")
    expect(rows.filter(has_text="done")).to_have_count(5)
    expect(rows.filter(has_text=re.compile(r"created \d+"))).to_have_count(5)
    rows.first.get_by_role("link", name=re.compile("Settled by the run")).click()
    page.wait_for_url(f"{base}/runs/{settling.public_id}/")
    expect(page.locator("#events tbody tr.event-created")).to_have_count(5)
    # The settling run left nothing in flight itself: no such section on its page.
    expect(page.locator("#in-flight")).to_have_count(0)
