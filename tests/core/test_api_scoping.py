"""Every route under /api/v1/ is workspace-scoped by the one mechanism, or is explicitly
listed here as workspace-agnostic with the reason, so a future endpoint cannot forget scoping.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.generics import GenericAPIView
from rest_framework.permissions import IsAuthenticated
from rest_framework.test import APIRequestFactory

from apps.accounts.api.scoping import RolePermission, WorkspaceScopedViewSet
from tests.factories import MembershipFactory

# URL name -> why the view needs no workspace scoping. Adding to this list is a review item.
WORKSPACE_AGNOSTIC = {
    "api:me": "reports the caller and the workspace the request resolved to; reads no objects",
    "api:connector-kind-list": "the installed connector kinds, the same for everyone",
    "api:connector-kind-detail": "one installed connector kind, the same for everyone",
    "api:not-found": "answers 404 for unknown paths; reads nothing",
}


def api_routes() -> Iterator[tuple[str, URLPattern]]:
    def walk(patterns, prefix: str, namespace: str) -> Iterator[tuple[str, str, URLPattern]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                ns = pattern.namespace or namespace
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
            else:
                yield prefix + str(pattern.pattern), namespace, pattern

    for route, namespace, pattern in walk(get_resolver().url_patterns, "", ""):
        if route.startswith("api/v1/"):
            yield f"{namespace}:{pattern.name}", pattern


ROUTES = sorted(api_routes(), key=lambda item: item[0])


def test_the_walk_sees_the_api():
    names = {name for name, _ in ROUTES}
    assert {"api:connection-list", "api:connection-detail", "api:member-list"} <= names
    assert "api:token-detail" in names


@pytest.mark.parametrize(("name", "pattern"), ROUTES, ids=[name for name, _ in ROUTES])
def test_every_api_route_is_workspace_scoped_or_listed(name, pattern):
    view = pattern.callback
    cls = getattr(view, "cls", None)
    assert cls is not None, f"{name} is not a DRF view"
    if name in WORKSPACE_AGNOSTIC:
        assert not issubclass(cls, WorkspaceScopedViewSet), f"{name} is scoped; unlist it"
        return
    assert issubclass(cls, WorkspaceScopedViewSet), (
        f"{name} ({cls.__name__}) must derive from WorkspaceScopedViewSet, or be listed in "
        "WORKSPACE_AGNOSTIC with the reason it reads nothing workspace-owned"
    )
    # Scoping cannot be bypassed by overriding the lookup machinery.
    assert cls.get_queryset is WorkspaceScopedViewSet.get_queryset, f"{name} overrides it"
    assert cls.get_object is GenericAPIView.get_object, f"{name} overrides get_object"
    assert IsAuthenticated in cls.permission_classes
    assert RolePermission in cls.permission_classes
    assert "workspace" in {f.name for f in cls.model._meta.get_fields()}
    # Every routed action declares the permission it needs.
    actions = set(getattr(view, "actions", {}).values())
    missing = actions - set(cls.action_permissions)
    assert not missing, f"{name}: no permission declared for {sorted(missing)}"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "pattern"),
    [(n, p) for n, p in ROUTES if n not in WORKSPACE_AGNOSTIC],
    ids=[n for n, _ in ROUTES if n not in WORKSPACE_AGNOSTIC],
)
def test_every_scoped_queryset_filters_on_the_request_workspace(name, pattern):
    membership = MembershipFactory()
    request = APIRequestFactory().get("/")
    request.user = membership.user
    request.workspace = membership.workspace
    request.membership = membership
    cls = pattern.callback.cls
    view = cls(request=request, kwargs={}, format_kwarg=None, action="list")
    queryset = view.get_queryset()
    conditions = [
        (child.lhs.target.attname, child.rhs)
        for child in queryset.query.where.children
        if hasattr(child, "lhs") and hasattr(child.lhs, "target")
    ]
    assert ("workspace_id", membership.workspace.pk) in conditions, conditions


def test_a_viewset_with_an_undeclared_action_is_refused():
    """Fail closed: an action without a declared permission is an error, not allowed."""
    from django.core.exceptions import ImproperlyConfigured

    from apps.accounts.api.scoping import required_permission

    class Undeclared(WorkspaceScopedViewSet):
        action_permissions = {"list": 1}

    view = Undeclared(action="destroy", request=APIRequestFactory().delete("/"))
    with pytest.raises(ImproperlyConfigured, match="no permission for action 'destroy'"):
        required_permission(view)
