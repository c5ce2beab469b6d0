"""The run log and a record's history through the Django test client, over runs of a sync
between two in-memory systems (tests/dashboard/run_story.py) and bulk-made events."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from apps.accounts.models import Role
from apps.runs.models import SyncEvent, SyncRun
from apps.syncs.models import Conflict
from connectors.memory.connector import reset_stores
from tests.dashboard.run_story import story
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


def member(client, role=Role.EDITOR, workspace=None):
    extra = {"workspace": workspace} if workspace is not None else {}
    m = MembershipFactory(role=role, user__username=f"{role}-{id(client)}@example.com", **extra)
    client.login(username=m.user.username, password=PASSWORD)
    return m


@pytest.fixture
def told(client):
    m = member(client)
    return story(m.workspace)


def run_url(run, **query):
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/runs/{run.public_id}/" + (f"?{q}" if q else "")


def event_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'id="event-(\d+)"', html)]


def rows_of(html: str) -> dict[int, str]:
    """Each event row's HTML, by event id."""
    parts = re.split(r'(?=<tr id="event-\d+")', html)
    return {int(re.match(r'<tr id="event-(\d+)"', p).group(1)): p for p in parts[1:]}


def actions(html: str) -> list[str]:
    return re.findall(r'class="event event-(\w+)"', html)


# --- the run log -----------------------------------------------------------------------------
def test_a_run_shows_its_header_and_every_event_with_before_and_after(client, told):
    page = client.get(run_url(told.second)).content.decode()

    assert "CRM contacts ↔ Help desk users" in page
    assert f'href="/syncs/{told.sync.public_id}/"' in page
    assert "succeeded with record errors" in page
    assert sorted(actions(page)) == ["conflict", "created", "error", "updated"]
    ann = next(r for r in rows_of(page).values() if "event-updated" in r)
    # The update on B, field by field, before and after.
    assert re.search(
        r"full_name</th>\s*<td><del>Ann Lee</del>.*?<ins>Ann Lee-Smith</ins>", ann, re.S
    )
    assert re.search(
        r"phone</th>\s*<td><del>\+44 20 7946 0001</del>.*?<ins>\+44 20 7946 0100</ins>", ann, re.S
    )
    # Each record links to its history.
    a_id, b_id = told.ids["ann"]
    assert f'href="/runs/records/{told.sync.public_id}/a/{a_id}/"' in ann
    assert f'href="/runs/records/{told.sync.public_id}/b/{b_id}/"' in ann


def test_an_error_keeps_the_system_message_and_offers_a_retry(client, told):
    page = client.get(run_url(told.second, action="error")).content.decode()

    assert actions(page) == ["error"]
    # The system's own words, verbatim (escaped for HTML, not reworded).
    assert "B refused the update of" in page
    assert "phone: &#x27;not a number&#x27; is not a valid phone number (E.164 expected)" in page
    assert f'action="/runs/{told.second.public_id}/retry/"' in page
    assert "Retry these records" in page
    # A run without errors offers no retry.
    assert "Retry these records" not in client.get(run_url(told.first)).content.decode()


def test_a_conflict_shows_base_both_values_and_links_to_its_review(client, told):
    page = client.get(run_url(told.second, action="conflict")).content.decode()

    [row] = rows_of(page).values()
    assert "name ↔ full_name" in row
    assert "<dt>Base</dt><dd>Cleo Park</dd>" in row
    assert "<q>Cleo Park-Jones</q>" in row
    assert "<q>Cleo P. Jones</q>" in row
    assert "held for a person to decide" in row
    assert f'href="/conflicts/{told.conflict.public_id}/"' in row


def test_a_decided_conflict_is_an_event_of_the_run_that_wrote_it(client, told):
    page = client.get(run_url(told.decision)).content.decode()

    assert sorted(actions(page)) == ["resolved", "updated"]
    resolved = next(r for r in rows_of(page).values() if "event-resolved" in r)
    # Before and after on each side: B's name was taken, so A changes and B stays.
    assert re.search(
        r"<dt>A</dt><dd><del>Cleo Park-Jones</del> → <ins>Cleo P. Jones</ins>", resolved
    )
    assert re.search(
        r"<dt>B</dt><dd>Cleo P. Jones <span class=\"muted\">unchanged</span>", resolved
    )
    assert "the value on B" in resolved
    assert f'href="/conflicts/{told.conflict.public_id}/"' in resolved


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        # Updates and creates on B are keyed by B's field; the conflict by the field pair's id.
        ("full_name", ["conflict", "created", "updated"]),
        # A's name finds the conflict of its pair too, but not B's writes to full_name.
        ("name", ["conflict"]),
        ("phone", ["created", "error", "updated"]),
        ("email", ["created"]),
        ("region", []),
    ],
)
def test_the_field_filter_finds_updates_errors_and_conflicts(client, told, field, expected):
    page = client.get(run_url(told.second, field=field)).content.decode()
    assert sorted(actions(page)) == expected
    if not expected:
        assert "No event of this run matches these filters." in page


def test_filters_by_record_on_either_side_and_by_side(client, told):
    a_id, b_id = told.ids["cleo"]
    by_a = client.get(run_url(told.second, record=a_id)).content.decode()
    by_b = client.get(run_url(told.second, record=b_id)).content.decode()
    assert actions(by_a) == actions(by_b) == ["conflict"]

    on_b = client.get(run_url(told.second, side="b")).content.decode()
    assert sorted(actions(on_b)) == ["created", "error", "updated"]
    # Filters combine.
    assert (
        actions(client.get(run_url(told.second, side="b", action="conflict")).content.decode())
        == []
    )


def test_htmx_gets_the_events_part_alone_with_the_filters_kept(client, told):
    page = client.get(run_url(told.second, action="updated"), **HTMX).content.decode()
    assert page.lstrip().startswith('<section class="card" id="events"')
    assert "<html" not in page
    assert actions(page) == ["updated"]
    assert '<option value="updated" selected>' in page


def test_bad_paging_input_is_refused_where_the_person_looks(client, told):
    answer = client.get(run_url(told.second, after="soon"))
    assert answer.status_code == 400
    assert "This page link is broken" in answer.content.decode()
    both = client.get(run_url(told.second, after=1, before=9))
    assert both.status_code == 400
    assert "not both" in both.content.decode()


def bulk_events(run, n: int) -> list[int]:
    actions_cycle = ["updated", "created", "conflict", "error"]
    SyncEvent.objects.bulk_create(
        SyncEvent(
            run=run,
            sync_id=run.sync_id,
            action=actions_cycle[i % 4],
            side="b",
            record_id_a=f"a{i}",
            record_id_b=f"b{i}",
            changes={"phone": {"before": str(i), "after": str(i + 1)}},
        )
        for i in range(n)
    )
    return list(SyncEvent.objects.filter(run=run).order_by("id").values_list("id", flat=True))


def walk(client, url: str, key: str) -> tuple[list[int], list[str]]:
    """Follow the pager's `key` links ("next" or "prev") from `url`: the ids seen, in order,
    and the URLs visited."""
    seen, urls = [], [url]
    while True:
        page = client.get(url).content.decode()
        seen.extend(event_ids(page))
        found = re.search(rf'<a href="([^"]+)" rel="{key}"', page)
        if not found:
            return seen, urls
        url = found.group(1).replace("&amp;", "&")
        if url.startswith("?"):
            url = urls[0].split("?")[0] + url
        urls.append(url)


def test_keyset_paging_shows_every_event_exactly_once(client, told):
    ids = bulk_events(told.second, 137)

    forward, urls = walk(client, run_url(told.second), "next")
    assert forward == ids  # every event once, in order
    assert len(urls) == 3  # 50 + 50 + 37+3 (the story's own three events)
    backward, _ = walk(client, urls[-1], "prev")
    # Paging back from the last page: each page in order, pages from last to first.
    assert sorted(backward) == ids
    assert len(set(backward)) == len(ids)

    errors, _ = walk(client, run_url(told.second, action="error"), "next")
    expected = list(
        told.second.events.filter(action="error").order_by("id").values_list("id", flat=True)
    )
    assert errors == expected
    assert len(errors) == 35
    assert "1,000+" not in client.get(run_url(told.second)).content.decode()


def test_a_count_past_the_cap_reads_as_more_than(client, told, settings):
    bulk_events(told.second, 1005)
    page = client.get(run_url(told.second, action="updated")).content.decode()
    assert re.search(r'events-count">253 matching', page)
    assert re.search(r'events-count">1,000\+<', client.get(run_url(told.second)).content.decode())


def test_a_page_costs_the_same_few_queries_however_many_events(
    client, told, django_assert_max_num_queries
):
    bulk_events(told.second, 400)
    with django_assert_max_num_queries(14):
        client.get(
            run_url(told.second, after=told.second.events.order_by("id")[300].pk, field="phone")
        )


# --- retrying -------------------------------------------------------------------------------
def test_retry_queues_a_run_of_the_records_that_failed(client, told):
    answer = client.post(f"/runs/{told.second.public_id}/retry/", follow=True)

    retry = SyncRun.objects.filter(sync=told.sync, status="queued").get()
    a_id, b_id = told.ids["bob"]
    assert retry.record_ids == {"a": [a_id], "b": [b_id]}
    page = answer.content.decode()
    assert answer.redirect_chain[-1][0] == f"/runs/{told.second.public_id}/"
    assert f'Queued <a href="/runs/{retry.public_id}/">a run</a> that reads the 2 records' in page


def test_retry_of_a_run_without_errors_says_so(client, told):
    answer = client.post(f"/runs/{told.first.public_id}/retry/", follow=True)
    assert "recorded no per-record errors" in answer.content.decode()
    assert not SyncRun.objects.filter(sync=told.sync, status="queued").exists()


def test_a_viewer_sees_the_retry_disabled_and_cannot_post_it(client):
    owner = MembershipFactory(role=Role.OWNER)
    told = story(owner.workspace)
    member(client, Role.VIEWER, workspace=owner.workspace)

    page = client.get(run_url(told.second)).content.decode()
    assert re.search(r"<button type=\"submit\" disabled[^>]*>Retry these records", page)
    assert client.post(f"/runs/{told.second.public_id}/retry/").status_code == 403
    assert not SyncRun.objects.filter(sync=told.sync, status="queued").exists()


# --- scoping --------------------------------------------------------------------------------
def test_a_run_or_sync_of_another_workspace_is_not_found(client, told):
    other = Client()
    member(other)
    a_id, _ = told.ids["ann"]
    assert other.get(run_url(told.second)).status_code == 404
    assert other.post(f"/runs/{told.second.public_id}/retry/").status_code == 404
    assert other.get(f"/runs/records/{told.sync.public_id}/a/{a_id}/").status_code == 404
    assert not SyncRun.objects.filter(sync=told.sync, status="queued").exists()


# --- a record's history ---------------------------------------------------------------------
def test_a_records_history_spans_runs_newest_first_with_its_link(client, told):
    a_id, b_id = told.ids["cleo"]
    page = client.get(f"/runs/records/{told.sync.public_id}/a/{a_id}/").content.decode()

    # Created on B by the first run, a conflict in the second, decided in the third.
    assert actions(page) == ["resolved", "updated", "conflict", "created"]
    assert f'href="/runs/{told.decision.public_id}/?record={a_id}"' in page
    assert f'href="/runs/{told.first.public_id}/?record={a_id}"' in page
    # Its partner, the link's status and the values both sides last agreed on.
    assert f'href="/runs/records/{told.sync.public_id}/b/{b_id}/"' in page
    assert "linked</span>" in page
    assert re.search(r"name ↔ full_name</th><td>Cleo P. Jones</td><td>Cleo P. Jones</td>", page)
    assert "Conflicts waiting on it" not in page  # decided and written


def test_a_records_history_shows_its_open_conflicts(client):
    m = member(client)
    crm, desk = f.stores()
    sync = f.sync(m.workspace, crm, desk)
    a = crm.insert("contacts", {"email": "d@x.com", "name": "Dee"})
    run_now(sync)
    [b] = desk.all("users")
    crm.edit("contacts", a.id, {"name": "Dee A"})
    desk.edit("users", b.id, {"full_name": "Dee B"})
    run_now(sync)
    conflict = Conflict.objects.get(sync=sync, status="open")

    page = client.get(f"/runs/records/{sync.public_id}/b/{b.id}/").content.decode()
    assert "Conflicts waiting on it" in page
    assert f'href="/conflicts/{conflict.public_id}/"' in page
    assert "<q>Dee A</q>" in page
    assert "<q>Dee B</q>" in page


def test_a_records_history_pages_by_keyset(client, told):
    run = told.second
    SyncEvent.objects.bulk_create(
        SyncEvent(
            run=run,
            sync_id=run.sync_id,
            action="updated",
            side="b",
            record_id_a="x1",
            record_id_b="y1",
        )
        for _ in range(120)
    )
    ids = list(
        SyncEvent.objects.filter(sync=told.sync, record_id_a="x1").values_list("id", flat=True)
    )
    seen, urls = walk(client, f"/runs/records/{told.sync.public_id}/a/x1/", "next")
    assert seen == sorted(ids, reverse=True)
    assert len(urls) == 3
    back, _ = walk(client, urls[-1], "prev")
    assert sorted(back) == sorted(ids)


def test_an_unknown_record_or_side(client, told):
    page = client.get(f"/runs/records/{told.sync.public_id}/a/nobody/").content.decode()
    assert "Concord has recorded nothing about this record" in page
    assert "is not linked" in page
    assert client.get(f"/runs/records/{told.sync.public_id}/c/x/").status_code == 404


def test_a_records_history_takes_ids_with_a_slash_and_a_hash(client, told):
    """GitHub's issue ids are "owner/repo#number": the history's address must carry one
    (and the link to it be made) rather than fail to resolve."""
    from urllib.parse import unquote

    from django.urls import resolve

    from apps.dashboard.runs.views import record_url

    record_id = "octo-org/website#12"
    url = record_url(told.sync, "a", record_id)
    assert url == f"/runs/records/{told.sync.public_id}/a/octo-org/website%2312/"
    assert resolve(unquote(url)).kwargs["record_id"] == record_id  # as the server decodes it
    page = client.get(url)
    assert page.status_code == 200
    assert "octo-org/website#12" in page.content.decode()
