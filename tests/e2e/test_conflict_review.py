"""The conflict review screen in a browser, against the HubSpot and Zendesk sandboxes and a
real Celery worker: conflicts made the way they happen (the same field edited on both
systems between two runs), decided on the page, written by the worker, and checked on both
sandboxes; one decided alone, several at once; and a viewer who sees them and changes
nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.connections.models import Connection
from apps.connections.services import connector_for
from apps.runs.models import SyncRun
from apps.runs.queue import run_request
from apps.syncs.models import Conflict, RecordLink, Sync
from connectors.base import RecordUpdate
from connectors.hubspot.sandbox.schema import PORTAL_ID
from tests.factories import PASSWORD, MembershipFactory
from tests.runs.sandbox_sync import hub_desk_sync
from tests.workers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
SEED = {
    "hubspot": {"contacts": 3, "companies": 0, "deals": 0, "tickets": 0},
    "zendesk": {"users": 3, "tickets": 0, "organizations": 0},
}
# What two people typed into the same field, on HubSpot and on Zendesk, between two runs.
EDITS = [
    ("Katharina", "Kathy Berger"),
    ("Jon", "Jonathan Meyer-Holt"),
    ("Dr. Amara", "Amara Okafor"),
    ("Lucía", "Lucia Fernández"),
]


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")


def finished(run: SyncRun) -> SyncRun:
    return wait_until(
        lambda: SyncRun.objects.filter(pk=run.pk, status="succeeded").first(), timeout=60
    )


def values(sync: Sync, link: RecordLink) -> tuple[str, str]:
    """The field on both sandboxes now: HubSpot's firstname, Zendesk's name."""
    hubspot, zendesk = connector_for(sync.connection_a), connector_for(sync.connection_b)
    try:
        [contact] = hubspot.get("contacts", [link.a_id])
        [user] = zendesk.get("users", [link.b_id])
    finally:
        hubspot.close()
        zendesk.close()
    return contact.fields["firstname"], user.fields["name"]


@pytest.fixture
def conflicted(sandbox, workers):
    """A HubSpot contacts <-> Zendesk users sync, its records linked by a first run, then
    the same field changed differently on both sandboxes for four pairs and a second run:
    four open conflicts. A worker is running; an editor and a viewer can log in."""
    sync = hub_desk_sync(sandbox, seed_counts=SEED)
    hubspot = Connection.objects.get(pk=sync.connection_a_id)
    hubspot.config = {**hubspot.config, "portal_id": str(PORTAL_ID)}
    hubspot.save(update_fields=["config"])
    sync.refresh_from_db()
    workers.start()
    finished(run_request(sync, trigger="manual"))
    links = list(RecordLink.objects.filter(sync=sync, status="linked").order_by("id"))[:4]
    assert len(links) == 4
    connectors = connector_for(sync.connection_a), connector_for(sync.connection_b)
    try:
        for link, (on_hubspot, on_zendesk) in zip(links, EDITS, strict=True):
            connectors[0].update("contacts", [RecordUpdate(link.a_id, {"firstname": on_hubspot})])
            connectors[1].update("users", [RecordUpdate(link.b_id, {"name": on_zendesk})])
    finally:
        for connector in connectors:
            connector.close()
    ids = {"a": [link.a_id for link in links], "b": [link.b_id for link in links]}
    finished(run_request(sync, trigger="webhook", record_ids=ids))
    conflicts = list(Conflict.objects.filter(sync=sync, status="open").order_by("link_id"))
    assert len(conflicts) == 4
    editor = MembershipFactory(
        role=Role.EDITOR, workspace=sync.workspace, user__username="maria@acme.example"
    )
    viewer = MembershipFactory(
        role=Role.VIEWER, workspace=sync.workspace, user__username="viewer@acme.example"
    )
    # The worker writes a decision within a second; slow Zendesk down a little so that
    # the page has time to show it pending.
    sandbox.admin.set_faults("zendesk", latency_ms=400)
    return sync, conflicts, editor, viewer


def card(page: Page, conflict: Conflict):
    return page.locator(f"#conflict-{conflict.public_id}")


def test_a_conflict_is_decided_with_b_and_written_to_both_sandboxes(
    page: Page, live_server, conflicted
):
    sync, conflicts, editor, _viewer = conflicted
    base = live_server.url
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, base, editor.user.username)

    page.get_by_role("link", name="Conflicts").click()
    expect(page.locator("article.conflict")).to_have_count(4)
    expect(page.locator(".nav-count")).to_have_text("4")
    first = card(page, conflicts[0])
    expect(first).to_contain_text(EDITS[0][0])
    expect(first).to_contain_text(EDITS[0][1])
    expect(first).to_contain_text("does not say who")
    # Each record opens in its own system (here: the sandboxes' record pages).
    hubspot_link = first.locator(".side-a .record a[target=_blank]")
    expect(hubspot_link).to_have_attribute(
        "href",
        f"{sync.connection_a.config['base_url']}/contacts/{PORTAL_ID}/record/0-1/"
        f"{conflicts[0].link.a_id}",
    )
    expect(first.locator(".side-b .record a[target=_blank]")).to_have_attribute(
        "href", f"{sync.connection_b.config['base_url']}/agent/users/{conflicts[0].link.b_id}"
    )
    screenshot(page, "conflict-review")

    first.get_by_role("button", name="Keep B's value").click()

    expect(first).to_have_class(r"conflict state-pending")
    expect(first).to_contain_text(f"chose B's value, {EDITS[0][1]}")
    expect(first).to_have_class("conflict state-resolved", timeout=30_000)
    expect(first).to_contain_text(f"both systems hold {EDITS[0][1]}")
    expect(first).to_contain_text(editor.user.username)
    assert values(sync, conflicts[0].link) == (EDITS[0][1], EDITS[0][1])
    # The others wait; the resolved one is on the resolved tab, found by its value.
    expect(card(page, conflicts[1])).to_have_class("conflict state-open")
    page.goto(f"{base}/conflicts/?tab=resolved&q=Kathy")
    expect(page.locator("article.conflict")).to_have_count(1)
    page.locator("article.conflict").get_by_role("link", name="history").first.wait_for()
    page.goto(f"{base}/conflicts/{conflicts[0].public_id}/")
    expect(page.get_by_role("link", name="this run").first).to_be_visible()
    screenshot(page, "conflict-review-resolved")


def test_several_conflicts_are_decided_at_once_and_a_viewer_changes_nothing(
    page: Page, live_server, conflicted
):
    sync, conflicts, editor, viewer = conflicted
    base = live_server.url

    # A viewer sees every conflict, with every control disabled.
    log_in(page, base, viewer.user.username)
    page.goto(f"{base}/conflicts/")
    expect(page.locator("article.conflict")).to_have_count(4)
    expect(page.get_by_text("deciding needs the editor role")).to_be_visible()
    expect(card(page, conflicts[0]).get_by_role("button", name="Keep A's value")).to_be_disabled()
    expect(page.get_by_role("button", name="Keep A's values")).to_be_disabled()
    expect(card(page, conflicts[0]).locator("input.pick")).to_be_disabled()
    page.context.clear_cookies()

    log_in(page, base, editor.user.username)
    page.goto(f"{base}/conflicts/")
    for conflict in conflicts[1:]:
        card(page, conflict).locator("input.pick").check()
    page.get_by_role("button", name="Keep A's values").click()

    expect(page.get_by_text("Decided 3 with A's value")).to_be_visible()
    for conflict in conflicts[1:]:
        expect(card(page, conflict)).to_have_class("conflict state-resolved", timeout=30_000)
    expect(card(page, conflicts[0])).to_have_class("conflict state-open")
    for conflict, (on_hubspot, _) in zip(conflicts[1:], EDITS[1:], strict=True):
        assert values(sync, conflict.link) == (on_hubspot, on_hubspot)
    assert Conflict.objects.get(pk=conflicts[0].pk).status == "open"
    screenshot(page, "conflict-review-bulk")
