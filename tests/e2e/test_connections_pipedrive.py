"""A Pipedrive connection in a browser, against a live server and the Pipedrive sandbox: the
form built from the connector's config schema, a wrong token and a user without access to
contacts each answered with Pipedrive's reason, then a saved connection receiving a real
webhook delivery authenticated by the HTTP Basic credentials its setup steps ask for.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.connections.models import Connection
from connectors.pipedrive.sandbox.schema import ADMIN_TOKEN, NO_CONTACTS_TOKEN
from tests.e2e.test_connections import log_in, screenshot
from tests.factories import MembershipFactory
from tests.sandbox_fixtures import Sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _public_url(settings, live_server):
    settings.CONCORD_PUBLIC_URL = live_server.url


def test_add_a_pipedrive_connection_and_receive_a_delivery(
    page: Page, live_server, sandbox: Sandbox
):
    admin = MembershipFactory(role=Role.ADMIN)
    log_in(page, live_server, admin.user.username)
    page.goto(f"{live_server.url}/connections/add/")
    expect(page.get_by_text("Syncs persons and organizations.")).to_be_visible()
    page.get_by_role("link", name="Connect Pipedrive").click()
    # Every field of the schema, labelled by its title.
    for label in ("API base URL", "API token", "Webhook user name", "Company domain (optional)"):
        expect(page.get_by_label(label)).to_be_visible()
    page.get_by_label("Name", exact=False).first.fill("Pipedrive")
    page.get_by_label("API base URL").fill(sandbox.url_for("pipedrive"))

    page.get_by_label("API token").fill("pd-not-a-token")
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#check-result")
    expect(result).to_contain_text("It does not work:")
    expect(result).to_contain_text("401")
    expect(result).to_contain_text("unauthorized access")

    page.get_by_label("API token").fill(NO_CONTACTS_TOKEN)
    page.get_by_role("button", name="Test connection").click()
    expect(result).to_contain_text("403")
    expect(result).to_contain_text("You do not have access to persons and organizations.")
    screenshot(page, "connections-pipedrive-no-access")

    page.get_by_label("API token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Test connection").click()
    expect(result).to_contain_text("It works.")
    page.get_by_role("button", name="Save connection").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Pipedrive")
    expect(page.get_by_text("HTTP Auth user name")).to_be_visible()
    webhook_url = page.locator("#webhook-url").inner_text()
    secret = page.locator("#new-webhook-secret").inner_text()
    connection = Connection.objects.get(kind="pipedrive")
    assert secret == connection.webhook_secret
    assert connection.secrets["api_token"] == ADMIN_TOKEN

    # What the steps ask for, done through the sandbox: a webhook to that URL with the user
    # "concord" and the secret as password. A change in Pipedrive then arrives, accepted.
    sandbox.admin.register_webhook("pipedrive", webhook_url, secret)
    connector = connection_connector(connection)
    connector.create("persons", [{"name": "Delivered Person"}])
    summary = sandbox.admin.flush_webhooks()
    assert connection.webhook_deliveries.count() == 1, summary
    page.reload()
    expect(page.get_by_text("No delivery yet")).to_have_count(0, timeout=15_000)
    screenshot(page, "connections-pipedrive-delivery")


def connection_connector(connection: Connection):
    from apps.connections.services import connector_for

    return connector_for(connection)
