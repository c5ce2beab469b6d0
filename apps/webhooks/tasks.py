"""Processing of stored webhook deliveries."""

from __future__ import annotations

from celery import shared_task

from apps.webhooks import processing


@shared_task(name="webhooks.process_delivery", time_limit=120, soft_time_limit=100)
def process_delivery(delivery_id: int) -> str:
    return processing.delivery_process(delivery_id)
