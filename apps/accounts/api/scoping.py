"""The base of every workspace-owned API view: scoping to the request's workspace, role
permissions per action, and the token scheme in the schema.

Every API viewset over workspace-owned objects derives from `WorkspaceScopedViewSet`, so an
endpoint added later inherits scoping and role checks without remembering them
(tests/core/test_api_scoping.py walks every route to keep it so).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import exceptions, filters, permissions, serializers, viewsets
from rest_framework.request import Request

from apps.accounts.models import Permission
from apps.core.api_filters import ExactFilterBackend
from apps.core.models import WorkspaceQuerySet


class WorkspaceTokenScheme(OpenApiAuthenticationExtension):
    """Documents `Authorization: Bearer cnc_…` (WorkspaceTokenAuthentication)."""

    target_class = "apps.accounts.authentication.WorkspaceTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema: AutoSchema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API token (cnc_…) from POST /api/v1/tokens/ or the workspace page.",
        }


# --- Roles ------------------------------------------------------------------------------------
class RolePermission(permissions.BasePermission):
    """The caller must be a member of the request's workspace with the permission the view
    declares for the action in `action_permissions` (see `Permission`: viewers read, editors
    change syncs and resolve conflicts, admins manage connections, members and tokens,
    owners everything).

    An action missing from `action_permissions` is refused (fail closed) and reported as a
    configuration error, so a new action cannot slip through unguarded. OPTIONS needs VIEW.
    On a detail route, an object outside the caller's workspace is a 404 before the role
    is considered, so no role learns more than "not found".
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        membership = getattr(request, "membership", None)
        if membership is None:
            raise exceptions.PermissionDenied(
                "you are not a member of any workspace", code="no_workspace"
            )
        action_map = getattr(view, "action_map", None)
        method = (request.method or "").lower()
        if action_map is not None and method not in action_map and method != "options":
            # A method this route does not offer (POST on a read-only detail route) is a
            # 405, as the handler would answer, not an undeclared action.
            raise exceptions.MethodNotAllowed(request.method)
        needed = required_permission(view)
        if not membership.allows(needed):
            lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
            if lookup and lookup in getattr(view, "kwargs", {}) and hasattr(view, "get_object"):
                # An object outside the workspace (or none at all) is a 404 for every role;
                # only for an object the caller can see does the role decide.
                view.get_object()
            raise exceptions.PermissionDenied(
                f"your role ({membership.role}) cannot do this; it needs "
                f"{_ROLE_FOR[needed]} or higher",
                code="permission_denied",
            )
        return True


_ROLE_FOR = {
    Permission.VIEW: "viewer",
    Permission.EDIT: "editor",
    Permission.ADMIN: "admin",
    Permission.OWN: "owner",
}


def required_permission(view: Any) -> Permission:
    """The Permission `view` declares for its current action (or HTTP method)."""
    declared: Mapping[str, Permission] = getattr(view, "action_permissions", {})
    action = getattr(view, "action", None) or (view.request.method or "").lower()
    if action == "metadata" or (view.request.method == "OPTIONS" and action not in declared):
        return Permission.VIEW
    try:
        return declared[action]
    except KeyError:
        raise ImproperlyConfigured(
            f"{type(view).__name__} declares no permission for action {action!r}"
        ) from None


# --- The workspace-scoped viewset base --------------------------------------------------------
class WorkspaceScopedViewSet(viewsets.GenericViewSet):
    """Base of every API viewset over workspace-owned objects.

    Guarantees:
    - `get_queryset()` is always `model.objects.for_workspace(request.workspace)` (models
      without that manager get the same filter through WorkspaceQuerySet), narrowed further
      only by `refine_queryset()`; an object of another workspace is a 404, never a 403.
      Subclasses must not override `get_queryset` (tests/core/test_api_scoping.py checks).
    - Objects are looked up by `public_id` (a UUID) unless the model has none.
    - `perform_create` passes the workspace to `serializer.save()`.
    - Every action needs the Permission given in `action_permissions`.
    """

    model: ClassVar[type[Model]]
    action_permissions: ClassVar[Mapping[str, Permission]] = {}
    filter_fields: ClassVar[Mapping[str, str]] = {}
    lookup_field = "public_id"
    permission_classes = [permissions.IsAuthenticated, RolePermission]
    filter_backends = [ExactFilterBackend, filters.OrderingFilter]
    ordering_fields: ClassVar[list[str]] = ["created_at"]

    def get_queryset(self) -> QuerySet:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading field types
            return self.model._default_manager.none()
        workspace = getattr(self.request, "workspace", None)
        if workspace is None:
            raise exceptions.NotFound()
        queryset = self.model._default_manager.all()
        if not isinstance(queryset, WorkspaceQuerySet):
            queryset = WorkspaceQuerySet(model=self.model, using=queryset.db)
        return self.refine_queryset(queryset.for_workspace(workspace))

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        """Narrow or annotate the already-scoped queryset (select_related, per-user rows)."""
        return queryset

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        serializer.save(workspace=self.request.workspace)
