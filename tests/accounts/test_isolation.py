"""A member of one workspace can neither see nor change another workspace's objects."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from apps.accounts import services
from apps.accounts.models import ApiToken, Role
from apps.accounts.scoping import get_scoped_or_404, scoped
from apps.connections.models import Connection
from tests.factories import PASSWORD, MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_workspaces():
    alice = MembershipFactory(role=Role.OWNER)
    bob = MembershipFactory(role=Role.OWNER)
    conn_a = Connection.objects.create(workspace=alice.workspace, name="A", kind="hubspot")
    conn_b = Connection.objects.create(workspace=bob.workspace, name="B", kind="hubspot")
    return alice, bob, conn_a, conn_b


def request_as(membership):
    request = RequestFactory().get("/")
    request.user = membership.user
    request.workspace = membership.workspace
    request.membership = membership
    return request


def test_scoped_queries_see_only_the_own_workspace(two_workspaces):
    alice, bob, conn_a, conn_b = two_workspaces
    assert list(scoped(request_as(alice), Connection)) == [conn_a]
    assert list(scoped(request_as(bob), Connection)) == [conn_b]


def test_another_workspaces_object_is_not_found(two_workspaces):
    from django.http import Http404

    alice, _, _, conn_b = two_workspaces
    with pytest.raises(Http404):
        get_scoped_or_404(request_as(alice), Connection, pk=conn_b.pk)


def test_a_request_without_workspace_finds_nothing():
    from django.http import Http404

    request = RequestFactory().get("/")
    request.workspace = None
    with pytest.raises(Http404):
        scoped(request, Connection)


def test_session_cannot_select_a_workspace_the_user_is_not_in(client, two_workspaces):
    alice, bob, _, _ = two_workspaces
    client.login(username=alice.user.username, password=PASSWORD)
    response = client.post("/accounts/workspace/switch/", {"workspace": bob.workspace_id})
    assert response.status_code == 404
    assert client.get("/api/v1/me/").json()["workspace"] == alice.workspace.slug


def test_a_token_is_bound_to_its_workspace(client, two_workspaces):
    alice, bob, _, _ = two_workspaces
    MembershipFactory(user=alice.user, workspace=bob.workspace, role=Role.VIEWER)
    _, raw = services.api_token_create(workspace=bob.workspace, user=alice.user, name="ci")
    response = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200
    assert response.json() == {
        "username": alice.user.username,
        "workspace": bob.workspace.slug,
        "role": "viewer",
    }


def test_a_revoked_or_unknown_token_is_refused(client, two_workspaces):
    alice, _, _, _ = two_workspaces
    token, raw = services.api_token_create(workspace=alice.workspace, user=alice.user, name="x")
    services.api_token_revoke(token=token)
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    bogus = "cnc_" + "x" * 43
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {bogus}").status_code == 401


def test_a_token_stops_working_when_its_user_leaves(client, two_workspaces):
    alice, _, _, _ = two_workspaces
    editor = MembershipFactory(workspace=alice.workspace, role=Role.EDITOR)
    _, raw = services.api_token_create(workspace=alice.workspace, user=editor.user, name="x")
    services.membership_remove(membership=editor, actor=None)
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_another_users_token_cannot_be_revoked(client, two_workspaces):
    alice, bob, _, _ = two_workspaces
    token, _ = services.api_token_create(workspace=bob.workspace, user=bob.user, name="x")
    client.login(username=alice.user.username, password=PASSWORD)
    response = client.post("/accounts/workspace/", {"action": "token-revoke", "token": token.pk})
    assert response.status_code == 404
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None


def test_every_workspace_scoped_model_has_the_scoped_queryset():
    from django.apps import apps

    from apps.core.models import WorkspaceQuerySet, WorkspaceScopedModel

    scoped_models = [m for m in apps.get_models() if issubclass(m, WorkspaceScopedModel)]
    assert Connection in scoped_models
    for model in scoped_models:
        assert isinstance(model.objects.all(), WorkspaceQuerySet), model
