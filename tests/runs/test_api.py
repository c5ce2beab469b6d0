"""The runs API: running a sync (202 with the queued run), resync, held runs, runs with
counters and progress, cancelling, the events of a run; for every role, across workspaces.

Runs are executed the real way (run_execute, what the Celery task calls) over
two in-memory systems; only the Celery hand-off is left out: the task is scheduled on
commit, which the tests check without a worker.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import Role
from apps.runs.execution import run_execute
from apps.runs.models import SyncEvent, SyncRun
from apps.syncs.models import Sync
from apps.syncs.services import sync_pause
from tests.factories import MembershipFactory, WorkspaceFactory
from tests.syncs import factories as f
from tests.syncs.test_api import _fast_and_roomy, assert_error, client_for  # noqa: F401

pytestmark = pytest.mark.django_db

ROLES = ["viewer", "editor", "admin", "owner"]
EDITORS = {"viewer": False, "editor": True, "admin": True, "owner": True}
RUNS = "/api/v1/runs/"
SYNCS = "/api/v1/syncs/"


@pytest.fixture
def workspace():
    return WorkspaceFactory()


@pytest.fixture
def clients(workspace):
    return {role: client_for(MembershipFactory(workspace=workspace, role=role)) for role in ROLES}


@pytest.fixture
def systems():
    return f.stores()


@pytest.fixture
def sync(workspace, systems) -> Sync:
    crm, desk = systems
    return f.sync(workspace, crm, desk)


@pytest.fixture
def foreign():
    """Another workspace's owner, sync and finished run with events."""
    owner = MembershipFactory(role=Role.OWNER)
    crm, desk = f.stores()
    theirs = f.sync(owner.workspace, crm, desk)
    crm.insert("contacts", {"email": "theirs@x.com", "name": "Theirs"})
    run = executed(theirs)
    return client_for(owner), theirs, run


def executed(sync: Sync, *, trigger: str = "manual", full: bool = False) -> SyncRun:
    """Request a run and execute it as a worker would."""
    from apps.runs.queue import run_request

    run = run_request(sync, trigger=trigger, full=full)
    run_execute(run.pk)
    run.refresh_from_db()
    return run


def run_url(run: SyncRun, suffix: str = "") -> str:
    return f"{RUNS}{run.public_id}/{suffix}"


def sync_url(sync: Sync, suffix: str = "") -> str:
    return f"{SYNCS}{sync.public_id}/{suffix}"


# --- Run and resync -------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
def test_editors_run_a_sync_and_get_the_queued_run(
    clients, sync, role, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = clients[role].post(sync_url(sync, "run/"))
    if not EDITORS[role]:
        assert_error(response, 403, "permission_denied")
        assert not SyncRun.objects.exists()
        assert callbacks == []
        return
    assert response.status_code == 202, response.content
    run = SyncRun.objects.get()
    body = response.json()
    assert body["id"] == str(run.public_id)
    assert response["Location"] == f"/api/v1/runs/{run.public_id}/"
    assert (body["status"], body["trigger"], body["full"], body["sync"]) == (
        "queued",
        "manual",
        False,
        str(sync.public_id),
    )
    assert (run.status, run.trigger, run.sync, run.workspace) == (
        "queued",
        "manual",
        sync,
        sync.workspace,
    )
    assert len(callbacks) == 1  # the Celery task is sent once the row is committed

    with django_capture_on_commit_callbacks(execute=False) as again:
        folded = clients[role].post(sync_url(sync, "run/"))
    assert folded.status_code == 202
    assert folded.json()["id"] == str(run.public_id)
    assert folded.json()["folded"] == 1
    assert SyncRun.objects.count() == 1
    assert again == []  # folded into the queued run: nothing new to send


@pytest.mark.parametrize("role", ROLES)
def test_editors_request_a_full_resync(clients, sync, role, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = clients[role].post(sync_url(sync, "resync/"))
    if not EDITORS[role]:
        assert_error(response, 403, "permission_denied")
        assert not SyncRun.objects.exists()
        return
    assert response.status_code == 202
    run = SyncRun.objects.get()
    assert (run.trigger, run.full, run.status) == ("resync", True, "queued")
    assert response.json()["trigger"] == "resync"
    assert len(callbacks) == 1


def test_a_paused_sync_is_not_run(clients, sync):
    sync_pause(sync, reason="maintenance window")
    for suffix in ("run/", "resync/"):
        assert_error(clients["editor"].post(sync_url(sync, suffix)), 409, "sync_paused")
    assert not SyncRun.objects.exists()


def test_the_queued_run_executes_and_reports_counters_and_progress(clients, sync, systems):
    crm, desk = systems
    for n in range(3):
        crm.insert("contacts", {"email": f"p{n}@x.com", "name": f"P{n}"})
    desk.insert("users", {"email": "only-b@x.com", "full_name": "B"})
    queued = clients["editor"].post(sync_url(sync, "run/")).json()
    run = SyncRun.objects.get(public_id=queued["id"])

    assert run_execute(run.pk) == "succeeded"

    body = clients["viewer"].get(run_url(run)).json()
    assert body["status"] == "succeeded"
    assert body["counters"] == {
        "a": {
            "read": 3,
            "created": 1,
            "updated": 0,
            "unchanged": 0,
            "deleted": 0,
            "conflicts": 0,
            "errors": 0,
        },
        # A first run lists B once (to match); the three records it creates there are left
        # out of that listing's replay, so they are not read back as echoes.
        "b": {
            "read": 1,
            "created": 3,
            "updated": 0,
            "unchanged": 0,
            "deleted": 0,
            "conflicts": 0,
            "errors": 0,
        },
    }
    assert body["api_calls"] > 0
    assert body["started_at"] is not None
    assert body["finished_at"] is not None
    assert body["duration_seconds"] >= 0
    progress = body["progress"]
    assert progress["events_recorded"] == SyncEvent.objects.filter(run=run).count() == 4
    assert progress["elapsed_seconds"] == body["duration_seconds"]
    assert len(desk.all("users")) == 4


# --- Listing and reading --------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
def test_every_role_lists_and_reads_runs(clients, sync, systems, foreign, role):
    systems[0].insert("contacts", {"email": "r@x.com"})
    run = executed(sync)
    listed = clients[role].get(RUNS)
    assert listed.status_code == 200
    assert [r["id"] for r in listed.json()["results"]] == [str(run.public_id)]
    read = clients[role].get(run_url(run))
    assert read.status_code == 200
    assert read.json()["id"] == str(run.public_id)
    assert read.json()["sync_name"] == sync.name


def test_runs_are_filtered_by_sync_status_trigger_and_time(clients, workspace, systems):
    crm, desk = systems
    first = f.sync(workspace, crm, desk)
    second = f.sync(workspace, *f.stores())
    manual = executed(first)
    resync = executed(first, trigger="resync", full=True)
    other = executed(second)
    SyncRun.objects.filter(pk=manual.pk).update(created_at=timezone.now() - timedelta(days=2))
    viewer = clients["viewer"]

    def ids(**params) -> list[str]:
        response = viewer.get(RUNS, params)
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["results"]]

    assert ids() == [str(other.public_id), str(resync.public_id), str(manual.public_id)]
    assert ids(sync=first.public_id) == [str(resync.public_id), str(manual.public_id)]
    assert ids(trigger="resync") == [str(resync.public_id)]
    assert ids(status="succeeded", sync=second.public_id) == [str(other.public_id)]
    assert ids(status="failed") == []
    day_ago = (timezone.now() - timedelta(days=1)).isoformat()
    assert ids(created_before=day_ago) == [str(manual.public_id)]
    assert ids(created_after=day_ago, sync=first.public_id) == [str(resync.public_id)]
    assert len(viewer.get(RUNS, {"page_size": 2}).json()["results"]) == 2
    nxt = viewer.get(RUNS, {"page_size": 2}).json()["next"]
    assert [r["id"] for r in viewer.get(nxt).json()["results"]] == [str(manual.public_id)]

    bad = viewer.get(RUNS, {"sync": "nope", "status": "sideways", "created_after": "yesterday"})
    error = assert_error(bad, 400, "validation_error")
    assert set(error["fields"]) == {"sync", "status", "created_after"}


# --- Cancel ---------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
def test_editors_cancel_a_queued_run(clients, sync, role):
    queued = clients["owner"].post(sync_url(sync, "run/")).json()
    response = clients[role].post(f"{RUNS}{queued['id']}/cancel/")
    run = SyncRun.objects.get(public_id=queued["id"])
    if not EDITORS[role]:
        assert_error(response, 403, "permission_denied")
        assert run.status == "queued"
        return
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert run.status == "cancelled"
    assert run_execute(run.pk) == "not-queued"  # a late message finds nothing to do


def test_a_running_run_is_asked_to_stop_and_a_finished_one_refuses(clients, sync):
    running = SyncRun.objects.create(workspace=sync.workspace, sync=sync, status="running")
    response = clients["editor"].post(run_url(running, "cancel/"))
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["cancel_requested"]) == ("running", True)

    finished = executed(sync)
    assert_error(clients["editor"].post(run_url(finished, "cancel/")), 409, "run_not_cancellable")


@pytest.mark.parametrize("role", ROLES)
def test_editors_retry_the_records_a_run_failed_on(clients, sync, systems, role):
    crm, desk = systems
    bad = crm.insert("contacts", {"email": "bad@example.com", "name": "Bad"})
    desk.fail("create", when=lambda fields: fields.get("email") == "bad@example.com")
    failed = executed(sync)
    assert failed.status == "partial"
    response = clients[role].post(run_url(failed, "retry/"))
    if not EDITORS[role]:
        assert_error(response, 403, "permission_denied")
        return
    assert response.status_code == 202, response.content
    queued = SyncRun.objects.get(public_id=response.json()["id"])
    assert (queued.status, queued.record_ids) == ("queued", {"a": [bad.id], "b": []})


def test_retrying_a_run_without_record_errors_is_refused(clients, sync):
    clean = executed(sync)
    assert_error(clients["editor"].post(run_url(clean, "retry/")), 409, "nothing_to_retry")


# --- Events ---------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_the_events_of_a_run_filtered_and_paged(clients, sync, systems, role):
    crm, desk = systems
    ann = crm.insert("contacts", {"email": "ann@x.com", "name": "Ann"})
    bob = crm.insert("contacts", {"email": "bob@x.com", "name": "Bob"})
    executed(sync)
    crm.edit("contacts", ann.id, {"name": "Ann B.", "phone": "555"})
    run = executed(sync)
    client = clients[role]

    def events(**params) -> list[dict]:
        response = client.get(run_url(run, "events/"), params)
        assert response.status_code == 200, response.content
        return response.json()["results"]

    ann_b = next(r.id for r in desk.all("users") if r.fields["email"] == "ann@x.com")
    everything = events()
    # The engine names the updated record by its id on the side it wrote to.
    assert [(e["action"], e["side"], e["record_id_b"]) for e in everything] == [
        ("updated", "b", ann_b)
    ]
    (event,) = everything
    assert event["run"] == str(run.public_id)
    assert event["changes"] == {
        "full_name": {"before": "Ann", "after": "Ann B."},
        "phone": {"before": None, "after": "555"},
    }
    assert events(action="updated", record_id=ann_b) == everything
    assert events(field="phone") == everything
    assert events(field="email") == []
    assert events(record_id=bob.id) == []
    assert events(side="a") == []

    first_run = SyncRun.objects.exclude(pk=run.pk).get(sync=sync)
    by_a_id = client.get(run_url(first_run, "events/"), {"record_id": ann.id}).json()
    assert [(e["action"], e["record_id_b"]) for e in by_a_id["results"]] == [("created", ann_b)]
    page = client.get(run_url(first_run, "events/"), {"page_size": 1, "action": "created"})
    first = page.json()
    assert [e["record_id_a"] for e in first["results"]] == [ann.id]
    second = client.get(first["next"]).json()
    assert [e["record_id_a"] for e in second["results"]] == [bob.id]
    assert second["next"] is None

    bad = client.get(run_url(run, "events/"), {"action": "exploded"})
    assert list(assert_error(bad, 400, "validation_error")["fields"]) == ["action"]


def test_filtering_events_by_field_finds_conflicts_and_decisions_by_either_sides_name(
    clients, sync, systems
):
    from apps.syncs.conflicts import conflict_decide
    from apps.syncs.models import Conflict

    crm, desk = systems
    ann = crm.insert("contacts", {"email": "ann@x.com", "name": "Ann"})
    executed(sync)
    ann_b = next(r.id for r in desk.all("users") if r.fields["email"] == "ann@x.com")
    crm.edit("contacts", ann.id, {"name": "From A"})
    desk.edit("users", ann_b, {"full_name": "From B"})
    conflict_run = executed(sync)
    client = clients[Role.VIEWER]

    def actions(run: SyncRun, field: str) -> list[str]:
        response = client.get(run_url(run, "events/"), {"field": field})
        assert response.status_code == 200, response.content
        return [e["action"] for e in response.json()["results"]]

    # The mapping pairs A's "name" with B's "full_name": either name finds its conflict.
    assert actions(conflict_run, "name") == ["conflict"]
    assert actions(conflict_run, "full_name") == ["conflict"]
    assert actions(conflict_run, "email") == []

    conflict = Conflict.objects.get(sync=sync, status="open")
    decided_run = conflict_decide(conflict, resolution="b")
    run_execute(decided_run.pk)
    decided_run.refresh_from_db()
    # B's value won: only A was written (its "name"); the decision names both fields.
    assert actions(decided_run, "name") == ["updated", "resolved"]
    assert actions(decided_run, "full_name") == ["resolved"]
    assert actions(decided_run, "phone") == []


# --- Held runs ------------------------------------------------------------------------------
@pytest.fixture
def held(workspace, systems):
    """A sync whose last run the safety limit held: 5 changes, limit 3."""
    crm, desk = systems
    sync = f.sync(workspace, crm, desk, safety_limit_count=3)
    contacts = [crm.insert("contacts", {"email": f"m{i}@x.com", "name": "x"}) for i in range(5)]
    executed(sync)
    for contact in contacts:
        crm.edit("contacts", contact.id, {"name": "bulk edit"})
    run = executed(sync)
    assert run.status == "held"
    sync.refresh_from_db()
    return sync, run


@pytest.mark.parametrize("role", ROLES)
def test_editors_approve_a_held_run(clients, held, systems, role):
    sync, run = held
    _, desk = systems
    shown = clients["viewer"].get(sync_url(sync)).json()
    assert (shown["awaiting_approval"], shown["paused"]) == (True, True)
    assert shown["held_change"]["changes"] == 5

    response = clients[role].post(sync_url(sync, "held-run/approve/"))

    if not EDITORS[role]:
        assert_error(response, 403, "permission_denied")
        assert {r.fields["full_name"] for r in desk.all("users")} == {"x"}
        return
    assert response.status_code == 202, response.content
    body = response.json()
    assert (body["trigger"], body["status"]) == ("approval", "queued")
    # The worker's part, run here: the approved run passes the safety limit.
    approved = SyncRun.objects.get(public_id=body["id"])
    assert run_execute(approved.pk) == "succeeded"
    approved.refresh_from_db()
    assert approved.updated_b == 5
    assert {r.fields["full_name"] for r in desk.all("users")} == {"bulk edit"}
    run.refresh_from_db()
    assert (run.decision, run.decided_by is not None) == ("approved", True)
    after = clients["viewer"].get(sync_url(sync)).json()
    assert (after["awaiting_approval"], after["paused"]) == (False, False)
    again = clients[role].post(sync_url(sync, "held-run/approve/"))
    assert_error(again, 409, "no_held_run")


@pytest.mark.parametrize("role", ROLES)
def test_editors_cancel_a_held_run(clients, held, systems, role):
    sync, run = held
    _, desk = systems
    response = clients[role].post(sync_url(sync, "held-run/cancel/"))
    if not EDITORS[role]:
        assert_error(response, 403, "permission_denied")
        run.refresh_from_db()
        assert run.decision == ""
        return
    assert response.status_code == 200
    assert (response.json()["id"], response.json()["decision"]) == (str(run.public_id), "cancelled")
    assert {r.fields["full_name"] for r in desk.all("users")} == {"x"}
    sync.refresh_from_db()
    assert sync.paused
    assert not sync.awaiting_approval
    assert "cancelled by" in sync.paused_reason
    assert_error(clients[role].post(sync_url(sync, "held-run/cancel/")), 409, "no_held_run")
    # A held run is decided on, not cancelled as a run.
    assert_error(clients[role].post(run_url(run, "cancel/")), 409, "run_not_cancellable")


# --- Isolation ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "suffix"), [("get", ""), ("post", "cancel/"), ("get", "events/")]
)
def test_another_workspaces_run_is_not_found(clients, foreign, method, suffix):
    _, _, theirs = foreign
    for role in ROLES:
        assert_error(getattr(clients[role], method)(run_url(theirs, suffix)), 404, "not_found")
    assert SyncRun.objects.get(pk=theirs.pk).status == "succeeded"


@pytest.mark.parametrize("suffix", ["run/", "resync/", "held-run/approve/", "held-run/cancel/"])
def test_another_workspaces_sync_cannot_be_run(clients, foreign, suffix):
    _, theirs, _ = foreign
    for role in ROLES:
        assert_error(clients[role].post(sync_url(theirs, suffix)), 404, "not_found")
    assert SyncRun.objects.filter(sync=theirs).count() == 1


def test_lists_show_only_the_callers_runs(clients, sync, foreign):
    client, theirs, their_run = foreign
    executed(sync)
    assert [r["id"] for r in client.get(RUNS).json()["results"]] == [str(their_run.public_id)]
    assert clients["owner"].get(RUNS, {"sync": str(theirs.public_id)}).json()["results"] == []
