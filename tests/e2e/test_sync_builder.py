"""The sync builder in a browser: HubSpot contacts <-> Zendesk users against the sandboxes,
from suggested mappings to the first run's records in the other system; and a viewer who
can look at everything and change nothing.

The preview job and the first run are executed in-process, the way a worker executes them
(apps.syncs.previews.preview_execute; the dispatcher's apps.runs.sweeping.dispatch_due,
then apps.runs.execution.run_execute, as tests/running.py does), while the page watches.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.connections.services import connection_create, connector_for
from apps.runs.execution import run_execute
from apps.runs.models import SyncRun
from apps.runs.sweeping import dispatch_due
from apps.syncs.models import Sync, SyncPreview
from apps.syncs.previews import preview_execute
from connectors.hubspot.sandbox import SANDBOX_TOKEN
from connectors.zendesk.sandbox import ADMIN_EMAIL, API_TOKEN
from tests.factories import PASSWORD, MembershipFactory
from tests.running import run_settled
from tests.runs.sandbox_sync import hub_desk_sync

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
COUNTS = {
    "hubspot": {"contacts": 4, "companies": 0, "deals": 0, "tickets": 0},
    "zendesk": {"users": 3, "tickets": 0, "organizations": 0},
}
PHONE = {"width": 390, "height": 844}


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def log_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email or username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")


def in_place(page: Page, action) -> None:
    """Do something that makes htmx post the step, and wait until the step is drawn again."""
    with page.expect_response(lambda r: r.request.method == "POST" and "/syncs/" in r.url):
        action()
    page.wait_for_function(
        "!document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')"
    )


def row_of(page: Page, field_a: str) -> int:
    """The index of the mapping row whose field of A is `field_a`."""
    return page.evaluate(
        """(name) => {
            const select = [...document.querySelectorAll('select[name$="-field_a"]')]
                .find(s => s.value === name);
            return Number(select.name.split('-')[1]);
        }""",
        field_a,
    )


@pytest.fixture
def two_sandboxes(sandbox):
    sandbox.admin.seed(1, counts=COUNTS)
    sandbox.admin.configure("zendesk", export_lag_seconds=0)
    member = MembershipFactory(role=Role.EDITOR, workspace__name="Acme Support")
    hubspot = connection_create(
        workspace=member.workspace,
        name="HubSpot",
        kind="hubspot",
        values={"base_url": sandbox.url_for("hubspot"), "access_token": SANDBOX_TOKEN},
    )
    zendesk = connection_create(
        workspace=member.workspace,
        name="Zendesk",
        kind="zendesk",
        values={
            "base_url": sandbox.url_for("zendesk"),
            "email": ADMIN_EMAIL,
            "api_token": API_TOKEN,
        },
    )
    return member, hubspot, zendesk


def records(connection, object_type: str) -> dict[str, dict]:
    connector = connector_for(connection)
    try:
        found = [r for page in connector.changes(object_type, None) for r in page.records]
    finally:
        connector.close()
    return {r.fields["email"]: r.fields for r in found if not r.deleted}


def test_build_preview_and_enable_a_hubspot_zendesk_sync(page: Page, live_server, two_sandboxes):
    member, hubspot, zendesk = two_sandboxes
    base = live_server.url
    log_in(page, base, member.user.username)

    # The list is empty and says what to do next.
    page.goto(f"{base}/syncs/")
    expect(page.get_by_role("heading", name="No syncs yet")).to_be_visible()
    page.get_by_role("link", name="New sync").first.click()

    # 1. Sides: each connection's object types appear once it is chosen.
    expect(page.get_by_role("heading", name="Sides")).to_be_visible()
    in_place(
        page,
        lambda: page.get_by_label("Connection of side A").select_option(label="HubSpot (hubspot)"),
    )
    in_place(page, lambda: page.get_by_label("What to sync on side A").select_option("contacts"))
    in_place(
        page,
        lambda: page.get_by_label("Connection of side B").select_option(label="Zendesk (zendesk)"),
    )
    in_place(page, lambda: page.get_by_label("What to sync on side B").select_option("users"))
    screenshot(page, "sync-builder-sides")
    page.get_by_role("button", name="Continue to the fields").click()
    page.wait_for_url(re.compile(r"/fields/$"))

    # 2. Fields: suggested rows, each with its badges.
    assert page.evaluate(
        "[...document.querySelectorAll('li.mapping')].map(li => "
        "[li.querySelector('[name$=field_a]').value, li.querySelector('[name$=field_b]').value])"
    ) == [["email", "email"], ["phone", "phone"], ["vip", "custom_vip"]]
    expect(page.get_by_text("requires Name when a record is created there")).to_be_visible()

    # One changed direction: phone numbers only go from HubSpot to Zendesk.
    phone = row_of(page, "phone")
    in_place(page, lambda: page.locator(f"#m-{phone}-direction").select_option("a_to_b"))

    # A new row: first name to Zendesk's (required) name, one way.
    in_place(page, lambda: page.get_by_role("button", name="Add a mapping").click())
    new = page.locator("li.mapping").count() - 1
    in_place(page, lambda: page.locator(f"#m-{new}-field_a").select_option("firstname"))
    in_place(page, lambda: page.locator(f"#m-{new}-field_b").select_option("name"))
    in_place(page, lambda: page.locator(f"#m-{new}-direction").select_option("a_to_b"))
    expect(page.get_by_text("requires Name when a record")).to_have_count(0)

    # An incompatible pair is explained on its row as soon as it is chosen.
    in_place(page, lambda: page.get_by_role("button", name="Add a mapping").click())
    enum_row = page.locator("li.mapping").count() - 1
    in_place(page, lambda: page.locator(f"#m-{enum_row}-field_a").select_option("renewal_date"))
    in_place(page, lambda: page.locator(f"#m-{enum_row}-field_b").select_option("verified"))
    expect(page.locator(f"#mapping-{enum_row}")).to_contain_text("incompatible types")

    # An enum pair: Zendesk's role decides HubSpot's lifecycle stage, through a value map.
    in_place(page, lambda: page.locator(f"#m-{enum_row}-field_a").select_option("lifecyclestage"))
    in_place(page, lambda: page.locator(f"#m-{enum_row}-field_b").select_option("role"))
    in_place(page, lambda: page.locator(f"#m-{enum_row}-direction").select_option("b_to_a"))
    row = page.locator(f"#mapping-{enum_row}")
    expect(row.locator("details.value-map")).to_have_attribute("open", "")
    expect(row.locator("tr.unmapped")).to_have_count(3)  # no label matches: a person decides
    for index, stage in enumerate(["customer", "other", "other"]):  # end-user, agent, admin
        in_place(
            page,
            lambda i=index, s=stage: page.locator(f"#m-{enum_row}-vm-b_to_a-{i}").select_option(s),
        )
    expect(row.locator("tr.unmapped")).to_have_count(0)
    expect(row).to_contain_text("every option mapped")
    expect(page.locator("li.mapping.has-error")).to_have_count(0)
    screenshot(page, "sync-builder-fields")
    page.set_viewport_size(PHONE)
    screenshot(page, "sync-builder-fields-phone")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Continue to scope and rules").click()
    page.wait_for_url(re.compile(r"/scope/$"))

    # 3. Scope and rules: a filter on Zendesk's side offers the operators its field allows.
    expect(page.locator("#r-0-a")).to_have_value("email")  # the suggested match rule
    in_place(page, lambda: page.get_by_role("button", name="Add a filter on Zendesk users").click())
    in_place(page, lambda: page.locator("#f-0-field").select_option("role"))
    assert page.locator("#f-0-operator option").all_inner_texts() == [
        "is",
        "is not",
        "is one of",
        "is none of",
        "is empty",
        "is not empty",
    ]
    in_place(page, lambda: page.locator("#f-0-value").select_option("end-user"))
    screenshot(page, "sync-builder-scope")
    page.get_by_role("button", name="Continue to the review").click()
    page.wait_for_url(re.compile(r"/review/$"))

    # 4. Review, save (switched off), then the preview of the first run.
    expect(page.get_by_text("The sync cannot be saved yet")).to_have_count(0)
    screenshot(page, "sync-builder-review")
    page.get_by_role("button", name="Save the sync").click()
    page.wait_for_url(re.compile(r"/syncs/[0-9a-f-]+/review/$"))
    sync = Sync.objects.get()
    assert sync.enabled is False
    expect(page.get_by_text("Waiting for a worker")).to_be_visible()
    assert preview_execute(SyncPreview.objects.get(sync=sync).pk) == "succeeded"
    counts = page.locator("table.preview-counts")
    expect(counts).to_be_visible(timeout=10_000)  # the partial polls every second
    # Rosa and Victor created in HubSpot, the four contacts in Zendesk.
    expect(counts.get_by_role("row", name=re.compile("^Created")).locator("td")).to_have_text(
        ["2", "4"]
    )
    screenshot(page, "sync-builder-preview")

    # Enable: due at once; the dispatcher queues its first run, a worker executes it.
    page.get_by_role("button", name="Enable").click()
    expect(page.get_by_text("The sync is on: its first run starts")).to_be_visible()
    assert dispatch_due() == 1
    run = SyncRun.objects.get(sync=sync)
    run_execute(run.pk)
    run.refresh_from_db()
    assert (run.status, run.created_a) == ("succeeded", 2)
    # The four go to Zendesk in a background job that the runs after it settle.
    settling = run_settled(sync)
    assert run.created_b + sum(r.created_b for r in settling) == 4

    users = records(zendesk, "users")
    nadia = users["nadia.suzuki3@cedarfoods.example"]
    assert (nadia["name"], nadia["phone"], nadia["custom_vip"]) == (
        "Nadia",
        "+1 555 860 6450",
        True,
    )
    contacts = records(hubspot, "contacts")
    assert contacts["rosa.martin2@customer.example"]["lifecyclestage"] == "customer"
    assert "carlos.rossi1@concord-sandbox.example" not in contacts  # an agent: filtered out

    page.reload()
    expect(page.get_by_role("heading", name="The sync is on")).to_be_visible()
    screenshot(page, "sync-builder-enabled")


def test_a_viewer_sees_the_builder_with_every_control_off(page: Page, live_server, sandbox):
    sync = hub_desk_sync(sandbox)
    viewer = MembershipFactory(
        workspace=sync.workspace, role=Role.VIEWER, user__username="viewer@example.com"
    )
    base = live_server.url
    log_in(page, base, viewer.user.username)

    page.goto(f"{base}/syncs/")
    expect(page.get_by_text("New sync")).to_have_attribute("aria-disabled", "true")
    page.get_by_role("link", name=f"View {sync.name}").click()
    page.wait_for_url(re.compile(r"/fields/$"))
    expect(page.get_by_text("You can look at this sync but not change anything")).to_be_visible()
    expect(page.locator("#m-0-field_a")).to_have_value("email")
    expect(page.locator("#m-0-field_a")).to_be_disabled()
    expect(page.get_by_role("button", name="Add a mapping")).to_be_disabled()
    page.get_by_role("link", name="4. Review").click()
    expect(page.get_by_role("button", name="Save changes")).to_be_disabled()
    expect(page.get_by_text("Nothing changes.")).to_be_visible()

    page.goto(f"{base}/syncs/{sync.public_id}/review/")
    expect(page.get_by_role("button", name="Enable")).to_be_disabled()
    expect(page.get_by_role("button", name="Preview the next run")).to_be_disabled()
    screenshot(page, "sync-builder-viewer")
