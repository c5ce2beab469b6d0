"""The Django admin's connection form is held to the base-URL policy."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from apps.connections.models import Connection
from tests.factories import WorkspaceFactory

pytestmark = pytest.mark.django_db


def add(admin_client, base_url: str):
    return admin_client.post(
        reverse("admin:connections_connection_add"),
        {
            "name": "CRM",
            "kind": "hubspot",
            "workspace": WorkspaceFactory().pk,
            "config": json.dumps({"base_url": base_url}),
            "consecutive_failures": 0,
        },
    )


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("http://169.254.169.254/latest", "169.254.169.254, a link-local address"),
        ("http://127.0.0.1:6379", "127.0.0.1, a loopback address"),
        ("http://[64:ff9b::7f00:1]/", "carries 127.0.0.1"),
        ("ftp://example.com", "must start with https://"),
    ],
)
def test_the_admin_refuses_a_base_url_the_policy_refuses(admin_client, settings, base_url, reason):
    settings.CONCORD_ALLOWED_PRIVATE_NETWORKS = []
    response = add(admin_client, base_url)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert reason in errors["config"][0]
    assert not Connection.objects.exists()


def test_the_admin_saves_an_allowed_base_url_as_the_api_would(admin_client, settings):
    settings.CONCORD_ALLOWED_PRIVATE_NETWORKS = []
    response = add(admin_client, "https://1.1.1.1/")
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Connection.objects.get().config == {"base_url": "https://1.1.1.1"}
