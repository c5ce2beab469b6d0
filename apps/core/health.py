"""Liveness and readiness endpoints for load balancers and orchestrators."""

from __future__ import annotations

import logging

from celery import current_app
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """The process answers. Touches nothing else."""
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _check_broker() -> str | None:
    try:
        with current_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Database and broker reachable: 200; else 503 saying which failed."""
    checks = {"database": _check_database(), "broker": _check_broker()}
    failed = {name: error for name, error in checks.items() if error}
    body = {
        "status": "ok" if not failed else "unavailable",
        "checks": {name: ("ok" if not error else "failed") for name, error in checks.items()},
    }
    if failed:
        body["errors"] = failed
        logger.warning("readiness check failed: %s", failed)
    return JsonResponse(body, status=503 if failed else 200)
