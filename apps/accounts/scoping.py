"""The one mechanism that scopes product queries to the request's workspace.

The middleware resolves `request.workspace` and `request.membership` for session users; the
API token authentication sets them for scripts. Views ask for objects only through
`scoped()` / `get_scoped_or_404()` (HTML) or `WorkspaceScopedMixin` (API), so an object of
another workspace is simply not found (404), never forbidden-but-visible.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from apps.accounts.models import Permission

M = TypeVar("M", bound=Model)


def _workspace(request: HttpRequest) -> Any:
    workspace = getattr(request, "workspace", None)
    if workspace is None:
        raise Http404("no workspace")
    return workspace


def scoped(request: HttpRequest, model: type[M] | QuerySet[M]) -> QuerySet[M]:
    """The objects of `model` in the request's workspace."""
    qs = model if isinstance(model, QuerySet) else model.objects.all()
    return qs.for_workspace(_workspace(request))


def get_scoped_or_404(request: HttpRequest, model: type[M] | QuerySet[M], **lookup: Any) -> M:
    return get_object_or_404(scoped(request, model), **lookup)


def has_permission(request: HttpRequest, permission: Permission) -> bool:
    membership = getattr(request, "membership", None)
    return membership is not None and membership.allows(permission)


def workspace_required(
    permission: Permission = Permission.VIEW,
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Decorator for HTML views: logged in, a member of a workspace, with this permission."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @login_required
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if getattr(request, "membership", None) is None:
                raise Http404("you are not a member of any workspace")
            if not request.membership.allows(permission):
                raise PermissionDenied(f"your role cannot {permission.name.lower()} here")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
