"""Previews as jobs (apps/syncs/previews.py): requested, then executed as a worker would,
here in-process; progress after every page, the result, a system's refusal, running twice,
and pruning. (The same through a real worker: tests/syncs/test_previews_worker.py.)"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import Invalid
from apps.syncs import previews
from apps.syncs.models import Conflict, RecordLink, SyncPreview
from apps.syncs.previews import preview_execute, preview_request, previews_prune
from apps.syncs.services import sync_preview
from tests.syncs import factories as f

pytestmark = pytest.mark.django_db


def setup(**kw):
    ws = f.workspace()
    crm, desk = f.stores()
    s = f.sync(ws, crm, desk, page_size=2, **kw)
    for n in range(5):
        crm.insert("contacts", {"email": f"a{n}@x.com", "name": f"A{n}"})
    for n in range(3):
        desk.insert("users", {"email": f"b{n}@x.com", "full_name": f"B{n}"})
    desk.insert("users", {"email": "A0@x.com", "full_name": "Other name"})
    return s, crm, desk


def fresh(preview: SyncPreview) -> SyncPreview:
    return SyncPreview.objects.get(pk=preview.pk)


def spy_on_pages(monkeypatch, each_page):
    """Run the real preview, calling `each_page()` after the job has handled every page."""
    real = previews.sync_preview

    def spying(sync, *, on_page, **options):
        def after(so_far):
            on_page(so_far)
            each_page()

        return real(sync, on_page=after, **options)

    monkeypatch.setattr(previews, "sync_preview", spying)


def test_a_request_is_queued_and_sent_only_after_commit(django_capture_on_commit_callbacks):
    s, _, _ = setup()
    user = f.user()
    with django_capture_on_commit_callbacks() as sent:
        preview = preview_request(s, sample_size=2, full=True, user=user)
    assert len(sent) == 1  # the message, once the transaction commits
    preview = fresh(preview)
    assert (preview.status, preview.sample_size, preview.full) == ("queued", 2, True)
    assert (preview.workspace_id, preview.requested_by) == (s.workspace_id, user)
    assert (preview.read_a, preview.read_b, preview.result, preview.error) == (0, 0, None, "")


@pytest.mark.parametrize("size", [-1, 51])
def test_a_sample_size_out_of_range_is_refused(size):
    s, _, _ = setup()
    with pytest.raises(Invalid) as refused:
        preview_request(s, sample_size=size)
    assert refused.value.field == "sample_size"
    assert not SyncPreview.objects.exists()


def test_progress_is_stored_after_every_page(monkeypatch):
    s, _, _ = setup()
    preview = preview_request(s)
    seen = []
    spy_on_pages(
        monkeypatch,
        lambda: seen.append(
            SyncPreview.objects.filter(pk=preview.pk)
            .values_list("status", "read_a", "read_b", "pages")
            .get()
        ),
    )

    assert preview_execute(preview.pk) == "succeeded"

    assert seen == [
        ("running", 2, 0, 1),
        ("running", 4, 0, 2),
        ("running", 5, 0, 3),
        ("running", 5, 2, 4),
        ("running", 5, 4, 5),
    ]
    preview = fresh(preview)
    assert (preview.read_a, preview.read_b, preview.pages, preview.percent) == (5, 4, 5, 100)
    assert preview.started_at <= preview.finished_at


def test_the_result_is_what_the_preview_service_answers():
    s, crm, desk = setup()
    preview = preview_request(s, sample_size=2)

    assert preview_execute(preview.pk) == "succeeded"

    expected = json.loads(json.dumps(sync_preview(s, sample_size=2).summary()))
    result = fresh(preview).result
    assert result == expected
    assert result["counts"]["matched"] == 1
    assert result["counts"]["created_b"] == 4
    assert result["counts"]["created_a"] == 3
    assert result["counts"]["conflicts"] == 1
    assert result["samples"]["created_b"][0]["fields"] == {"email": "a1@x.com", "full_name": "A1"}
    assert (crm.writes, desk.writes) == (0, 0)  # a preview writes nothing anywhere
    assert not RecordLink.objects.exists()
    assert not Conflict.objects.exists()


def test_the_next_preview_guesses_its_total_from_the_last(monkeypatch):
    s, _, _ = setup()
    first = preview_request(s)
    assert fresh(first).expected is None
    preview_execute(first.pk)
    second = preview_request(s)
    assert fresh(second).expected == 9
    percents = []
    spy_on_pages(monkeypatch, lambda: percents.append(fresh(second).percent))
    preview_execute(second.pk)
    assert percents == [22, 44, 55, 77, 99]  # never 100 before it is done
    assert fresh(second).percent == 100
    assert preview_request(s, full=True).expected is None  # a full read is another size


def test_a_system_that_cannot_be_read_fails_the_preview_with_its_explanation():
    s, _, desk = setup()
    del desk.tables["users"]  # side B's object type went away
    preview = preview_request(s)

    assert preview_execute(preview.pk) == "failed"

    preview = fresh(preview)
    assert preview.error == f"memory: the store '{desk.name}' has no object type 'users'"
    assert preview.error_code == "connector_configuration_error"
    assert preview.result is None
    assert preview.finished_at is not None
    assert preview.percent is None


def test_a_bug_fails_the_preview_and_is_raised(monkeypatch):
    s, _, _ = setup()
    preview = preview_request(s)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(previews, "sync_preview", broken)
    with pytest.raises(RuntimeError):
        preview_execute(preview.pk)
    preview = fresh(preview)
    assert (preview.status, preview.error_code) == ("failed", "server_error")
    assert preview.error == "internal error: RuntimeError('boom')"


def test_running_twice_is_safe():
    s, crm, _ = setup()
    preview = preview_request(s)
    assert preview_execute(preview.pk) == "succeeded"
    done = fresh(preview)
    crm.insert("contacts", {"email": "late@x.com"})

    assert preview_execute(preview.pk) == "not-queued"

    again = fresh(preview)
    assert (again.result, again.finished_at, again.attempts) == (
        done.result,
        done.finished_at,
        1,
    )
    assert preview_execute(10**9) == "missing"


def test_a_running_preview_is_not_claimed_twice_while_it_makes_progress():
    s, _, _ = setup()
    preview = preview_request(s)
    SyncPreview.objects.filter(pk=preview.pk).update(status="running", attempts=1)
    assert preview_execute(preview.pk) == "not-queued"
    assert fresh(preview).attempts == 1


def test_a_preview_whose_worker_went_silent_is_claimed_again(monkeypatch, settings):
    s, _, _ = setup()
    preview = preview_request(s)
    silent = timezone.now() - timedelta(seconds=settings.CONCORD_RUN_LOCK_TTL + 1)
    SyncPreview.objects.filter(pk=preview.pk).update(
        status="running", attempts=1, read_a=4, updated_at=silent
    )

    assert preview_execute(preview.pk) == "succeeded"

    preview = fresh(preview)
    assert (preview.attempts, preview.read_a, preview.read_b) == (2, 5, 4)


def test_only_the_latest_claim_stores_its_outcome(monkeypatch):
    s, _, _ = setup()
    preview = preview_request(s)

    def taken_over():  # another worker reclaims it while this one still reads
        SyncPreview.objects.filter(pk=preview.pk).update(attempts=2)

    spy_on_pages(monkeypatch, taken_over)

    assert preview_execute(preview.pk) == "superseded"

    preview = fresh(preview)
    assert (preview.status, preview.result, preview.read_a) == ("running", None, 2)


def test_prune_gives_up_on_silent_previews_and_deletes_old_finished_ones(settings):
    s, _, _ = setup()
    now = timezone.now()
    old = now - timedelta(hours=settings.CONCORD_PREVIEW_RETENTION_HOURS, minutes=1)

    def make(status, *, created, updated):
        preview = SyncPreview.objects.create(workspace=s.workspace, sync=s, status=status)
        SyncPreview.objects.filter(pk=preview.pk).update(created_at=created, updated_at=updated)
        return preview

    old_done = make("succeeded", created=old, updated=old)
    recent_done = make("failed", created=now - timedelta(hours=1), updated=now)
    silent = make("running", created=now - timedelta(hours=2), updated=now - timedelta(hours=2))
    waiting = make("queued", created=now - timedelta(minutes=5), updated=now - timedelta(minutes=5))

    assert previews_prune(now=now) == {"abandoned": 1, "deleted": 1}

    assert set(SyncPreview.objects.values_list("pk", flat=True)) == {
        recent_done.pk,
        silent.pk,
        waiting.pk,
    }
    given_up = fresh(silent)
    assert (given_up.status, given_up.error_code) == ("failed", "preview_abandoned")
    assert given_up.error.startswith("no worker finished this preview")
    assert fresh(waiting).status == "queued"
    assert old_done.pk not in SyncPreview.objects.values_list("pk", flat=True)
