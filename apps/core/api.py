"""Shared API plumbing: one error shape, the exception handler, the schema class, and the
answer for unknown paths.

Every API view gets these through REST_FRAMEWORK in settings, so an endpoint added later
inherits the error shape without remembering it. Workspace scoping and roles live with
accounts (apps/accounts/api/scoping.py); query filters in apps/core/api_filters.py.

The error shape, for every 4xx/5xx answer of /api/::

    {"error": {"code": "validation_error", "message": "a sync needs a name",
               "fields": {"name": ["a sync needs a name"]}}}

`code` is stable (clients branch on it), `message` is for people, `fields` maps a dotted
input path to its problems (empty unless the input was invalid).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, permissions, serializers
from rest_framework import views as drf_views
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from apps.core.errors import DomainError, Forbidden, Invalid, NotFound, UpstreamError

logger = logging.getLogger(__name__)


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


def _upstream_status(exc: UpstreamError) -> int:
    """The external system's trouble: a refused configuration or credential is the caller's
    to fix (400); a failure that may pass is the system's (502), or 503 while it is rate
    limiting."""
    if not exc.retryable:
        return 400
    return 503 if exc.code == "upstream_rate_limited" else 502


def domain_error_response(exc: DomainError) -> Response:
    """A service's refusal in the error shape: the status follows the kind of refusal."""
    fields = {path: [problem] for path, problem in exc.problems().items()}
    headers: dict[str, str] = {}
    if isinstance(exc, Invalid):
        status = 400
    elif isinstance(exc, Forbidden):
        status = 403
    elif isinstance(exc, NotFound):
        status = 404
    elif isinstance(exc, UpstreamError):
        status = _upstream_status(exc)
        if status == 503 and exc.retry_after is not None:
            headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    else:  # Refused, or a rule of its own: the request is fine, the state refuses it
        status = 409
    return Response(error_body(exc.code, exc.message, fields), status=status, headers=headers)


class RequestTooLarge(exceptions.APIException):
    """A body over DATA_UPLOAD_MAX_MEMORY_SIZE: Django refuses to read it (RequestDataTooBig,
    which DRF would let through as a 500)."""

    status_code = 413
    default_code = "request_too_large"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every error in the one shape, never a bare 500.

    DRF's own handler still runs for its exceptions, so WWW-Authenticate (401) and
    Retry-After (429) headers are kept.
    """
    if isinstance(exc, DomainError):
        drf_views.set_rollback()
        return domain_error_response(exc)
    if isinstance(exc, Http404):
        # Django's message names the model and query; "not found" is all a caller may learn.
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(*exc.args)
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(
            "the request body is larger than the limit of "
            f"{settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes"
        )

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
    413: "The body is larger than the upload limit (`request_too_large`, 2.5 MB by default).",
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
        if self.method in ("POST", "PUT", "PATCH"):
            codes.append(413)
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


# --- Unknown API paths ------------------------------------------------------------------------
@extend_schema(exclude=True)
@api_view(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
@permission_classes([permissions.AllowAny])
def api_not_found(request: Request, path: str = "") -> Response:
    """The last route under /api/v1/: an unknown path answers 404 in the error shape rather
    than Django's HTML page (or a redirect to add the slash)."""
    hint = "" if request.path.endswith("/") else "; API paths end with a slash"
    raise exceptions.NotFound(f"no API endpoint at {request.path}{hint}")
