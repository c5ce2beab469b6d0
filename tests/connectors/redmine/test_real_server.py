"""The Redmine connector against a real Redmine 5.0 (../shared/peers/start-redmine.sh).

The shared contract suite's tests that need no sandbox fault run here against the real
server (imported from tests/connectors/test_contract.py, with this module's fixtures), and
the exchanges the sandbox can only imitate are checked on the real thing: the one-second
`updated_on` overlap, paging while issues change, a status the workflow forbids, custom
fields, 422s, deletes and a deleted project, and comments: journals with notes, private
notes by role, what the default roles may not do, and Textile as Redmine renders it. Every
test works in a project of its own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from connectors import registry
from connectors.base import Connector, NewComment, RecordUpdate
from connectors.errors import AuthenticationError, ConfigurationError, RecordError
from connectors.redmine.connector import RedmineConnector
from connectors.sandbox.contract import ContractCase
from tests.connectors.redmine.real import RedmineServer
from tests.connectors.test_contract import (  # noqa: F401 - collected here, on the real server
    read_all,
    test_a_comment_moves_its_record_into_the_feed,
    test_a_polling_only_connector_refuses_every_delivery,
    test_comments_of_a_missing_record_are_a_record_error,
    test_comments_round_trip_keeping_paragraphs_lists_links_code_and_mentions,
    test_create_update_delete_round_trip,
    test_field_discovery,
    test_incremental_read_returns_exactly_the_changed_records,
    test_incremental_read_under_writes_between_pages,
    test_one_invalid_record_in_a_batch_fails_alone,
    test_the_catalogue_tells_what_can_sync_before_any_credentials,
)

SEEDED = 12


@pytest.fixture
def kind() -> str:
    return "redmine"


def real_case(server: RedmineServer, project: dict[str, Any]) -> ContractCase:
    cf = server.custom_fields

    def config(base_url: str) -> dict[str, Any]:
        return {"base_url": server.url, "api_key": server.api_key, "project": project["identifier"]}

    def new_record(n: int) -> dict[str, Any]:
        return {
            "subject": f"Contract check {n}: export stalls at 99%",
            "description": f"Reported by account {n}.\n\nBrowser: Firefox",
            "priority": "High",
            f"cf_{cf['string']}": f"Customer {n}",
        }

    def update(n: int) -> dict[str, Any]:
        return {
            "subject": f"Contract check {n}: updated",
            "description": f"Updated text {n}.\n\n1. First\n2. Second",
            "priority": "Low",
            "status": "In Progress",
            f"cf_{cf['list']}": "Major",
        }

    return ContractCase(
        object_type="issues",
        config=config,
        bad_config=lambda url: {**config(url), "api_key": "0" * 40},
        new_record=new_record,
        invalid_record=lambda: {"subject": "Refused", f"cf_{cf['list']}": "Catastrophic"},
        update=update,
        stale_after=None,
    )


@pytest.fixture
def case(redmine_server: RedmineServer, redmine_project: dict[str, Any]) -> ContractCase:
    for n in range(SEEDED):
        redmine_server.new_issue(redmine_project["id"], f"Seeded issue {n}")
    return real_case(redmine_server, redmine_project)


def build(values: dict[str, Any], **options: Any) -> RedmineConnector:
    connector = registry.build("redmine", values, **options)
    assert isinstance(connector, RedmineConnector)
    connector.client.http.backoff_base = 0.01
    return connector


@pytest.fixture
def connector(case: ContractCase, redmine_server: RedmineServer) -> Iterator[Connector]:
    made = build(case.config(redmine_server.url))
    yield made
    made.close()


def test_check_passes_and_a_wrong_key_is_fatal_at_once(
    case: ContractCase, redmine_server: RedmineServer
):
    calls: list[tuple[str, int | None]] = []

    def observe(*, system: str, call: str, status: int | None, seconds: float) -> None:
        calls.append((call, status))

    build(case.config(redmine_server.url), on_call=observe).check()
    assert calls == [
        ("GET /users/current.json", 200),
        ("GET /projects/{}.json".format(case.config("")["project"]), 200),
    ]
    calls.clear()
    with pytest.raises(AuthenticationError) as caught:
        build(case.bad_config(redmine_server.url), on_call=observe).check()
    assert caught.value.status == 401
    assert calls == [("GET /users/current.json", 401)]  # not retried
    assert "0" * 40 not in str(caught.value)


def test_a_deleted_project_is_a_clear_configuration_error(
    redmine_server: RedmineServer, redmine_project: dict[str, Any]
):
    connector = build(real_case(redmine_server, redmine_project).config(""))
    connector.check()
    redmine_server.delete_project(redmine_project["identifier"])
    with pytest.raises(ConfigurationError) as caught:
        connector.check()
    assert caught.value.status == 404
    assert redmine_project["identifier"] in str(caught.value)
    assert "does not exist" in str(caught.value)


def _start_of_a_second() -> None:
    """Sleep until just after a whole second, so the next writes share one."""
    time.sleep(1 - time.time() % 1 + 0.02)


def test_two_changes_in_one_second_around_a_read_are_each_delivered_once(
    connector: RedmineConnector, redmine_server: RedmineServer, redmine_project: dict[str, Any]
):
    """Redmine's `updated_on` filter has one-second resolution and `>=T` re-reads the
    second before T: an issue changed in the same second as one already read comes back in
    the same query. The connector delivers each (id, updated_on) once and misses none."""
    a = redmine_server.new_issue(redmine_project["id"], "Overlap A")
    b = redmine_server.new_issue(redmine_project["id"], "Overlap B")
    _, cursor = read_all(connector, "issues")
    for _attempt in range(3):
        _start_of_a_second()
        redmine_server.update_issue(a["id"], subject="Overlap A, changed")
        first, cursor_after_a = read_all(connector, "issues", cursor)
        redmine_server.update_issue(b["id"], subject="Overlap B, changed")
        stamp_a = redmine_server.issue(a["id"])["updated_on"]
        stamp_b = redmine_server.issue(b["id"])["updated_on"]
        if stamp_a == stamp_b:
            break
        # The second ticked over between the writes: catch up, and try again.
        cursor = read_all(connector, "issues", cursor_after_a)[1]
    else:
        pytest.fail("could not make two changes within one second in three attempts")
    assert [r.id for r in first] == [str(a["id"])]
    # Redmine itself answers A again for the query that follows (the overlap)...
    raw = connector.client.issues(
        {**connector._scope(), "updated_on": f">={cursor_after_a['since']}"}
    )
    assert {i["id"] for i in raw["issues"]} >= {a["id"], b["id"]}
    # ... and the connector delivers only B, once, and then nothing.
    second, cursor_after_b = read_all(connector, "issues", cursor_after_a)
    assert [(r.id, r.fields["subject"]) for r in second] == [(str(b["id"]), "Overlap B, changed")]
    assert read_all(connector, "issues", cursor_after_b)[0] == []

    # A change within the second of the version read keeps its `updated_on`: still read.
    for _attempt in range(3):
        _start_of_a_second()
        redmine_server.update_issue(a["id"], subject="Overlap A, third")
        read_a, cursor_a = read_all(connector, "issues", cursor_after_b)
        redmine_server.update_issue(a["id"], subject="Overlap A, fourth")
        if redmine_server.issue(a["id"])["updated_on"] == read_a[-1].version:
            break
        cursor_after_b = read_all(connector, "issues", cursor_a)[1]
    else:
        pytest.fail("could not change an issue twice within one second in three attempts")
    [again] = read_all(connector, "issues", cursor_a)[0]
    assert (again.id, again.fields["subject"], again.version) == (
        str(a["id"]),
        "Overlap A, fourth",
        read_a[-1].version,
    )


def test_paging_while_issues_change_misses_nothing_where_offsets_would(
    connector: RedmineConnector, redmine_server: RedmineServer, redmine_project: dict[str, Any]
):
    """Offset paging over `sort=updated_on` loses issues when earlier ones change meanwhile
    (they move to the end, the rest shift forward). Shown on the real server with plain
    offsets, then read by the connector under the same changes without a loss."""
    ids = [redmine_server.new_issue(redmine_project["id"], f"Paged {n}")["id"] for n in range(15)]
    scope = {**connector._scope(), "sort": "updated_on,id", "limit": 5}

    def offsets_while_changing() -> set[int]:
        seen: set[int] = set()
        first = connector.client.issues({**scope, "offset": 0})["issues"]
        seen |= {i["id"] for i in first}
        for issue in first[:3]:
            redmine_server.update_issue(issue["id"], subject=f"{issue['subject']} (touched)")
        for offset in (5, 10):
            seen |= {
                i["id"] for i in connector.client.issues({**scope, "offset": offset})["issues"]
            }
        return seen

    naive = offsets_while_changing()
    assert set(ids) - naive, "offset paging lost nothing: the premise of this test is gone"

    connector.page_size = 5
    pages = connector.changes("issues", None)
    first = next(pages)
    seen = {r.id for r in first.records}
    for record in first.records[:3]:
        redmine_server.update_issue(record.id, subject=f"{record.fields['subject']} (again)")
    latest = {r.id: r for r in first.records}
    for page in pages:
        seen |= {r.id for r in page.records}
        latest.update({r.id: r for r in page.records})
    assert {str(i) for i in ids} <= seen
    for record in first.records[:3]:
        assert latest[record.id].fields["subject"].endswith("(again)")


def test_a_status_the_workflow_forbids_is_that_records_error(
    redmine_server: RedmineServer, redmine_project: dict[str, Any]
):
    """Redmine answers 204 to a status change the user's role may not make, and keeps the
    old status. The connector compares after the write and reports it on that record."""
    user, key = redmine_server.new_member(redmine_project["id"], "Developer")
    try:
        developer = build(
            {
                "base_url": redmine_server.url,
                "api_key": key,
                "project": redmine_project["identifier"],
            }
        )
        [made] = developer.create("issues", [{"subject": "Workflow check"}])
        assert made.ok, made.error
        issue_id = made.record.id
        # Redmine's own answer: 204, and nothing changed.
        answer = developer.client.http.put(
            f"/issues/{issue_id}.json", json_body={"issue": {"status_id": 6}}
        )
        assert answer.status_code == 204
        assert redmine_server.issue(issue_id)["status"]["name"] == "New"

        [refused, allowed] = developer.update(
            "issues",
            [
                RecordUpdate(issue_id, {"status": "Rejected", "subject": "Workflow check 2"}),
                RecordUpdate(issue_id, {"status": "In Progress"}),
            ],
        )
        assert isinstance(refused.error, RecordError)
        assert set(refused.error.fields) == {"status"}
        assert "kept status 'New'" in refused.error.message
        assert refused.record.fields["subject"] == "Workflow check 2"  # the rest was written
        assert allowed.ok, allowed.error
        assert allowed.record.fields["status"] == "In Progress"
        [unknown] = developer.update("issues", [RecordUpdate(issue_id, {"status": "Archived"})])
        assert "does not exist" in unknown.error.message
        developer.close()
        # Custom field definitions are admin-only: a developer finds them on the project's
        # issues (so not before it has one), typed as text.
        developer = build(
            {
                "base_url": redmine_server.url,
                "api_key": key,
                "project": redmine_project["identifier"],
            }
        )
        specs = {s.name: s for s in developer.fields("issues")}
        assert f"cf_{redmine_server.custom_fields['string']}" in specs
        assert specs[f"cf_{redmine_server.custom_fields['string']}"].custom
        assert specs[f"cf_{redmine_server.custom_fields['list']}"].type.value == "string"
        developer.close()
    finally:
        redmine_server.delete_user(user["id"])


def test_custom_fields_are_discovered_typed_written_and_refused_clearly(
    connector: RedmineConnector, redmine_server: RedmineServer
):
    cf = {fmt: f"cf_{i}" for fmt, i in redmine_server.custom_fields.items()}
    specs = {s.name: s for s in connector.fields("issues")}
    assert specs[cf["list"]].option_values() == ["Minor", "Major", "Critical"]
    assert (specs[cf["int"]].type.value, specs[cf["string"]].type.value) == ("integer", "string")

    [made] = connector.create(
        "issues",
        [{"subject": "Custom", cf["string"]: "Northwind", cf["list"]: "Critical", cf["int"]: 8}],
    )
    assert made.ok, made.error
    assert made.record.fields[cf["int"]] == 8
    assert made.record.fields[cf["list"]] == "Critical"
    found = connector.find("issues", cf["string"], ["Northwind"])
    assert [r.id for r in found] == [made.record.id]

    [refused] = connector.update("issues", [RecordUpdate(made.record.id, {cf["int"]: "eight"})])
    assert refused.error.status == 422
    assert refused.error.message == "Concord points is not a number"
    [blank] = connector.create("issues", [{"subject": "   "}])
    assert (blank.error.status, blank.error.message) == (422, "Subject cannot be blank")


def test_deletes_leave_no_trace_and_reconciliation_sees_them(
    connector: RedmineConnector, case: ContractCase
):
    before = {i for page in connector.list_ids("issues") for i in page}
    assert len(before) == SEEDED
    victim = sorted(before, key=int)[3]
    [gone] = connector.delete("issues", [victim])
    assert gone.ok
    assert connector.get("issues", [victim]) == []
    after = {i for page in connector.list_ids("issues") for i in page}
    assert after == before - {victim}
    assert connector.delete("issues", [victim])[0].ok  # 404: already gone
    assert connector.record_url("issues", victim) == f"{connector.config.base_url}/issues/{victim}"


# -- comments (journals with notes) ----------------------------------------------------------


def test_field_changes_are_no_comments_and_a_deleted_note_leaves_its_changes(
    connector: Connector, redmine_server: RedmineServer, redmine_project: dict[str, Any]
):
    issue = redmine_server.new_issue(redmine_project["id"], "Journals")
    redmine_server.update_issue(issue["id"], subject="Journals, renamed")
    redmine_server.update_issue(issue["id"], priority_id=3, notes="Raised, see the log.")
    [note] = connector.comments("issues", str(issue["id"]))
    assert (note.body, note.author_name, note.internal) == (
        "Raised, see the log.", "Redmine Admin", False,
    )  # fmt: skip
    connector.comment_delete("issues", str(issue["id"]), note.id)
    assert connector.comments("issues", str(issue["id"])) == []
    journals = redmine_server.call("GET", f"/issues/{issue['id']}.json?include=journals").json()
    kept = [j for j in journals["issue"]["journals"] if j["id"] == int(note.id)]
    assert [j["details"][0]["name"] for j in kept] == ["priority_id"]  # the change stays
    connector.comment_delete("issues", str(issue["id"]), note.id)  # already gone: no error


def test_a_developer_writes_private_notes_but_may_not_edit_notes(
    case: ContractCase, redmine_server: RedmineServer, redmine_project: dict[str, Any]
):
    issue = redmine_server.new_issue(redmine_project["id"], "Private talk")
    user, key = redmine_server.new_member(redmine_project["id"], "Developer")
    try:
        developer = build({**case.config(redmine_server.url), "api_key": key})
        note = developer.comment_create("issues", str(issue["id"]), NewComment("Agents only", True))
        assert note.internal is True
        [seen] = build(case.config(redmine_server.url)).comments("issues", str(issue["id"]))
        assert (seen.id, seen.internal, seen.author_name) == (note.id, True, "Concord Developer")
        with pytest.raises(RecordError, match="Edit notes") as caught:
            developer.comment_update("issues", str(issue["id"]), note.id, NewComment("Changed"))
        assert caught.value.status == 403
        assert [c.body for c in developer.comments("issues", str(issue["id"]))] == ["Agents only"]
    finally:
        redmine_server.delete_user(user["id"])


def test_a_reporter_s_private_note_is_refused_before_anything_is_written(
    case: ContractCase, redmine_server: RedmineServer, redmine_project: dict[str, Any]
):
    issue = redmine_server.new_issue(redmine_project["id"], "Reporter")
    user, key = redmine_server.new_member(redmine_project["id"], "Reporter")
    try:
        reporter = build({**case.config(redmine_server.url), "api_key": key})
        with pytest.raises(RecordError, match="Set notes as private"):
            reporter.comment_create("issues", str(issue["id"]), NewComment("secret", True))
        assert redmine_server.issue(issue["id"])["updated_on"] == issue["updated_on"]
        public = reporter.comment_create("issues", str(issue["id"]), NewComment("Hello"))
        assert public.internal is False
    finally:
        redmine_server.delete_user(user["id"])


def test_a_note_in_the_second_of_the_last_read_still_brings_its_issue(
    connector: Connector, redmine_server: RedmineServer, redmine_project: dict[str, Any]
):
    _, cursor = read_all(connector, "issues")
    _start_of_a_second()
    issue = redmine_server.new_issue(redmine_project["id"], "Same second")
    _, cursor = read_all(connector, "issues", cursor)
    redmine_server.update_issue(issue["id"], notes="A note in the same second")
    again, cursor = read_all(connector, "issues", cursor)
    assert [r.id for r in again] == [str(issue["id"])]  # no value changed: only the note
    assert read_all(connector, "issues", cursor)[0] == []
