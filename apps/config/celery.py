"""The Celery app. Settings come from Django's settings under the CELERY_ prefix.

Database connections in workers: Celery's Django fixup closes every connection before and
after each task unless CELERY_DB_REUSE_MAX is set (it once honoured CONN_MAX_AGE and went
back to closing), so a worker opened a new PostgreSQL connection for almost every task.
Settings turn that off (CELERY_DB_REUSE_MAX) and the handlers below do what Django does
around a web request instead: close_old_connections() closes a connection that is past
CONN_MAX_AGE or broke, and lets CONN_HEALTH_CHECKS test a reused one before its first query.
"""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "apps.config.settings")

app = Celery("concord")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(task: Any = None, **kwargs: Any) -> None:
    # A task run eagerly (apply(), tests) runs inside its caller's request or transaction,
    # whose connection is not the task's to close.
    if task is not None and getattr(task.request, "is_eager", False):
        return
    close_old_connections()
