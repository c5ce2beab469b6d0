"""How a run's end is recorded when a system fails: reschedule, retry, fail, mark the
connection, pause the sync (in-process, against the sandboxes over HTTP)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.connections.models import Connection
from apps.connections.services import connection_create
from apps.core.errors import Refused
from apps.runs.execution import run_execute
from apps.runs.models import SyncRun
from apps.runs.outcome import max_consecutive_failures
from apps.runs.queue import run_request
from apps.runs.services import held_run_approve, held_run_cancel
from apps.runs.sweeping import dispatch_due
from apps.syncs.models import Sync
from apps.syncs.services import sync_create, sync_resume
from connectors.errors import TransientError
from connectors.github.sandbox import METADATA_TOKEN as GITHUB_METADATA_TOKEN
from connectors.github.sandbox import connection_config as github_config
from connectors.hubspot.sandbox import SANDBOX_TOKEN
from connectors.jira.sandbox.state import connection_config as jira_config
from connectors.memory.connector import MemoryConnector
from tests.running import run_now
from tests.runs.sandbox_sync import hub_desk_sync
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


def memory_setup(**kw):
    ws = f.workspace()
    crm, desk = f.stores()
    return f.sync(ws, crm, desk, **kw), crm, desk


SEED = {
    "hubspot": {"contacts": 2, "companies": 0, "deals": 0, "tickets": 0},
    "zendesk": {"users": 1, "tickets": 0, "organizations": 0},
}


@pytest.fixture
def make_sync(sandbox):
    def make(token: str = SANDBOX_TOKEN) -> Sync:
        sync = hub_desk_sync(sandbox, seed_counts=SEED, enabled=True, interval_seconds=300)
        if token != SANDBOX_TOKEN:  # the credentials go bad after the sync was set up
            Connection.objects.filter(pk=sync.connection_a_id).update(
                secrets={"access_token": token}
            )
        sync.refresh_from_db()
        return sync

    return make


def test_a_long_retry_after_requeues_the_run_instead_of_sleeping(make_sync, sandbox):
    sync = make_sync()
    sandbox.admin.queue_fault("hubspot", status=429, retry_after=600)
    run = run_request(sync, trigger="manual")
    before = timezone.now()
    assert run_execute(run.pk) == "queued"
    run.refresh_from_db()
    assert run.status == "queued"
    assert run.attempts == 1
    assert "retrying after 600s" in run.error
    assert before + timedelta(seconds=590) <= run.not_before <= before + timedelta(seconds=610)
    # Delivered again too early (a redelivery, the sweeper): it is sent back for later.
    assert run_execute(run.pk) == "early"
    assert SyncRun.objects.get(pk=run.pk).attempts == 1
    # Once the wait is over, the same run completes.
    SyncRun.objects.filter(pk=run.pk).update(not_before=timezone.now())
    assert run_execute(run.pk) == "succeeded"
    run.refresh_from_db()
    assert (run.attempts, run.created_b) == (2, 2)


def test_bad_credentials_fail_the_run_and_mark_the_connection(make_sync):
    sync = make_sync(token="pat-na1-revoked-token")
    run = run_request(sync, trigger="manual")
    assert run_execute(run.pk) == "failed"
    run.refresh_from_db()
    assert "401" in run.error
    connection = Connection.objects.get(pk=sync.connection_a_id)
    assert connection.status == Connection.Status.FAILING
    assert "HubSpot" in connection.last_error
    assert "pat-na1-revoked-token" not in connection.last_error + run.error
    assert Connection.objects.get(pk=sync.connection_b_id).status != Connection.Status.FAILING


def test_a_sync_that_keeps_failing_pauses_itself_visibly(make_sync, settings):
    settings.CONCORD_SYNC_MAX_FAILURES = 3
    sync = make_sync(token="pat-na1-revoked-token")
    for _ in range(3):
        run = run_request(sync, trigger="schedule")
        assert run_execute(run.pk) == "failed"
    sync.refresh_from_db()
    assert sync.consecutive_failures == 3
    assert sync.paused_reason.startswith("Paused after 3 failed runs in a row")
    assert "401" in sync.paused_reason
    # The dispatcher leaves a paused sync alone.
    Sync.objects.filter(pk=sync.pk).update(next_run_at=timezone.now())
    assert dispatch_due() == 0


def test_a_mass_change_is_held_before_writing_and_pauses_the_sync():
    s, crm, desk = memory_setup(safety_limit_count=3, safety_limit_share=None)
    contacts = [crm.insert("contacts", {"email": f"m{i}@x.com", "name": "x"}) for i in range(5)]
    assert run_now(s).status == SyncRun.Status.SUCCEEDED  # creates do not count
    for a in contacts:
        crm.edit("contacts", a.id, {"name": "bulk edit"})
    writes = desk.writes

    held = run_now(s)

    assert held.status == SyncRun.Status.HELD
    assert "5 records, more than the safety limit of 3" in held.error
    assert desk.writes == writes
    s.refresh_from_db()
    assert s.paused
    assert s.held_change["changes"] == 5
    assert run_now(s).status == SyncRun.Status.CANCELLED  # a paused sync does not run
    with pytest.raises(Refused) as refused:
        sync_resume(s)
    assert refused.value.code == "held_run_pending"

    approval = held_run_approve(held, user=f.user())
    run_execute(approval.pk)
    approval.refresh_from_db()

    assert approval.status == SyncRun.Status.SUCCEEDED
    assert {r.fields["full_name"] for r in desk.all("users")} == {"bulk edit"}
    s.refresh_from_db()
    assert not s.paused
    assert s.held_change is None


def test_share_limit_counts_against_linked_records_and_cancel_keeps_it_paused():
    s, crm, desk = memory_setup(
        safety_limit_share=0.5, safety_limit_count=None, delete_policy="propagate"
    )
    contacts = [crm.insert("contacts", {"email": f"d{i}@x.com"}) for i in range(12)]
    run_now(s)
    for a in contacts[:7]:
        crm.remove("contacts", a.id)

    assert run_now(s).status == SyncRun.Status.SUCCEEDED  # 7 changes: under the floor of 10
    assert len(desk.all("users")) == 5

    more = [crm.insert("contacts", {"email": f"e{i}@x.com"}) for i in range(20)]
    run_now(s)
    for a in more[:11] + contacts[7:]:
        crm.remove("contacts", a.id)
    held = run_now(s)
    assert held.status == SyncRun.Status.HELD
    assert "16 of 25 linked records" in held.error
    assert len(desk.all("users")) == 25

    held_run_cancel(held, user=f.user("boss@x.com"))
    s.refresh_from_db()
    assert s.paused
    assert "cancelled by boss@x.com" in s.paused_reason
    assert len(desk.all("users")) == 25
    with pytest.raises(Refused) as refused:
        held_run_approve(held)
    assert refused.value.code == "no_held_run"
    sync_resume(s)
    assert run_now(s).status == SyncRun.Status.HELD  # the cause is still there


def test_failed_runs_record_the_error_and_pause_after_repeated_failures(monkeypatch):
    ws = f.workspace()
    crm, desk = f.stores()
    s = f.sync(ws, crm, desk)

    def broken(self, object_type, cursor):
        raise TransientError("upstream 503", system="memory", call="changes", status=503)
        yield  # pragma: no cover

    monkeypatch.setattr(MemoryConnector, "changes", broken)
    for i in range(max_consecutive_failures()):
        run = run_now(s)
        # A transient failure is retried later (the same run, requeued with a backoff) and
        # counts as a failure of the sync.
        assert run.status == SyncRun.Status.QUEUED
        assert "upstream 503" in run.error
        SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.CANCELLED)
        s.refresh_from_db()
        assert s.consecutive_failures == i + 1
    assert "upstream 503" in s.last_error
    assert s.paused
    assert "5 failed runs in a row" in s.paused_reason
    monkeypatch.undo()
    sync_resume(s)
    assert run_now(s).status == SyncRun.Status.SUCCEEDED
    s.refresh_from_db()
    assert (s.consecutive_failures, s.last_error) == (0, "")


def test_a_transient_failure_hands_its_work_to_the_follow_up_already_queued(monkeypatch):
    s, crm, desk = memory_setup()
    crm.insert("contacts", {"email": "ann@x.com", "name": "Ann"})
    run = run_request(s, trigger="schedule")
    calls = []

    def failing_then_queue(self, object_type, cursor):
        if not calls:  # while this run runs, a webhook asks for a follow-up run
            calls.append(run_request(s, trigger="webhook", record_ids={"b": ["u1"]}))
        raise TransientError("upstream 503", system="memory", call="changes", status=503)
        yield  # pragma: no cover

    monkeypatch.setattr(MemoryConnector, "changes", failing_then_queue)
    assert run_execute(run.pk) == SyncRun.Status.FAILED
    [follow_up] = calls
    follow_up.refresh_from_db()
    run.refresh_from_db()
    assert f"run {follow_up.public_id} retries it" in run.error
    # The follow-up now reads every change (the failed run was a poll), after the backoff.
    assert (follow_up.status, follow_up.record_ids, follow_up.trigger) == (
        "queued",
        None,
        "schedule",
    )
    assert follow_up.not_before is not None
    monkeypatch.undo()
    SyncRun.objects.filter(pk=follow_up.pk).update(not_before=None)
    assert run_execute(follow_up.pk) == SyncRun.Status.SUCCEEDED
    assert [r.fields["email"] for r in desk.all("users")] == ["ann@x.com"]


@pytest.mark.parametrize(
    ("broken", "says"),
    [
        ({"secrets": {"token": "github_pat_revoked"}}, "credentials were rejected"),
        ({"secrets": {"token": GITHUB_METADATA_TOKEN}}, "Issues permission"),
        (
            {"config": {"repositories": "octo-org/website, octo-org/vanished"}},
            "repository octo-org/vanished does not exist",
        ),
    ],
    ids=["revoked-token", "token-without-issues", "deleted-repository"],
)
def test_a_broken_github_connection_fails_its_own_sync_and_pauses_nothing_else(
    sandbox, broken, says
):
    other = hub_desk_sync(
        sandbox,
        seed_counts={**SEED, "github": {"issues": 3}, "jira": {"issues": 2}},
        enabled=True,
    )
    ws = f.workspace()
    github = connection_create(
        workspace=ws,
        name="GitHub",
        kind="github",
        values=github_config(sandbox.url_for("github")),
    )
    jira = connection_create(
        workspace=ws, name="Jira", kind="jira", values=jira_config(sandbox.url_for("jira"))
    )
    issues = sync_create(
        workspace=ws,
        name="Reports and issues",
        connection_a=github,
        object_type_a="issues",
        connection_b=jira,
        object_type_b="issues",
        mappings=[{"field_a": "title", "field_b": "summary"}],
        enabled=True,
    )
    assert run_now(issues).status == "succeeded"

    updates = {k: {**getattr(github, k), **v} for k, v in broken.items()}
    Connection.objects.filter(pk=github.pk).update(**updates)
    issues.refresh_from_db()
    run = run_request(issues, trigger="schedule")
    assert run_execute(run.pk) == "failed"

    github.refresh_from_db()
    assert github.status == Connection.Status.FAILING
    assert says in github.last_error
    assert "GitHub" in github.last_error
    assert "github_pat_revoked" not in github.last_error
    issues.refresh_from_db()
    assert not issues.paused_reason  # one failure pauses nothing; repeated ones pause it
    # Nothing else is touched: the other side's connection, the other sync.
    jira.refresh_from_db()
    assert jira.status == Connection.Status.OK
    assert run_now(other).status == "succeeded"
    other.refresh_from_db()
    assert not other.paused_reason
