"""A preview through a real Celery worker process against the sandboxes over HTTP: the API
answers at once, the worker computes the preview, and the API then answers its result.
(Workers and the broker as in tests/runs/test_worker.py.)"""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from apps.accounts.services import api_token_create
from apps.syncs.models import RecordLink, SyncPreview
from apps.syncs.services import sync_preview
from tests.factories import MembershipFactory
from tests.runs.sandbox_sync import hub_desk_sync
from tests.sandbox_fixtures import Sandbox
from tests.workers import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_preview_job_completes_on_a_worker_and_the_api_answers_its_result(
    workers,
    sandbox: Sandbox,
):
    sync = hub_desk_sync(sandbox)
    editor = MembershipFactory(workspace=sync.workspace, role="editor")
    _, token = api_token_create(workspace=sync.workspace, user=editor.user, name="preview")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    workers.start()

    answer = client.post(f"/api/v1/syncs/{sync.public_id}/preview/", {"sample_size": 2})

    assert answer.status_code == 202, answer.content
    url = answer.json()["url"]

    def finished():
        job = client.get(url).json()
        return job if job["status"] in ("succeeded", "failed") else None

    job = wait_until(finished, timeout=120)
    assert (job["status"], job["error"]) == ("succeeded", "")
    expected = json.loads(json.dumps(sync_preview(sync, sample_size=2).summary()))
    assert job["result"] == expected
    assert (job["progress"]["read_a"], job["progress"]["read_b"]) == (
        expected["counts"]["read_a"],
        expected["counts"]["read_b"],
    )
    assert expected["counts"]["read_a"] == 3  # the seeded contacts
    assert expected["counts"]["created_b"] >= 1
    assert job["progress"]["pages"] >= 2
    assert SyncPreview.objects.get(public_id=job["id"]).attempts == 1
    assert not RecordLink.objects.filter(sync=sync).exists()  # nothing written
