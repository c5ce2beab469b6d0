"""Typed query filters for list endpoints (and the events of a run).

`apps.core.api.ExactFilterBackend` covers exact matches on choice fields; these views also
filter by the public id of a related object and by time ranges, and a malformed value must
be a 400 naming the parameter (a bad UUID reaching the ORM would be a 500). A view declares::

    query_filters = {
        "sync": QueryFilter(serializers.UUIDField(), "sync__public_id", "The sync's id."),
        "created_after": QueryFilter(serializers.DateTimeField(), "created_at__gte", "..."),
        "record_id": QueryFilter(serializers.CharField(), lambda qs, v: qs.filter(...), "..."),
    }

Each value is parsed by its serializer field; the schema lists each parameter with its type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, filters, serializers
from rest_framework.request import Request


@dataclass(frozen=True)
class QueryFilter:
    field: serializers.Field
    lookup: str | Callable[[QuerySet, Any], QuerySet]
    description: str

    def apply(self, queryset: QuerySet, value: Any) -> QuerySet:
        if callable(self.lookup):
            return self.lookup(queryset, value)
        return queryset.filter(**{self.lookup: value})

    def schema(self) -> dict[str, Any]:
        field = self.field
        if isinstance(field, serializers.ChoiceField):
            return {"type": "string", "enum": sorted(str(c) for c in field.choices)}
        if isinstance(field, serializers.UUIDField):
            return {"type": "string", "format": "uuid"}
        if isinstance(field, serializers.DateTimeField):
            return {"type": "string", "format": "date-time"}
        if isinstance(field, serializers.BooleanField):
            return {"type": "boolean"}
        schema: dict[str, Any] = {"type": "string"}
        if isinstance(field, serializers.CharField) and field.max_length:
            schema["maxLength"] = field.max_length
        return schema


class QueryFilterBackend(filters.BaseFilterBackend):
    """Applies the view's `query_filters` (or the ones given, for a queryset other than the
    view's own, such as the events of a run); any malformed value is a 400 naming it."""

    def __init__(self, query_filters: Mapping[str, QueryFilter] | None = None) -> None:
        self.query_filters = query_filters

    def _declared(self, view: Any) -> Mapping[str, QueryFilter]:
        if self.query_filters is not None:
            return self.query_filters
        return getattr(view, "query_filters", {})

    def filter_queryset(self, request: Request, queryset: QuerySet, view: Any) -> QuerySet:
        declared = self._declared(view)
        errors: dict[str, list[str]] = {}
        for name, query_filter in declared.items():
            raw = request.query_params.get(name)
            if raw is None or raw == "":
                continue
            try:
                value = query_filter.field.run_validation(raw)
            except serializers.ValidationError as exc:
                detail = exc.detail if isinstance(exc.detail, list) else [exc.detail]
                errors[name] = [str(message) for message in detail]
                continue
            queryset = query_filter.apply(queryset, value)
        if errors:
            raise exceptions.ValidationError(errors)
        return queryset

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        declared = self._declared(view)
        return [
            {
                "name": name,
                "required": False,
                "in": "query",
                "description": query_filter.description,
                "schema": query_filter.schema(),
            }
            for name, query_filter in declared.items()
        ]


def openapi_parameters(query_filters: Mapping[str, QueryFilter]) -> list[OpenApiParameter]:
    """The filters as `extend_schema(parameters=...)`, for an action that applies them to a
    queryset of its own."""
    return [
        OpenApiParameter(
            name,
            OpenApiTypes.UUID if isinstance(f.field, serializers.UUIDField) else OpenApiTypes.STR,
            OpenApiParameter.QUERY,
            required=False,
            description=f.description,
            enum=sorted(str(c) for c in f.field.choices)
            if isinstance(f.field, serializers.ChoiceField)
            else None,
        )
        for name, f in query_filters.items()
    ]
