"""The preview partial and its two views (apps/dashboard/previews): starting a preview from the
sync builder's review step, and showing it while it runs and once it is done, per role and
workspace. Jobs are executed in-process, the way a worker would (apps.syncs.previews)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.accounts.models import Role
from apps.syncs.models import SyncPreview
from apps.syncs.previews import preview_execute, preview_request
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


@pytest.fixture
def world():
    """A sync crm (A) <-> desk (B) in a workspace: one pair linked, then edited on A, a new
    record on A and one on B, and a conflicting pair."""
    ws = f.workspace()
    crm, desk = f.stores()
    sync = f.sync(ws, crm, desk)
    ann = crm.insert("contacts", {"email": "ann@x.com", "name": "Ann", "phone": "1"})
    run_now(sync)
    crm.edit("contacts", ann.id, {"phone": "2"})
    crm.insert("contacts", {"email": "new@x.com", "name": "Newton", "phone": "9"})
    desk.insert("users", {"email": "only-b@x.com", "full_name": "Bea"})
    crm.insert("contacts", {"email": "both@x.com", "name": "From A"})
    desk.insert("users", {"email": "both@x.com", "full_name": "From B"})
    return sync


def logged_in(client, workspace, role: str):
    member = MembershipFactory(workspace=workspace, role=role)
    client.login(username=member.user.username, password=PASSWORD)
    return member.user


def start_url(sync) -> str:
    return reverse("previews:start", args=[sync.public_id])


def status_url(preview) -> str:
    return reverse("previews:status", args=[preview.public_id])


@pytest.mark.parametrize("role", [Role.EDITOR, Role.ADMIN, Role.OWNER])
def test_editors_start_a_preview_and_get_the_polling_partial(client, world, role):
    user = logged_in(client, world.workspace, role)

    response = client.post(start_url(world), {"sample_size": "3"}, **HTMX)

    assert response.status_code == 200
    preview = SyncPreview.objects.get()
    assert (preview.sync, preview.status, preview.sample_size, preview.requested_by) == (
        world,
        "queued",
        3,
        user,
    )
    html = response.content.decode()
    assert "<html" not in html  # the partial alone
    assert f'hx-get="{status_url(preview)}"' in html
    assert 'hx-trigger="every 1s"' in html
    assert 'class="progress indeterminate"' in html
    assert "Waiting for a worker" in html
    assert "concord/previews.css" in html


def test_without_htmx_starting_redirects_to_the_preview_page(client, world):
    logged_in(client, world.workspace, Role.EDITOR)
    response = client.post(start_url(world), {"full": "on"})
    preview = SyncPreview.objects.get()
    assert preview.full
    assert response.status_code == 302
    assert response["Location"] == status_url(preview)
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "<html" in html
    assert f"Preview of {world.name}" in html
    assert "Preview of the full resync" in html


def test_viewers_cannot_start_a_preview_but_can_watch_one(client, world):
    logged_in(client, world.workspace, Role.VIEWER)
    assert client.post(start_url(world), **HTMX).status_code == 403
    assert not SyncPreview.objects.exists()
    preview = preview_request(world)
    assert client.get(status_url(preview), **HTMX).status_code == 200


def test_starting_takes_a_post_and_checks_the_sample_size(client, world):
    logged_in(client, world.workspace, Role.EDITOR)
    assert client.get(start_url(world)).status_code == 405
    refused = client.post(start_url(world), {"sample_size": "99"}, **HTMX)
    assert refused.status_code == 400
    assert "less than or equal to 50" in refused.content.decode()
    assert not SyncPreview.objects.exists()


def test_pages_need_a_login(client, world):
    preview = preview_request(world)
    for response in (client.get(status_url(preview)), client.post(start_url(world))):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_another_workspaces_syncs_and_previews_do_not_exist(client, world):
    other = f.workspace("Other")
    logged_in(client, other, Role.OWNER)
    preview = preview_request(world)
    assert client.post(start_url(world), **HTMX).status_code == 404
    assert client.get(status_url(preview), **HTMX).status_code == 404
    assert SyncPreview.objects.count() == 1


def test_a_running_preview_shows_its_bar_and_the_records_read_so_far(client, world):
    logged_in(client, world.workspace, Role.VIEWER)
    preview = preview_request(world)
    SyncPreview.objects.filter(pk=preview.pk).update(
        status="running", read_a=120, read_b=30, pages=2, expected=400
    )

    html = client.get(status_url(preview), **HTMX).content.decode()

    assert 'aria-valuenow="37"' in html
    assert 'style="width: 37%"' in html
    assert "<strong>120</strong> read from" in html
    assert "<strong>30</strong> from" in html
    assert "of about 400 last time" in html
    assert 'hx-trigger="every 1s"' in html


def test_a_finished_preview_shows_counts_and_samples_and_stops_polling(client, world):
    logged_in(client, world.workspace, Role.EDITOR)
    preview = preview_request(world, sample_size=5)
    assert preview_execute(preview.pk) == "succeeded"
    counts = SyncPreview.objects.get(pk=preview.pk).result["counts"]
    assert (counts["matched"], counts["created_a"], counts["created_b"]) == (1, 1, 1)
    assert (counts["updated_b"], counts["conflicts"]) == (1, 1)

    html = client.get(status_url(preview), **HTMX).content.decode()

    assert "hx-trigger" not in html.split("Preview again")[0]  # no more polling
    assert 'data-status="succeeded"' in html
    a, b = world.connection_a.name, world.connection_b.name
    assert f"Created on {b}" in html
    assert f"Created on {a}" in html
    assert "as it would be written" in html
    assert "<ins>Newton</ins>" in html  # the new record's fields
    assert "<ins>new@x.com</ins>" in html
    assert "<ins>Bea</ins>" in html
    assert f"Updated on {b}" in html
    assert "<del>1</del>" in html  # before and after of the updated field
    assert "<ins>2</ins>" in html
    assert "<q>From A</q>" in html
    assert "<q>From B</q>" in html
    assert "held for a person" in html
    assert "Matched" in html
    assert "Preview again" in html


def test_a_failed_preview_shows_why(client, world):
    logged_in(client, world.workspace, Role.VIEWER)
    preview = preview_request(world)
    SyncPreview.objects.filter(pk=preview.pk).update(
        status="failed", error="HubSpot answered 401: the token expired", read_a=50
    )
    html = client.get(status_url(preview), **HTMX).content.decode()
    assert "The preview failed: HubSpot answered 401: the token expired" in html
    assert "hx-get" not in html.split("<form")[0]
    assert "disabled" in html.split("Preview again")[0].rsplit("<button", 1)[1]  # viewers


def test_preview_again_starts_a_new_preview_in_place(client, world):
    logged_in(client, world.workspace, Role.EDITOR)
    first = preview_request(world, sample_size=2, full=True)
    preview_execute(first.pk)
    html = client.get(status_url(first), **HTMX).content.decode()
    assert f'hx-post="{start_url(world)}"' in html
    assert 'name="sample_size" value="2"' in html
    again = client.post(start_url(world), {"sample_size": "2", "full": "on"}, **HTMX)
    assert again.status_code == 200
    latest = SyncPreview.objects.exclude(pk=first.pk).get()
    assert (latest.sample_size, latest.full, latest.expected) == (2, True, 6)
