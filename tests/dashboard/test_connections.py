"""The connections pages with Django's test client: the list, the catalogue, the form
generated from a connector's schema, testing, the webhook secret shown once, a test
delivery, deleting, and what each role may do."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Role
from apps.connections.models import Connection
from apps.syncs.models import Sync
from apps.webhooks.models import WebhookDelivery
from apps.webhooks.rejections import rejection_record
from connectors import registry
from connectors.hubspot.sandbox import SANDBOX_TOKEN
from connectors.zendesk.sandbox import ADMIN_EMAIL, API_TOKEN
from tests.factories import MembershipFactory
from tests.sandbox_fixtures import Sandbox, WebhookReceiver

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def member(client, role: Role = Role.OWNER, workspace=None):
    kwargs = {"workspace": workspace} if workspace is not None else {}
    membership = MembershipFactory(role=role, **kwargs)
    client.force_login(membership.user)
    return membership


def hubspot(workspace, sandbox: Sandbox | None = None, **fields) -> Connection:
    base = sandbox.url_for("hubspot") if sandbox else "https://api.hubapi.com"
    return Connection.objects.create(
        workspace=workspace,
        name=fields.pop("name", "CRM"),
        kind="hubspot",
        config={"base_url": base},
        secrets={"access_token": fields.pop("token", SANDBOX_TOKEN)},
        **fields,
    )


def zendesk(workspace, sandbox: Sandbox, **fields) -> Connection:
    return Connection.objects.create(
        workspace=workspace,
        name=fields.pop("name", "Desk"),
        kind="zendesk",
        config={"base_url": sandbox.url_for("zendesk"), "email": ADMIN_EMAIL},
        secrets={"api_token": API_TOKEN},
        **fields,
    )


def sync_between(a: Connection, b: Connection, name: str = "Customers") -> Sync:
    return Sync.objects.create(
        workspace=a.workspace,
        name=name,
        connection_a=a,
        object_type_a="contacts",
        connection_b=b,
        object_type_b="users",
    )


def url(name: str, connection: Connection | None = None, **kwargs) -> str:
    if connection is not None:
        kwargs["public_id"] = connection.public_id
    return reverse(f"connections:{name}", kwargs=kwargs)


# -- the list -------------------------------------------------------------------------------------


def test_an_empty_list_says_what_to_do_next(client):
    member(client)
    page = client.get(url("list")).content.decode()
    assert "No connections yet" in page
    assert f'href="{url("add")}"' in page


def test_the_list_shows_health_usage_and_webhook_status(client, sandbox: Sandbox):
    ws = member(client).workspace
    crm = hubspot(ws, status="ok", last_checked_at=timezone.now())
    desk = zendesk(
        ws, sandbox, status="failing", last_error="Zendesk: GET /api/v2/users/me.json: 401"
    )
    hubspot(ws, name="Unchecked")
    sync_between(crm, desk, name="Customers to Zendesk")
    WebhookDelivery.objects.create(
        workspace=ws, connection=crm, dedupe_key="d1", body="[]", events=[]
    )
    rejection_record(desk.pk, "zendesk", "signature mismatch")
    rejection_record(desk.pk, "zendesk", "signature mismatch")
    page = client.get(url("list")).content.decode()
    assert '<span class="badge ok">Working</span>' in page
    assert '<span class="badge failing">Failing</span>' in page
    assert "GET /api/v2/users/me.json: 401" in page
    assert '<span class="badge">Never checked</span>' in page
    assert page.count("Customers to Zendesk") == 2  # on both connections, with the side
    assert "(A, contacts)" in page
    assert "(B, users)" in page
    assert "Last delivery" in page
    assert "2 rejected in the last hour" in page
    assert "No delivery yet" in page


def test_the_list_shows_only_the_workspace_s_connections(client, sandbox: Sandbox):
    member(client)
    other = MembershipFactory().workspace
    theirs = hubspot(other, name="Theirs")
    assert "Theirs" not in client.get(url("list")).content.decode()
    assert client.get(url("detail", theirs)).status_code == 404
    assert client.post(url("check", theirs)).status_code == 404


# -- adding ---------------------------------------------------------------------------------------


def test_the_catalogue_says_what_each_connector_syncs_and_whether_it_sends_webhooks(client):
    member(client)
    page = client.get(url("add")).content.decode()
    for label in ("HubSpot", "Zendesk", "Jira Cloud"):
        assert f"Connect {label}" in page
    assert "Syncs contacts, companies, deals and tickets." in page
    assert "Syncs issues." in page
    assert "Syncs persons and organizations." in page  # Pipedrive
    with_webhooks = [
        kind
        for kind in registry.kinds()
        if any(t.webhooks for t in registry.get(kind).object_types_offered)
    ]
    assert page.count("Sends webhooks") == len(with_webhooks) >= 4
    assert client.get(url("create", kind="nosuch")).status_code == 404


def test_the_form_is_generated_from_the_schema(client):
    member(client)
    page = client.get(url("create", kind="hubspot")).content.decode()
    assert "Private app access token" in page  # the schema's title
    assert "Auth tab" in page  # its description as help
    assert 'value="https://api.hubapi.com"' in page  # its default
    assert 'type="password" name="config.access_token"' in page
    assert 'autocomplete="new-password"' in page
    # HubSpot dictates the webhook secret: the form asks for the app's client secret.
    assert 'name="webhook_secret"' in page
    zendesk_page = client.get(url("create", kind="zendesk")).content.decode()
    assert 'name="webhook_secret"' not in zendesk_page  # Concord generates one
    assert 'name="config.oauth_token"' in zendesk_page


def test_saving_shows_the_service_s_refusals_beside_the_fields(client, sandbox: Sandbox):
    member(client)
    response = client.post(
        url("create", kind="hubspot"),
        {"name": "", "config.base_url": "ftp://nowhere", "config.access_token": ""},
    )
    assert response.status_code == 400
    form = response.context["form"]
    assert form.errors["name"] == ["a connection needs a name"]
    assert "config.access_token" in form.errors
    assert "config.base_url" in form.errors
    assert Connection.objects.count() == 0


def test_saving_creates_the_connection_and_shows_the_generated_secret_once(
    client, sandbox: Sandbox
):
    ws = member(client).workspace
    response = client.post(
        url("create", kind="zendesk"),
        {
            "name": "Support desk",
            "config.base_url": sandbox.url_for("zendesk"),
            "config.email": ADMIN_EMAIL,
            "config.api_token": API_TOKEN,
        },
    )
    connection = Connection.objects.get(workspace=ws)
    assert response.status_code == 302
    assert response["Location"] == url("detail", connection)
    assert connection.secrets == {"api_token": API_TOKEN}
    first = client.get(url("detail", connection)).content.decode()
    assert connection.webhook_secret in first
    assert "copy it now" in first
    assert f"/hooks/{connection.public_id}/" in first
    assert "Admin Center" in first  # Zendesk's own steps
    again = client.get(url("detail", connection)).content.decode()
    assert connection.webhook_secret not in again
    assert API_TOKEN not in first + again


def test_a_hubspot_connection_keeps_the_pasted_client_secret(client, sandbox: Sandbox):
    ws = member(client).workspace
    client.post(
        url("create", kind="hubspot"),
        {
            "name": "CRM",
            "config.base_url": sandbox.url_for("hubspot"),
            "config.access_token": SANDBOX_TOKEN,
            "webhook_secret": "hubspot-app-client-secret",
        },
    )
    connection = Connection.objects.get(workspace=ws)
    assert connection.webhook_secret == "hubspot-app-client-secret"
    page = client.get(url("detail", connection)).content.decode()
    assert "hubspot-app-client-secret" not in page  # the user typed it: nothing to show
    assert "Private Apps" in page
    assert "cannot be asked for a test event" in page


# -- testing a configuration ----------------------------------------------------------------------


def test_test_connection_answers_inline_with_the_connector_s_explanation(client, sandbox: Sandbox):
    member(client)
    values = {"name": "CRM", "config.base_url": sandbox.url_for("hubspot")}
    ok = client.post(
        url("create-check", kind="hubspot"),
        {**values, "config.access_token": SANDBOX_TOKEN},
        **HTMX,
    ).content.decode()
    assert "It works." in ok
    assert "<html" not in ok  # a partial
    wrong = client.post(
        url("create-check", kind="hubspot"),
        {**values, "config.access_token": "pat-na1-wrong"},
        **HTMX,
    ).content.decode()
    assert "It does not work:" in wrong
    assert "401" in wrong
    assert "pat-na1-wrong" not in wrong
    assert Connection.objects.count() == 0


def test_test_connection_puts_config_problems_beside_their_fields(client, sandbox: Sandbox):
    member(client)
    answer = client.post(
        url("create-check", kind="hubspot"),
        {"config.base_url": "ftp://nowhere", "config.access_token": "t"},
        **HTMX,
    ).content.decode()
    assert "Fix the fields marked below" in answer
    assert 'id="errors-config.base_url" hx-swap-oob="true"><p class="error"' in answer
    assert 'id="errors-config.access_token" hx-swap-oob="true"></div>' in answer  # cleared


def test_without_javascript_the_test_renders_the_whole_form(client, sandbox: Sandbox):
    member(client)
    page = client.post(
        url("create-check", kind="hubspot"),
        {"config.base_url": sandbox.url_for("hubspot"), "config.access_token": "pat-wrong"},
    ).content.decode()
    assert "<html" in page
    assert "It does not work:" in page


def test_testing_a_saved_connection_records_its_health(client, sandbox: Sandbox):
    ws = member(client, Role.EDITOR).workspace
    connection = hubspot(ws, sandbox, token="pat-na1-revoked")
    answer = client.post(url("check", connection), **HTMX).content.decode()
    assert "It does not work:" in answer
    assert '<span class="badge failing">Failing</span>' in answer
    connection.refresh_from_db()
    assert connection.status == "failing"
    assert "401" in connection.last_error


# -- editing --------------------------------------------------------------------------------------


def test_an_edit_never_shows_a_secret_and_keeps_the_ones_left_empty(client, sandbox: Sandbox):
    ws = member(client).workspace
    connection = zendesk(ws, sandbox)
    page = client.get(url("edit", connection)).content.decode()
    assert API_TOKEN not in page
    assert connection.webhook_secret not in page
    assert "Stored; leave empty to keep it." in page
    assert f'value="{ADMIN_EMAIL}"' in page
    # Testing an edit uses the stored token where none is typed.
    answer = client.post(
        url("edit-check", connection), {"name": "Desk", "config.api_token": ""}, **HTMX
    )
    assert "It works." in answer.content.decode()
    response = client.post(
        url("edit", connection),
        {
            "name": "Support",
            "config.base_url": sandbox.url_for("zendesk"),
            "config.email": ADMIN_EMAIL,
            "config.api_token": "",
            "webhook_secret": "",
        },
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert connection.name == "Support"
    assert connection.secrets == {"api_token": API_TOKEN}


def test_rotating_the_webhook_secret_shows_the_new_one_once(client, sandbox: Sandbox):
    ws = member(client).workspace
    connection = zendesk(ws, sandbox)
    old = connection.webhook_secret
    response = client.post(url("webhook-secret", connection), **HTMX)
    assert response.status_code == 200
    assert response["HX-Redirect"] == url("detail", connection)
    connection.refresh_from_db()
    assert connection.webhook_secret != old
    assert connection.webhook_secret in client.get(url("detail", connection)).content.decode()
    assert connection.webhook_secret not in client.get(url("detail", connection)).content.decode()


# -- deleting -------------------------------------------------------------------------------------


def test_deleting_a_connection_in_use_is_refused_with_the_syncs(client, sandbox: Sandbox):
    ws = member(client).workspace
    crm, desk = hubspot(ws), zendesk(ws, sandbox)
    sync_between(crm, desk, name="Customers to Zendesk")
    confirm = client.get(url("delete", crm)).content.decode()
    assert "Customers to Zendesk" in confirm
    response = client.post(url("delete", crm))
    assert response.status_code == 409
    assert "the connection is used by these syncs: Customers to Zendesk" in (
        response.content.decode()
    )
    assert Connection.objects.filter(pk=crm.pk).exists()
    Sync.objects.all().delete()
    response = client.post(url("delete", crm))
    assert response.status_code == 302
    assert not Connection.objects.filter(pk=crm.pk).exists()


# -- a test delivery ------------------------------------------------------------------------------


def test_a_test_event_is_sent_and_the_page_waits_for_it(
    client, sandbox: Sandbox, webhook_receiver: WebhookReceiver, settings
):
    # The sandbox delivers to the receiver standing in for Concord's public address.
    settings.CONCORD_PUBLIC_URL = webhook_receiver.origin
    ws = member(client, Role.EDITOR).workspace
    connection = zendesk(ws, sandbox)
    answer = client.post(url("test-event", connection), **HTMX).content.decode()
    assert "No test delivery:" in answer
    assert "no webhook in this Zendesk account sends to" in answer

    hook = f"{webhook_receiver.origin}/hooks/{connection.public_id}/"
    sandbox.admin.register_webhook("zendesk", hook, connection.webhook_secret)
    webhook_receiver.status = 202
    answer = client.post(url("test-event", connection), **HTMX).content.decode()
    assert "waiting for it to arrive" in answer
    assert "Concord answered 202" in answer
    assert 'hx-trigger="load delay:1s"' in answer  # it polls
    assert len(webhook_receiver.requests) == 1


def test_the_polled_status_says_whether_the_test_delivery_arrived(client, sandbox: Sandbox):
    ws = member(client, Role.VIEWER).workspace
    connection = zendesk(ws, sandbox)
    since = timezone.now() - timedelta(seconds=2)
    status = url("webhook-status", connection)
    query = {"since": since.isoformat(), "rejected_before": "0", "answered": "202"}
    waiting = client.get(status, query, **HTMX).content.decode()
    assert "waiting for it to arrive" in waiting

    rejection_record(connection.pk, "zendesk", "the signature does not match the body")
    refused = client.get(status, query, **HTMX).content.decode()
    assert "arrived but was refused" in refused
    assert "hx-trigger" not in refused  # polling stops

    WebhookDelivery.objects.create(
        workspace=ws, connection=connection, dedupe_key="inv-1", body="{}", events=[]
    )
    arrived = client.get(status, query, **HTMX).content.decode()
    assert "Test delivery received" in arrived
    assert "hx-trigger" not in arrived

    late = {
        **query,
        "since": (timezone.now() - timedelta(seconds=40)).isoformat(),
        "rejected_before": "1",  # the rejection above was before this trial
    }
    WebhookDelivery.objects.all().delete()
    assert "No test delivery arrived" in client.get(status, late, **HTMX).content.decode()


def test_systems_without_test_events_say_what_to_do_instead(client):
    ws = member(client).workspace
    connection = hubspot(ws)
    page = client.get(url("detail", connection)).content.decode()
    assert "Send a test event" not in page
    assert "Change a property of a contact" in page
    answer = client.post(url("test-event", connection), **HTMX).content.decode()
    assert "HubSpot cannot be asked for a test delivery" in answer


# -- roles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.VIEWER, Role.EDITOR])
def test_members_below_admin_see_every_page_with_its_controls_disabled(
    client, sandbox: Sandbox, role: Role
):
    ws = member(client, role).workspace
    connection = zendesk(ws, sandbox)
    pages = {
        name: client.get(url(name, **kw)).content.decode()
        for name, kw in [
            ("list", {}),
            ("add", {}),
            ("create", {"kind": "zendesk"}),
        ]
    }
    pages["detail"] = client.get(url("detail", connection)).content.decode()
    pages["edit"] = client.get(url("edit", connection)).content.decode()
    pages["delete"] = client.get(url("delete", connection)).content.decode()
    for name, page in pages.items():
        assert "readonly-note" in page, name
    for name in ("create", "edit"):
        assert re.search(r'<input[^>]*name="config\.email"[^>]*disabled', pages[name]), name
    assert '<button type="submit" disabled>Save connection</button>' in pages["create"]
    assert '<button type="submit" class="danger-fill" disabled>' in pages["delete"]
    test_button = '<button type="submit" disabled>Test connection</button>'
    assert (test_button in pages["detail"]) == (role == Role.VIEWER)
    # And the server refuses what the page disables.
    assert client.post(url("create", kind="zendesk"), {"name": "x"}).status_code == 403
    assert client.post(url("edit", connection), {"name": "x"}).status_code == 403
    assert client.post(url("delete", connection)).status_code == 403
    assert client.post(url("webhook-secret", connection)).status_code == 403
    expected = 403 if role == Role.VIEWER else 200
    assert client.post(url("check", connection), **HTMX).status_code == expected
    assert Connection.objects.get(pk=connection.pk).name == "Desk"


def test_a_hubspot_connection_without_the_client_secret_says_it_is_not_set(
    client, sandbox: Sandbox
):
    ws = member(client).workspace
    client.post(
        url("create", kind="hubspot"),
        {
            "name": "CRM",
            "config.base_url": sandbox.url_for("hubspot"),
            "config.access_token": SANDBOX_TOKEN,
        },
    )
    connection = Connection.objects.get(workspace=ws)
    assert connection.webhook_secret == ""  # a generated one could never match HubSpot's
    page = client.get(url("detail", connection)).content.decode()
    assert "Not set" in page
    assert "until then Concord refuses every delivery" in page
    # The configuration is labelled as the form labels it; secrets only say they are stored.
    assert "Private app access token" in page
    assert "stored, never shown" in page
