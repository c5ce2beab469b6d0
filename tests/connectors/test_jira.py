"""Jira Cloud: the hard parts, over real HTTP against the sandbox.

Every test that talks to the sandbox goes through the `jira_traffic` recorder, and its
teardown validates each request the connector sent and each response the sandbox gave
against Atlassian's OpenAPI description (tests/connectors/jira_openapi.py).

Without the description (../shared/vendor-specs/jira/ beside the clone, CONCORD_VENDOR_SPECS or
CONCORD_JIRA_SPEC), the tests still run and check what they assert; only the validation
against the description is left out, and the tests that do nothing else skip, naming the
missing file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from connectors import registry
from connectors.base import NewComment, RecordUpdate, WebhookRequest
from connectors.errors import (
    AuthenticationError,
    ConfigurationError,
    RecordError,
    WebhookVerificationError,
)
from connectors.jira import adf, webhooks
from connectors.jira import sandbox as jira_sandbox
from connectors.jira.adf import adf_to_text, text_to_adf
from connectors.jira.connector import JiraConnector
from connectors.jira.sandbox import schema as jira_site
from connectors.sandbox.client import SandboxAdminError
from connectors.sandbox.server import SandboxServer
from tests.connectors.contract_run import contract_run
from tests.connectors.jira_openapi import (
    JIRA,
    Exchange,
    JiraTrafficRecorder,
)
from tests.sandbox_fixtures import Sandbox, WebhookReceiver

needs_spec = JIRA.needed()

SECRET = "jira-webhook-secret"
CASE = jira_sandbox.contract()


@pytest.fixture
def jira(sandbox: Sandbox, jira_traffic: JiraTrafficRecorder) -> Iterator[JiraConnector]:
    connector = registry.build("jira", CASE.config(sandbox.url_for("jira")))
    assert isinstance(connector, JiraConnector)
    yield connector
    connector.close()


def _calls(recorder: JiraTrafficRecorder, method: str, path_part: str) -> list[Exchange]:
    """Exchanges whose path contains `path_part` ("/issue/bulk" does not match bulkfetch)."""
    return [
        e
        for e in recorder.exchanges
        if e.method == method and (e.path + "/").find(path_part.rstrip("/") + "/") >= 0
    ]


# -- ADF -----------------------------------------------------------------------------------

ROUND_TRIPS = [
    "One paragraph.",
    "First paragraph.\n\nSecond paragraph.",
    "A line\nand a hard break\nand another",
    "- apples\n- pears\n- plums",
    "1. wake up\n2. coffee\n3. code",
    "7. seventh\n8. eighth",
    "- parent\n  - child one\n  - child two\n- sibling",
    "1. step\n  - detail\n  - more\n2. next step",
    "- an item\n  continued after a break\n- next",
    "See [the runbook](https://runbooks.example/incidents) for details.",
    "Bare link https://status.example/page, then text.",
    "Mail [us](mailto:help@example.com).",
    "Intro paragraph.\n\n- a [link](https://x.example/a)\n- b\n\nClosing line\nwith a break.",
]


@pytest.mark.parametrize("text", ROUND_TRIPS)
def test_adf_round_trip_is_identity_for_canonical_text(text: str) -> None:
    assert adf_to_text(text_to_adf(text)) == text


def test_adf_structure_of_lists_links_and_breaks() -> None:
    document = text_to_adf("Hi [docs](https://d.example)\nbye\n\n2. x\n  - y")
    assert document == {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Hi "},
                    {
                        "type": "text",
                        "text": "docs",
                        "marks": [{"type": "link", "attrs": {"href": "https://d.example"}}],
                    },
                    {"type": "hardBreak"},
                    {"type": "text", "text": "bye"},
                ],
            },
            {
                "type": "orderedList",
                "attrs": {"order": 2},
                "content": [
                    {
                        "type": "listItem",
                        "content": [
                            {"type": "paragraph", "content": [{"type": "text", "text": "x"}]},
                            {
                                "type": "bulletList",
                                "content": [
                                    {
                                        "type": "listItem",
                                        "content": [
                                            {
                                                "type": "paragraph",
                                                "content": [{"type": "text", "text": "y"}],
                                            }
                                        ],
                                    }
                                ],
                            },
                        ],
                    }
                ],
            },
        ],
    }


_PIECES = st.sampled_from(
    ["a", "b c", " ", "\n", "\n\n", "- ", "* ", "1. ", "12. ", "  ", "[", "]", "(", ")",
     "[x](https://l.example/p)", "https://u.example/q.", "mailto:m@x.example", "\r\n", "\t"]
)  # fmt: skip


@given(st.lists(_PIECES, max_size=40).map("".join))
def test_adf_conversion_reaches_a_fixed_point_after_one_round(text: str) -> None:
    document = text_to_adf(text)
    again = adf_to_text(document)
    assert text_to_adf(again) == document
    assert adf_to_text(text_to_adf(again)) == again


def test_adf_unknown_and_unsupported_nodes_degrade_to_their_text() -> None:
    document = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "heading",
                "attrs": {"level": 2},
                "content": [{"type": "text", "text": "Title"}],
            },
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "bold", "marks": [{"type": "strong"}]},
                    {"type": "text", "text": " by "},
                    {"type": "mention", "attrs": {"id": "abc", "text": "@Priya Raman"}},
                    {"type": "text", "text": " "},
                    {"type": "emoji", "attrs": {"shortName": ":tada:", "text": "🎉"}},
                    {"type": "text", "text": " due "},
                    {"type": "date", "attrs": {"timestamp": "1767225600000"}},
                    {"type": "text", "text": " "},
                    {"type": "status", "attrs": {"text": "BLOCKED", "color": "red"}},
                    {"type": "text", "text": " "},
                    {"type": "inlineCard", "attrs": {"url": "https://card.example/1"}},
                    {"type": "futureInlineThing", "content": [{"type": "text", "text": "inner"}]},
                ],
            },
            {"type": "rule"},
            {
                "type": "panel",
                "attrs": {"panelType": "info"},
                "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Note"}]}],
            },
            {"type": "codeBlock", "content": [{"type": "text", "text": "line 1\nline 2"}]},
            {
                "type": "table",
                "content": [
                    {
                        "type": "tableRow",
                        "content": [
                            {"type": "tableHeader", "content": [_para("Plan")]},
                            {"type": "tableHeader", "content": [_para("Seats")]},
                        ],
                    },
                    {
                        "type": "tableRow",
                        "content": [
                            {"type": "tableCell", "content": [_para("Business")]},
                            {"type": "tableCell", "content": [_para("40")]},
                        ],
                    },
                ],
            },
            {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "f"}}]},
            {"type": "futureBlock", "content": [_para("kept"), {"type": "rule"}]},
            {"type": "futureLeaf", "text": "leaf text"},
        ],
    }
    assert adf_to_text(document) == (
        "Title\n\n"
        "bold by @Priya Raman 🎉 due 2026-01-01 BLOCKED https://card.example/1inner\n\n"
        "Note\n\n"
        "line 1\nline 2\n\n"
        "Plan | Seats\nBusiness | 40\n\n"
        "kept\n\n"
        "leaf text"
    )


def test_adf_link_split_over_marked_text_nodes_stays_one_link() -> None:
    link = [{"type": "link", "attrs": {"href": "https://x.example"}}]
    document = {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "read ", "marks": link},
                    {"type": "text", "text": "this", "marks": [*link, {"type": "em"}]},
                ],
            }
        ],
    }
    assert adf_to_text(document) == "[read this](https://x.example)"


def test_adf_none_and_bad_input() -> None:
    assert adf_to_text(None) is None
    assert text_to_adf(None) is None
    assert text_to_adf("") == {"type": "doc", "version": 1, "content": []}
    assert adf_to_text("already plain") == "already plain"
    with pytest.raises(TypeError):
        text_to_adf(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        adf_to_text(["not", "a", "doc"])


def _para(text: str) -> dict[str, Any]:
    return {"type": "paragraph", "content": [{"type": "text", "text": text}]}


# -- schema ----------------------------------------------------------------------------------


def test_fields_come_from_field_list_and_create_metadata(jira: JiraConnector) -> None:
    specs = {f.name: f for f in jira.fields("issues")}
    assert specs["summary"].required
    assert specs["summary"].type == "string"
    assert specs["description"].type == "text"
    severity = specs["customfield_10011"]
    assert (severity.label, severity.type, severity.custom) == ("Severity", "enum", True)
    assert severity.option_values() == [
        "Sev 1 - Critical",
        "Sev 2 - Major",
        "Sev 3 - Minor",
        "Sev 4 - Cosmetic",
    ]
    assert not severity.required  # required for Bugs only; creates default to Task
    assert specs["customfield_10014"].type == "multi_enum"
    assert specs["customfield_10012"].type == "number"
    assert specs["customfield_10013"].type == "text"  # textarea: ADF
    assert specs["status"].option_values() == ["To Do", "In Progress", "Done"]
    assert specs["status"].writable  # through transitions
    assert specs["priority"].option_values() == ["Highest", "High", "Medium", "Low", "Lowest"]
    assert specs["assignee"].type == "user"
    assert not specs["created"].writable
    assert not specs["key"].writable
    assert "customfield_10020" not in specs  # Sprint exists on the site, not in the project
    assert "project" not in specs


def test_bad_token_is_fatal_and_unknown_project_is_a_configuration_error(
    sandbox: Sandbox, jira_traffic: JiraTrafficRecorder
) -> None:
    bad = registry.build("jira", CASE.bad_config(sandbox.url_for("jira")))
    with pytest.raises(AuthenticationError, match="401"):
        bad.check()
    other = registry.build("jira", {**CASE.config(sandbox.url_for("jira")), "project_key": "NOPE"})
    with pytest.raises(ConfigurationError, match="project NOPE does not exist"):
        other.check()


# -- transitions -----------------------------------------------------------------------------


def _transition_stats(sandbox: Sandbox) -> dict[str, int]:
    """How many times the sandbox answered each transitions endpoint, by method."""
    endpoints = sandbox.admin.stats("jira")["endpoints"]
    return {
        method: endpoints.get(f"{method} /jira/rest/api/3/issue/{{issue}}/transitions", {}).get(
            "count", 0
        )
        for method in ("GET", "POST")
    }


def _sandbox_status(sandbox_server: SandboxServer, issue_id: str) -> str:
    """The issue's status name in the sandbox's own state, not as the connector reads it."""
    vendor = sandbox_server.app.slots["jira"].sandbox
    with vendor.lock:
        status_id = vendor.state.find(issue_id).data["fields"]["status"]
    return jira_site.STATUSES[status_id]["name"]


def test_sandbox_workflow_has_no_direct_path_from_to_do_to_done(
    sandbox: Sandbox, jira: JiraConnector
) -> None:
    [created] = jira.create("issues", [CASE.new_record(1)])
    path = f"/rest/api/3/issue/{created.record.id}/transitions"

    at_to_do = _raw(sandbox, "GET", path).json()["transitions"]
    skipped = _raw(sandbox, "POST", path, json={"transition": {"id": "31"}})
    _raw(sandbox, "POST", path, json={"transition": {"id": "11"}})
    at_in_progress = _raw(sandbox, "GET", path).json()["transitions"]

    assert [(t["id"], t["to"]["name"]) for t in at_to_do] == [("11", "In Progress")]
    assert skipped.status_code == 400
    assert [(t["id"], t["to"]["name"]) for t in at_in_progress] == [
        ("21", "To Do"),
        ("31", "Done"),
    ]


def test_direct_transition_takes_one_call(
    jira: JiraConnector, jira_traffic: JiraTrafficRecorder, sandbox: Sandbox
) -> None:
    [created] = jira.create("issues", [CASE.new_record(1)])
    before = _transition_stats(sandbox)

    [moved] = jira.update("issues", [RecordUpdate(created.record.id, {"status": "In Progress"})])

    assert moved.ok
    assert moved.record.fields["status"] == "In Progress"
    after = _transition_stats(sandbox)
    assert {m: after[m] - before[m] for m in after} == {"GET": 1, "POST": 1}
    posted = [json.loads(e.request_body) for e in _calls(jira_traffic, "POST", "/transitions")]
    assert posted == [{"transition": {"id": "11"}}]


def test_to_do_to_done_walks_through_in_progress(
    jira: JiraConnector,
    jira_traffic: JiraTrafficRecorder,
    sandbox: Sandbox,
    sandbox_server: SandboxServer,
) -> None:
    [created] = jira.create("issues", [CASE.new_record(1)])
    issue_id = created.record.id
    assert created.record.fields["status"] == "To Do"
    before = _transition_stats(sandbox)

    [done] = jira.update(
        "issues", [RecordUpdate(issue_id, {"status": "done", "summary": "Finished"})]
    )

    assert done.ok
    assert done.record.fields["status"] == "Done"
    assert done.record.fields["summary"] == "Finished"
    assert _sandbox_status(sandbox_server, issue_id) == "Done"
    after = _transition_stats(sandbox)
    # Listed at To Do, stepped to In Progress, listed there, then entered Done.
    assert {m: after[m] - before[m] for m in after} == {"GET": 2, "POST": 2}
    posted = [json.loads(e.request_body) for e in _calls(jira_traffic, "POST", "/transitions")]
    assert posted == [{"transition": {"id": "11"}}, {"transition": {"id": "31"}}]
    edits = [json.loads(e.request_body) for e in _calls(jira_traffic, "PUT", "/issue/")]
    assert edits == [{"fields": {"summary": "Finished"}}]  # status never sent as a field


def test_unknown_status_is_a_record_error_and_nothing_is_written(
    jira: JiraConnector, jira_traffic: JiraTrafficRecorder
) -> None:
    created = jira.create("issues", [CASE.new_record(1), CASE.new_record(2)])
    first, second = (r.record.id for r in created)

    results = jira.update(
        "issues",
        [
            RecordUpdate(first, {"status": "Blocked", "summary": "Must not be written"}),
            RecordUpdate(second, {"status": "To Do"}),  # already there: nothing to do
        ],
    )

    assert not results[0].ok
    assert "status 'Blocked' from 'To Do' (not a status of the project)" in (
        results[0].error.message
    )
    assert results[0].error.record_id == first
    assert results[0].error.fields == {"status": "no transition to 'Blocked'"}
    assert results[1].ok
    assert results[1].record.fields["status"] == "To Do"
    [stored] = jira.get("issues", [first])
    assert stored.fields["summary"] == CASE.new_record(1)["summary"]
    assert stored.fields["status"] == "To Do"
    assert _calls(jira_traffic, "PUT", "/issue/") == []
    assert _calls(jira_traffic, "POST", "/transitions") == []


def test_unreachable_status_walks_back_and_is_a_record_error(
    jira: JiraConnector,
    jira_traffic: JiraTrafficRecorder,
    sandbox_server: SandboxServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A workflow where Done exists but nothing leads into it from To Do or In Progress.
    workflow = tuple(t for t in jira_site.WORKFLOW if t[0] != "31")
    monkeypatch.setattr(jira_site, "WORKFLOW", workflow)
    [created] = jira.create("issues", [CASE.new_record(1)])
    issue_id = created.record.id

    [result] = jira.update(
        "issues", [RecordUpdate(issue_id, {"status": "Done", "summary": "Must not be written"})]
    )

    assert not result.ok
    assert result.error.message == (
        "no transition leads to status 'Done' from 'To Do' (the workflow offers no path); "
        "reachable: In Progress"
    )
    assert result.error.record_id == issue_id
    # Explored To Do -> In Progress, found no way on, and came back.
    posted = [json.loads(e.request_body) for e in _calls(jira_traffic, "POST", "/transitions")]
    assert posted == [{"transition": {"id": "11"}}, {"transition": {"id": "21"}}]
    assert _sandbox_status(sandbox_server, issue_id) == "To Do"
    assert _calls(jira_traffic, "PUT", "/issue/") == []


def test_create_with_a_status_moves_the_new_issue(
    jira: JiraConnector, jira_traffic: JiraTrafficRecorder, sandbox_server: SandboxServer
) -> None:
    results = jira.create(
        "issues",
        [
            {**CASE.new_record(1), "status": "In Progress"},
            {**CASE.new_record(2), "status": "Done"},
            {**CASE.new_record(3), "status": "Blocked"},
        ],
    )

    assert results[0].ok
    assert results[0].record.fields["status"] == "In Progress"
    assert results[1].ok
    assert results[1].record.fields["status"] == "Done"  # two transitions
    assert _sandbox_status(sandbox_server, results[1].record.id) == "Done"
    assert len(_calls(jira_traffic, "POST", "/transitions")) == 3
    # Created, so the record is returned (never create it again), with the error beside it.
    assert results[2].record is not None
    assert results[2].record.fields["status"] == "To Do"
    assert "created as OPS-" in results[2].error.message
    assert "status 'Blocked' from 'To Do'" in results[2].error.message


# -- change feed -----------------------------------------------------------------------------


def _read_all(jira: JiraConnector, cursor: dict[str, Any] | None) -> tuple[list, dict]:
    records, last = [], cursor
    for page in jira.changes("issues", cursor):
        records.extend(page.records)
        last = page.cursor
    return records, last


def _to_next_minute(sandbox: Sandbox) -> float:
    """Move the sandbox clock to one second past the start of the next minute."""
    now = sandbox.admin.advance_clock(0)
    return sandbox.admin.advance_clock(61 - now % 60)


def test_jql_minute_boundary_is_read_again_and_deduplicated(
    sandbox: Sandbox, jira: JiraConnector, jira_traffic: JiraTrafficRecorder
) -> None:
    jira.overlap_seconds = 0  # the minute boundary alone; the overlap has its own test
    start = _to_next_minute(sandbox)
    [first] = jira.create("issues", [CASE.new_record(1)])
    _, cursor = _read_all(jira, None)
    assert cursor == {
        "since": first.record.fields["updated"],
        "recent": {first.record.id: first.record.fields["updated"]},
    }

    [second] = jira.create("issues", [CASE.new_record(2)])
    records, cursor_after = _read_all(jira, cursor)

    minute = int(start // 60)
    stamps = [first.record.modified_at, second.record.modified_at]
    assert [int(s.timestamp() // 60) for s in stamps] == [minute, minute]  # same JQL minute
    assert [r.id for r in records] == [second.record.id]  # not skipped, first not repeated
    assert cursor_after["since"] == second.record.fields["updated"]
    assert set(cursor_after["recent"]) == {first.record.id, second.record.id}
    # The query started at the cursor's minute, written in the account's zone (Sydney).
    local = datetime.fromtimestamp(minute * 60, UTC).astimezone(
        ZoneInfo(jira_site.DEFAULT_TIME_ZONE)
    )
    jql = json.loads(_calls(jira_traffic, "POST", "/search/jql")[-1].request_body)["jql"]
    assert f'updated >= "{local:%Y-%m-%d %H:%M}"' in jql
    assert jql.endswith("ORDER BY updated ASC, key ASC")

    # An edit later in that same minute brings the first issue back, once.
    jira.update("issues", [RecordUpdate(first.record.id, {"summary": "edited"})])
    again, _ = _read_all(jira, cursor_after)
    assert [r.id for r in again] == [first.record.id]
    assert int(again[0].modified_at.timestamp() // 60) == minute


def test_an_update_that_becomes_searchable_late_is_still_read(
    sandbox_server: SandboxServer, jira: JiraConnector
) -> None:
    _, cursor = _read_all(jira, None)
    newest = datetime.fromisoformat(cursor["since"]).timestamp()
    vendor = sandbox_server.app.slots["jira"].sandbox
    with vendor.lock:
        # Writes committed before the newest update already read, searchable only now
        # (Jira's search is eventually consistent): 40 s late is inside the overlap,
        # 200 s late is past it.
        late = vendor.state._insert(_bare_issue("late by 40 s"), newest - 40, newest - 40)
        vendor.state._insert(_bare_issue("late by 200 s"), newest - 200, newest - 200)

    records, cursor_after = _read_all(jira, cursor)
    again, _ = _read_all(jira, cursor_after)

    assert [r.id for r in records] == [str(late.id)]
    assert again == []
    assert len(cursor_after["recent"]) >= 2  # the newest issue and the late one


def _bare_issue(summary: str) -> dict[str, Any]:
    return {
        "summary": summary,
        "issuetype": "10001",
        "status": "10000",
        "priority": "3",
        "reporter": None,
        "assignee": None,
        "labels": [],
    }


def test_change_feed_uses_the_account_time_zone(sandbox: Sandbox, jira: JiraConnector) -> None:
    sandbox.admin.configure("jira", time_zone="America/Los_Angeles")
    _, cursor = _read_all(jira, None)
    sandbox.admin.advance_clock(30)
    [created] = jira.create("issues", [CASE.new_record(3)])

    records, _ = _read_all(jira, cursor)

    # In the wrong zone the minute would be 8+ hours late and the new issue missed.
    assert [r.id for r in records] == [created.record.id]


def test_jql_minute_in_zone_with_dst_overlap_and_unknown_zone() -> None:
    jira = _connector()
    jira._remember_zone({"timeZone": "Australia/Sydney"})
    assert jira._jql_minute(datetime(2026, 1, 10, 0, 0, 59, tzinfo=UTC)) == "2026-01-10 11:00"
    # 02:30 on 5 April 2026 happens twice in Sydney; start an hour earlier to be safe.
    assert jira._jql_minute(datetime(2026, 4, 4, 15, 30, tzinfo=UTC)) == "2026-04-05 01:30"
    jira._remember_zone({"timeZone": "Mars/Olympus_Mons"})
    # Unknown zone: UTC, widened by the largest offset there is.
    assert jira._jql_minute(datetime(2026, 1, 10, 20, 5, tzinfo=UTC)) == "2026-01-10 06:05"


def test_writes_between_pages_are_neither_lost_nor_hidden(
    jira: JiraConnector, jira_traffic: JiraTrafficRecorder
) -> None:
    jira.page_size = 7
    pages = jira.changes("issues", None)
    first = next(pages)
    unread = [r for r in jira.get("issues", [str(i) for i in range(10001, 10041)])]
    not_yet = next(r for r in unread if r.id not in {x.id for x in first.records})
    jira.update(
        "issues",
        [
            RecordUpdate(first.records[0].id, {"summary": "touched after reading"}),
            RecordUpdate(not_yet.id, {"summary": "touched before reading"}),
        ],
    )
    rest = [r for page in pages for r in page.records]

    seen = [r.id for r in first.records + rest]
    assert len(set(seen)) == 40  # every seeded issue, none skipped
    assert seen.count(first.records[0].id) == 2  # re-read with its new version
    assert {r.fields["summary"] for r in rest[-2:]} == {
        "touched after reading",
        "touched before reading",
    }
    # 40 issues plus the one read twice, 7 per page: 6 pages, each one search call.
    assert len(_calls(jira_traffic, "POST", "/search/jql")) == 6


# -- bulk create -----------------------------------------------------------------------------


def test_bulk_create_with_one_bad_record(
    jira: JiraConnector, jira_traffic: JiraTrafficRecorder
) -> None:
    bug = {"summary": "Checkout fails", "issuetype": "Bug", "customfield_10011": "Sev 2 - Major"}
    results = jira.create(
        "issues",
        [
            bug,
            {**bug, "customfield_10011": "Sev 9 - Unknown"},
            {"summary": "Second good one", "customfield_10014": ["API", "Billing"]},
        ],
    )

    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error.fields == {
        "customfield_10011": "Option value 'Sev 9 - Unknown' is not valid"
    }
    assert results[0].record.fields["customfield_10011"] == "Sev 2 - Major"
    assert results[2].record.fields["customfield_10014"] == ["API", "Billing"]
    assert results[2].record.fields["summary"] == "Second good one"
    keys = [results[0].record.fields["key"], results[2].record.fields["key"]]
    assert keys == ["OPS-41", "OPS-42"]
    assert len(_calls(jira_traffic, "POST", "/issue/bulk")) == 1


def test_bulk_create_splits_into_calls_of_fifty(
    jira: JiraConnector, jira_traffic: JiraTrafficRecorder
) -> None:
    items = [{"summary": f"Imported {n}", "labels": ["import"]} for n in range(55)]
    items[52] = {"summary": "Bad", "labels": ["has space"]}  # fixed by the mapper
    items[53] = {"summary": "x" * 300}

    results = jira.create("issues", items)

    bodies = [json.loads(e.request_body) for e in _calls(jira_traffic, "POST", "/issue/bulk")]
    assert [len(b["issueUpdates"]) for b in bodies] == [50, 5]
    assert [i for i, r in enumerate(results) if not r.ok] == [53]
    assert results[53].error.fields == {"summary": "Summary must be less than 255 characters."}
    assert results[52].record.fields["labels"] == ["has_space"]
    assert results[54].record.fields["summary"] == "Imported 54"


def test_a_failing_later_bulk_call_keeps_the_issues_already_created(
    sandbox: Sandbox,
    jira: JiraConnector,
    jira_traffic: JiraTrafficRecorder,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jira_traffic.expected_undocumented = {502}
    send = jira.client.bulk_create

    def then_break(issues: list[dict[str, Any]]) -> dict[str, Any]:
        answer = send(issues)
        sandbox.admin.queue_fault("jira", status=502, html=True, path="/rest/api/3/issue/bulk")
        return answer

    monkeypatch.setattr(jira.client, "bulk_create", then_break)
    results = jira.create("issues", [{"summary": f"Batch {n}"} for n in range(60)])

    assert all(r.ok for r in results[:50])
    assert [r.record.fields["summary"] for r in results[:2]] == ["Batch 0", "Batch 1"]
    assert all(not r.ok and r.error.status == 502 for r in results[50:])
    assert "not created" in results[59].error.message
    assert "502 Bad Gateway" in results[59].error.message
    assert len(jira.list_ids("issues").__next__()) == 90  # 40 seeded + 50 created


def test_unknown_or_read_only_fields_fail_locally(jira: JiraConnector) -> None:
    results = jira.create("issues", [{"summary": "a", "created": "2020-01-01T00:00:00+00:00"}])
    assert results[0].error.fields == {"created": "read-only"}
    [result] = jira.update("issues", [RecordUpdate("10001", {"nonsense": 1})])
    assert result.error.fields == {"nonsense": "unknown field"}
    [result] = jira.update(
        "issues", [RecordUpdate("10001", {"assignee": "nobody@nowhere.example"})]
    )
    assert "no Jira user with the email nobody@nowhere.example" in result.error.message


def test_users_are_written_by_email_and_read_back_as_email(jira: JiraConnector) -> None:
    [result] = jira.update(
        "issues", [RecordUpdate("10003", {"assignee": "Priya.Raman@northwind.example"})]
    )
    assert result.record.fields["assignee"] == "priya.raman@northwind.example"
    found = jira.find("issues", "assignee", ["priya.raman@northwind.example"])
    assert "10003" in [r.id for r in found]
    assert all(r.fields["assignee"] == "priya.raman@northwind.example" for r in found)


def test_find_drops_values_jql_would_refuse(
    jira: JiraConnector, jira_traffic: JiraTrafficRecorder
) -> None:
    bugs = jira.find("issues", "customfield_10011", ["Sev 9 - Unknown", "Sev 1 - Critical"])
    assert bugs
    assert {r.fields["customfield_10011"] for r in bugs} == {"Sev 1 - Critical"}
    assert jira.find("issues", "assignee", ["ghost@nowhere.example"]) == []
    assert jira.find("issues", "priority", ["Urgent!!"]) == []
    points = jira.find("issues", "customfield_10012", ["five", 5])
    assert points
    assert {r.fields["customfield_10012"] for r in points} == {5.0}
    jqls = [json.loads(e.request_body)["jql"] for e in _calls(jira_traffic, "POST", "/search/jql")]
    assert jqls == [
        'project = "OPS" AND cf[10011] in ("Sev 1 - Critical") ORDER BY key ASC',
        'project = "OPS" AND cf[10012] in (5) ORDER BY key ASC',
    ]


def test_find_by_text_key_and_missing_ids(jira: JiraConnector) -> None:
    [created] = jira.create("issues", [{"summary": 'Quote "this" and \\ that'}])
    found = jira.find("issues", "summary", ['Quote "this" and \\ that', "no such summary"])
    assert [r.id for r in found] == [created.record.id]
    by_key = jira.find("issues", "key", [created.record.fields["key"], "OPS-9999"])
    assert [r.id for r in by_key] == [created.record.id]
    assert [r.id for r in jira.get("issues", ["99999", created.record.id])] == [created.record.id]


# -- deletions -------------------------------------------------------------------------------


def test_reconciliation_finds_a_deletion_no_webhook_announced(
    sandbox: Sandbox, jira: JiraConnector, webhook_receiver: WebhookReceiver
) -> None:
    sandbox.admin.register_webhook("jira", webhook_receiver.url, SECRET)
    sandbox.admin.set_faults("jira", webhook_drop_share=1.0)
    known = {r.id for r in _read_all(jira, None)[0]}
    jira.id_page_size = 15

    [result] = jira.delete("issues", ["10007"])
    pages = list(jira.list_ids("issues"))
    summary = sandbox.admin.flush_webhooks()

    assert result.ok
    assert result.record.deleted
    assert [len(p) for p in pages] == [15, 15, 9]
    assert known - {i for p in pages for i in p} == {"10007"}
    assert webhook_receiver.requests == []  # the deletion was never announced
    assert summary["counters"] == {"jira:dropped": 1}
    [again] = jira.delete("issues", ["10007"])  # already gone counts as deleted
    assert again.ok


# -- webhooks --------------------------------------------------------------------------------


def _delivered(
    sandbox: Sandbox, jira: JiraConnector, receiver: WebhookReceiver
) -> list[WebhookRequest]:
    sandbox.admin.register_webhook("jira", receiver.url, SECRET)
    [created] = jira.create("issues", [CASE.new_record(1)])
    jira.update("issues", [RecordUpdate(created.record.id, {"status": "In Progress"})])
    jira.delete("issues", [created.record.id])
    sandbox.admin.flush_webhooks()
    return list(receiver.requests)


def test_sandbox_webhooks_verify_and_parse(
    sandbox: Sandbox, jira: JiraConnector, webhook_receiver: WebhookReceiver
) -> None:
    deliveries = _delivered(sandbox, jira, webhook_receiver)
    results = [jira.parse_webhook(d, SECRET) for d in deliveries]

    actions = [(e.action, e.object_type) for r in results for e in r.events]
    assert actions == [("created", "issues"), ("updated", "issues"), ("deleted", "issues")]
    assert len({e.record_id for r in results for e in r.events}) == 1
    # The dedupe key is the signed body's digest, not the unsigned identifier header.
    assert [r.delivery_id for r in results] == [
        "sha256:" + hashlib.sha256(d.body).hexdigest() for d in deliveries
    ]
    assert all(d.header("X-Atlassian-Webhook-Identifier") for d in deliveries)
    changelog = json.loads(deliveries[1].body)["changelog"]["items"]
    assert changelog[0]["fromString"] == "To Do"
    assert changelog[0]["toString"] == "In Progress"


def test_comments_are_read_as_text_and_announce_their_issue(
    sandbox: Sandbox, jira: JiraConnector, webhook_receiver: WebhookReceiver
) -> None:
    sandbox.admin.register_webhook("jira", webhook_receiver.url, SECRET)
    [before] = jira.get("issues", ["10005"])
    text = "Customer confirmed the fix:\n\n- export works\n- see [ticket](https://t.example/9)"
    added = _raw(
        sandbox, "POST", "/rest/api/3/issue/10005/comment", json={"body": text_to_adf(text)}
    )
    empty = _raw(sandbox, "POST", "/rest/api/3/issue/10005/comment", json={"body": text_to_adf("")})
    sandbox.admin.flush_webhooks()
    [after] = jira.get("issues", ["10005"])

    assert added.status_code == 201
    assert empty.status_code == 400
    spec = {f.name: f for f in jira.fields("issues")}["comment"]
    assert (spec.type, spec.writable) == ("text", False)
    assert after.fields["comment"].endswith(
        "Concord Automation, " + after.modified_at.strftime("%Y-%m-%d %H:%M UTC") + ":\n" + text
    )
    assert (before.fields["comment"] or "") in after.fields["comment"]
    assert after.modified_at > before.modified_at
    [delivery] = webhook_receiver.requests
    result = jira.parse_webhook(delivery, SECRET)
    assert [(e.record_id, e.action) for e in result.events] == [("10005", "updated")]
    assert json.loads(delivery.body)["webhookEvent"] == "comment_created"


def _signed(payload: dict[str, Any], *, secret: str = SECRET, **headers: str) -> WebhookRequest:
    body = json.dumps(payload).encode()
    return WebhookRequest(
        "POST",
        "https://concord.example/hooks/1/",
        {"X-Hub-Signature": webhooks.sign(body, secret), **headers},
        body,
    )


NOW = 1_790_000_000.0


def _payload(event: str = "jira:issue_updated", **extra: Any) -> dict[str, Any]:
    issue = {"id": "10042", "key": "OPS-42", "fields": {"project": {"key": "OPS"}}}
    return {"timestamp": int(NOW * 1000), "webhookEvent": event, "issue": issue, **extra}


def _connector() -> JiraConnector:
    connector = registry.build("jira", CASE.config("https://your-domain.atlassian.net"))
    assert isinstance(connector, JiraConnector)
    return connector


def _refused_deliveries() -> dict[str, tuple[WebhookRequest, str]]:
    good = _signed(_payload())
    body = good.body

    def signed_with(header: str) -> WebhookRequest:
        return WebhookRequest("POST", good.url, {"X-Hub-Signature": header}, body)

    digest = webhooks.sign(body, SECRET)
    return {
        "tampered": (
            WebhookRequest("POST", good.url, good.headers, body.replace(b"10042", b"10043")),
            SECRET,
        ),
        "wrong secret": (good, "another-secret"),
        "no secret configured": (good, ""),
        "unsigned": (WebhookRequest("POST", good.url, {}, body), SECRET),
        "sha1 scheme": (signed_with("sha1=" + digest[7:]), SECRET),
        "bare digest": (signed_with(digest[7:]), SECRET),
        "truncated digest": (signed_with(digest[:-2]), SECRET),
        "empty digest": (signed_with("sha256="), SECRET),
    }


@pytest.mark.parametrize("case", sorted(_refused_deliveries()))
def test_webhook_refuses_bad_signatures(case: str) -> None:
    request, secret = _refused_deliveries()[case]
    with pytest.raises(WebhookVerificationError):
        _connector().parse_webhook(request, secret, now=NOW)


def test_webhook_signature_edge_cases() -> None:
    jira = _connector()
    good = _signed(_payload())
    result = jira.parse_webhook(good, SECRET, now=NOW + 5)
    assert [(e.record_id, e.action) for e in result.events] == [("10042", "updated")]
    assert result.events[0].occurred_at == datetime.fromtimestamp(NOW, UTC)

    upper = WebhookRequest(
        "POST",
        good.url,
        {"x-hub-signature": "SHA256=" + webhooks.sign(good.body, SECRET)[7:].upper() + " "},
        good.body,
    )
    assert jira.parse_webhook(upper, SECRET, now=NOW).events  # header case and hex case


def test_webhook_replay_window_on_the_payload_timestamp() -> None:
    jira = _connector()
    request = _signed(_payload())
    window, skew = webhooks.REPLAY_WINDOW, webhooks.FUTURE_SKEW
    assert jira.parse_webhook(request, SECRET, now=NOW + window - 1).events
    with pytest.raises(WebhookVerificationError, match="stale"):
        jira.parse_webhook(request, SECRET, now=NOW + window + 1)
    assert jira.parse_webhook(request, SECRET, now=NOW - skew + 1).events
    with pytest.raises(WebhookVerificationError, match="future"):
        jira.parse_webhook(request, SECRET, now=NOW - skew - 1)
    no_timestamp = _payload()
    del no_timestamp["timestamp"]
    with pytest.raises(WebhookVerificationError, match="timestamp"):
        jira.parse_webhook(_signed(no_timestamp), SECRET, now=NOW)
    body = b"not json"
    signed = WebhookRequest("POST", "u", {"X-Hub-Signature": webhooks.sign(body, SECRET)}, body)
    with pytest.raises(WebhookVerificationError, match="not JSON"):
        jira.parse_webhook(signed, SECRET, now=NOW)


def test_webhook_events_ids_and_filters() -> None:
    jira = _connector()
    parse = jira.parse_webhook

    deleted = parse(_signed(_payload("jira:issue_deleted")), SECRET, now=NOW)
    assert [(e.record_id, e.action) for e in deleted.events] == [("10042", "deleted")]
    comment = parse(_signed(_payload("comment_created", comment={"id": "1"})), SECRET, now=NOW)
    assert [e.action for e in comment.events] == ["updated"]
    sprint = parse(_signed(_payload("sprint_started")), SECRET, now=NOW)
    assert sprint.events == []
    other = _payload()
    other["issue"]["fields"]["project"]["key"] = "HR"
    assert parse(_signed(other), SECRET, now=NOW).events == []

    first = parse(_signed(_payload()), SECRET, now=NOW).delivery_id
    assert first is not None
    assert first.startswith("sha256:")
    # The identifier header is not signed: a replay with a fresh one is the same delivery.
    with_id = _signed(_payload(), **{"X-Atlassian-Webhook-Identifier": "abc-123"})
    assert parse(with_id, SECRET, now=NOW).delivery_id == first
    assert parse(_signed(_payload()), SECRET, now=NOW).delivery_id == first  # a retry
    later = _payload()
    later["timestamp"] += 1
    assert parse(_signed(later), SECRET, now=NOW).delivery_id != first


# -- the sandbox's own Jira behaviour ------------------------------------------------------


def _raw(sandbox: Sandbox, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(
        method,
        sandbox.url_for("jira") + path,
        auth=(jira_sandbox.SANDBOX_EMAIL, jira_sandbox.SANDBOX_TOKEN),
        timeout=10,
        **kwargs,
    )


def test_sandbox_refuses_what_jira_refuses(
    sandbox: Sandbox, jira_traffic: JiraTrafficRecorder
) -> None:
    def search(jql: str) -> requests.Response:
        return _raw(sandbox, "POST", "/rest/api/3/search/jql", json={"jql": jql})

    unbounded = search("ORDER BY updated ASC")
    missing = search("key in (OPS-1, OPS-999)")
    bad_date = search('updated >= "yesterday"')
    bad_field = search('project = OPS AND colour = "red"')
    status_field = _raw(
        sandbox, "PUT", "/rest/api/3/issue/OPS-1", json={"fields": {"status": {"name": "Done"}}}
    )
    too_many = _raw(
        sandbox,
        "POST",
        "/rest/api/3/issue/bulk",
        json={"issueUpdates": [{"fields": {"summary": "x"}}] * 51},
    )

    assert unbounded.status_code == 400
    assert "Unbounded JQL queries are not allowed" in unbounded.json()["errorMessages"][0]
    assert missing.json()["errorMessages"] == [
        "An issue with key 'OPS-999' does not exist for field 'key'."
    ]
    assert "Date value 'yesterday' for field 'updated' is invalid" in bad_date.text
    assert "Field 'colour' does not exist" in bad_field.text
    assert status_field.status_code == 400
    assert status_field.json()["errors"] == {
        "status": "Field 'status' cannot be set. It is not on the appropriate screen, or unknown."
    }
    assert too_many.status_code == 400
    assert too_many.json()["issues"] == []


def test_sandbox_pages_by_token_and_answers_rate_limits_like_jira(
    sandbox: Sandbox, jira_traffic: JiraTrafficRecorder
) -> None:
    query = {"jql": "project = OPS ORDER BY key ASC", "maxResults": 15, "fields": ["key"]}
    keys, token, pages = [], None, 0
    while True:
        body = {**query, **({"nextPageToken": token} if token else {})}
        page = _raw(sandbox, "POST", "/rest/api/3/search/jql", json=body).json()
        pages += 1
        keys.extend(i["key"] for i in page["issues"])
        token = page.get("nextPageToken")
        if page["isLast"]:
            assert token is None
            break
    assert pages == 3
    assert keys == [f"OPS-{n}" for n in range(1, 41)]

    stale = _raw(sandbox, "POST", "/rest/api/3/search/jql", json={**query, "nextPageToken": "zz"})
    assert stale.status_code == 400

    params = {"jql": "project = OPS AND status = Done", "maxResults": 2}
    got = _raw(
        sandbox, "GET", "/rest/api/3/search/jql", params={**params, "fields": ["summary", "status"]}
    ).json()
    assert [set(i["fields"]) for i in got["issues"]] == [{"summary", "status"}] * 2
    assert {i["fields"]["status"]["name"] for i in got["issues"]} == {"Done"}
    assert got["isLast"] is False
    following = _raw(
        sandbox,
        "GET",
        "/rest/api/3/search/jql",
        params={**params, "nextPageToken": got["nextPageToken"]},
    ).json()
    assert [set(i) for i in following["issues"]] == [{"id"}] * 2  # default: ids only

    jira_traffic.expected_undocumented = {429}
    sandbox.admin.queue_fault("jira", status=429, retry_after=7)
    limited = _raw(sandbox, "GET", "/rest/api/3/myself")
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "7"
    assert limited.headers["RateLimit-Reason"] == "jira-burst-based"
    assert limited.headers["X-RateLimit-Remaining"] == "0"


def test_sandbox_state_survives_dump_and_load(
    sandbox_server: SandboxServer, sandbox: Sandbox
) -> None:
    vendor = sandbox_server.app.slots["jira"].sandbox
    with vendor.lock:
        state = json.loads(json.dumps(vendor.dump()))
        before = json.loads(json.dumps(_issues(vendor)))
        vendor.reset()
        assert _issues(vendor) == []
        vendor.load(state)
        assert json.loads(json.dumps(_issues(vendor))) == before
    assert _seeded(1) == _seeded(1)
    assert _seeded(1) != _seeded(2)
    with pytest.raises(SandboxAdminError, match="jira seeds only issues, not tickets"):
        sandbox.admin.seed(1, {"jira": {"tickets": 3}})


def _issues(vendor: Any) -> list[tuple[int, dict[str, Any], float, float]]:
    return [(r.id, r.data, r.created, r.modified) for r in vendor.state.table.rows("issues")]


def _seeded(seed: int) -> list[tuple[str, float, str]]:
    site = jira_sandbox.JiraSandbox(_StubContext())  # type: ignore[arg-type]
    site.seed(seed, {"issues": 10})
    return [
        (r.data["fields"]["summary"], r.modified, r.data["fields"]["status"])
        for r in site.state.table.rows("issues")
    ]


class _StubContext:
    def now(self) -> float:
        return 1_790_000_000.0

    def webhooks_wanted(self) -> bool:
        return False


# -- the contract run, validated against the spec -------------------------------------------


@needs_spec
def test_contract_run_traffic_validates_against_the_openapi_description(tmp_path: Path) -> None:
    """Run the shared contract suite for Jira with every exchange recorded and validated."""
    report = tmp_path / "jira-traffic.json"
    data = contract_run(
        "jira",
        plugin="tests.connectors.openapi_plugin",
        report=report,
        env={"OPENAPI_VENDOR": "jira", "OPENAPI_TRAFFIC_REPORT": str(report)},
    )
    assert data["exchanges"] >= 20
    assert data["problems"] == []
    # Undocumented statuses may only be the faults the suite injects on purpose.
    assert set(data["undocumented"]) <= {"422", "429", "502", "503", "504"}, data["undocumented"]
    assert data["operations_seen"] >= 8


def test_config_is_validated_and_the_token_is_secret() -> None:
    config = registry.parse_config(
        "jira",
        {
            "base_url": "https://your-domain.atlassian.net/",
            "email": "a@example.com",
            "api_token": "t0ken",
            "project_key": "ops",
        },
    )
    assert (config.base_url, config.project_key) == ("https://your-domain.atlassian.net", "OPS")
    assert "t0ken" not in repr(config)
    assert registry.config_schema("jira")["properties"]["api_token"]["secret"] is True
    with pytest.raises(ConfigurationError, match=r"base_url.*project_key"):
        registry.parse_config(
            "jira",
            {"base_url": "your-domain", "email": "a", "api_token": "t", "project_key": "O PS"},
        )


# -- comments through the connector ----------------------------------------------------------


def test_comment_markdown_and_adf_keep_code_blocks_inline_code_and_links() -> None:
    text = "See `make test` and [the guide](https://x.example/g).\n\n```python\nx = 1\n\ny = 2\n```"
    document = adf.markdown_to_adf(text)
    kinds = [n["type"] for n in document["content"]]
    assert kinds == ["paragraph", "codeBlock"]
    assert document["content"][1] == {
        "type": "codeBlock",
        "attrs": {"language": "python"},
        "content": [{"type": "text", "text": "x = 1\n\ny = 2"}],
    }
    inline = document["content"][0]["content"]
    assert {"type": "text", "text": "make test", "marks": [{"type": "code"}]} in inline
    assert adf.adf_to_markdown(document) == text
    # A mention reads as its text; the plain-text field conversion is unchanged.
    mention = {"type": "doc", "content": [{"type": "paragraph", "content": [
        {"type": "mention", "attrs": {"id": "5b10", "text": "@Bo Chen"}},
        {"type": "text", "text": " please look", "marks": [{"type": "code"}]},
    ]}]}  # fmt: skip
    assert adf.adf_to_markdown(mention) == "@Bo Chen` please look`"
    assert adf.adf_to_text(mention) == "@Bo Chen please look"


def test_restricted_comments_read_as_internal_and_internal_ones_are_not_written(
    sandbox: Sandbox, jira: JiraConnector
) -> None:
    [made] = jira.create("issues", [{"summary": "Comment visibility"}])
    created = jira.comment_create("issues", made.record.id, NewComment("visible"))
    restricted = jira.client.http.post(
        f"/rest/api/3/issue/{made.record.id}/comment",
        json_body={
            "body": adf.markdown_to_adf("admins only"),
            "visibility": {"type": "role", "value": "Administrators"},
        },
        idempotent=False,
    ).json()
    listed = {c.id: c for c in jira.comments("issues", made.record.id)}
    assert listed[created.id].internal is False
    assert restricted["visibility"] == {"type": "role", "value": "Administrators"}
    assert listed[str(restricted["id"])].internal is True
    with pytest.raises(RecordError):
        jira.comment_create("issues", made.record.id, NewComment("private", internal=True))
