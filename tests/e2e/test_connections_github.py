"""Adding a GitHub connection in a browser, against a live server and the GitHub sandbox: the
form built from the connector's config schema, the errors a bad token, a token without the
Issues permission and a missing repository give, and a delivery from a repository webhook
set up as the page's steps say. Each test saves its last page under var/screenshots/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.connections.models import Connection
from connectors import registry
from connectors.github.sandbox import METADATA_TOKEN, SANDBOX_TOKEN
from tests.factories import PASSWORD, MembershipFactory
from tests.sandbox_fixtures import Sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(django_settings.BASE_DIR) / "var" / "screenshots"


@pytest.fixture(autouse=True)
def _public_url(settings, live_server):
    # The sandbox delivers webhooks to the address Concord gives it: the live server.
    settings.CONCORD_PUBLIC_URL = live_server.url


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_add_a_github_connection_its_errors_and_a_webhook_delivery(
    page: Page, live_server, sandbox: Sandbox
):
    admin = MembershipFactory(role=Role.ADMIN)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email or username").fill(admin.user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")

    page.goto(f"{live_server.url}/connections/add/")
    page.get_by_role("link", name="Connect GitHub").click()
    # Every field comes from the schema: its title as the label, its default filled in.
    expect(page.get_by_label("API URL")).to_have_value("https://api.github.com")
    expect(page.get_by_label("Token")).to_have_attribute("type", "password")
    page.get_by_label("Name", exact=False).first.fill("GitHub")
    page.get_by_label("API URL").fill(sandbox.url_for("github"))
    page.get_by_label("Repositories").fill("octo-org/website, octo-org/api")
    result = page.locator("#check-result")

    page.get_by_label("Token").fill("github_pat_not_a_real_token")
    page.get_by_role("button", name="Test connection").click()
    expect(result).to_contain_text("It does not work:")
    expect(result).to_contain_text("401")
    screenshot(page, "connections-github-bad-token")

    page.get_by_label("Token").fill(METADATA_TOKEN)
    page.get_by_role("button", name="Test connection").click()
    expect(result).to_contain_text("Issues permission")

    page.get_by_label("Token").fill(SANDBOX_TOKEN)
    page.get_by_label("Repositories").fill("octo-org/website, octo-org/deleted-repo")
    page.get_by_role("button", name="Test connection").click()
    expect(result).to_contain_text("octo-org/deleted-repo does not exist")
    screenshot(page, "connections-github-missing-repository")

    page.get_by_label("Repositories").fill("octo-org/website, octo-org/api")
    page.get_by_role("button", name="Test connection").click()
    expect(result).to_contain_text("It works.")
    page.get_by_role("button", name="Save connection").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("GitHub")
    expect(page.get_by_text("X-Hub-Signature-256").first).to_be_visible()
    expect(page.get_by_text("an edited or deleted one reaches syncs that copy")).to_be_visible()
    screenshot(page, "connections-github-saved")

    # The page's steps, done through the sandbox: a repository webhook to that URL, signed
    # with the secret shown once; then an issue changes on GitHub.
    connection = Connection.objects.get(kind="github")
    webhook_url = page.locator("#webhook-url").inner_text()
    secret = page.locator("#new-webhook-secret").inner_text()
    assert secret == connection.webhook_secret
    sandbox.admin.register_webhook("github", webhook_url, secret)
    connector = registry.build("github", {**connection.config, "token": SANDBOX_TOKEN})
    try:
        assert connector.create("issues", [{"title": "Seen by the webhook"}])[0].ok
    finally:
        connector.close()
    sandbox.admin.flush_webhooks()
    page.reload()
    expect(page.locator("#webhook-status")).not_to_contain_text("none yet")
    expect(page.locator("#webhook-status")).to_contain_text("Rejected in the last hour none")
    screenshot(page, "connections-github-delivery")
