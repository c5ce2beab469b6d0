"""A Redmine connection made in a browser from its config schema, against the Redmine
sandbox: a wrong API key and a project that does not exist each answer with a clear error
on that connection alone, the server's text formatting (for comments) is chosen from a
list, and the page says Redmine is polled (it sends no webhooks)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.connections.models import Connection
from connectors.redmine.sandbox import ADMIN_KEY
from tests.factories import PASSWORD, MembershipFactory
from tests.sandbox_fixtures import Sandbox

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def log_in(page: Page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def fill_redmine(page: Page, sandbox: Sandbox, name: str, key: str, project: str) -> None:
    page.get_by_label("Name", exact=False).first.fill(name)
    page.get_by_label("Redmine URL").fill(sandbox.url_for("redmine"))
    page.get_by_label("API key").fill(key)
    page.get_by_label("Project identifier").fill(project)


def test_a_redmine_connection_from_its_schema_with_clear_errors(
    page: Page, live_server, sandbox: Sandbox
):
    member = MembershipFactory(role="owner")
    log_in(page, live_server, member.user.username)
    page.goto(f"{live_server.url}/connections/add/")
    expect(page.get_by_text("Syncs issues.").first).to_be_visible()
    page.get_by_role("link", name="Connect Redmine").click()
    expect(page.get_by_text("The identifier of the project whose issues sync")).to_be_visible()

    fill_redmine(page, sandbox, "Redmine", "not-a-key", "sync-test")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#check-result")).to_contain_text("It does not work:")
    expect(page.locator("#check-result")).to_contain_text("401")

    page.get_by_label("API key").fill(ADMIN_KEY)
    page.get_by_label("Project identifier").fill("no-such-project")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#check-result")).to_contain_text(
        "project 'no-such-project' does not exist"
    )

    page.get_by_label("Project identifier").fill("sync-test")
    expect(page.get_by_text("Comments are written in it.")).to_be_visible()
    page.get_by_label("Text formatting").select_option("markdown")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#check-result")).to_contain_text("It works.")
    page.get_by_role("button", name="Save connection").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Redmine")
    assert Connection.objects.get(name="Redmine").config["text_formatting"] == "markdown"
    expect(page.locator("#polling-only")).to_contain_text("Redmine sends no webhooks")
    expect(page.locator("#new-webhook-secret")).to_have_count(0)
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#health")).to_contain_text("Working")

    # A second connection to a project that is gone fails on its own page only.
    page.goto(f"{live_server.url}/connections/add/")
    page.get_by_role("link", name="Connect Redmine").click()
    fill_redmine(page, sandbox, "Redmine archive", ADMIN_KEY, "archive")
    page.get_by_role("button", name="Save connection").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Redmine archive")
    gone = Connection.objects.get(name="Redmine archive")
    Connection.objects.filter(pk=gone.pk).update(config={**gone.config, "project": "deleted-one"})
    page.reload()
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#health")).to_contain_text("project 'deleted-one' does not exist")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Connections").click()
    rows = page.locator("table.connections tbody tr")
    expect(rows.filter(has_text="Redmine archive")).not_to_contain_text("Working")
    expect(rows.filter(has_text="Redmine").filter(has_not_text="archive")).to_contain_text(
        "Working"
    )
