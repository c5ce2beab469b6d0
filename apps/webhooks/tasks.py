"""Celery tasks of the webhook inbox: processing deliveries, and its upkeep."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from apps.webhooks import processing, services


@shared_task(name=services.PROCESS_TASK, time_limit=120, soft_time_limit=100)
def process_delivery(delivery_id: int) -> str:
    return processing.delivery_process(delivery_id)


# A sweep that waited in the queue past the next one is worthless: it expires.
@shared_task(
    name="webhooks.sweep",
    time_limit=120,
    soft_time_limit=100,
    expires=settings.CONCORD_WEBHOOK_SWEEP_EVERY,
)
def sweep() -> int:
    return processing.deliveries_sweep()


@shared_task(name="webhooks.check_arrivals", time_limit=120, soft_time_limit=100)
def check_arrivals() -> int:
    return services.webhook_arrivals_check()


@shared_task(name="webhooks.prune", time_limit=30 * 60, soft_time_limit=29 * 60)
def prune() -> int:
    return services.deliveries_prune()
