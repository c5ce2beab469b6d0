"""Comments in the sync builder, in a browser against the sandboxes: turning a Jira issues
<-> Zendesk tickets sync's comments to one way without private notes, seeing it in the
sync's rules; turning them on for GitHub issues <-> Redmine issues; and a HubSpot contacts
<-> Zendesk users sync refusing comments at the field, since contacts have none."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from apps.accounts.models import Role
from apps.connections.services import connection_create
from apps.dashboard.demo import _tickets_sync
from apps.syncs.models import Sync
from apps.syncs.services import sync_create
from connectors.github.sandbox import contract as github_contract
from connectors.jira.sandbox.state import connection_config as jira_config
from connectors.redmine.sandbox import contract as redmine_contract
from connectors.zendesk.sandbox import ADMIN_EMAIL, API_TOKEN
from tests.e2e.test_sync_builder import in_place, log_in, screenshot
from tests.factories import MembershipFactory
from tests.runs.sandbox_sync import hub_desk_sync

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def tickets_sync(sandbox, workspace) -> Sync:
    jira = connection_create(
        workspace=workspace, name="Jira", kind="jira", values=jira_config(sandbox.url_for("jira"))
    )
    zendesk = connection_create(
        workspace=workspace,
        name="Zendesk",
        kind="zendesk",
        values={
            "base_url": sandbox.url_for("zendesk"),
            "email": ADMIN_EMAIL,
            "api_token": API_TOKEN,
        },
    )
    values = {**_tickets_sync({"jira": jira, "zendesk": zendesk}), "enabled": False}
    return sync_create(workspace=workspace, **values)


def open_rules(page: Page, base: str, sync: Sync) -> None:
    page.goto(f"{base}/syncs/{sync.public_id}/edit/")
    page.wait_for_url(re.compile(r"/fields/$"))
    page.get_by_role("button", name="Continue to scope and rules").click()
    page.wait_for_url(re.compile(r"/scope/$"))


def test_comments_are_set_in_the_builder_and_shown_in_the_rules(page: Page, live_server, sandbox):
    member = MembershipFactory(role=Role.EDITOR)
    sync = tickets_sync(sandbox, member.workspace)
    assert (sync.comments, sync.comments_internal) == ("both", True)
    base = live_server.url
    log_in(page, base, member.user.username)

    open_rules(page, base, sync)
    expect(page.get_by_role("radio", name="Both ways")).to_be_checked()
    # Each change posts the step and draws it again (htmx): wait for one before the next.
    in_place(page, lambda: page.get_by_role("radio", name="From A to B only").check())
    in_place(page, lambda: page.get_by_label("Include private notes").uncheck())
    screenshot(page, "sync-builder-comments")
    page.get_by_role("button", name="Continue to the review").click()
    page.wait_for_url(re.compile(r"/review/$"))
    expect(page.get_by_text("From A to B only")).to_be_visible()
    page.get_by_role("button", name="Save changes").click()
    page.wait_for_url(re.compile(rf"/syncs/{sync.public_id}/"))

    sync.refresh_from_db()
    assert (sync.comments, sync.comments_internal) == ("a_to_b", False)
    page.goto(f"{base}/syncs/{sync.public_id}/")
    expect(page.get_by_text("Comments: copy each record's conversation")).to_be_visible()
    expect(page.get_by_text("Comments on B stay on B.")).to_be_visible()


def test_github_and_redmine_issues_take_comments_both_ways_with_private_notes(
    page: Page, live_server, sandbox
):
    member = MembershipFactory(role=Role.EDITOR)
    ws = member.workspace
    github = connection_create(
        workspace=ws, name="GitHub", kind="github",
        values=github_contract().config(sandbox.url_for("github")),
    )  # fmt: skip
    redmine = connection_create(
        workspace=ws, name="Redmine", kind="redmine",
        values=redmine_contract().config(sandbox.url_for("redmine")),
    )  # fmt: skip
    sync = sync_create(
        workspace=ws,
        name="GitHub and Redmine",
        connection_a=github,
        object_type_a="issues",
        connection_b=redmine,
        object_type_b="issues",
        mappings=[{"field_a": "title", "field_b": "subject"}],
        match_rule=[{"a": "title", "b": "subject"}],
        enabled=False,
    )
    assert sync.comments == "off"
    base = live_server.url
    log_in(page, base, member.user.username)

    open_rules(page, base, sync)
    in_place(page, lambda: page.get_by_role("radio", name="Both ways").check())
    in_place(page, lambda: page.get_by_label("Include private notes").check())
    expect(page.get_by_text("left out where it has none (Jira, GitHub)")).to_be_visible()
    page.get_by_role("button", name="Continue to the review").click()
    page.wait_for_url(re.compile(r"/review/$"))
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Saved.")).to_be_visible()  # a sync that is off stays here

    sync.refresh_from_db()
    assert (sync.comments, sync.comments_internal) == ("both", True)
    page.goto(f"{base}/syncs/{sync.public_id}/")
    expect(page.get_by_text("Private notes included.")).to_be_visible()


def test_comments_on_records_that_have_none_are_refused_at_the_field(
    page: Page, live_server, sandbox
):
    sync = hub_desk_sync(sandbox)
    member = MembershipFactory(
        workspace=sync.workspace, role=Role.EDITOR, user__username="editor@example.com"
    )
    base = live_server.url
    log_in(page, base, member.user.username)

    open_rules(page, base, sync)
    in_place(page, lambda: page.get_by_role("radio", name="Both ways").check())
    page.get_by_role("button", name="Continue to the review").click()
    page.wait_for_url(re.compile(r"/review/$"))
    page.get_by_role("button", name="Save changes").click()

    expect(page.get_by_text("has no comments on contacts")).to_be_visible()
    screenshot(page, "sync-builder-comments-refused")
    sync.refresh_from_db()
    assert sync.comments == "off"
