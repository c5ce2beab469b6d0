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


# Deeper than any input the API takes (a sync's mappings nest a handful of levels), and
# shallow enough that nothing recursive downstream (serializers, jsonb) comes near Python's
# recursion limit.
MAX_JSON_DEPTH = 100


def check_json(value: Any, *, max_depth: int = MAX_JSON_DEPTH) -> None:
    """Raise ParseError for a string holding NUL or containers nested deeper than max_depth.

    Iterative, so the check itself cannot overflow the stack. The top container is level 1.
    """
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise exceptions.ParseError(
                    "JSON strings must not contain NUL (\\u0000) characters"
                )
            continue
        if not isinstance(item, dict | list):
            continue
        if depth + 1 > max_depth:
            raise exceptions.ParseError(f"JSON nested more than {max_depth} levels deep")
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((child, depth + 1) for child in item.values())
        else:
            stack.extend((child, depth + 1) for child in item)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing (400) a string with a NUL character and JSON nested more
    than MAX_JSON_DEPTH levels deep.

    PostgreSQL cannot store NUL in text or jsonb, so such a value would otherwise surface as
    a database error deep in a service (a 500) instead of as bad input. Deep nesting would
    raise RecursionError in the parser itself (about 1,000 levels) or in whatever walks the
    value later.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(
                f"JSON nested more than {MAX_JSON_DEPTH} levels deep"
            ) from None
        check_json(data)
        return data
