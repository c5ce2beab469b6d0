"""The connection services the pages call besides the API's: trying a configuration before
it is saved, a test delivery on request, rotating the webhook secret."""

from __future__ import annotations

import socket

import pytest

from apps.connections.models import Connection
from apps.connections.services import (
    connection_check,
    connection_check_values,
    connection_create,
    connection_fields,
    connection_test_event_send,
    connection_update,
    connection_webhook_secret_rotate,
    connection_webhook_url,
)
from apps.core.errors import Invalid, Refused, UpstreamError
from connectors.hubspot.sandbox import SANDBOX_TOKEN
from connectors.zendesk.sandbox import ADMIN_EMAIL, API_TOKEN
from tests.factories import WorkspaceFactory
from tests.recording_server import recording_server
from tests.sandbox_fixtures import Sandbox, WebhookReceiver

pytestmark = pytest.mark.django_db


def zendesk_values(sandbox: Sandbox, **over: str) -> dict[str, str]:
    return {
        "base_url": sandbox.url_for("zendesk"),
        "email": ADMIN_EMAIL,
        "api_token": API_TOKEN,
        **over,
    }


def test_a_configuration_is_tried_before_it_is_saved(sandbox: Sandbox):
    values = {"base_url": sandbox.url_for("hubspot"), "access_token": SANDBOX_TOKEN}
    assert connection_check_values("hubspot", values) == (True, "The credentials work.")
    ok, message = connection_check_values("hubspot", {**values, "access_token": "pat-wrong"})
    assert not ok
    assert "HubSpot" in message
    assert "401" in message
    assert "pat-wrong" not in message
    assert Connection.objects.count() == 0


def test_a_configuration_that_cannot_be_tried_names_its_fields(sandbox: Sandbox):
    with pytest.raises(Invalid) as raised:
        connection_check_values("zendesk", {"base_url": sandbox.url_for("zendesk")})
    assert raised.value.field == "config"
    with pytest.raises(Invalid) as raised:
        connection_check_values("hubspot", {"base_url": "ftp://x", "access_token": "t"})
    assert "config.base_url" in raised.value.problems()
    with pytest.raises(Invalid) as raised:
        connection_check_values("nosuch", {})
    assert raised.value.field == "kind"


def test_an_edit_is_tried_with_the_stored_secrets_where_none_is_typed(sandbox: Sandbox):
    connection = connection_create(
        workspace=WorkspaceFactory(), name="Desk", kind="zendesk", values=zendesk_values(sandbox)
    )
    # The token is not retyped: the stored one is used.
    assert connection_check_values("ignored", {"api_token": ""}, connection=connection)[0]
    ok, _ = connection_check_values("ignored", {"api_token": "wrong"}, connection=connection)
    assert not ok
    connection.refresh_from_db()
    assert connection.secrets["api_token"] == API_TOKEN  # nothing was stored
    assert connection.status == Connection.Status.UNKNOWN


def test_zendesk_sends_a_test_delivery_to_the_connections_webhook_url(
    sandbox: Sandbox, webhook_receiver: WebhookReceiver, settings
):
    settings.CONCORD_PUBLIC_URL = webhook_receiver.origin
    connection = connection_create(
        workspace=WorkspaceFactory(), name="Desk", kind="zendesk", values=zendesk_values(sandbox)
    )
    url = connection_webhook_url(connection)
    with pytest.raises(UpstreamError) as raised:
        connection_test_event_send(connection)
    assert raised.value.code == "connector_configuration_error"
    assert url in raised.value.message

    sandbox.admin.register_webhook("zendesk", url, connection.webhook_secret)
    webhook_receiver.status = 202
    sent = connection_test_event_send(connection)
    assert sent.answered == 202
    [delivery] = webhook_receiver.requests
    assert delivery.url == url


def test_systems_without_a_test_delivery_refuse_with_a_code():
    connection = Connection.objects.create(
        workspace=WorkspaceFactory(),
        name="CRM",
        kind="hubspot",
        config={"base_url": "https://api.hubapi.com"},
        secrets={"access_token": "pat"},
    )
    with pytest.raises(Refused) as raised:
        connection_test_event_send(connection)
    assert raised.value.code == "test_event_unsupported"


def test_the_webhook_secret_is_rotated_or_set_within_bounds(sandbox: Sandbox):
    connection = connection_create(
        workspace=WorkspaceFactory(), name="Desk", kind="zendesk", values=zendesk_values(sandbox)
    )
    old = connection.webhook_secret
    new = connection_webhook_secret_rotate(connection)
    assert new != old
    assert Connection.objects.get(pk=connection.pk).webhook_secret == new
    with pytest.raises(Invalid) as raised:
        connection_update(connection, webhook_secret="short")
    assert raised.value.field == "webhook_secret"
    connection_update(connection, webhook_secret="  pasted-from-zendesk  ")
    assert Connection.objects.get(pk=connection.pk).webhook_secret == "pasted-from-zendesk"
    with pytest.raises(Invalid) as raised:
        connection_create(
            workspace=connection.workspace,
            name="Other",
            kind="zendesk",
            values=zendesk_values(sandbox),
            webhook_secret="x" * 501,
        )
    assert raised.value.field == "webhook_secret"


# Loopback is allowed in development; a public host name would need DNS.
LOCAL_HUBSPOT = {"base_url": "http://127.0.0.1:9/hubspot", "access_token": "t"}


def test_a_create_reports_every_problem_at_once():
    workspace = WorkspaceFactory()
    with pytest.raises(Invalid) as raised:
        connection_create(
            workspace=workspace,
            name=" ",
            kind="hubspot",
            values={"access_token": ""},
            webhook_secret="short",
        )
    assert set(raised.value.problems()) == {"name", "webhook_secret", "config.access_token"}
    assert raised.value.message.startswith("3 problems; the first: ")
    # One problem alone is raised as the service always raised it.
    with pytest.raises(Invalid) as raised:
        connection_create(workspace=workspace, name="", kind="hubspot", values=LOCAL_HUBSPOT)
    assert (raised.value.field, raised.value.message) == ("name", "a connection needs a name")


def test_hubspot_keeps_no_generated_webhook_secret():
    connection = connection_create(
        workspace=WorkspaceFactory(), name="CRM", kind="hubspot", values=LOCAL_HUBSPOT
    )
    assert connection.webhook_secret == ""
    pasted = connection_create(
        workspace=connection.workspace,
        name="CRM 2",
        kind="hubspot",
        values=LOCAL_HUBSPOT,
        webhook_secret="the-app-client-secret",
    )
    assert pasted.webhook_secret == "the-app-client-secret"


def test_a_name_that_rebinds_to_loopback_after_it_was_saved_reaches_nothing(settings, monkeypatch):
    """DNS rebinding: the host answered a public address when the connection was saved,
    and answers 127.0.0.1 now. Testing the connection and discovering fields must not reach
    the loopback service, and must say why without quoting anything it would answer."""
    settings.CONCORD_ALLOWED_PRIVATE_NETWORKS = []
    name = "crm.rebind.test"
    real_getaddrinfo = socket.getaddrinfo
    answers = ["93.184.215.14"]

    def rebinding_dns(host, port, *args, **kwargs):
        if host != name:
            return real_getaddrinfo(host, port, *args, **kwargs)
        address = answers.pop(0) if answers else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding_dns)
    with recording_server("127.0.0.1") as internal:
        connection = connection_create(
            workspace=WorkspaceFactory(),
            name="CRM",
            kind="hubspot",
            values={"base_url": f"http://{name}:{internal.port}", "access_token": "pat-x"},
        )
        assert answers == []  # saving resolved the name: a public address
        ok, message = connection_check(connection)
        with pytest.raises(UpstreamError) as discovery:
            connection_fields(connection, "contacts")
    assert internal.requests == []
    assert not ok
    for said in (message, str(discovery.value)):
        assert f"{name} resolves to 127.0.0.1, a loopback address" in said
        assert "hunter2" not in said
    assert discovery.value.code == "connector_configuration_error"
    connection.refresh_from_db()
    assert connection.status == Connection.Status.FAILING
    assert connection.last_error == message
