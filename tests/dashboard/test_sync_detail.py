"""A sync's own page through the Django test client: its settings in brief, its runs newest
first, the live card of the run in progress (a partial that polls while a run is active),
and the controls (run now, full resync, pause and resume, cancel a run, approve or cancel a
held run), each refused to a viewer.

Runs are real where the engine matters (two in-memory systems, executed in-process as a
worker would: tests/running.py); a run "in progress" is a run row set the way the worker's
recorder leaves it mid-run (counters, phase, heartbeat), since the page only reads it.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.accounts.models import Role
from apps.runs.models import SyncRun
from apps.runs.queue import run_request
from apps.syncs.models import Sync
from connectors.memory.connector import reset_stores
from tests.factories import PASSWORD, MembershipFactory
from tests.running import run_now
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _fresh_stores():
    reset_stores()
    yield
    reset_stores()


class World:
    """A sync between two memory systems, and a member of its workspace logged in."""

    def __init__(self, client, role=Role.EDITOR, **sync_settings):
        self.member = MembershipFactory(role=role, user__username=f"{role}@example.com")
        self.workspace = self.member.workspace
        self.crm, self.desk = f.stores()
        sync_settings.setdefault("enabled", False)
        self.sync = f.sync(
            self.workspace,
            self.crm,
            self.desk,
            filters=[{"side": "a", "field": "status", "operator": "equals", "value": "open"}],
            **sync_settings,
        )
        Sync.objects.filter(pk=self.sync.pk).update(name="Customers")
        self.sync.refresh_from_db()
        self.url = f"/syncs/{self.sync.public_id}/"
        self.client = client
        client.login(username=self.member.user.username, password=PASSWORD)

    def contacts(self, n: int, status: str = "open") -> None:
        for i in range(n):
            self.crm.insert(
                "contacts", {"email": f"c{i}@example.com", "name": f"C{i}", "status": status}
            )

    def page(self, url: str | None = None) -> str:
        response = self.client.get(url or self.url)
        assert response.status_code == 200
        return response.content.decode()

    def live(self, run: SyncRun | None = None) -> str:
        query = f"?run={run.public_id}" if run else ""
        response = self.client.get(f"{self.url}live/{query}", **HTMX)
        assert response.status_code == 200
        return response.content.decode()

    def running(self, **values) -> SyncRun:
        """A run row as the recorder leaves it while the run works."""
        run = run_request(self.sync, trigger="manual")
        now = timezone.now()
        values = {
            "status": "running",
            "started_at": now - timedelta(seconds=12),
            "heartbeat_at": now - timedelta(seconds=1),
            "attempts": 1,
            **values,
        }
        SyncRun.objects.filter(pk=run.pk).update(**values)
        run.refresh_from_db()
        return run


@pytest.fixture
def world(client):
    return World(client)


def viewer_of(world: World, client) -> None:
    viewer = MembershipFactory(
        workspace=world.workspace, role=Role.VIEWER, user__username="viewer@example.com"
    )
    client.logout()
    client.login(username=viewer.user.username, password=PASSWORD)


def flashes(page: str) -> list[str]:
    return re.findall(r'<div class="flash [^"]*" role="status">([^<]*)</div>', page)


# --- the page ---------------------------------------------------------------------------------
def test_the_page_shows_the_syncs_settings_in_brief_with_links_to_change_them(world):
    page = world.page()
    s = world.sync
    assert f"{s.connection_a.name} · contacts" in page
    assert f"{s.connection_b.name} · users" in page
    assert "3 mappings" in page
    assert "<code>name</code> <span" in page
    assert "<code>full_name</code>" in page
    assert "A: status is open" in page
    assert "<code>email</code> = <code>email</code>" in page  # the match rule
    assert "A person decides" in page  # the conflict policy, in the builder's words
    assert "every 5 minutes" in page
    assert "off: runs only when asked" in page
    assert f'href="/syncs/{s.public_id}/edit/"' in page
    assert f'href="/syncs/{s.public_id}/review/"' in page
    assert "This sync has not run yet." in page
    assert "hx-trigger" not in page  # nothing runs: nothing polls


def test_the_list_links_each_sync_to_its_page(world):
    page = world.page("/syncs/")
    assert f'<a href="/syncs/{world.sync.public_id}/">Customers</a>' in page


def test_runs_are_listed_newest_first_a_page_at_a_time(world):
    world.contacts(2)
    first = run_now(world.sync)
    assert (first.status, first.created_b) == ("succeeded", 2)
    for _ in range(21):  # nothing new to read: quick runs
        run_now(world.sync)
    runs = list(SyncRun.objects.filter(sync=world.sync).order_by("-created_at", "-id"))
    page = world.page()
    shown = re.findall(r'<tr data-run="([0-9a-f-]+)">', page)
    assert shown == [str(r.public_id) for r in runs[:20]]
    assert f'href="/runs/{runs[0].public_id}/"' in page  # each run links to its log
    older = re.search(r'href="(/syncs/[0-9a-f-]+/\?before=[0-9a-f-]+)#runs">Older runs', page)
    assert older
    rest = world.page(older.group(1))
    shown = re.findall(r'<tr data-run="([0-9a-f-]+)">', rest)
    assert shown == [str(r.public_id) for r in runs[20:]]
    assert str(first.public_id) in shown
    assert "Older runs" not in rest
    assert "Newest runs" in rest
    # The first run's counters: 2 read on A, 2 created on B.
    assert re.search(r'data-label="Created" class="num">0 / 2<', rest)


# --- the live card ------------------------------------------------------------------------------
def test_the_live_card_shows_a_running_runs_phase_counters_and_an_estimate(world):
    world.contacts(3)
    before = run_now(world.sync)  # a complete run: what it read estimates the next one
    expected = before.read_a + before.read_b
    assert expected >= 3
    run = world.running(
        phase="side_b", read_a=2, created_b=1, updated_a=4, conflicts_b=1, errors_a=2, attempts=2
    )
    part = world.live(run)
    assert f'hx-get="/syncs/{world.sync.public_id}/live/?run={run.public_id}"' in part
    assert 'hx-trigger="every 1s"' in part
    assert "Syncing B&#x27;s changes" in part
    for name, value in [
        ("read_a", 2),
        ("created_b", 1),
        ("updated_a", 4),
        ("conflicts_b", 1),
        ("errors_a", 2),
        ("read_b", 0),
    ]:
        assert f'data-counter="{name}"' in part
        assert re.search(rf'data-counter="{name}"[^>]*>{value}<', part), name
    assert f"of about {expected}" in part  # what the last comparable run read
    assert f'aria-valuenow="{200 // expected}"' in part
    assert "attempt 2" in part
    assert "Running for 12 s" in part
    assert re.search(r"worker reported 1\.\d s ago", part)
    assert f'action="/syncs/{world.sync.public_id}/runs/{run.public_id}/cancel/"' in part
    # The page itself starts with the same card, polling.
    assert 'hx-trigger="every 1s"' in world.page()


def test_a_targeted_run_has_an_exact_total_and_no_estimate_means_an_indeterminate_bar(world):
    targeted = world.running(record_ids={"a": ["1", "2", "3"], "b": ["9"]}, read_a=2)
    part = world.live(targeted)
    assert "of 4" in part
    assert "about" not in part
    assert 'aria-valuenow="50"' in part
    SyncRun.objects.filter(pk=targeted.pk).update(record_ids=None)
    part = world.live(targeted)  # no earlier complete run: nothing to expect
    assert 'class="progress indeterminate"' in part
    assert "aria-valuenow" not in part
    assert "no earlier run to tell how many to expect" in part


def test_a_queued_run_polls_and_says_it_waits_for_a_worker(world):
    run = run_request(world.sync, trigger="manual")
    part = world.live(run)
    assert 'hx-trigger="every 1s"' in part
    assert "Waiting for a worker" in part
    assert "It has not started: nothing is written." in part


def test_polling_stops_once_the_watched_run_has_finished(world):
    world.contacts(2)
    run = world.running(phase="side_a")
    assert 'hx-trigger="every 1s"' in world.live(run)
    SyncRun.objects.filter(pk=run.pk).delete()
    done = run_now(world.sync)
    part = world.live(run)  # the page was watching a run that is no longer in progress
    assert "hx-trigger" not in part
    assert 'data-status="succeeded"' in part
    assert "Latest run" in part
    assert re.search(r'data-counter="created_b"[^>]*>2<', part)
    # The runs table, the held run and the controls come along, out of band.
    assert 'id="runs" aria-labelledby="runs-title" hx-swap-oob="true">' in part
    assert f'<tr data-run="{done.public_id}">' in part
    assert 'id="held-run" hx-swap-oob="true"' in part
    assert 'id="sync-controls" aria-labelledby="controls-title" hx-swap-oob="true"' in part
    # So does the state in the settings, which a run's end may change (a held run pauses
    # the sync).
    assert '<span id="settings-state" hx-swap-oob="true">off: runs only when asked</span>' in part
    from apps.syncs.services import sync_pause

    sync_pause(world.sync, reason="Mass change held")
    part = world.live(run)
    assert '<span id="settings-state" hx-swap-oob="true">paused: Mass change held</span>' in part
    # Without a watched run (the first paint of an idle page) nothing comes out of band.
    idle = world.live()
    assert "hx-swap-oob" not in idle
    assert "hx-trigger" not in idle


# --- controls --------------------------------------------------------------------------------
def test_run_now_and_full_resync_queue_runs(world):
    response = world.client.post(f"{world.url}run/")
    assert response.status_code == 302
    assert response["Location"] == world.url
    run = SyncRun.objects.get(sync=world.sync)
    assert (run.trigger, run.status, run.full) == ("manual", "queued", False)
    page = world.page()
    assert "A run is queued: its progress shows below." in flashes(page)
    assert 'hx-trigger="every 1s"' in page
    SyncRun.objects.filter(pk=run.pk).update(status="succeeded", finished_at=timezone.now())
    world.client.post(f"{world.url}run/", {"full": "1"})
    resync = SyncRun.objects.filter(sync=world.sync).first()
    assert (resync.trigger, resync.full) == ("resync", True)
    assert "A full resync is queued: its progress shows below." in flashes(world.page())


def test_a_paused_sync_refuses_to_run_and_says_why(world):
    Sync.objects.filter(pk=world.sync.pk).update(paused_reason="migrating the CRM")
    world.client.post(f"{world.url}run/")
    assert not SyncRun.objects.filter(sync=world.sync).exists()
    page = world.page()
    assert "Not started: the sync is paused: migrating the CRM." in flashes(page)
    assert re.search(r'disabled title="The sync is paused: resume it first">Run now<', page)


def test_pausing_needs_a_reason_and_resuming_clears_it(world):
    response = world.client.post(f"{world.url}pause/", {"reason": "  "})
    assert response.status_code == 400
    page = response.content.decode()
    assert "say why the sync is paused: others will read it" in page
    world.sync.refresh_from_db()
    assert not world.sync.paused
    world.client.post(f"{world.url}pause/", {"reason": "CRM maintenance tonight"})
    world.sync.refresh_from_db()
    assert world.sync.paused_reason == "CRM maintenance tonight"
    page = world.page()
    assert "CRM maintenance tonight" in page
    assert ">Resume</button>" in page
    world.client.post(f"{world.url}resume/")
    world.sync.refresh_from_db()
    assert not world.sync.paused
    assert "Resumed: it is off, so it runs when asked." in flashes(world.page())


def test_cancelling_a_run_stops_a_queued_one_and_asks_a_running_one(world):
    queued = run_request(world.sync, trigger="manual")
    world.client.post(f"{world.url}runs/{queued.public_id}/cancel/")
    queued.refresh_from_db()
    assert queued.status == "cancelled"
    assert "The run is cancelled: it had not started." in flashes(world.page())
    running = world.running(phase="side_a")
    world.client.post(f"{world.url}runs/{running.public_id}/cancel/")
    running.refresh_from_db()
    assert running.cancel_requested
    assert "cancelling: it stops after this page" in world.live(running)
    # A finished run cannot be cancelled: the service's refusal is shown.
    SyncRun.objects.filter(pk=running.pk).update(status="succeeded")
    world.client.post(f"{world.url}runs/{running.public_id}/cancel/")
    assert "Not cancelled: the run has already finished (succeeded)." in flashes(world.page())


def test_a_run_of_another_sync_cannot_be_cancelled_from_this_page(world):
    other = f.sync(world.workspace, world.crm, world.desk, enabled=False)
    run = run_request(other, trigger="manual")
    response = world.client.post(f"{world.url}runs/{run.public_id}/cancel/")
    assert response.status_code == 404
    run.refresh_from_db()
    assert run.status == "queued"


# --- a run the safety limit held ---------------------------------------------------------------
@pytest.fixture
def held(world):
    """A real run of 4 updates against a safety limit of 2: held, the sync paused."""
    world.contacts(4)
    assert run_now(world.sync).status == "succeeded"  # 4 pairs linked
    for record in world.crm.all("contacts"):
        world.crm.edit("contacts", record.id, {"phone": "+1 555 0100"})
    Sync.objects.filter(pk=world.sync.pk).update(safety_limit_count=2)
    run = run_now(world.sync)
    assert run.status == "held"
    return run


def test_a_held_run_shows_what_it_would_change(world, held):
    page = world.page()
    assert "A run waits for your approval" in page
    assert '<strong class="held-changes">4</strong> records' in page
    assert "more than the safety limit of 2" in page
    assert f'hx-post="/previews/start/{world.sync.public_id}/"' in page
    assert re.search(r'disabled title="Approve or cancel the held run first">Resume<', page)
    # Resuming is refused while it waits (the service says so).
    world.client.post(f"{world.url}resume/")
    assert any(m.startswith("Still paused:") for m in flashes(world.page()))


def test_approving_a_held_run_queues_the_run_that_applies_it(world, held):
    world.client.post(f"{world.url}held-run/approve/")
    held.refresh_from_db()
    assert (held.decision, held.decided_by) == ("approved", world.member.user)
    approval = SyncRun.objects.get(sync=world.sync, trigger="approval")
    assert approval.status == "queued"
    page = world.page()
    assert "Approved: a run that applies the held changes is queued." in flashes(page)
    assert "A run waits for your approval" not in page
    # Approving again: nothing waits any more.
    world.client.post(f"{world.url}held-run/approve/")
    assert "Nothing approved: no run of this sync waits for approval." in flashes(world.page())


def test_cancelling_a_held_run_writes_nothing_and_keeps_the_sync_paused(world, held):
    world.client.post(f"{world.url}held-run/cancel/")
    held.refresh_from_db()
    world.sync.refresh_from_db()
    assert held.decision == "cancelled"
    assert world.sync.paused
    assert "cancelled by" in world.sync.paused_reason
    assert all(not user.fields.get("phone") for user in world.desk.all("users"))
    assert not SyncRun.objects.filter(sync=world.sync, status="queued").exists()


# --- viewers --------------------------------------------------------------------------------
def test_a_viewer_sees_every_control_disabled_and_cannot_post_them(world, held, client):
    viewer_of(world, client)
    page = world.page()
    assert "You can watch this sync but not run, pause or approve it" in page
    for button in ("Run now", "Full resync", "Approve and apply", "Cancel the held run"):
        assert re.search(rf"<button [^>]*disabled[^>]*>{button}</button>", page), button
    assert "Preview what it would change" in page
    for path in (
        "run/",
        "pause/",
        "resume/",
        "held-run/approve/",
        "held-run/cancel/",
        f"runs/{held.public_id}/cancel/",
    ):
        assert client.post(f"{world.url}{path}", {"reason": "x"}).status_code == 403, path
    held.refresh_from_db()
    world.sync.refresh_from_db()
    assert held.decision == ""
    assert world.sync.awaiting_approval
    assert SyncRun.objects.filter(sync=world.sync).count() == 2


def test_a_viewer_sees_the_pause_form_disabled_and_the_running_runs_cancel_disabled(world, client):
    run = world.running(phase="side_a")
    viewer_of(world, client)
    page = world.page()
    assert '<fieldset class="plain" disabled title="Editors and above can pause a sync">' in page
    assert re.search(r"<button [^>]*disabled[^>]*>Cancel this run</button>", world.live(run))


def test_lengths_of_time_read_as_people_say_them():
    from apps.dashboard.templatetags.durations import ago, duration

    assert [duration(s) for s in (None, 0.42, 12.4, 75, 3600, 7260)] == [
        "",
        "0.4 s",
        "12 s",
        "1 min 15 s",
        "1 h",
        "2 h 1 min",
    ]
    now = timezone.now()
    assert [ago(now - timedelta(seconds=s)) for s in (1, 30, 200, 7300)] == [
        "just now",
        "30 s ago",
        "3 min ago",
        "2 h ago",
    ]
