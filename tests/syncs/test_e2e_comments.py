"""End to end: the comments of a Jira issue and its Zendesk ticket, through the real
connectors over HTTP against the sandboxes, run the way a worker runs them (run_now)."""

from __future__ import annotations

import pytest

from apps.connections.services import connection_create, connector_for
from apps.syncs.models import CommentLink, RecordLink
from apps.syncs.services import sync_create
from connectors.base import Comment, NewComment
from connectors.jira.sandbox import contract as jira_contract
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
