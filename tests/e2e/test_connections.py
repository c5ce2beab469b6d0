"""The connections pages in a browser, against a live server and the vendor sandboxes:
signing up and adding a HubSpot and a Zendesk connection (a wrong token's error shown),
Zendesk's test delivery arriving, rotating a token and a refused delete, and a viewer who
can see everything and change nothing. Each test saves its last page under var/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.connections.models import Connection
from apps.syncs.models import Sync
from connectors.hubspot.sandbox import SANDBOX_TOKEN
from connectors.zendesk.sandbox import ADMIN_EMAIL, API_TOKEN
from tests.factories import PASSWORD, MembershipFactory
from tests.sandbox_fixtures import Sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(django_settings.BASE_DIR) / "var" / "screenshots"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def _public_url(settings, live_server):
    # The sandboxes deliver webhooks to the address Concord gives them: the live server.
    settings.CONCORD_PUBLIC_URL = live_server.url


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def add_zendesk(page: Page, live_server, sandbox: Sandbox, name: str = "Zendesk") -> None:
    page.goto(f"{live_server.url}/connections/add/")
    page.get_by_role("link", name="Connect Zendesk").click()
    page.get_by_label("Name", exact=False).first.fill(name)
    page.get_by_label("API base URL").fill(sandbox.url_for("zendesk"))
    page.get_by_label("Agent email").fill(ADMIN_EMAIL)
    page.get_by_label("API token").fill(API_TOKEN)
    page.get_by_role("button", name="Save connection").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(name)


def test_sign_up_then_add_and_test_a_hubspot_and_a_zendesk_connection(
    page: Page, live_server, sandbox: Sandbox
):
    page.goto(f"{live_server.url}/accounts/signup/")
    page.get_by_label("Email").fill("ann@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Workspace name").fill("Acme Support")
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url(f"{live_server.url}/")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connections").click()
    expect(page.get_by_role("heading", name="No connections yet")).to_be_visible()
    screenshot(page, "connections-empty")
    page.get_by_role("link", name="Add a connection").first.click()
    expect(page.get_by_text("Syncs contacts, companies, deals and tickets.")).to_be_visible()
    screenshot(page, "connections-catalogue")
    page.get_by_role("link", name="Connect HubSpot").click()

    # A wrong token: "Test connection" answers inline with HubSpot's own explanation.
    page.get_by_label("Name", exact=False).first.fill("HubSpot")
    page.get_by_label("API base URL").fill(sandbox.url_for("hubspot"))
    page.get_by_label("Private app access token").fill("pat-na1-not-a-real-token")
    page.get_by_role("button", name="Test connection").click()
    refusal = page.locator("#check-result")
    expect(refusal).to_contain_text("It does not work:")
    expect(refusal).to_contain_text("401")
    screenshot(page, "connections-hubspot-wrong-token")
    # The typed values stay: fixing the token alone is enough.
    page.get_by_label("Private app access token").fill(SANDBOX_TOKEN)
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#check-result")).to_contain_text("It works.")
    page.get_by_role("button", name="Save connection").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("HubSpot")
    expect(page.get_by_text("Integrations \u203a Private Apps")).to_be_visible()
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#health")).to_contain_text("Working")

    add_zendesk(page, live_server, sandbox)
    secret = page.locator("#new-webhook-secret").inner_text()
    assert secret == Connection.objects.get(kind="zendesk").webhook_secret
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#health")).to_contain_text("Working")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connections").click()
    rows = page.locator("table.connections tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="HubSpot")).to_contain_text("Working")
    expect(rows.filter(has_text="Zendesk")).to_contain_text("No delivery yet")
    screenshot(page, "connections-list")


def test_zendesk_sends_a_test_event_and_the_page_sees_it_arrive(
    page: Page, live_server, sandbox: Sandbox
):
    admin = MembershipFactory(role=Role.ADMIN)
    log_in(page, live_server, admin.user.username)
    add_zendesk(page, live_server, sandbox, name="Support desk")
    webhook_url = page.locator("#webhook-url").inner_text()
    secret = page.locator("#new-webhook-secret").inner_text()
    assert webhook_url == f"{live_server.url}/hooks/{Connection.objects.get().public_id}/"

    # Before the webhook exists in Zendesk, Zendesk's answer says what to do.
    page.get_by_role("button", name="Send a test event").click()
    expect(page.locator("#webhook-status")).to_contain_text("no webhook in this Zendesk account")

    # What the steps on the page ask for, done through the sandbox: a webhook to that URL,
    # signed with the secret the page showed once.
    sandbox.admin.register_webhook("zendesk", webhook_url, secret)
    page.get_by_role("button", name="Send a test event").click()
    status = page.locator("#webhook-status")
    expect(status).to_contain_text("Test delivery received", timeout=15_000)
    expect(status).not_to_contain_text("none yet")
    screenshot(page, "connections-zendesk-test-event")

    # A wrong secret in Zendesk shows as a refused delivery, with the reason.
    sandbox.admin.register_webhook("zendesk", webhook_url, "not-the-secret-concord-has")
    page.reload()
    page.get_by_role("button", name="Send a test event").click()
    expect(status).to_contain_text("arrived but was refused", timeout=15_000)
    expect(status).to_contain_text("Rejected in the last hour")
    screenshot(page, "connections-zendesk-test-event-refused")


def test_rotate_a_token_without_retyping_the_rest_and_a_refused_delete(
    page: Page, live_server, sandbox: Sandbox
):
    owner = MembershipFactory(role=Role.OWNER)
    log_in(page, live_server, owner.user.username)
    add_zendesk(page, live_server, sandbox, name="Desk")
    page.get_by_role("link", name="Edit").first.click()
    token = page.get_by_label("API token")
    expect(token).to_have_value("")  # never shown again
    expect(page.get_by_text("Stored; leave empty to keep it.").first).to_be_visible()
    token.fill("zd-rotated-but-wrong")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#check-result")).to_contain_text("It does not work:")
    screenshot(page, "connections-edit")
    token.fill("")  # keep the stored one after all; rename only
    page.get_by_label("Name", exact=False).first.fill("Support desk")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Support desk")
    assert Connection.objects.get().secrets == {"api_token": API_TOKEN}

    desk = Connection.objects.get()
    Sync.objects.create(
        workspace=desk.workspace,
        name="Tickets to issues",
        connection_a=desk,
        object_type_a="tickets",
        connection_b=desk,
        object_type_b="users",
    )
    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete Support desk").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Not deleted")
    expect(alert).to_contain_text("Tickets to issues")
    assert Connection.objects.filter(pk=desk.pk).exists()
    screenshot(page, "connections-delete-refused")


def test_a_viewer_sees_everything_and_can_change_nothing(page: Page, live_server, sandbox: Sandbox):
    viewer = MembershipFactory(role=Role.VIEWER)
    connection = Connection.objects.create(
        workspace=viewer.workspace,
        name="CRM",
        kind="hubspot",
        config={"base_url": sandbox.url_for("hubspot")},
        secrets={"access_token": SANDBOX_TOKEN},
    )
    page.set_viewport_size(PHONE)
    log_in(page, live_server, viewer.user.username)
    page.goto(f"{live_server.url}/connections/")
    expect(page.get_by_text("only admins and owners add, change or delete them")).to_be_visible()
    screenshot(page, "connections-viewer-list-phone")
    page.get_by_role("link", name="CRM").click()
    expect(page.get_by_role("button", name="Test connection")).to_be_disabled()
    expect(page.get_by_role("button", name="Generate a new secret")).to_be_hidden()  # HubSpot's
    page.get_by_role("link", name="Edit").first.click()
    expect(page.get_by_label("Private app access token")).to_be_disabled()
    expect(page.get_by_role("button", name="Save changes")).to_be_disabled()
    expect(page.get_by_role("button", name="Test connection")).to_be_disabled()
    page.goto(f"{live_server.url}/connections/{connection.public_id}/delete/")
    expect(page.get_by_role("button", name=re.compile("Delete CRM"))).to_be_disabled()
    # The server refuses what the page disables.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    answer = page.request.post(
        f"{live_server.url}/connections/{connection.public_id}/delete/",
        headers={"X-CSRFToken": csrf},
    )
    assert answer.status == 403
    assert Connection.objects.filter(pk=connection.pk).exists()
    page.goto(f"{live_server.url}/connections/{connection.public_id}/")
    screenshot(page, "connections-viewer-detail-phone")


def test_echoes_of_concords_own_writes_are_counted_and_start_no_run(
    page: Page, live_server, sandbox: Sandbox, monkeypatch
):
    """Zendesk announces every write Concord makes to it. The connection page counts those
    echoes apart from the deliveries that ran a sync, and no run is queued for them."""
    import threading

    from apps.connections.services import connector_for
    from apps.runs.models import SyncRun
    from apps.webhooks import services as receiving
    from apps.webhooks.models import WebhookDelivery
    from connectors.base import RecordUpdate
    from tests.running import run_now
    from tests.runs.sandbox_sync import hub_desk_sync

    sync = hub_desk_sync(sandbox, enabled=True)
    run_now(sync)  # links the seeded contacts and users
    zendesk = sync.connection_b
    sandbox.admin.register_webhook(
        "zendesk", f"{live_server.url}/hooks/{zendesk.public_id}/", zendesk.webhook_secret
    )
    # Deliveries are routed only once the run below has stored what it wrote: an echo that
    # overtakes its own run is run (and found to change nothing) rather than recognised.
    committed = threading.Event()
    route = receiving.delivery_route

    def after_the_run(delivery):
        committed.wait(timeout=30)
        return route(delivery)

    monkeypatch.setattr(receiving, "delivery_route", after_the_run)
    hubspot = connector_for(sync.connection_a)
    contact = hubspot.get("contacts", [str(sync.links.first().a_id)])[0]
    hubspot.update("contacts", [RecordUpdate(contact.id, {"firstname": "Echoed"})])
    written = run_now(sync, trigger="manual")
    assert written.updated_b == 1
    committed.set()
    sandbox.admin.flush_webhooks()
    # A person's edit in Zendesk is no echo: it runs the sync. (A second later: Zendesk keeps
    # whole seconds, and an edit in the very second the pair was last synced is taken for
    # the echo and left to the next poll; docs/engine.md.)
    sandbox.admin.advance_clock(2)
    connector_for(zendesk).update(
        "users",
        [
            RecordUpdate(
                str(sync.links.exclude(pk=sync.links.first().pk).first().b_id),
                {"name": "Edited In Zendesk"},
            )
        ],
    )
    sandbox.admin.flush_webhooks()

    statuses = set(WebhookDelivery.objects.values_list("status", flat=True))
    assert statuses == {"echo", "processed"}
    assert SyncRun.objects.filter(sync=sync, status="queued").count() == 1

    admin = MembershipFactory(workspace=sync.workspace, role=Role.VIEWER)
    log_in(page, live_server, admin.user.username)
    page.goto(f"{live_server.url}/connections/{zendesk.public_id}/")
    fared = page.get_by_test_id("deliveries-fared")
    expect(fared).to_contain_text("1 ran a sync")
    expect(fared).to_contain_text("1 echoes of Concord's own writes (no run)")
    screenshot(page, "connections-echoes")
