"""Project wiring: settings, urls, the Celery app, wsgi and asgi. Not an installed app."""

from apps.config.celery import app as celery_app

__all__ = ["celery_app"]
