"""The pagination and throttle classes REST_FRAMEWORK names as defaults.

They live apart from apps.core.api on purpose: DRF reads DEFAULT_THROTTLE_CLASSES and
DEFAULT_PAGINATION_CLASS while it defines APIView and GenericAPIView, so the module that
holds them must not import rest_framework.views, generics or viewsets (apps.core.api does,
and would be imported half-initialised).
"""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions, pagination, parsers, throttling
from rest_framework.settings import api_settings


class PageNumberPagination(pagination.PageNumberPagination):
    """The default: `?page=N&page_size=M` (at most 200), answered with count/next/previous.

    A page past the end answers 404 (`not_found`, "Invalid page."), as DRF does; the schema
    says so.
    """

    page_size_query_param = "page_size"
    max_page_size = 200

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        params = super().get_schema_operation_parameters(view)
        for param in params:
            if param["name"] == self.page_query_param:
                param["schema"]["minimum"] = 1
            elif param["name"] == self.page_size_query_param:
                param["schema"].update(minimum=1, maximum=self.max_page_size)
        return params


class CreatedCursorPagination(pagination.CursorPagination):
    """For large, append-mostly tables (runs, events): stable under concurrent inserts.

    Opt in with `pagination_class = CreatedCursorPagination`; needs `created_at` on the model.
    """

    ordering = ("-created_at", "-pk")
    page_size_query_param = "page_size"
    max_page_size = 500


class _SettingsRate:
    """Read the rate from the settings on each request rather than once at import, so that a
    settings override (tests, or a reload) of DEFAULT_THROTTLE_RATES takes effect."""

    scope: str

    def get_rate(self) -> str | None:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)


class UserThrottle(_SettingsRate, throttling.UserRateThrottle):
    """Authenticated callers (token or session), per user: scope "user"."""


class AnonThrottle(_SettingsRate, throttling.AnonRateThrottle):
    """Anonymous callers, per client address: scope "anon"."""


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing any string with a NUL character (400).

    PostgreSQL cannot store NUL in text or jsonb, so such a value would otherwise surface as
    a database error deep in a service (a 500) instead of as bad input.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        data = super().parse(stream, media_type, parser_context)
        if _has_nul(data):
            raise exceptions.ParseError("JSON strings must not contain NUL (\\u0000) characters")
        return data
