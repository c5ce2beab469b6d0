"""The overview in a browser, with real data: a HubSpot <-> Zendesk sync against the
sandboxes that ran several times (each run executed in-process as a worker does, see
tests/running.py), a paused second sync, and a Zendesk connection whose token is wrong.

The runs are real; their times are then spread over the last days (the page draws a week
of runs per hour, which a test cannot wait for). A viewer checks that the chart is drawn,
that its table has the numbers of those runs, and that the health table shows each sync.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.connections.services import connection_check, connection_create, connector_for
from apps.runs.models import SyncRun
from apps.syncs.models import RecordLink
from apps.syncs.services import sync_create, sync_pause
from apps.webhooks.models import WebhookDelivery
from connectors.zendesk.sandbox import ADMIN_EMAIL
from tests.factories import PASSWORD, MembershipFactory
from tests.running import run_now
from tests.runs.sandbox_sync import hub_desk_sync

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
# The README's picture is refreshed only on request: a test run leaves the tree clean.
README_IMAGE = (
    Path(settings.BASE_DIR) / "docs" / "images" / "overview.png"
    if os.environ.get("CONCORD_UPDATE_DOC_IMAGES")
    else SCREENSHOTS / "overview-readme.png"
)
SEED = {
    "hubspot": {"contacts": 14, "companies": 3, "deals": 0, "tickets": 0},
    "zendesk": {"users": 6, "tickets": 0, "organizations": 2},
}
# Hours ago at which each run is shown to have started, oldest first.
PHONE = {"width": 390, "height": 844}
HOURS_AGO = [150, 121, 97, 75, 50, 26, 5, 0]


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")


def new_contacts(hubspot, n: int, start: int) -> None:
    connector = connector_for(hubspot)
    try:
        connector.create(
            "contacts",
            [
                {"email": f"lead{start + i}@example.com", "firstname": f"Lead {start + i}"}
                for i in range(n)
            ],
        )
    finally:
        connector.close()


@pytest.fixture
def history(sandbox):
    """A week of a HubSpot <-> Zendesk sync's runs, its neighbours, and a viewer."""
    sync = hub_desk_sync(sandbox, seed_counts=SEED, enabled=True, interval_seconds=300)
    ws = sync.workspace
    ws.name = "Acme Support"
    ws.save(update_fields=["name"])
    hubspot, zendesk = sync.connection_a, sync.connection_b
    runs = []
    for i, hours in enumerate(HOURS_AGO):
        if i:
            new_contacts(hubspot, i % 3 + 1, start=10 * i)
        run = run_now(sync)
        assert run.status == "succeeded", run.error
        start = timezone.now() - timedelta(hours=hours, minutes=3)
        SyncRun.objects.filter(pk=run.pk).update(
            started_at=start, finished_at=start + timedelta(seconds=4)
        )
        runs.append(run)
    WebhookDelivery.objects.create(
        workspace=ws, connection=zendesk, dedupe_key="zd-1", body="{}", events=[]
    )

    companies = sync_create(
        workspace=ws,
        name="Companies and organizations",
        connection_a=hubspot,
        object_type_a="companies",
        connection_b=zendesk,
        object_type_b="organizations",
        mappings=[{"field_a": "name", "field_b": "name"}],
        match_rule=[{"a": "name", "b": "name"}],
        enabled=True,
        interval_seconds=900,
    )
    sync_pause(companies, reason="Paused by Ada: cleaning up duplicate companies first.")
    eu = connection_create(
        workspace=ws,
        name="Zendesk EU",
        kind="zendesk",
        values={
            "base_url": sandbox.url_for("zendesk"),
            "email": ADMIN_EMAIL,
            "api_token": "revoked-token",
        },
    )
    ok, _ = connection_check(eu)
    assert not ok
    viewer = MembershipFactory(workspace=ws, role=Role.VIEWER, user__username="vic@example.com")
    return viewer, sync, companies, runs


def test_the_overview_shows_health_failing_connections_and_a_week_of_runs(
    page: Page, live_server, history
):
    viewer, sync, companies, runs = history
    log_in(page, live_server.url, viewer.user.username)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/")

    health = page.locator("table.health")
    row = health.locator(f'tr[data-sync="{sync.public_id}"]')
    linked = RecordLink.objects.filter(sync=sync, status="linked").count()
    expect(row.locator("td.linked")).to_have_text(str(linked))
    expect(row.locator("td.state")).to_contain_text("On")
    expect(row.locator("td.last-run")).to_contain_text("Succeeded")
    expect(row.locator("td.webhooks")).to_contain_text("last webhook")
    paused = health.locator(f'tr[data-sync="{companies.public_id}"]')
    expect(paused.locator("td.state")).to_contain_text("cleaning up duplicate companies")
    expect(paused.locator("td.last-run")).to_have_text("Never run")

    failing = page.get_by_role("region", name="Connections failing")
    expect(failing).to_contain_text("Zendesk EU")
    expect(failing).not_to_contain_text("HubSpot")

    # The chart is drawn (uPlot's canvas), and the table under it has each run's numbers.
    chart = page.locator("#activity-chart")
    expect(chart.locator("canvas")).to_be_visible()
    assert chart.locator("canvas").bounding_box()["width"] > 600
    page.get_by_text("Show as table").click()
    rows = page.locator(".activity-table tbody tr")
    expect(rows).to_have_count(len(runs))
    expected = []
    for run in sorted(SyncRun.objects.filter(sync=sync), key=lambda r: r.started_at, reverse=True):
        changes = sum(
            getattr(run, f"{name}_{side}")
            for name in ("created", "updated", "deleted")
            for side in "ab"
        )
        expected.append(["1", "0", str(changes)])
    shown = [r.locator("td").all_inner_texts() for r in rows.all()]
    assert shown == expected
    assert sum(int(c) for _, _, c in shown) >= linked  # every pair was made by a change

    # The last day alone: the two runs of the last hours.
    page.get_by_role("link", name="Last day").click()
    page.get_by_text("Show as table").click()
    expect(page.locator(".activity-table tbody tr")).to_have_count(2)
    page.get_by_role("link", name="Last 7 days").click()
    expect(chart.locator("canvas")).to_be_visible()

    README_IMAGE.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(README_IMAGE), full_page=True)

    # On a phone the chart is redrawn to the screen's width.
    page.set_viewport_size(PHONE)
    expect(chart.locator("canvas")).to_be_visible()
    page.wait_for_function(
        "document.querySelector('#activity-chart canvas').getBoundingClientRect().width < 390"
    )
    expect(row.locator("td.linked")).to_contain_text(str(linked))
    screenshot(page, "overview")
