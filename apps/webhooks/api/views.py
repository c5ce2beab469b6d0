"""Webhook deliveries API: the inbox, for debugging a connection's webhooks (read only)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers

from apps.accounts.api.scoping import WorkspaceScopedViewSet
from apps.accounts.models import Permission
from apps.core.api_defaults import CreatedCursorPagination
from apps.core.api_filters import QueryFilter, QueryFilterBackend
from apps.webhooks.api.serializers import (
    WebhookDeliveryDetailSerializer,
    WebhookDeliverySerializer,
)
from apps.webhooks.models import WebhookDelivery


@extend_schema_view(
    list=extend_schema(summary="List webhook deliveries, newest first"),
    retrieve=extend_schema(summary="Read a webhook delivery with its headers and body"),
)
class WebhookDeliveryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, WorkspaceScopedViewSet
):
    model = WebhookDelivery
    serializer_class = WebhookDeliverySerializer
    pagination_class = CreatedCursorPagination
    filter_backends = [QueryFilterBackend]
    query_filters = {
        "connection": QueryFilter(
            serializers.UUIDField(), "connection__public_id", "Only this connection's."
        ),
        "status": QueryFilter(
            serializers.ChoiceField(choices=WebhookDelivery.Status.values), "status", "Only these."
        ),
    }
    action_permissions = {"list": Permission.VIEW, "retrieve": Permission.VIEW}

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("connection")

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "retrieve":
            return WebhookDeliveryDetailSerializer
        return WebhookDeliverySerializer
