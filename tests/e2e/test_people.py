"""The people table page in a browser, against two in-memory systems (live_server runs in
this process, so the engine's runs here see the same stores): a reference waiting for an
unknown person is listed, a person entered on the page lets the next run write it, a
duplicate is refused beside its field, and a viewer sees the table with every control off.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.syncs.models import PersonMapping
from tests.e2e.test_sync_builder import log_in, screenshot
from tests.factories import MembershipFactory
from tests.syncs.factories import run
from tests.syncs.reference_world import build

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_an_unknown_person_is_entered_and_the_reference_written(page: Page, live_server):
    ws, crm, desk, (conn_crm, conn_desk), _, contacts = build()
    kim = desk.insert("agents", {"email": "kim.k@desk.io", "name": "Kim"})
    crm.insert("contacts", {"email": "bob@x.com", "name": "Bob", "owner": "kim@crm.io"})
    run(contacts)
    editor = MembershipFactory(role=Role.EDITOR, workspace=ws)
    base = live_server.url
    log_in(page, base, editor.user.username)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="People").click()
    expect(page.get_by_role("heading", name="People", level=1)).to_be_visible()
    waiting = page.get_by_role("region", name="Not matched yet")
    expect(waiting.get_by_role("cell", name="kim@crm.io")).to_be_visible()
    expect(waiting.get_by_role("cell", name="contacts")).to_be_visible()

    form = page.get_by_role("region", name="Add a person")
    form.get_by_role("combobox", name="System", exact=True).select_option(label=str(conn_crm))
    form.get_by_label("The person there").fill("kim@crm.io")
    form.get_by_role("combobox", name="Other system").select_option(label=str(conn_desk))
    form.get_by_label("The same person there").fill("kim.k@desk.io")
    form.get_by_role("button", name="Add").click()

    expect(page.get_by_text("Added kim@crm.io = kim.k@desk.io.")).to_be_visible()
    table = page.get_by_role("region", name="The table")
    expect(table.get_by_role("cell", name="kim.k@desk.io")).to_be_visible()
    screenshot(page, "people-table")

    # The same person again: refused beside the field, what was typed kept.
    form.get_by_role("combobox", name="System", exact=True).select_option(label=str(conn_desk))
    form.get_by_label("The person there").fill("KIM.K@desk.io")
    form.get_by_role("combobox", name="Other system").select_option(label=str(conn_crm))
    form.get_by_label("The same person there").fill("someone@crm.io")
    form.get_by_role("button", name="Add").click()
    expect(form.get_by_role("alert")).to_contain_text("already in this table")
    expect(form.get_by_label("The same person there")).to_have_value("someone@crm.io")
    assert PersonMapping.objects.count() == 1

    run(contacts)  # the run a worker would make next
    [bob] = [u for u in desk.all("users") if u.fields["email"] == "bob@x.com"]
    assert bob.fields["agent"] == kim.id
    page.goto(f"{base}/people/")
    expect(page.get_by_role("region", name="Not matched yet")).to_have_count(0)

    page.get_by_role("button", name="Remove kim@crm.io").click()
    expect(page.get_by_text("No one yet")).to_be_visible()
    assert not PersonMapping.objects.exists()


def test_a_viewer_sees_the_table_with_every_control_off(page: Page, live_server):
    ws, _, _, (conn_crm, conn_desk), _, _ = build()
    PersonMapping.objects.create(
        workspace=ws, connection_a=conn_crm, connection_b=conn_desk, value_a="a", value_b="1"
    )
    viewer = MembershipFactory(role=Role.VIEWER, workspace=ws)
    log_in(page, live_server.url, viewer.user.username)
    page.goto(f"{live_server.url}/people/")
    expect(page.get_by_text("editors and above add and remove people")).to_be_visible()
    expect(page.get_by_role("button", name="Remove a")).to_be_disabled()
    expect(page.get_by_role("button", name="Add")).to_be_disabled()
