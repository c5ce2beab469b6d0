from __future__ import annotations

import pytest
from django.db import OperationalError

from apps.config.celery import app as celery_app


def test_healthz_answers_without_touching_the_database(client):
    # No django_db mark: any query would raise "Database access not allowed".
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_database_and_broker(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


@pytest.mark.django_db
def test_readyz_is_503_naming_an_unreachable_broker(client):
    keys = ("broker_url", "broker_transport", "broker_transport_options")
    saved = {k: celery_app.conf[k] for k in keys}
    # Port 1 on loopback: nothing listens there, so the connection is refused. (Without
    # REDIS_URL the settings name the embedded transport, which would win over the URL.)
    celery_app.conf.update(
        broker_url="redis://127.0.0.1:1/0", broker_transport=None, broker_transport_options={}
    )
    try:
        response = client.get("/readyz")
    finally:
        celery_app.conf.update(saved)
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "ok", "broker": "failed"}
    assert "broker" in body["errors"]


@pytest.mark.django_db
def test_readyz_is_503_naming_an_unreachable_database(client, monkeypatch):
    from django.db import connection

    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    # The one mock here: a database that is down cannot be run inside the test process.
    monkeypatch.setattr(connection, "cursor", refuse)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] == "failed"
    assert "connection refused" in response.json()["errors"]["database"]
