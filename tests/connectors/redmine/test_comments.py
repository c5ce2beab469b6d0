"""Redmine comments (journals with notes) against the sandbox: what the connection's text
formatting writes, and what a Developer may do (the real server's side of these is in
test_real_server.py)."""

from __future__ import annotations

import pytest

from connectors import registry
from connectors.base import NewComment, RecordUpdate
from connectors.errors import RecordError
from connectors.redmine import sandbox as redmine_sandbox
from connectors.redmine.connector import RedmineConnector
from tests.sandbox_fixtures import Sandbox

CASE = redmine_sandbox.contract()


def _connector(sandbox: Sandbox, **overrides: str) -> RedmineConnector:
    connector = registry.build("redmine", {**CASE.config(sandbox.url_for("redmine")), **overrides})
    assert isinstance(connector, RedmineConnector)
    return connector


def _journals(sandbox: Sandbox, issue_id: str) -> list[dict]:
    connector = _connector(sandbox)
    return connector.client.journals(issue_id)


def test_a_markdown_server_gets_markdown_and_textile_is_the_default(sandbox: Sandbox) -> None:
    textile = _connector(sandbox)
    assert textile.config.text_formatting == "textile"
    markdown = _connector(sandbox, text_formatting="markdown")
    [made] = textile.create("issues", [CASE.new_record(1)])
    issue = made.record.id
    text = "See [the log](https://logs.example.com/1) and `tail`, @Sam"
    textile.comment_create("issues", issue, NewComment(text))
    markdown.comment_create("issues", issue, NewComment(text))
    stored = [j["notes"] for j in _journals(sandbox, issue) if j["notes"]]
    assert stored == [
        'See "the log":https://logs.example.com/1 and <code>tail</code>, @\u200bSam',
        "See [the log](https://logs.example.com/1) and `tail`, @\u200bSam",
    ]
    assert textile.comments("issues", issue)[0].body == text
    assert markdown.comments("issues", issue)[1].body == text


def test_a_field_change_is_no_comment_and_a_note_moves_the_issue(sandbox: Sandbox) -> None:
    connector = _connector(sandbox)
    [made] = connector.create("issues", [CASE.new_record(2)])
    connector.update("issues", [RecordUpdate(made.record.id, {"priority": "Low"})])
    assert connector.comments("issues", made.record.id) == []
    note = connector.comment_create("issues", made.record.id, NewComment("Private", True))
    assert (note.internal, note.author_name) == (True, "Redmine Admin")
    assert [j["details"] != [] for j in _journals(sandbox, made.record.id)] == [True, False]


def test_a_developer_may_not_edit_notes_and_is_told_why(sandbox: Sandbox) -> None:
    admin = _connector(sandbox)
    developer = _connector(sandbox, api_key=redmine_sandbox.DEVELOPER_KEY)
    [made] = admin.create("issues", [CASE.new_record(3)])
    note = developer.comment_create("issues", made.record.id, NewComment("Mine", True))
    assert note.internal is True  # the Developer role may set notes private
    with pytest.raises(RecordError, match="Edit notes"):
        developer.comment_update("issues", made.record.id, note.id, NewComment("Changed"))
    with pytest.raises(RecordError, match="Edit notes"):
        developer.comment_delete("issues", made.record.id, note.id)
    assert [c.body for c in admin.comments("issues", made.record.id)] == ["Mine"]
    with pytest.raises(RecordError, match="not a Redmine id"):
        admin.comments("issues", "PROJ-1")
