"""Query filters for list endpoints.

Two kinds, both answering a malformed value with a 400 that names the parameter (a bad UUID
or choice reaching the ORM would be a 500, or an empty page that hides the mistake):

- `filter_fields = {"param": "lookup"}` with `ExactFilterBackend`: exact matches on a
  model's fields, choices checked.
- `query_filters = {...}` with `QueryFilterBackend`: typed values (the public id of a related
  object, time ranges, a lookup of its own)::

      query_filters = {
          "sync": QueryFilter(serializers.UUIDField(), "sync__public_id", "The sync's id."),
          "created_after": QueryFilter(serializers.DateTimeField(), "created_at__gte", "..."),
          "record_id": QueryFilter(serializers.CharField(), lambda qs, v: qs.filter(...), "."),
      }

  Each value is parsed by its serializer field; the schema lists each parameter with its
  type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Model, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, filters, serializers
from rest_framework.request import Request


# --- Exact matches ----------------------------------------------------------------------------
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


# --- Typed query filters -----------------------------------------------------------------------
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
