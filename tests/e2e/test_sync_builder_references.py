"""The sync builder's fields step with reference fields, in a browser, against two
in-memory systems (live_server runs in this process): each reference says what it refers
to; one whose object types no sync joins says which sync to create first; one whose types
the workspace's org sync joins is taken, and the saved sync translates through that sync."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.syncs.models import Sync
from connectors.base import FieldSpec, FieldType
from tests.e2e.test_sync_builder import in_place, log_in, row_of, screenshot
from tests.factories import MembershipFactory
from tests.syncs.reference_world import build

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_reference_rows_say_what_they_point_to_and_why_they_wait(page: Page, live_server):
    ws, crm, desk, (conn_crm, conn_desk), orgs, _ = build()
    crm.define(
        "deals",
        [
            FieldSpec("title", "Title", FieldType.STRING),
            FieldSpec("company", "Company", FieldType.REFERENCE, reference_to="companies"),
            FieldSpec("partner", "Partner", FieldType.REFERENCE, reference_to="partners"),
        ],
    )
    crm.define("partners", [FieldSpec("name", "Name", FieldType.STRING)])
    desk.define(
        "tickets",
        [
            FieldSpec("subject", "Subject", FieldType.STRING),
            FieldSpec("org", "Organization", FieldType.REFERENCE, reference_to="orgs"),
            FieldSpec("vendor", "Vendor", FieldType.REFERENCE, reference_to="vendors"),
        ],
    )
    desk.define("vendors", [FieldSpec("name", "Name", FieldType.STRING)])
    editor = MembershipFactory(role=Role.EDITOR, workspace=ws)
    base = live_server.url
    log_in(page, base, editor.user.username)

    page.goto(f"{base}/syncs/new/")
    in_place(
        page,
        lambda: page.get_by_label("Connection of side A").select_option(str(conn_crm.public_id)),
    )
    in_place(page, lambda: page.get_by_label("What to sync on side A").select_option("deals"))
    in_place(
        page,
        lambda: page.get_by_label("Connection of side B").select_option(str(conn_desk.public_id)),
    )
    in_place(page, lambda: page.get_by_label("What to sync on side B").select_option("tickets"))
    page.get_by_role("button", name="Continue to the fields").click()
    page.wait_for_url(re.compile(r"/fields/$"))

    rows = page.locator("li.mapping")
    while rows.count() > 1:
        in_place(page, lambda: rows.last.get_by_role("button", name=re.compile("^Remove")).click())
    if rows.count() == 0:
        in_place(page, lambda: page.get_by_role("button", name="Add a mapping").click())
    in_place(page, lambda: page.locator("#m-0-field_a").select_option("title"))
    in_place(page, lambda: page.locator("#m-0-field_b").select_option("subject"))

    in_place(page, lambda: page.get_by_role("button", name="Add a mapping").click())
    in_place(page, lambda: page.locator("#m-1-field_a").select_option("partner"))
    in_place(page, lambda: page.locator("#m-1-field_b").select_option("vendor"))
    partner = page.locator("#mapping-1")
    expect(partner.get_by_text("refers to partners", exact=True)).to_be_visible()
    expect(partner.get_by_text("refers to vendors", exact=True)).to_be_visible()
    expect(partner.get_by_role("alert")).to_contain_text(
        "no sync of this workspace joins those yet; create that sync first"
    )
    screenshot(page, "sync-builder-reference-waits")

    # The org sync joins companies and orgs: that pair is taken.
    in_place(page, lambda: page.locator("#m-1-field_a").select_option("company"))
    in_place(page, lambda: page.locator("#m-1-field_b").select_option("org"))
    expect(partner.get_by_text("refers to companies", exact=True)).to_be_visible()
    expect(partner.get_by_role("alert")).to_have_count(0)

    page.get_by_role("button", name="Continue to scope and rules").click()
    page.wait_for_url(re.compile(r"/scope/$"))
    page.get_by_role("button", name="Continue to the review").click()
    page.wait_for_url(re.compile(r"/review/$"))
    page.get_by_role("button", name="Save the sync").click()
    page.wait_for_url(re.compile(r"/syncs/[0-9a-f-]+/review/$"))
    saved = Sync.objects.get(workspace=ws, object_type_a="deals")
    mapping = saved.mappings.get(field_a="company")
    assert (mapping.reference, mapping.reference_via) == ("records", orgs)


def test_a_reference_row_can_create_the_record_through_its_sync_and_it_round_trips(
    page: Page, live_server
):
    """The contact sync's company row offers to create the company through the org sync;
    checked and saved it is stored, drawn checked when the sync is edited again, and
    unchecked and saved it is off again. A plain or people row offers nothing of the kind."""
    ws, _, _, _, orgs, contacts = build()
    editor = MembershipFactory(role=Role.EDITOR, workspace=ws)
    base = live_server.url
    log_in(page, base, editor.user.username)
    label = "Create the referenced record through orgs first"

    def edit() -> int:
        page.goto(f"{base}/syncs/{contacts.public_id}/edit/")
        page.wait_for_url(re.compile(r"/fields/$"))
        return row_of(page, "company")

    def save() -> None:
        page.get_by_role("link", name="4. Review").click()
        page.wait_for_url(re.compile(r"/review/$"))
        page.get_by_role("button", name="Save changes").click()
        page.wait_for_url(re.compile(rf"/syncs/{contacts.public_id}/review/$"))

    company = page.locator(f"#mapping-{edit()}")
    box = company.get_by_label(label)
    expect(box).not_to_be_checked()
    expect(page.get_by_label(label)).to_have_count(1)  # only the records reference has it
    in_place(page, box.check)
    expect(company.get_by_label(label)).to_be_checked()  # kept when the step is drawn again
    screenshot(page, "sync-builder-reference-create")
    save()
    mapping = contacts.mappings.get(field_a="company")
    assert (mapping.reference_via, mapping.create_referenced) == (orgs, True)

    company = page.locator(f"#mapping-{edit()}")
    expect(company.get_by_label(label)).to_be_checked()
    in_place(page, company.get_by_label(label).uncheck)
    expect(company.get_by_label(label)).not_to_be_checked()
    save()
    mapping.refresh_from_db()
    assert mapping.create_referenced is False
