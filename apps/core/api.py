"""Shared API plumbing: one error shape, domain errors, pagination, throttles, filtering,
role permissions, the workspace-scoped viewset base and the schema class.

Every API view gets these through REST_FRAMEWORK in settings or by deriving from
`WorkspaceScopedViewSet`, so an endpoint added later inherits scoping, the error shape and
throttling without remembering them.

The error shape, for every 4xx/5xx answer of /api/::

    {"error": {"code": "validation_error", "message": "config.base_url: ...",
               "fields": {"config.base_url": ["..."]}}}

`code` is stable (clients branch on it), `message` is for people, `fields` maps a dotted
input path to its problems (empty unless the input was invalid).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import (
    exceptions,
    filters,
    permissions,
    serializers,
    viewsets,
)
from rest_framework import views as drf_views
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from apps.accounts.models import Permission
from apps.core.api_defaults import (  # noqa: F401 - re-exported: the API plumbing in one place
    AnonThrottle,
    CreatedCursorPagination,
    PageNumberPagination,
    UserThrottle,
)
from apps.core.models import WorkspaceQuerySet
from connectors.errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectorError,
    FatalError,
    NotFound,
    RateLimited,
    RecordError,
    TransientError,
)
from connectors.errors import PermissionDenied as ConnectorPermissionDenied

logger = logging.getLogger(__name__)


# --- Domain errors ----------------------------------------------------------------------------
class DomainError(Exception):
    """A request that is well-formed but breaks a business rule.

    Services raise subclasses (or this class with a `code`); the API answers them in the
    error shape with `status_code`, so views never translate. `code` is part of the API
    contract: choose it once (snake_case) and never change it. Examples a later service may
    define: `sync_already_running`, `conflict_already_resolved`.
    """

    code: ClassVar[str] = "domain_error"
    status_code: ClassVar[int] = 409

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        fields: Mapping[str, str | list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc] - an instance may narrow the class default
        if status_code is not None:
            self.status_code = status_code  # type: ignore[misc]
        self.fields = {k: [v] if isinstance(v, str) else list(v) for k, v in (fields or {}).items()}


# --- The exception handler --------------------------------------------------------------------
def error_body(code: str, message: str, fields: Mapping[str, list[str]] | None = None) -> dict:
    """The one error shape (see the module docstring)."""
    return {"error": {"code": code, "message": message, "fields": dict(fields or {})}}


def _flatten(detail: Any, prefix: str = "") -> Iterator[tuple[str, list[str]]]:
    """(dotted path, messages) pairs from a DRF ValidationError detail, nested or not."""
    if isinstance(detail, Mapping):
        for key, value in detail.items():
            yield from _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(detail, list | tuple):
        if all(not isinstance(item, Mapping | list | tuple) for item in detail):
            if detail:
                yield prefix, [str(item) for item in detail]
        else:  # a list of nested objects (many=True): name each by its index
            for index, item in enumerate(detail):
                yield from _flatten(item, f"{prefix}.{index}" if prefix else str(index))
    else:
        yield prefix, [str(detail)]


def _validation_body(detail: Any) -> dict:
    general: list[str] = []
    fields: dict[str, list[str]] = {}
    for path, messages in _flatten(detail):
        if path in ("", api_settings.NON_FIELD_ERRORS_KEY):
            general.extend(messages)
        else:
            fields[path] = messages
    if general:
        message = " ".join(general)
    elif len(fields) == 1:
        path, messages = next(iter(fields.items()))
        message = f"{path}: {' '.join(messages)}"
    else:
        message = "invalid input in these fields: " + ", ".join(fields)
    return error_body("validation_error", message, fields)


def _connector_error_response(exc: ConnectorError) -> Response:
    """Upstream trouble as an API error: fatal ones are the caller's to fix (400), transient
    ones are the upstream system's (502, or 503 with Retry-After when it is rate limiting)."""
    message = str(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        status, code = 503, "upstream_rate_limited"
        if exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    elif isinstance(exc, TransientError):
        status, code = 502, "upstream_unavailable"
    elif isinstance(exc, AuthenticationError):
        status, code = 400, "connector_authentication_failed"
    elif isinstance(exc, ConnectorPermissionDenied):
        status, code = 400, "connector_permission_denied"
    elif isinstance(exc, NotFound):
        status, code = 400, "connector_not_found"
    elif isinstance(exc, ConfigurationError):
        status, code = 400, "connector_configuration_error"
    elif isinstance(exc, RecordError):
        status, code = 400, "connector_record_error"
        return Response(
            error_body(code, message, {k: [v] for k, v in exc.fields.items()}), status=status
        )
    elif isinstance(exc, FatalError):
        status, code = 400, "connector_error"
    else:
        status, code = 502, "connector_error"
    return Response(error_body(code, message), status=status, headers=headers)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every error in the one shape, never a bare 500.

    DRF's own handler still runs for its exceptions, so WWW-Authenticate (401) and
    Retry-After (429) headers are kept.
    """
    if isinstance(exc, DomainError):
        drf_views.set_rollback()
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status_code)
    if isinstance(exc, ConnectorError):
        drf_views.set_rollback()
        return _connector_error_response(exc)
    if isinstance(exc, Http404):
        # Django's message names the model and query; "not found" is all a caller may learn.
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)

    response = drf_views.exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        logger.exception("unhandled error in API view %s", type(view).__name__ if view else "?")
        drf_views.set_rollback()
        return Response(
            error_body("server_error", "An unexpected error occurred; it has been logged."),
            status=500,
        )
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(exc.detail)
        return response
    assert isinstance(exc, exceptions.APIException)
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    if isinstance(exc.detail, list | dict):
        message = " ".join(m for _, ms in _flatten(exc.detail) for m in ms)
    else:
        message = str(exc.detail)
    response.data = error_body(code, message)
    return response


# --- Schema: the error shape on every operation ----------------------------------------------
class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable error code.")
    message = serializers.CharField(help_text="What went wrong, for people.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="Invalid inputs by dotted path (e.g. `config.base_url`); empty otherwise.",
    )


class ErrorSerializer(serializers.Serializer):
    """The body of every error answer."""

    error = ErrorDetailSerializer()


_ERROR_DESCRIPTIONS = {
    400: "Invalid input (`validation_error`, with `fields`) or a refused upstream request.",
    401: "No credentials, or an invalid or revoked token.",
    403: "The caller's role does not allow this, or the caller belongs to no workspace.",
    404: "No such object in the caller's workspace.",
    409: "A business rule refused the request; `code` says which.",
    429: "Too many requests; retry after the number of seconds in `Retry-After`.",
    502: "The external system failed or could not be reached (`upstream_unavailable`).",
    503: "The external system is rate limiting (`upstream_rate_limited`, with `Retry-After`).",
}


def error_responses(*codes: int) -> dict[int, OpenApiResponse]:
    """`extend_schema(responses={...})` entries documenting these error statuses."""
    return {code: OpenApiResponse(ErrorSerializer, _ERROR_DESCRIPTIONS[code]) for code in codes}


UPSTREAM_ERRORS = (400, 502, 503)  # what an endpoint that calls a connector may add


class ConcordAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus the error answers every operation can give."""

    def _standard_error_codes(self) -> list[int]:
        codes = [429]
        view_permissions = getattr(self.view, "permission_classes", ())
        if any(p is not permissions.AllowAny for p in view_permissions):
            codes += [401, 403]
        if "{" in self.path or self._is_paginated_list():  # a page past the end is a 404
            codes.append(404)
        if self.method in ("POST", "PUT", "PATCH") or self._has_query_parameters():
            codes.append(400)
        return codes

    def _is_paginated_list(self) -> bool:
        return self.method == "GET" and bool(
            self._is_list_view() and getattr(self.view, "pagination_class", None)
        )

    def _has_query_parameters(self) -> bool:
        if self._is_paginated_list():
            return True
        return any(
            isinstance(p, OpenApiParameter) and p.location == OpenApiParameter.QUERY
            for p in self.get_override_parameters()
        )

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._standard_error_codes():
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, _ERROR_DESCRIPTIONS[code]), str(code)
                )
        for code in ("429", "503"):
            if code in responses:
                responses[code]["headers"] = {
                    "Retry-After": {
                        "schema": {"type": "integer"},
                        "description": "Seconds to wait before retrying.",
                    }
                }
        return responses


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


# --- Filtering --------------------------------------------------------------------------------
class ExactFilterBackend(filters.BaseFilterBackend):
    """Exact-match query filters a viewset declares: `filter_fields = {"param": "lookup"}`.

    A value outside the field's choices is a 400 naming the parameter, not an empty page.
    """

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        declared: Mapping[str, str] = getattr(view, "filter_fields", {})
        errors: dict[str, list[str]] = {}
        for param, lookup in declared.items():
            value = request.query_params.get(param)
            if value is None or value == "":
                continue
            if "\x00" in value:
                # PostgreSQL text cannot hold NUL; a filter value with one can match nothing.
                errors[param] = ["must not contain NUL characters"]
                continue
            choices = _choices_for(queryset.model, lookup)
            if choices is not None and value not in choices:
                errors[param] = [f"{value!r} is not one of: {', '.join(sorted(choices))}"]
                continue
            queryset = queryset.filter(**{lookup: value})
        if errors:
            raise exceptions.ValidationError(errors)
        return queryset

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        declared: Mapping[str, str] = getattr(view, "filter_fields", {})
        model = getattr(view, "model", None)
        params = []
        for param, lookup in declared.items():
            schema: dict[str, Any] = {"type": "string"}
            choices = _choices_for(model, lookup) if model is not None else None
            if choices is not None:
                schema["enum"] = sorted(choices)
            params.append(
                {
                    "name": param,
                    "required": False,
                    "in": "query",
                    "description": f"Only objects whose {lookup} equals this.",
                    "schema": schema,
                }
            )
        return params


def _choices_for(model: type[Model], lookup: str) -> set[str] | None:
    if "__" in lookup:
        return None
    field = model._meta.get_field(lookup)
    return {str(value) for value, _ in field.choices} if field.choices else None


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


# --- Unknown API paths ------------------------------------------------------------------------
@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@permission_classes([permissions.AllowAny])
def api_not_found(request: Request, path: str = "") -> Response:
    """The last route under /api/v1/: an unknown path answers 404 in the error shape rather
    than Django's HTML page (or a redirect to add the slash)."""
    hint = "" if request.path.endswith("/") else "; API paths end with a slash"
    raise exceptions.NotFound(f"no API endpoint at {request.path}{hint}")
