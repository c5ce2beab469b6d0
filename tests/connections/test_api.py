"""The connections API: every endpoint for every role, workspace isolation, write-only
secrets, validation errors that name the field, and upstream errors as clear API errors.

Connector-backed endpoints run the real connectors: the in-memory one for CRUD and discovery,
HubSpot against its sandbox (real HTTP, the `sandbox` fixture of tests/sandbox_fixtures.py)
for credentials and upstream failures.
"""

from __future__ import annotations

import logging
import uuid

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from apps.accounts import services as account_services
from apps.accounts.models import Role
from apps.connections import services
from apps.connections.models import Connection
from connectors import registry
from connectors.base import FieldOption, FieldSpec, FieldType
from connectors.hubspot.sandbox import contract as hubspot_contract
from connectors.memory.connector import store_for
from tests.factories import MembershipFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

ROLES = ["viewer", "editor", "admin", "owner"]
URL = "/api/v1/connections/"
HUBSPOT = hubspot_contract()
WEBHOOK_SECRET = "whsec-api-test-0123456789"


@pytest.fixture(autouse=True)
def _fast_and_roomy(settings):
    """Role matrices create many users and make many calls per user: a fast hasher, and
    throttle rates out of the way (throttling has its own test in tests/core)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "100000/minute", "anon": "100000/minute"},
    }


def client_for(membership) -> APIClient:
    _, raw = account_services.api_token_create(
        workspace=membership.workspace, user=membership.user, name="tests"
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def workspace():
    return WorkspaceFactory()


@pytest.fixture
def clients(workspace) -> dict[str, APIClient]:
    return {role: client_for(MembershipFactory(workspace=workspace, role=role)) for role in ROLES}


@pytest.fixture
def store():
    """A fresh in-memory "system" with one object type."""
    crm = store_for(f"crm-{uuid.uuid4().hex[:8]}")
    crm.define(
        "contacts",
        [
            FieldSpec("email", "Email", FieldType.EMAIL, required=True),
            FieldSpec(
                "stage",
                "Stage",
                FieldType.ENUM,
                options=(FieldOption("lead", "Lead"), FieldOption("customer", "Customer")),
            ),
            FieldSpec("created", "Created", FieldType.DATETIME, writable=False),
        ],
        label="Contacts",
    )
    return crm


def memory_values(store) -> dict:
    return {"base_url": "http://127.0.0.1/memory", "store": store.name}


@pytest.fixture
def connection(workspace, store) -> Connection:
    return services.connection_create(
        workspace=workspace, name="CRM", kind="memory", values=memory_values(store)
    )


@pytest.fixture
def foreign(store) -> tuple[APIClient, Connection]:
    """Another workspace, its owner's client and its connection."""
    owner = MembershipFactory(role=Role.OWNER)
    conn = services.connection_create(
        workspace=owner.workspace, name="Theirs", kind="memory", values=memory_values(store)
    )
    return client_for(owner), conn


def detail(conn: Connection, suffix: str = "") -> str:
    return f"{URL}{conn.public_id}/{suffix}"


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return body["error"]


# --- Reading ------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
def test_every_role_lists_and_reads_connections(clients, connection, foreign, role):
    listed = clients[role].get(URL)
    assert listed.status_code == 200
    body = listed.json()
    assert body["count"] == 1
    assert [c["name"] for c in body["results"]] == ["CRM"]

    read = clients[role].get(detail(connection))
    assert read.status_code == 200
    assert read.json() == {
        "id": str(connection.public_id),
        "name": "CRM",
        "kind": "memory",
        "config": {
            "base_url": "http://127.0.0.1/memory",
            "store": connection.config["store"],
            "page_size": 100,
        },
        "secrets_set": [],
        "webhook_url": f"http://testserver-public.example/hooks/{connection.public_id}/",
        "status": "unknown",
        "last_checked_at": None,
        "last_success_at": None,
        "last_error": "",
        "consecutive_failures": 0,
        "created_at": read.json()["created_at"],
        "updated_at": read.json()["updated_at"],
    }


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.CONCORD_PUBLIC_URL = "http://testserver-public.example/"


def test_list_filters_by_kind_and_refuses_an_unknown_status(clients, connection):
    assert clients["viewer"].get(URL, {"kind": "memory"}).json()["count"] == 1
    assert clients["viewer"].get(URL, {"kind": "hubspot"}).json()["count"] == 0
    response = clients["viewer"].get(URL, {"status": "sideways"})
    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["status"]


def test_list_is_paginated(clients, workspace, store):
    for n in range(3):
        services.connection_create(
            workspace=workspace, name=f"C{n}", kind="memory", values=memory_values(store)
        )
    page = clients["viewer"].get(URL, {"page_size": 2}).json()
    assert page["count"] == 3
    assert [c["name"] for c in page["results"]] == ["C0", "C1"]
    second = clients["viewer"].get(page["next"]).json()
    assert [c["name"] for c in second["results"]] == ["C2"]
    assert second["next"] is None


@pytest.mark.parametrize("role", ROLES)
def test_every_role_reads_object_types_fields_and_health(clients, connection, role):
    types = clients[role].get(detail(connection, "object-types/"))
    assert types.status_code == 200
    assert types.json() == [
        {"name": "contacts", "label": "Contacts", "webhooks": True, "deletes_in_feed": True}
    ]

    fields = clients[role].get(detail(connection, "fields/"), {"object_type": "contacts"})
    assert fields.status_code == 200
    assert fields.json() == [
        {
            "name": "email",
            "label": "Email",
            "type": "email",
            "writable": True,
            "required": True,
            "options": [],
            "custom": False,
            "reference_to": None,
        },
        {
            "name": "stage",
            "label": "Stage",
            "type": "enum",
            "writable": True,
            "required": False,
            "options": [
                {"value": "lead", "label": "Lead"},
                {"value": "customer", "label": "Customer"},
            ],
            "custom": False,
            "reference_to": None,
        },
        {
            "name": "created",
            "label": "Created",
            "type": "datetime",
            "writable": False,
            "required": False,
            "options": [],
            "custom": False,
            "reference_to": None,
        },
    ]

    health = clients[role].get(detail(connection, "health/"))
    assert health.status_code == 200
    assert health.json() == {
        "status": "unknown",
        "last_checked_at": None,
        "last_success_at": None,
        "last_error": "",
        "consecutive_failures": 0,
    }


def test_fields_needs_an_object_type(clients, connection):
    error = assert_error(
        clients["viewer"].get(detail(connection, "fields/")), 400, "validation_error"
    )
    assert list(error["fields"]) == ["object_type"]


def test_fields_of_an_unknown_object_type_is_a_clear_400(clients, connection):
    response = clients["viewer"].get(detail(connection, "fields/"), {"object_type": "planets"})
    error = assert_error(response, 400, "connector_configuration_error")
    assert "planets" in error["message"]


# --- Check --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("role", "allowed"), [("viewer", False), ("editor", True),
                                               ("admin", True), ("owner", True)])  # fmt: skip
def test_check_needs_an_editor_and_records_health(clients, connection, store, role, allowed):
    response = clients[role].post(detail(connection, "test/"))
    if not allowed:
        error = assert_error(response, 403, "permission_denied")
        assert "editor" in error["message"]
        assert store.calls["check"] == 0
        return
    assert response.status_code == 200
    assert response.json() == {"ok": True, "message": "The credentials work."}
    assert store.calls["check"] == 1
    health = clients[role].get(detail(connection, "health/")).json()
    assert health["status"] == "ok"
    assert health["last_success_at"] == health["last_checked_at"] is not None


# --- Writing ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("role", "allowed"), [("viewer", False), ("editor", False),
                                               ("admin", True), ("owner", True)])  # fmt: skip
def test_only_admins_and_owners_create(clients, workspace, store, role, allowed):
    payload = {"name": "New", "kind": "memory", "config": memory_values(store)}
    response = clients[role].post(URL, payload, format="json")
    if not allowed:
        error = assert_error(response, 403, "permission_denied")
        assert error["message"] == f"your role ({role}) cannot do this; it needs admin or higher"
        assert not Connection.objects.filter(name="New").exists()
        return
    assert response.status_code == 201
    body = response.json()
    created = Connection.objects.get(public_id=body["id"])
    assert created.workspace == workspace
    assert created.kind == "memory"
    assert body["config"] == {**memory_values(store), "page_size": 100}
    # The generated webhook secret is shown in this answer only.
    assert body["webhook_secret"] == created.webhook_secret
    assert len(body["webhook_secret"]) >= 32
    assert "webhook_secret" not in clients[role].get(detail(created)).json()


@pytest.mark.parametrize(("role", "allowed"), [("viewer", False), ("editor", False),
                                               ("admin", True), ("owner", True)])  # fmt: skip
def test_only_admins_and_owners_update(clients, connection, role, allowed):
    patch = clients[role].patch(detail(connection), {"name": "Renamed"}, format="json")
    put = clients[role].put(
        detail(connection),
        {"name": "Replaced", "config": {"base_url": "http://127.0.0.1/other", "store": "s2"}},
        format="json",
    )
    connection.refresh_from_db()
    if not allowed:
        assert_error(patch, 403, "permission_denied")
        assert_error(put, 403, "permission_denied")
        assert connection.name == "CRM"
        return
    assert patch.status_code == 200
    assert patch.json()["name"] == "Renamed"
    assert put.status_code == 200
    assert connection.name == "Replaced"
    assert connection.config == {
        "base_url": "http://127.0.0.1/other",
        "store": "s2",
        "page_size": 100,
    }


def test_put_resets_left_out_settings_and_patch_keeps_them(clients, connection):
    client = clients["admin"]
    patched = client.patch(detail(connection), {"config": {"page_size": 7}}, format="json")
    assert patched.json()["config"]["page_size"] == 7
    kept = client.patch(detail(connection), {"config": {"store": "other"}}, format="json")
    assert kept.json()["config"] == {
        "base_url": "http://127.0.0.1/memory",
        "store": "other",
        "page_size": 7,
    }
    replaced = client.put(
        detail(connection),
        {"name": "CRM", "config": {"base_url": "http://127.0.0.1/memory", "store": "other"}},
        format="json",
    )
    assert replaced.json()["config"]["page_size"] == 100
    other_kind = client.patch(detail(connection), {"kind": "hubspot"}, format="json")
    assert assert_error(other_kind, 400, "validation_error")["fields"] == {
        "kind": ["the kind of a connection cannot change; create a new connection"]
    }
    missing = client.put(
        detail(connection), {"name": "CRM", "config": {"store": "other"}}, format="json"
    )
    error = assert_error(missing, 400, "validation_error")
    assert list(error["fields"]) == ["config.base_url"]


@pytest.mark.parametrize(("role", "allowed"), [("viewer", False), ("editor", False),
                                               ("admin", True), ("owner", True)])  # fmt: skip
def test_only_admins_and_owners_delete(clients, connection, role, allowed):
    response = clients[role].delete(detail(connection))
    if not allowed:
        assert_error(response, 403, "permission_denied")
        assert Connection.objects.filter(pk=connection.pk).exists()
        return
    assert response.status_code == 204
    assert not Connection.objects.filter(pk=connection.pk).exists()
    assert_error(clients[role].get(detail(connection)), 404, "not_found")


# --- Validation ---------------------------------------------------------------------------------
def test_a_base_url_refused_by_the_policy_names_base_url_and_says_why(clients, store):
    payload = {
        "name": "Metadata",
        "kind": "memory",
        "config": {"base_url": "http://169.254.169.254/latest", "store": store.name},
    }
    response = clients["admin"].post(URL, payload, format="json")
    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["config.base_url"]
    # The policy's own explanation, once: beside the field and as the message, no path in front.
    assert error["fields"]["config.base_url"] == [error["message"]]
    assert not error["message"].startswith("config")
    assert not Connection.objects.filter(name="Metadata").exists()


def test_the_same_policy_applies_to_updates(clients, connection):
    response = clients["admin"].patch(
        detail(connection), {"config": {"base_url": "ftp://127.0.0.1/"}}, format="json"
    )
    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["config.base_url"]
    connection.refresh_from_db()
    assert connection.config["base_url"] == "http://127.0.0.1/memory"


def test_invalid_config_fields_are_named_one_by_one(clients):
    payload = {
        "name": "Broken",
        "kind": "memory",
        "config": {"base_url": "http://127.0.0.1/m", "page_size": 0, "colour": "red"},
    }
    response = clients["admin"].post(URL, payload, format="json")
    error = assert_error(response, 400, "validation_error")
    assert set(error["fields"]) == {"config.store", "config.page_size", "config.colour"}


def test_unknown_kind_missing_name_and_duplicate_name(clients, connection, store):
    admin = clients["admin"]
    unknown = admin.post(URL, {"name": "X", "kind": "fax", "config": {}}, format="json")
    assert list(assert_error(unknown, 400, "validation_error")["fields"]) == ["kind"]
    nameless = admin.post(URL, {"kind": "memory", "config": memory_values(store)}, format="json")
    assert list(assert_error(nameless, 400, "validation_error")["fields"]) == ["name"]
    duplicate = admin.post(
        URL, {"name": "CRM", "kind": "memory", "config": memory_values(store)}, format="json"
    )
    assert list(assert_error(duplicate, 400, "validation_error")["fields"]) == ["name"]
    not_json = admin.post(URL, "{", content_type="application/json")
    assert_error(not_json, 400, "parse_error")


# --- Isolation ----------------------------------------------------------------------------------
OBJECT_ENDPOINTS = [
    ("get", ""),
    ("put", ""),
    ("patch", ""),
    ("delete", ""),
    ("post", "test/"),
    ("get", "object-types/"),
    ("get", "fields/?object_type=contacts"),
    ("get", "health/"),
]


@pytest.mark.parametrize(("method", "suffix"), OBJECT_ENDPOINTS)
def test_another_workspaces_connection_is_not_found(clients, connection, foreign, method, suffix):
    _, theirs = foreign
    before = Connection.objects.get(pk=theirs.pk)
    for role in ROLES:
        if method == "get":
            response = clients[role].get(detail(theirs, suffix))
        else:
            response = getattr(clients[role], method)(
                detail(theirs, suffix), {"name": "Hijacked"}, format="json"
            )
        assert_error(response, 404, "not_found")
    after = Connection.objects.get(pk=theirs.pk)
    assert (after.name, after.config, after.status) == (before.name, before.config, "unknown")


def test_the_other_workspace_sees_only_its_own(foreign, connection):
    client, theirs = foreign
    assert [c["id"] for c in client.get(URL).json()["results"]] == [str(theirs.public_id)]
    assert_error(client.get(detail(connection)), 404, "not_found")
    assert_error(client.get(f"{URL}not-a-uuid/"), 404, "not_found")


def test_no_credentials_is_401_and_a_session_without_workspace_is_403(connection):
    anonymous = APIClient()
    response = anonymous.get(URL)
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    loner = APIClient()
    loner.force_login(get_user_model().objects.create_user("loner@example.org"))
    assert_error(loner.get(URL), 403, "no_workspace")


def test_session_writes_need_the_csrf_token(workspace, store):
    admin = MembershipFactory(workspace=workspace, role=Role.ADMIN)
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(admin.user)
    payload = {"name": "Via session", "kind": "memory", "config": memory_values(store)}
    refused = client.post(URL, payload, format="json")
    assert_error(refused, 403, "permission_denied")
    assert "CSRF" in refused.json()["error"]["message"]
    assert client.get(URL).status_code == 200  # reads need no token


# --- Secrets, against the HubSpot sandbox -------------------------------------------------------
def hubspot_payload(sandbox, **overrides) -> dict:
    config = HUBSPOT.config(sandbox.url_for("hubspot"))
    return {"name": "HubSpot", "kind": "hubspot", "config": config, **overrides}


def test_secrets_are_write_only_and_kept_when_left_out(clients, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    admin = clients["admin"]
    token = HUBSPOT.config("x")["access_token"]
    bodies: list[bytes] = []

    created = admin.post(
        URL, hubspot_payload(sandbox, webhook_secret=WEBHOOK_SECRET), format="json"
    )
    assert created.status_code == 201
    body = created.json()
    # The sandbox's configuration names its account ID, for links to its records.
    assert body["config"] == {"base_url": sandbox.url_for("hubspot"), "portal_id": "14000001"}
    assert body["secrets_set"] == ["access_token"]
    assert body["webhook_secret"] == WEBHOOK_SECRET  # shown once, at create time
    assert token.encode() not in created.content
    public_id = body["id"]
    url = f"{URL}{public_id}/"

    # Reads never show a secret.
    for response in (admin.get(URL), admin.get(url), admin.get(f"{url}health/")):
        assert response.status_code == 200
        bodies.append(response.content)

    # An update that leaves the secret out keeps it: the check still passes upstream.
    renamed = admin.patch(
        url, {"name": "HubSpot EU", "config": {"access_token": ""}}, format="json"
    )
    assert renamed.status_code == 200
    replaced = admin.put(
        url,
        {"name": "HubSpot", "config": {"base_url": sandbox.url_for("hubspot")}},
        format="json",
    )
    assert replaced.status_code == 200
    bodies += [renamed.content, replaced.content]
    stored = Connection.objects.get(public_id=public_id)
    assert stored.secrets == {"access_token": token}
    assert stored.webhook_secret == WEBHOOK_SECRET
    checked = admin.post(f"{url}test/")
    assert checked.json() == {"ok": True, "message": "The credentials work."}
    fields = admin.get(f"{url}fields/", {"object_type": "contacts"})
    assert fields.status_code == 200
    assert "email" in [f["name"] for f in fields.json()]
    bodies += [checked.content, fields.content]

    # A new secret replaces the old one; a failing check shows the system's answer, not it.
    bad_token = HUBSPOT.bad_config("x")["access_token"]
    changed = admin.patch(url, {"config": {"access_token": bad_token}}, format="json")
    assert changed.status_code == 200
    assert Connection.objects.get(public_id=public_id).secrets == {"access_token": bad_token}
    failed = admin.post(f"{url}test/")
    assert failed.status_code == 200
    assert failed.json()["ok"] is False
    assert "401" in failed.json()["message"]
    health = admin.get(f"{url}health/").json()
    assert health["status"] == "failing"
    assert health["consecutive_failures"] == 1
    assert health["last_error"] == failed.json()["message"]
    bodies += [changed.content, failed.content]

    for content in bodies:
        for secret in (token, bad_token, WEBHOOK_SECRET):
            assert secret.encode() not in content
    assert caplog.records  # the requests were logged at all (the sandbox, the HTTP layer)
    for secret in (token, bad_token, WEBHOOK_SECRET):
        assert secret not in caplog.text


def test_rejected_credentials_are_a_400_with_the_systems_message(clients, sandbox, caplog):
    caplog.set_level(logging.DEBUG)
    bad = HUBSPOT.bad_config(sandbox.url_for("hubspot"))
    created = clients["admin"].post(
        URL, {"name": "Bad", "kind": "hubspot", "config": bad}, format="json"
    )
    url = f"{URL}{created.json()['id']}/"
    response = clients["viewer"].get(f"{url}fields/", {"object_type": "contacts"})
    error = assert_error(response, 400, "connector_authentication_failed")
    assert "401" in error["message"]
    assert "HubSpot" in error["message"] or "hubspot" in error["message"]
    assert bad["access_token"] not in response.content.decode()
    assert bad["access_token"] not in caplog.text


def test_upstream_rate_limiting_is_a_503_with_retry_after(clients, sandbox):
    created = clients["admin"].post(URL, hubspot_payload(sandbox), format="json")
    url = f"{URL}{created.json()['id']}/"
    # More than the HTTP layer's whole retry budget: it gives up at once and says so.
    sandbox.admin.queue_fault("hubspot", status=429, retry_after=3600)
    response = clients["viewer"].get(f"{url}fields/", {"object_type": "contacts"})
    error = assert_error(response, 503, "upstream_rate_limited")
    assert response["Retry-After"] == "3600"
    assert "429" in error["message"]


def test_an_upstream_outage_is_a_502(clients, sandbox):
    created = clients["admin"].post(URL, hubspot_payload(sandbox), format="json")
    url = f"{URL}{created.json()['id']}/"
    # Every attempt the HTTP layer makes (five) fails.
    sandbox.admin.queue_fault("hubspot", status=503, count=5)
    response = clients["viewer"].get(f"{url}fields/", {"object_type": "contacts"})
    error = assert_error(response, 502, "upstream_unavailable")
    assert "503" in error["message"]


# --- Connector kinds ----------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
def test_connector_kinds_describe_their_config_with_secrets_write_only(clients, role):
    response = clients[role].get("/api/v1/connector-kinds/")
    assert response.status_code == 200
    kinds = {k["kind"]: k for k in response.json()}
    assert set(kinds) == set(registry.kinds())
    hubspot = kinds["hubspot"]
    assert hubspot["label"] == "HubSpot"
    assert hubspot["secret_fields"] == ["access_token"]
    token = hubspot["config_schema"]["properties"]["access_token"]
    assert token["writeOnly"] is True
    assert "writeOnly" not in hubspot["config_schema"]["properties"]["base_url"]
    one = clients[role].get("/api/v1/connector-kinds/hubspot/")
    assert one.json() == hubspot
    assert_error(clients[role].get("/api/v1/connector-kinds/fax/"), 404, "not_found")


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"subdomain": "acme"}, "config"),  # no credentials: the document as a whole
        ({"subdomain": "acme", "email": "a@x.com", "api_token": "t", "oauth_token": "o"}, "config"),
        ({"subdomain": "acme.zendesk.com", "oauth_token": "o"}, "config"),
        ({"subdomain": "acme"} | {"api_token": "t"}, "config"),
    ],
)
def test_config_problems_read_as_a_person_would_write_them(clients, config, field):
    response = clients["admin"].post(
        URL, {"name": "Desk", "kind": "zendesk", "config": config}, format="json"
    )
    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == [field]
    (message,) = error["fields"][field]
    assert error["message"] == message
    # No path in front (the field says where), no doubled path, no library prefix.
    assert not message.startswith(("config.", "config:", "Value error"))
    assert "Value error" not in message
    assert not Connection.objects.filter(name="Desk").exists()
