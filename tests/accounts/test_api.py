"""The workspace API: members and roles, API tokens, for every role and across workspaces."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from apps.accounts import services
from apps.accounts.models import ApiToken, Membership, Role
from tests.factories import MembershipFactory, UserFactory, WorkspaceFactory

pytestmark = pytest.mark.django_db

ROLES = ["viewer", "editor", "admin", "owner"]
MEMBERS = "/api/v1/members/"
TOKENS = "/api/v1/tokens/"


@pytest.fixture(autouse=True)
def _fast_and_roomy(settings):
    """Many users per test: a fast hasher; throttle rates out of the way (tested in core)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": "100000/minute", "anon": "100000/minute"},
    }


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def client_for(membership: Membership) -> APIClient:
    _, raw = services.api_token_create(
        workspace=membership.workspace, user=membership.user, name="tests"
    )
    return bearer(raw)


@pytest.fixture
def workspace():
    return WorkspaceFactory()


@pytest.fixture
def members(workspace) -> dict[str, Membership]:
    return {
        role: MembershipFactory(workspace=workspace, role=role, user__username=f"{role}@ws.org")
        for role in ROLES
    }


@pytest.fixture
def clients(members) -> dict[str, APIClient]:
    return {role: client_for(m) for role, m in members.items()}


@pytest.fixture
def outsider() -> Membership:
    return MembershipFactory(role=Role.OWNER, user__username="outsider@other.org")


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


# --- Members ------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
def test_every_role_lists_and_reads_members(clients, members, outsider, role):
    listed = clients[role].get(MEMBERS)
    assert listed.status_code == 200
    assert [(m["email"], m["role"]) for m in listed.json()["results"]] == [
        ("admin@ws.org", "admin"),
        ("editor@ws.org", "editor"),
        ("owner@ws.org", "owner"),
        ("viewer@ws.org", "viewer"),
    ]
    one = clients[role].get(f"{MEMBERS}{members['editor'].pk}/")
    assert one.status_code == 200
    assert one.json() == {
        "id": members["editor"].pk,
        "email": "editor@ws.org",
        "role": "editor",
        "created_at": one.json()["created_at"],
        "updated_at": one.json()["updated_at"],
    }
    assert clients[role].get(MEMBERS, {"role": "owner"}).json()["count"] == 1


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("editor", 403),
                                              ("admin", 201), ("owner", 201)])  # fmt: skip
def test_admins_and_owners_add_members(clients, workspace, role, status):
    newcomer = UserFactory(username="new@ws.org")
    response = clients[role].post(MEMBERS, {"email": "New@WS.org", "role": "editor"})
    if status == 403:
        assert_error(response, 403, "permission_denied")
        assert not Membership.objects.filter(user=newcomer).exists()
        return
    assert response.status_code == 201
    assert response.json()["email"] == "new@ws.org"
    assert Membership.objects.get(user=newcomer, workspace=workspace).role == "editor"


def test_only_owners_make_owners(clients, workspace):
    UserFactory(username="boss@ws.org")
    refused = clients["admin"].post(MEMBERS, {"email": "boss@ws.org", "role": "owner"})
    assert_error(refused, 403, "owner_required")
    assert not Membership.objects.filter(user__username="boss@ws.org").exists()
    made = clients["owner"].post(MEMBERS, {"email": "boss@ws.org", "role": "owner"})
    assert made.status_code == 201
    assert made.json()["role"] == "owner"


def test_adding_names_the_email_field_when_it_cannot(clients, members):
    unknown = clients["admin"].post(MEMBERS, {"email": "nobody@ws.org", "role": "viewer"})
    assert assert_error(unknown, 400, "validation_error")["fields"] == {
        "email": ["no account uses this email; they need to sign up first"]
    }
    again = clients["admin"].post(MEMBERS, {"email": "viewer@ws.org", "role": "editor"})
    assert list(assert_error(again, 400, "validation_error")["fields"]) == ["email"]
    assert members["viewer"].__class__.objects.get(pk=members["viewer"].pk).role == "viewer"
    bad_role = clients["admin"].post(MEMBERS, {"email": "viewer@ws.org", "role": "king"})
    assert list(assert_error(bad_role, 400, "validation_error")["fields"]) == ["role"]


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("editor", 403),
                                              ("admin", 200), ("owner", 200)])  # fmt: skip
def test_admins_and_owners_change_roles(clients, members, role, status):
    url = f"{MEMBERS}{members['editor'].pk}/"
    patched = clients[role].patch(url, {"role": "viewer"})
    put = clients[role].put(url, {"role": "admin"})
    if status == 403:
        assert_error(patched, 403, "permission_denied")
        assert_error(put, 403, "permission_denied")
        assert Membership.objects.get(pk=members["editor"].pk).role == "editor"
        return
    assert patched.json()["role"] == "viewer"
    assert put.json()["role"] == "admin"
    assert Membership.objects.get(pk=members["editor"].pk).role == "admin"


def test_admins_cannot_touch_owners_and_the_last_owner_stays(clients, members, workspace):
    owner_url = f"{MEMBERS}{members['owner'].pk}/"
    assert_error(clients["admin"].patch(owner_url, {"role": "viewer"}), 403, "owner_required")
    assert_error(clients["admin"].delete(owner_url), 403, "owner_required")
    assert_error(
        clients["admin"].patch(f"{MEMBERS}{members['admin'].pk}/", {"role": "owner"}),
        403,
        "owner_required",
    )

    last = clients["owner"].patch(owner_url, {"role": "admin"})
    assert_error(last, 409, "membership_refused")
    assert_error(clients["owner"].delete(owner_url), 409, "membership_refused")
    assert Membership.objects.get(pk=members["owner"].pk).role == "owner"

    # With a second owner, the first may step down.
    clients["owner"].patch(f"{MEMBERS}{members['admin'].pk}/", {"role": "owner"})
    assert clients["owner"].patch(owner_url, {"role": "admin"}).json()["role"] == "admin"


@pytest.mark.parametrize(("role", "status"), [("viewer", 403), ("editor", 403),
                                              ("admin", 204), ("owner", 204)])  # fmt: skip
def test_admins_and_owners_remove_members(clients, members, role, status):
    response = clients[role].delete(f"{MEMBERS}{members['viewer'].pk}/")
    if status == 403:
        assert_error(response, 403, "permission_denied")
        assert Membership.objects.filter(pk=members["viewer"].pk).exists()
        return
    assert response.status_code == 204
    assert not Membership.objects.filter(pk=members["viewer"].pk).exists()


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_another_workspaces_member_is_not_found(clients, outsider, method):
    for role in ROLES:
        call = getattr(clients[role], method)
        response = call(f"{MEMBERS}{outsider.pk}/", {"role": "viewer"})
        assert_error(response, 404, "not_found")
    assert Membership.objects.get(pk=outsider.pk).role == "owner"


def test_an_outsider_email_joins_only_when_added(clients, outsider):
    assert "outsider@other.org" not in [
        m["email"] for m in clients["owner"].get(MEMBERS).json()["results"]
    ]
    outsider_client = client_for(outsider)
    assert outsider_client.get(MEMBERS).json()["count"] == 1


# --- Tokens -------------------------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
def test_every_member_creates_a_token_shown_once(members, clients, role, caplog):
    caplog.set_level(logging.DEBUG)
    created = clients[role].post(TOKENS, {"name": "ci"})
    assert created.status_code == 201
    body = created.json()
    raw = body["token"]
    assert raw.startswith("cnc_")
    assert body["prefix"] == raw[:12]
    assert body["user"] == f"{role}@ws.org"
    assert body["name"] == "ci"
    assert body["revoked_at"] is None

    # The token works, and carries its holder's role.
    assert bearer(raw).get("/api/v1/me/").json()["role"] == role

    listed = clients[role].get(TOKENS)
    read = clients[role].get(f"{TOKENS}{body['id']}/")
    assert read.json() == {k: v for k, v in body.items() if k != "token"} | {
        "last_used_at": read.json()["last_used_at"]
    }
    token = ApiToken.objects.get(pk=body["id"])
    for response in (listed, read):
        assert response.status_code == 200
        assert raw.encode() not in response.content
        assert token.digest.encode() not in response.content
    assert raw not in caplog.text


def test_members_see_their_own_tokens_and_admins_see_all(members, clients):
    viewer_tokens = clients["viewer"].get(TOKENS).json()
    assert {t["user"] for t in viewer_tokens["results"]} == {"viewer@ws.org"}
    admin_tokens = clients["admin"].get(TOKENS).json()
    assert {t["user"] for t in admin_tokens["results"]} == {f"{r}@ws.org" for r in ROLES}
    others = ApiToken.objects.get(user=members["editor"].user)
    assert_error(clients["viewer"].get(f"{TOKENS}{others.pk}/"), 404, "not_found")


@pytest.mark.parametrize("role", ROLES)
def test_every_member_revokes_their_own_token(members, role):
    token, raw = services.api_token_create(
        workspace=members[role].workspace, user=members[role].user, name="old"
    )
    client = client_for(members[role])
    assert client.delete(f"{TOKENS}{token.pk}/").status_code == 204
    assert ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert_error(bearer(raw).get("/api/v1/me/"), 401, "authentication_failed")
    listed = client.get(TOKENS).json()["results"]
    assert [t["revoked_at"] is not None for t in listed if t["id"] == token.pk] == [True]


@pytest.mark.parametrize(("role", "status"), [("viewer", 404), ("editor", 404),
                                              ("admin", 204), ("owner", 204)])  # fmt: skip
def test_only_admins_revoke_other_members_tokens(workspace, clients, role, status):
    holder = MembershipFactory(workspace=workspace, role=Role.EDITOR)
    token, raw = services.api_token_create(workspace=workspace, user=holder.user, name="theirs")
    response = clients[role].delete(f"{TOKENS}{token.pk}/")
    assert response.status_code == status
    revoked = ApiToken.objects.get(pk=token.pk).revoked_at is not None
    assert revoked is (status == 204)
    assert bearer(raw).get("/api/v1/me/").status_code == (401 if revoked else 200)


@pytest.mark.parametrize("method", ["get", "delete"])
def test_another_workspaces_token_is_not_found(clients, outsider, method):
    token, raw = services.api_token_create(
        workspace=outsider.workspace, user=outsider.user, name="foreign"
    )
    for role in ROLES:
        assert_error(getattr(clients[role], method)(f"{TOKENS}{token.pk}/"), 404, "not_found")
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert bearer(raw).get("/api/v1/me/").status_code == 200


def test_a_token_needs_a_name(clients):
    response = clients["viewer"].post(TOKENS, {})
    assert assert_error(response, 400, "validation_error")["fields"] == {
        "name": ["This field is required."]
    }


# --- Me, sessions, anonymous --------------------------------------------------------------------
@pytest.mark.parametrize("role", ROLES)
def test_me_reports_the_callers_workspace_and_role(members, clients, role):
    assert clients[role].get("/api/v1/me/").json() == {
        "username": f"{role}@ws.org",
        "workspace": members[role].workspace.slug,
        "role": role,
    }


def test_anonymous_callers_get_401_everywhere(members):
    anonymous = APIClient()
    for url in (MEMBERS, f"{MEMBERS}{members['owner'].pk}/", TOKENS, "/api/v1/me/"):
        assert_error(anonymous.get(url), 401, "not_authenticated")
    assert_error(anonymous.post(TOKENS, {"name": "x"}), 401, "not_authenticated")


def test_a_session_user_manages_members_with_csrf(members, workspace):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(members["admin"].user)
    UserFactory(username="session@ws.org")
    assert client.get(MEMBERS).status_code == 200
    refused = client.post(MEMBERS, {"email": "session@ws.org", "role": "viewer"})
    assert_error(refused, 403, "permission_denied")
    assert not get_user_model().objects.get(username="session@ws.org").memberships.exists()
