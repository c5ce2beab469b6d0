"""The run log in a browser: a run's events filtered by action and by field (through htmx,
the URL keeping the filters), before and after of an update, a conflict's values, an error
in the system's words with its retry, and a record's history one click away.

The runs are real runs of a sync between two in-memory systems, executed in-process the
way a worker executes them (tests/dashboard/run_story.py). Saves the run log and the last
page under var/screenshots/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from connectors.memory.connector import reset_stores
from tests.dashboard.run_story import REFUSAL, story
from tests.factories import PASSWORD, MembershipFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(django_settings.BASE_DIR) / "var" / "screenshots"


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")


def settled(page: Page) -> None:
    page.wait_for_function(
        "!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


@pytest.fixture
def told():
    reset_stores()
    member = MembershipFactory(role=Role.EDITOR, workspace__name="Acme Support")
    yield member, story(member.workspace)
    reset_stores()


def test_the_run_log_filters_by_action_and_field_and_shows_before_and_after(
    page: Page, live_server, told
):
    member, s = told
    base = live_server.url
    page.set_viewport_size({"width": 1280, "height": 900})
    log_in(page, base, member.user.username)
    page.goto(f"{base}/runs/{s.second.public_id}/")

    events = page.locator("#events tbody tr.event")
    expect(page.get_by_role("heading", name=re.compile("Run log"))).to_be_visible()
    expect(events).to_have_count(4)
    # A run with an update, a create, a conflict and an error (docs/images/run-log.png is
    # a copy of this one, 1280 px wide).
    screenshot(page, "run-log")

    # Errors only: choosing the action filters at once, in place, and the URL keeps it.
    page.get_by_label("Action").select_option("error")
    expect(page).to_have_url(re.compile(r"action=error"))
    settled(page)
    expect(events).to_have_count(1)
    expect(events.first).to_contain_text(REFUSAL)
    expect(page.get_by_role("button", name="Retry these records")).to_be_enabled()

    # By field, on either side's name: B's full_name finds the writes to B and the conflict.
    page.get_by_label("Action").select_option("")
    settled(page)
    page.get_by_label("Field").fill("full_name")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"field=full_name"))
    settled(page)
    expect(events).to_have_count(3)
    update = page.locator("tr.event-updated")
    expect(update.locator("del").first).to_have_text("Ann Lee")
    expect(update.locator("ins").first).to_have_text("Ann Lee-Smith")
    conflict = page.locator("tr.event-conflict")
    expect(conflict).to_contain_text("name ↔ full_name")
    expect(conflict).to_contain_text("Cleo Park-Jones")
    expect(conflict).to_contain_text("Cleo P. Jones")
    expect(conflict.get_by_role("link", name="Review the conflict")).to_have_attribute(
        "href", f"/conflicts/{s.conflict.public_id}/"
    )

    # A record's history is one click away: every change to Cleo across the three runs.
    cleo_a, _ = s.ids["cleo"]
    conflict.get_by_role("link", name=cleo_a).click()
    expect(page.get_by_role("heading", name=re.compile(f"Record {cleo_a}"))).to_be_visible()
    expect(page.locator("#history tbody tr.event")).to_have_count(4)
    expect(page.locator("#history tr.event-resolved")).to_contain_text("the value on B")
    screenshot(page, "run-log-record")
