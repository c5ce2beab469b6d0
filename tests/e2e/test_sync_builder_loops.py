"""A loop of syncs in the builder, in a browser against the sandboxes: two syncs of the
same two systems (or three round three) must each leave conflicts to a person, and the
builder says so on the rules step when saving, naming the other sync."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.syncs.services import sync_create
from tests.e2e.test_sync_builder import in_place, log_in
from tests.e2e.test_sync_comments import open_rules
from tests.factories import MembershipFactory
from tests.runs.sandbox_sync import hub_desk_sync

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_second_sync_of_the_same_two_systems_must_leave_conflicts_to_a_person(
    page: Page, live_server, sandbox
):
    """Two syncs of HubSpot contacts and Zendesk users are a loop: letting a side win in one
    of them is refused at saving, on the rules step, naming the other sync."""
    first = hub_desk_sync(sandbox)
    member = MembershipFactory(role=Role.EDITOR, workspace=first.workspace)
    second = sync_create(
        workspace=first.workspace,
        name="Users and contacts",
        connection_a=first.connection_b,
        object_type_a="users",
        connection_b=first.connection_a,
        object_type_b="contacts",
        mappings=[{"field_a": "email", "field_b": "email"}],
        enabled=False,
    )
    base = live_server.url
    log_in(page, base, member.user.username)

    open_rules(page, base, second)
    conflicts = page.get_by_role(
        "group", name="Conflicts: when both sides changed a field differently"
    )
    in_place(page, lambda: conflicts.get_by_role("radio", name="A wins").check())
    page.get_by_role("button", name="Continue to the review").click()
    page.wait_for_url(re.compile(r"/review/$"))
    page.get_by_role("button", name="Save changes").click()

    alert = page.get_by_role("alert").filter(has_text="form a loop")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("'Contacts and users'")
    expect(alert).to_contain_text("Change this sync")
    second.refresh_from_db()
    assert second.conflict_policy == "manual"
