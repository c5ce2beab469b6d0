"""End to end: the comments of a Jira issue and its Zendesk ticket, and of a GitHub issue
and its Redmine issue, through the real connectors over HTTP against the sandboxes, run the
way a worker runs them (run_now)."""

from __future__ import annotations

import pytest

from apps.connections.services import connection_create, connector_for
from apps.syncs.models import CommentLink, RecordLink
from apps.syncs.services import sync_create
from connectors.base import Comment, NewComment, RecordUpdate
from connectors.github.sandbox import contract as github_contract
from connectors.jira.sandbox import contract as jira_contract
from connectors.redmine.sandbox import contract as redmine_contract
from connectors.zendesk.sandbox import contract as zendesk_contract
from tests.running import events, run_now
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


def _comments(connection, object_type: str, record_id: str) -> list[Comment]:
    connector = connector_for(connection)
    try:
        return connector.comments(object_type, record_id)
    finally:
        connector.close()


def _comment(connection, object_type: str, record_id: str, body: str) -> Comment:
    connector = connector_for(connection)
    try:
        return connector.comment_create(object_type, record_id, NewComment(body))
    finally:
        connector.close()


def test_a_jira_comment_reaches_the_ticket_and_the_reply_comes_back_each_once(sandbox):
    sandbox.admin.seed(1, {"jira": {"issues": 0}, "zendesk": {"tickets": 0, "users": 2}})
    sandbox.admin.configure("zendesk", export_lag_seconds=0)
    ws = f.workspace()
    jira = connection_create(
        workspace=ws, name="Jira", kind="jira",
        values=jira_contract().config(sandbox.url_for("jira")),
    )  # fmt: skip
    zendesk = connection_create(
        workspace=ws, name="Zendesk", kind="zendesk",
        values=zendesk_contract().config(sandbox.url_for("zendesk")),
    )  # fmt: skip
    sync = sync_create(
        workspace=ws,
        name="issues",
        connection_a=jira,
        object_type_a="issues",
        connection_b=zendesk,
        object_type_b="tickets",
        mappings=[
            {"field_a": "summary", "field_b": "subject"},
            {"field_a": "key", "field_b": "description", "direction": "a_to_b"},
        ],
        comments="both",
        safety_limit_share=None,
        safety_limit_count=None,
    )
    connector = connector_for(jira)
    [made] = connector.create("issues", [{"summary": "Export fails on large files"}])
    connector.close()
    assert made.ok, made.error
    first = run_now(sync)
    assert first.status == "succeeded", first.error
    link = RecordLink.objects.get(sync=sync, status="linked")
    assert _comments(zendesk, "tickets", link.b_id) == []  # the description is no comment

    asked = "Which file size fails?\n\n- over 2 GB\n- see `export.log`"
    _comment(jira, "issues", link.a_id, asked)
    second = run_now(sync)
    assert second.status == "succeeded", second.error
    [copy] = _comments(zendesk, "tickets", link.b_id)
    assert copy.body.endswith("(Jira Cloud):\n\n" + asked)
    [created] = [e for e in events(second) if e.code == "comment"]
    assert (created.action, created.side) == ("created", "b")
    assert "copied from Jira Cloud comment" in created.message

    _comment(zendesk, "tickets", link.b_id, "Anything over **2 GB**, see <https://x.example>")
    third = run_now(sync)
    assert third.status == "succeeded", third.error
    on_issue = _comments(jira, "issues", link.a_id)
    assert [c.body.split("\n\n")[0].endswith("(Zendesk):") for c in on_issue] == [False, True]

    for _ in range(2):  # the copies' echoes bring both records back: nothing new is written
        quiet = run_now(sync)
        assert quiet.status == "succeeded", quiet.error
        assert [e for e in events(quiet) if e.code == "comment"] == []
    assert len(_comments(jira, "issues", link.a_id)) == 2
    assert len(_comments(zendesk, "tickets", link.b_id)) == 2
    assert CommentLink.objects.filter(sync=sync, status="linked").count() == 2


def test_github_and_redmine_talk_once_each_way_and_private_notes_stay_in_redmine(sandbox):
    """GitHub issues <-> Redmine issues: a GitHub comment reaches Redmine as Textile and
    comes back as it was written, a Redmine reply reaches GitHub with its mention made
    inert, a Redmine private note never reaches GitHub (it has none) though the sync
    includes private notes, and an edit on GitHub follows once the issue next changes."""
    sandbox.admin.seed(1, {"github": {"issues": 0}, "redmine": {"issues": 0}})
    ws = f.workspace()
    github = connection_create(
        workspace=ws, name="GitHub", kind="github",
        values=github_contract().config(sandbox.url_for("github")),
    )  # fmt: skip
    redmine = connection_create(
        workspace=ws, name="Redmine", kind="redmine",
        values=redmine_contract().config(sandbox.url_for("redmine")),
    )  # fmt: skip
    connector = connector_for(redmine)
    [made] = connector.create("issues", [{"subject": "Login page times out"}])
    connector.close()
    assert made.ok, made.error
    sync = sync_create(
        workspace=ws,
        name="issues",
        connection_a=github,
        object_type_a="issues",
        connection_b=redmine,
        object_type_b="issues",
        mappings=[{"field_a": "title", "field_b": "subject"}],
        match_rule=[{"a": "title", "b": "subject"}],
        comments="both",
        comments_internal=True,
        safety_limit_share=None,
        safety_limit_count=None,
    )
    first = run_now(sync)
    assert first.status == "succeeded", first.error
    link = RecordLink.objects.get(sync=sync, status="linked", b_id=made.record.id)

    asked = (
        "Which browser?\n\n1. Firefox\n2. Chrome\n\n"
        "Logs: `auth.log`, [runbook](https://docs.example.com/r)"
    )
    original = _comment(github, "issues", link.a_id, asked)
    second = run_now(sync)
    assert second.status == "succeeded", second.error
    [copy] = _comments(redmine, "issues", link.b_id)
    assert copy.body.endswith("(GitHub):\n\n" + asked)
    assert "# Firefox\n# Chrome" in copy.raw  # stored as Textile
    assert '<code>auth.log</code>, "runbook":https://' in copy.raw

    _comment(redmine, "issues", link.b_id, "Firefox 128, ask @dana")
    redmine_connector = connector_for(redmine)
    redmine_connector.comment_create(
        "issues", link.b_id, NewComment("Customer is on the old plan", internal=True)
    )
    redmine_connector.close()
    third = run_now(sync)
    assert third.status == "succeeded", third.error
    on_github = _comments(github, "issues", link.a_id)
    assert [c.body.split("\n\n", 1)[1] for c in on_github[1:]] == ["Firefox 128, ask @dana"]
    assert "@\u200bdana" in on_github[1].raw  # nobody called dana on GitHub is notified

    for _ in range(2):  # the copies' echoes bring both issues back: nothing new is written
        quiet = run_now(sync)
        assert quiet.status == "succeeded", quiet.error
        assert [e.action for e in events(quiet) if e.code == "comment"] == []
    assert len(_comments(github, "issues", link.a_id)) == 2
    assert len(_comments(redmine, "issues", link.b_id)) == 3  # with the private note

    connector = connector_for(github)
    connector.comment_update("issues", link.a_id, original.id, NewComment("Which browser, please?"))
    connector.update("issues", [RecordUpdate(link.a_id, {"labels": ["bug"]})])
    connector.close()
    fourth = run_now(sync)
    assert fourth.status == "succeeded", fourth.error
    assert [e.action for e in events(fourth) if e.code == "comment"] == ["updated"]
    assert _comments(redmine, "issues", link.b_id)[0].body.endswith("Which browser, please?")
