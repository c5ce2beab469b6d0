"""A sync between a real Redmine (../shared/peers/start-redmine.sh) and the Jira sandbox,
run by a real Celery worker: records flow both ways, and a field changed on both sides is
held as a conflict while the record's other fields still sync.

The Redmine side is a project of this test's own (tests/connectors/redmine/real.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from apps.connections.services import connection_create, connector_for
from apps.runs.models import SyncRun
from apps.runs.queue import run_request
from apps.syncs.models import Conflict, RecordLink, Sync
from apps.syncs.services import sync_create
from connectors.base import RecordUpdate
from connectors.jira.sandbox import SANDBOX_EMAIL, SANDBOX_TOKEN
from tests.connectors.redmine.real import (  # noqa: F401 - fixtures
    RedmineServer,
    redmine_project,
    redmine_server,
)
from tests.sandbox_fixtures import Sandbox
from tests.syncs import factories as f
from tests.workers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def redmine_jira(  # the two Redmine fixtures are imported above
    sandbox: Sandbox,
    redmine_server: RedmineServer,  # noqa: F811
    redmine_project: dict[str, Any],  # noqa: F811
) -> Sync:
    sandbox.admin.seed(1, counts={"jira": {"issues": 0}})
    for n in range(2):
        redmine_server.new_issue(
            redmine_project["id"], f"From Redmine {n}", description=f"Redmine text {n}"
        )
    ws = f.workspace()
    redmine = connection_create(
        workspace=ws,
        name="Redmine",
        kind="redmine",
        values={
            "base_url": redmine_server.url,
            "api_key": redmine_server.api_key,
            "project": redmine_project["identifier"],
        },
    )
    jira = connection_create(
        workspace=ws,
        name="Jira",
        kind="jira",
        values={
            "base_url": sandbox.url_for("jira"),
            "email": SANDBOX_EMAIL,
            "api_token": SANDBOX_TOKEN,
            "project_key": "OPS",
        },
    )
    return sync_create(
        workspace=ws,
        name="Redmine and Jira",
        connection_a=redmine,
        object_type_a="issues",
        connection_b=jira,
        object_type_b="issues",
        mappings=[
            {"field_a": "subject", "field_b": "summary"},
            {"field_a": "description", "field_b": "description"},
        ],
        match_rule=[{"a": "subject", "b": "summary"}],
        enabled=False,
        interval_seconds=3600,
        conflict_policy="manual",
        safety_limit_share=None,
        safety_limit_count=None,
    )


def records(sync: Sync, side: str) -> dict[str, dict[str, Any]]:
    connection = sync.connection_a if side == "a" else sync.connection_b
    connector = connector_for(connection)
    try:
        return {r.id: r.fields for page in connector.changes("issues", None) for r in page.records}
    finally:
        connector.close()


def run_once(sync: Sync) -> SyncRun:
    run = run_request(sync, trigger="manual")
    wait_until(lambda: SyncRun.objects.get(pk=run.pk).status not in ("queued", "running"))
    run.refresh_from_db()
    return run


def test_issues_flow_both_ways_and_a_two_sided_edit_is_a_conflict(workers, redmine_jira):
    sync = redmine_jira
    workers.start()
    first = run_once(sync)
    assert (first.status, first.created_b) == ("succeeded", 2)
    jira = {v["summary"]: v for v in records(sync, "b").values()}
    assert jira["From Redmine 1"]["description"] == "Redmine text 1"

    # Jira -> Redmine.
    jira_connector = connector_for(sync.connection_b)
    [made] = jira_connector.create(
        "issues", [{"summary": "From Jira", "description": "Line one\n\nLine two"}]
    )
    jira_connector.close()
    assert made.ok, made.error
    second = run_once(sync)
    assert (second.status, second.created_a) == ("succeeded", 1)
    redmine = {v["subject"]: v for v in records(sync, "a").values()}
    assert redmine["From Jira"]["description"] == "Line one\n\nLine two"  # CRLF on the server

    # Both sides change the subject of one pair; only Redmine changes its description.
    link = RecordLink.objects.get(
        sync=sync,
        a_id=next(i for i, v in records(sync, "a").items() if v["subject"] == "From Redmine 0"),
    )
    redmine_connector = connector_for(sync.connection_a)
    jira_connector = connector_for(sync.connection_b)
    try:
        [a] = redmine_connector.update(
            "issues",
            [RecordUpdate(link.a_id, {"subject": "Renamed in Redmine", "description": "New text"})],
        )
        [b] = jira_connector.update(
            "issues", [RecordUpdate(link.b_id, {"summary": "Renamed in Jira"})]
        )
    finally:
        redmine_connector.close()
        jira_connector.close()
    assert a.ok, a.error
    assert b.ok, b.error
    third = run_once(sync)
    assert third.status == "succeeded"
    conflict = Conflict.objects.get(sync=sync, status="open")
    assert (conflict.mapping.field_a, conflict.value_a, conflict.value_b) == (
        "subject",
        "Renamed in Redmine",
        "Renamed in Jira",
    )
    [jira_side] = [v for k, v in records(sync, "b").items() if k == link.b_id]
    assert (jira_side["summary"], jira_side["description"]) == ("Renamed in Jira", "New text")
    assert records(sync, "a")[link.a_id]["subject"] == "Renamed in Redmine"
