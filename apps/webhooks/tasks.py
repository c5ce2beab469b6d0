"""Celery tasks of the webhook inbox: processing deliveries, and its upkeep."""

from __future__ import annotations

from celery import shared_task

from apps.webhooks import processing, services


@shared_task(name=services.PROCESS_TASK, time_limit=120, soft_time_limit=100)
def process_delivery(delivery_id: int) -> str:
    return processing.delivery_process(delivery_id)


@shared_task(name="webhooks.check_arrivals", time_limit=120, soft_time_limit=100)
def check_arrivals() -> int:
    return services.webhook_arrivals_check()


@shared_task(name="webhooks.prune", time_limit=30 * 60, soft_time_limit=29 * 60)
def prune() -> int:
    return services.deliveries_prune()
