from celery import shared_task


@shared_task(name="core.ping", time_limit=30, soft_time_limit=25, ignore_result=False)
def ping() -> str:
    """Answer "pong": proves a worker consumes from the broker (operators and tests)."""
    return "pong"
