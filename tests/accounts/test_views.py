from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from apps.accounts import services
from apps.accounts.models import ApiToken, Membership, Role
from apps.core.errors import Refused
from tests.factories import PASSWORD, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_signup_creates_user_workspace_and_owner_membership(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "Ada@Example.com", "password": PASSWORD, "workspace_name": "Acme Ops"},
    )
    assert response.status_code == 302
    user = get_user_model().objects.get(username="ada@example.com")
    membership = Membership.objects.get(user=user)
    assert (membership.workspace.name, membership.workspace.slug, membership.role) == (
        "Acme Ops",
        "acme-ops",
        Role.OWNER,
    )
    assert client.get("/").status_code == 200


def test_signup_refuses_a_weak_password_and_a_taken_email(client):
    UserFactory(username="taken@example.com")
    weak = client.post(
        "/accounts/signup/", {"email": "new@example.com", "password": "123", "workspace_name": "W"}
    )
    assert weak.status_code == 200
    assert "too short" in weak.content.decode()
    taken = client.post(
        "/accounts/signup/",
        {"email": "taken@example.com", "password": PASSWORD, "workspace_name": "W"},
    )
    assert "already exists" in taken.content.decode()


def test_pages_need_a_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_login_page_renders(client):
    response = client.get("/accounts/login/")
    assert response.status_code == 200
    assert "Log in to Concord" in response.content.decode()


def test_token_is_shown_once_and_stored_as_digest(client):
    member = MembershipFactory(role=Role.VIEWER)
    client.login(username=member.user.username, password=PASSWORD)
    response = client.post(
        "/accounts/workspace/", {"action": "token-create", "token-name": "deploy script"}
    )
    page = response.content.decode()
    token = ApiToken.objects.get(user=member.user)
    assert token.name == "deploy script"
    raw = page.split('<code id="new-token">')[1].split("</code>")[0]
    assert raw.startswith("cnc_")
    assert raw[:12] == token.prefix
    assert raw not in token.digest
    assert raw not in client.get("/accounts/workspace/").content.decode()


def test_viewer_cannot_manage_members(client):
    viewer = MembershipFactory(role=Role.VIEWER)
    other = UserFactory()
    client.login(username=viewer.user.username, password=PASSWORD)
    response = client.post(
        "/accounts/workspace/",
        {"action": "member-set", "member-email": other.username, "member-role": "admin"},
    )
    assert response.status_code == 403
    assert not Membership.objects.filter(user=other).exists()


def test_admin_adds_a_member_but_cannot_make_owners(client):
    admin = MembershipFactory(role=Role.ADMIN)
    other = UserFactory()
    client.login(username=admin.user.username, password=PASSWORD)
    client.post(
        "/accounts/workspace/",
        {"action": "member-set", "member-email": other.username, "member-role": "editor"},
    )
    assert Membership.objects.get(user=other, workspace=admin.workspace).role == Role.EDITOR
    client.post(
        "/accounts/workspace/",
        {"action": "member-set", "member-email": other.username, "member-role": "owner"},
    )
    assert Membership.objects.get(user=other, workspace=admin.workspace).role == Role.EDITOR


def test_the_last_owner_cannot_be_removed_or_demoted():
    owner = MembershipFactory(role=Role.OWNER)
    with pytest.raises(Refused) as refused:
        services.membership_remove(membership=owner, actor=None)
    assert refused.value.code == "membership_refused"
    with pytest.raises(Refused) as refused:
        services.membership_set(
            workspace=owner.workspace, user=owner.user, role=Role.ADMIN, actor=None
        )
    assert refused.value.code == "membership_refused"
    second = MembershipFactory(workspace=owner.workspace, role=Role.OWNER)
    services.membership_set(workspace=owner.workspace, user=owner.user, role=Role.ADMIN, actor=None)
    assert Membership.objects.get(pk=owner.pk).role == Role.ADMIN
    assert second.role == Role.OWNER


@pytest.fixture
def owner_and_admin(client):
    """A workspace with two owners (so the last-owner rule is not what refuses) and an admin
    who is logged in."""
    owner = MembershipFactory(role=Role.OWNER)
    MembershipFactory(workspace=owner.workspace, role=Role.OWNER)
    admin = MembershipFactory(workspace=owner.workspace, role=Role.ADMIN)
    client.login(username=admin.user.username, password=PASSWORD)
    return owner, admin


@pytest.mark.parametrize("role", ["admin", "editor", "viewer"])
def test_an_admin_cannot_demote_an_owner_on_the_workspace_page(client, owner_and_admin, role):
    owner, _ = owner_and_admin
    response = client.post(
        "/accounts/workspace/",
        {"action": "member-set", "member-email": owner.user.username, "member-role": role},
        follow=True,
    )
    assert response.status_code == 200
    assert "only owners can make, change or remove owners" in response.content.decode()
    assert Membership.objects.get(pk=owner.pk).role == Role.OWNER


def test_an_admin_cannot_remove_an_owner_on_the_workspace_page(client, owner_and_admin):
    owner, _ = owner_and_admin
    response = client.post(
        "/accounts/workspace/",
        {"action": "member-remove", "membership": owner.pk},
        follow=True,
    )
    assert response.status_code == 200
    assert "only owners can make, change or remove owners" in response.content.decode()
    assert Membership.objects.filter(pk=owner.pk, role=Role.OWNER).exists()


def test_an_owner_manages_owners_on_the_workspace_page(client):
    owner = MembershipFactory(role=Role.OWNER)
    other = MembershipFactory(workspace=owner.workspace, role=Role.OWNER)
    client.login(username=owner.user.username, password=PASSWORD)
    client.post(
        "/accounts/workspace/",
        {"action": "member-set", "member-email": other.user.username, "member-role": "admin"},
    )
    assert Membership.objects.get(pk=other.pk).role == Role.ADMIN
    client.post("/accounts/workspace/", {"action": "member-remove", "membership": other.pk})
    assert not Membership.objects.filter(pk=other.pk).exists()
    # The last owner stays, and the page says why.
    last = client.post(
        "/accounts/workspace/",
        {"action": "member-remove", "membership": owner.pk},
        follow=True,
    )
    assert "a workspace keeps at least one owner" in last.content.decode()
    assert Membership.objects.filter(pk=owner.pk, role=Role.OWNER).exists()
