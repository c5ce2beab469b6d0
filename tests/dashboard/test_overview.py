"""The overview at / through the Django test client: every sync's health (state, last run,
linked records, open conflicts, errors in the last day, webhook freshness), failing
connections, runs and changes per hour, the empty state, and what a viewer and another
workspace see. Runs are real runs of two in-memory systems (tests/running.run_now); runs of
other days are rows written with the times they need."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import Role
from apps.connections.services import connection_record_failure
from apps.dashboard.overview.selectors import activity_per_hour, sync_health
from apps.dashboard.templatetags.overview import ago, every
from apps.runs.models import SyncRun
from apps.syncs.models import Conflict
from apps.syncs.services import sync_pause
from apps.webhooks.models import WebhookDelivery
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


def log_in(client, role=Role.OWNER, workspace=None):
    kw = {"workspace": workspace} if workspace is not None else {}
    member = MembershipFactory(role=role, user__username=f"{role}-{next(f._seq)}@x.com", **kw)
    client.login(username=member.user.username, password=PASSWORD)
    return member


def make_sync(ws, name: str, **kw):
    crm, desk = f.stores()
    made = f.sync(ws, crm, desk, **kw)
    type(made).objects.filter(pk=made.pk).update(name=name)
    made.refresh_from_db()
    return made, crm, desk


def row_of(html: str, sync) -> str:
    """The health table's row of one sync."""
    match = re.search(rf'<tr data-sync="{sync.public_id}">(.*?)</tr>', html, re.S)
    assert match, f"no row for {sync.name}"
    return match.group(1)


def cell(row: str, css: str) -> str:
    match = re.search(rf'<td[^>]*class="[^"]*\b{css}\b[^"]*"[^>]*>(.*?)</td>', row, re.S)
    assert match, css
    return re.sub(r"<[^>]+>", " ", match.group(1)).split()


@pytest.fixture
def busy(client):
    """An owner's workspace: "Contacts" with 3 linked pairs, an open conflict, a run with a
    record error, a failed run and an old one; "Quiet", paused and never run."""
    member = log_in(client)
    ws = member.workspace
    busy, crm, desk = make_sync(ws, "Contacts")
    for n in range(3):
        crm.insert("contacts", {"email": f"p{n}@x.com", "name": f"P{n}", "phone": str(n)})
    first = run_now(busy)
    assert (first.status, first.created_b) == ("succeeded", 3)
    # Both sides change one name: a conflict (the manual policy holds it open).
    a = next(r for r in crm.all("contacts") if r.fields["email"] == "p0@x.com")
    b = next(r for r in desk.all("users") if r.fields["email"] == "p0@x.com")
    crm.edit("contacts", a.id, {"name": "Ann on A"})
    desk.edit("users", b.id, {"full_name": "Ann on B"})
    # And a new contact that desk refuses: one record error.
    desk.fail("create", when=lambda fields: fields.get("email") == "bad@x.com", message="nope")
    crm.insert("contacts", {"email": "bad@x.com", "name": "Bad"})
    second = run_now(busy)
    assert (second.status, second.errors_a + second.errors_b, second.conflicts_a) == (
        "partial",
        1,
        1,
    )
    now = timezone.now()
    SyncRun.objects.create(
        workspace=ws,
        sync=busy,
        status=SyncRun.Status.FAILED,
        trigger=SyncRun.Trigger.SCHEDULE,
        started_at=now - timedelta(hours=3),
        finished_at=now - timedelta(hours=3),
        error="HubSpot answered 401",
    )
    SyncRun.objects.create(  # two days ago: not in the last day's errors
        workspace=ws,
        sync=busy,
        status=SyncRun.Status.FAILED,
        started_at=now - timedelta(days=2),
        finished_at=now - timedelta(days=2),
        errors_b=5,
    )
    quiet, _, _ = make_sync(ws, "Quiet", interval_seconds=600)
    sync_pause(quiet, reason="Mass change held: 80% of the records would be deleted.")
    return member, busy, quiet, second


def test_each_sync_shows_its_health(client, busy):
    _, contacts, quiet, _ = busy
    WebhookDelivery.objects.create(
        workspace=contacts.workspace, connection=contacts.connection_b, dedupe_key="d1", body="{}"
    )
    html = client.get("/").content.decode()

    row = row_of(html, contacts)
    assert f'href="/syncs/{contacts.public_id}/"' in row
    assert cell(row, "state")[:1] == ["On"]
    # The latest run is the one created last: the old failed rows were created after the real
    # runs, so the newest row is the two-day-old one. (Ordered by creation, like every list.)
    last = SyncRun.objects.filter(sync=contacts).order_by("-created_at", "-id").first()
    assert f'href="/runs/{last.public_id}/"' in row
    assert cell(row, "linked") == ["3"]
    assert cell(row, "conflicts") == ["1"]
    assert f'href="/conflicts/?sync={contacts.public_id}"' in row
    # 1 record error of the partial run + 1 failed run in the last day; not the old run's 5.
    assert cell(row, "errors") == ["2"]
    assert "1 record error, 1 failed run" in row
    assert "last webhook" in row
    assert "s ago" in row

    row = row_of(html, quiet)
    assert cell(row, "state")[:1] == ["Paused"]
    assert "80% of the records would be deleted" in row
    assert "Never run" in row
    assert (cell(row, "linked"), cell(row, "conflicts"), cell(row, "errors")) == (["0"],) * 3
    assert "no webhooks — polling every 10 min" in row


def test_last_run_shows_status_trigger_and_when(client, busy):
    _, contacts, _, second = busy
    SyncRun.objects.filter(sync=contacts).exclude(pk=second.pk).delete()
    row = row_of(client.get("/").content.decode(), contacts)
    assert f'href="/runs/{second.public_id}/"' in row
    assert "Succeeded with record errors" in row
    assert "manual" in row
    assert "finished" in row


def test_conflicts_count_open_and_decided_only(client, busy):
    _, contacts, _, _ = busy
    conflict = Conflict.objects.get(sync=contacts)
    for status, shown in (("decided", "1"), ("resolved", "0"), ("dismissed", "0")):
        Conflict.objects.filter(pk=conflict.pk).update(status=status)
        row = row_of(client.get("/").content.decode(), contacts)
        assert cell(row, "conflicts") == [shown], status


def test_failing_connections_are_listed_with_their_error_and_marked_on_their_sync(client, busy):
    _, contacts, quiet, _ = busy
    connection_record_failure(contacts.connection_a, "HubSpot answered 401: token expired")
    html = client.get("/").content.decode()
    failing = html.split('id="failing-title"')[1].split("</section>")[0]
    assert contacts.connection_a.name in failing
    assert "token expired" in failing
    assert f"/connections/{contacts.connection_a.public_id}/" in failing
    assert contacts.connection_b.name not in failing
    assert f"{contacts.connection_a.name} failing" in row_of(html, contacts)
    assert "failing" not in row_of(html, quiet)


def test_the_health_part_alone_is_what_the_page_polls(client, busy):
    _, contacts, _, _ = busy
    page = client.get("/").content.decode()
    assert 'hx-get="/overview/health/" hx-trigger="every 10s"' in page
    part = client.get("/overview/health/", **HTMX).content.decode()
    assert "<html" not in part
    assert part.strip().startswith('<div id="health"')
    assert cell(row_of(part, contacts), "linked") == ["3"]


def test_query_count_does_not_grow_with_the_number_of_syncs(client, django_assert_max_num_queries):
    member = log_in(client)
    ws = member.workspace

    def queries() -> int:
        with CaptureQueriesContext(db) as captured:
            assert client.get("/").status_code == 200
        return len(captured)

    one, crm, _ = make_sync(ws, "s0")
    crm.insert("contacts", {"email": "a@x.com", "name": "A"})
    run_now(one)
    with_one = queries()
    for n in range(1, 12):
        made, crm, _ = make_sync(ws, f"s{n}")
        crm.insert("contacts", {"email": "a@x.com", "name": "A"})
        run_now(made)
    assert queries() == with_one
    # The session, its user, their memberships (twice: the page and the workspace switch),
    # the members' count, the nav's count of open conflicts, and eight reads of the
    # overview's own.
    with django_assert_max_num_queries(14):
        client.get("/")


def test_another_workspace_is_not_seen(client, busy):
    _, contacts, _, _ = busy
    theirs_member = MembershipFactory(workspace__name="Theirs")
    theirs, _, _ = make_sync(theirs_member.workspace, "Their secret sync")
    connection_record_failure(theirs.connection_a, "their connection broke")
    SyncRun.objects.create(
        workspace=theirs.workspace,
        sync=theirs,
        status=SyncRun.Status.SUCCEEDED,
        started_at=timezone.now(),
        finished_at=timezone.now(),
        created_a=1000,
    )
    html = client.get("/").content.decode()
    assert "Their secret sync" not in html
    assert "their connection broke" not in html
    assert "Connections failing" not in html
    assert json.loads(_chart_json(html))["changes"][-1] < 1000
    part = client.get("/overview/health/").content.decode()
    assert "Their secret sync" not in part
    assert contacts.name in part


def test_a_viewer_sees_the_overview(client, busy):
    owner, contacts, _, _ = busy
    client.logout()
    log_in(client, Role.VIEWER, workspace=owner.workspace)
    response = client.get("/")
    assert response.status_code == 200
    assert cell(row_of(response.content.decode(), contacts), "linked") == ["3"]


def _chart_json(html: str) -> str:
    opening = '<script id="activity-data" type="application/json">'
    return html.split(opening)[1].split("</script>")[0]


def test_runs_and_changes_per_hour(client):
    member = log_in(client)
    ws = member.workspace
    s, _, _ = make_sync(ws, "Hours")
    now = timezone.now().astimezone(UTC)
    hour = now.replace(minute=0, second=0, microsecond=0)

    def run_at(when: datetime, status="succeeded", **counters):
        SyncRun.objects.create(
            workspace=ws, sync=s, status=status, started_at=when, finished_at=when, **counters
        )

    run_at(hour + timedelta(minutes=1), created_a=2, updated_b=3, deleted_a=1, unchanged_a=50)
    run_at(hour + timedelta(seconds=30), status="failed", errors_a=4)
    run_at(hour - timedelta(hours=5, minutes=-20), created_b=7)
    run_at(hour - timedelta(days=2), updated_a=9)
    run_at(hour - timedelta(days=8), updated_a=100)  # outside both windows
    SyncRun.objects.create(workspace=ws, sync=s, status="queued")  # not started: not counted

    week = activity_per_hour(ws, days=7, now=now)
    assert len(week.hours) == 7 * 24
    assert week.hours[-1].hour == hour
    assert [(h.hour, h.runs, h.failed, h.changes) for h in week.busy_hours] == [
        (hour, 2, 1, 6),
        (hour - timedelta(hours=5), 1, 0, 7),
        (hour - timedelta(days=2), 1, 0, 9),
    ]
    assert (week.runs, week.failed, week.changes) == (4, 1, 22)
    day = activity_per_hour(ws, days=1, now=now)
    assert (len(day.hours), day.runs, day.changes) == (24, 3, 13)

    html = client.get("/?days=1").content.decode()
    data = json.loads(_chart_json(html))
    assert len(data["t"]) == 24
    assert data["t"][-1] == int(hour.timestamp())
    assert (data["runs"][-1], data["failed"][-1], data["changes"][-1]) == (2, 1, 6)
    assert (data["runs"][-6], data["changes"][-6]) == (1, 7)
    assert sum(data["runs"]) == 3
    table = html.split("<summary>Show as table</summary>")[1].split("</table>")[0]
    rows = re.findall(r"<tr><th scope=\"row\">.*?</th>(.*?)</tr>", table, re.S)
    assert [re.findall(r">(\d+)<", r) for r in rows] == [["2", "1", "6"], ["1", "0", "7"]]
    assert 'aria-current="true">Last day' in html
    week_html = client.get("/").content.decode()
    assert len(json.loads(_chart_json(week_html))["t"]) == 168
    assert 'aria-current="true">Last 7 days' in week_html


def test_an_unknown_period_says_so_and_shows_a_week(client):
    make_sync(log_in(client).workspace, "Any")
    html = client.get("/?days=30").content.decode()
    assert "The chart shows the last 1 or 7 days, not &#x27;30&#x27;" in html
    assert len(json.loads(_chart_json(html))["t"]) == 168


def test_an_empty_workspace_says_where_to_start(client):
    member = log_in(client, Role.ADMIN)
    html = client.get("/").content.decode()
    assert "Nothing syncs here yet" in html
    assert 'href="/connections/add/"' in html
    assert "Connect a system" in html
    assert "activity-data" not in html
    crm, _ = f.stores()
    f.memory_connection(member.workspace, crm)
    html = client.get("/").content.decode()
    assert "Build a sync" in html
    assert 'href="/syncs/new/"' in html
    assert "Connect a system" not in html


def test_an_empty_workspace_tells_a_viewer_whom_to_ask(client):
    log_in(client, Role.VIEWER)
    html = client.get("/").content.decode()
    assert "Only admins and owners connect systems" in html
    assert "/syncs/new/" not in html


def test_sync_health_selector_counts_records_linked_only(busy):
    _, contacts, _, _ = busy
    contacts.links.filter(status="linked").update(status="unlinked")
    [row] = [r for r in sync_health(contacts.workspace) if r.sync == contacts]
    assert row.linked == 0


def test_short_durations():
    now = timezone.now()
    assert ago(now - timedelta(seconds=12), now) == "12 s ago"
    assert ago(now - timedelta(minutes=3, seconds=5), now) == "3 min ago"
    assert ago(now - timedelta(hours=1, minutes=20), now) == "1 h 20 min ago"
    assert ago(now - timedelta(hours=5, minutes=20), now) == "5 h ago"
    assert ago(now - timedelta(days=1, hours=2), now) == "1 day ago"
    assert ago(now + timedelta(seconds=3), now) == "0 s ago"
    assert ago(None) == ""
    assert (every(30), every(300), every(7200)) == ("every 30 s", "every 5 min", "every 2 h")
