"""Celery tasks for the dashboard app: the demo seeding that bootstrap enqueues, and the
demo's activity simulator that beat ticks in development."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from apps.accounts.models import Workspace
from apps.dashboard import demo, simulator


# Under `make run` the worker and the sandbox start together, after bootstrap enqueued this:
# the first attempt may find the sandbox not listening yet. Backoff 1, 2, 4, 8, then 10 s;
# 20 retries wait about three minutes in all before giving up (the log then says to run
# `manage.py demo_seed`). Only "not answering" is retried: a refusal will not fix itself.
@shared_task(
    name="dashboard.demo_seed",
    autoretry_for=(demo.SandboxUnavailable,),
    retry_backoff=1,
    retry_backoff_max=10,
    retry_jitter=False,
    max_retries=20,
    time_limit=300,
    soft_time_limit=240,
)
def demo_seed(workspace_id: int, sandbox_url: str, public_url: str | None = None) -> dict[str, Any]:
    workspace = Workspace.objects.get(pk=workspace_id)
    return demo.demo_seed(
        workspace=workspace, sandbox_url=sandbox_url, public_url=public_url
    ).as_dict()


# Beat sends this every CONCORD_DEMO_ACTIVITY_EVERY seconds when CONCORD_DEMO_ACTIVITY is on
# (settings.CELERY_BEAT_SCHEDULE). A tick that waited past the next one is stale: it expires.
@shared_task(
    name="dashboard.demo_activity",
    time_limit=60,
    soft_time_limit=50,
    expires=settings.CONCORD_DEMO_ACTIVITY_EVERY,
)
def demo_activity() -> str:
    activity = simulator.activity_tick()
    return activity.summary if activity is not None else ""
