"""Connections API: CRUD, check, schema discovery, health; and the connector kinds."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts.api.scoping import RolePermission, WorkspaceScopedViewSet
from apps.accounts.models import Permission
from apps.connections import services
from apps.connections.api.serializers import (
    CheckResultSerializer,
    ConnectionCreatedSerializer,
    ConnectionCreateSerializer,
    ConnectionSerializer,
    ConnectionUpdateSerializer,
    ConnectorKindSerializer,
    FieldSpecSerializer,
    FieldsQuerySerializer,
    HealthSerializer,
    ObjectTypeSerializer,
)
from apps.connections.models import Connection
from apps.connections.selectors import (
    connector_config_schema,
    connector_kind_installed,
    connector_kinds,
)
from apps.core.api import UPSTREAM_ERRORS, error_responses
from connectors import registry
from connectors.errors import ConfigurationError


@extend_schema_view(
    list=extend_schema(summary="List the workspace's connections"),
    retrieve=extend_schema(summary="Read a connection"),
    destroy=extend_schema(
        summary="Delete a connection and its stored credentials",
        description="409 `connection_in_use` while a sync uses the connection.",
        responses={204: None, **error_responses(409)},
    ),
)
class ConnectionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    WorkspaceScopedViewSet,
):
    model = Connection
    serializer_class = ConnectionSerializer
    action_permissions = {
        "list": Permission.VIEW,
        "retrieve": Permission.VIEW,
        "health": Permission.VIEW,
        "object_types": Permission.VIEW,
        "fields": Permission.VIEW,
        "test": Permission.EDIT,
        "create": Permission.ADMIN,
        "update": Permission.ADMIN,
        "partial_update": Permission.ADMIN,
        "destroy": Permission.ADMIN,
    }
    filter_fields = {"kind": "kind", "status": "status"}
    ordering_fields = ["name", "created_at", "status"]
    ordering = ["name"]

    @extend_schema(
        summary="Create a connection",
        request=ConnectionCreateSerializer,
        responses={201: ConnectionCreatedSerializer},
    )
    def create(self, request: Request) -> Response:
        serializer = ConnectionCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self.perform_create(serializer)
        return Response(
            ConnectionCreatedSerializer(serializer.instance).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Replace a connection's name and configuration (secrets left out are kept)",
        request=ConnectionUpdateSerializer,
        responses={200: ConnectionSerializer},
    )
    def update(self, request: Request, public_id: str | None = None) -> Response:
        return self._update(request, partial=False)

    @extend_schema(
        summary="Change part of a connection (secrets left out are kept)",
        request=ConnectionUpdateSerializer,
        responses={200: ConnectionSerializer},
    )
    def partial_update(self, request: Request, public_id: str | None = None) -> Response:
        return self._update(request, partial=True)

    def _update(self, request: Request, *, partial: bool) -> Response:
        connection = self.get_object()
        serializer = ConnectionUpdateSerializer(connection, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(ConnectionSerializer(serializer.instance).data)

    def perform_destroy(self, instance: Connection) -> None:
        services.connection_delete(instance)

    @extend_schema(
        summary="Check the credentials against the external system",
        description=(
            "Runs the connector's check() and records the outcome as the connection's health. "
            "A failed check is an answer (`ok: false` with the system's message), not an error."
        ),
        request=None,
        responses={200: CheckResultSerializer},
    )
    @action(detail=True, methods=["post"], pagination_class=None, filter_backends=[])
    def test(self, request: Request, public_id: str | None = None) -> Response:
        ok, message = services.connection_check(self.get_object())
        return Response(CheckResultSerializer({"ok": ok, "message": message}).data)

    @extend_schema(
        summary="The object types the external system offers",
        responses={200: ObjectTypeSerializer(many=True), **error_responses(*UPSTREAM_ERRORS)},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="object-types",
        pagination_class=None,
        filter_backends=[],
    )
    def object_types(self, request: Request, public_id: str | None = None) -> Response:
        types = services.connection_object_types(self.get_object())
        return Response(ObjectTypeSerializer(types, many=True).data)

    @extend_schema(
        summary="Field discovery for one object type (custom fields included)",
        parameters=[
            OpenApiParameter(
                "object_type",
                str,
                OpenApiParameter.QUERY,
                required=True,
                description="An object type name from object-types, e.g. `contacts`.",
            )
        ],
        responses={200: FieldSpecSerializer(many=True), **error_responses(*UPSTREAM_ERRORS)},
    )
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def fields(self, request: Request, public_id: str | None = None) -> Response:
        connection = self.get_object()  # a foreign id is a 404 whatever the query says
        query = FieldsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        specs = services.connection_fields(connection, query.validated_data["object_type"])
        return Response(FieldSpecSerializer(specs, many=True).data)

    @extend_schema(summary="The connection's health as last checked", responses=HealthSerializer)
    @action(detail=True, methods=["get"], pagination_class=None, filter_backends=[])
    def health(self, request: Request, public_id: str | None = None) -> Response:
        return Response(HealthSerializer(self.get_object()).data)


def _kind_description(kind: str) -> dict:
    cls = registry.get(kind)
    return {
        "kind": kind,
        "label": cls.label,
        "config_schema": connector_config_schema(kind),
        "secret_fields": cls.config_class.secret_fields(),
    }


class ConnectorKindViewSet(viewsets.ViewSet):
    """The connector kinds this installation offers, with their configuration schemas.

    Workspace-agnostic: the same for every caller (listed as such in
    tests/core/test_api_scoping.py).
    """

    permission_classes = [permissions.IsAuthenticated, RolePermission]
    action_permissions = {"list": Permission.VIEW, "retrieve": Permission.VIEW}
    lookup_field = "kind"
    lookup_value_regex = "[a-z0-9_]+"
    pagination_class = None

    @extend_schema(summary="List connector kinds", responses=ConnectorKindSerializer(many=True))
    def list(self, request: Request) -> Response:
        kinds = [_kind_description(kind) for kind in connector_kinds()]
        return Response(ConnectorKindSerializer(kinds, many=True).data)

    @extend_schema(summary="Read one connector kind", responses=ConnectorKindSerializer)
    def retrieve(self, request: Request, kind: str) -> Response:
        if not connector_kind_installed(kind):
            raise exceptions.NotFound(f"no connector kind {kind!r}")
        try:
            return Response(ConnectorKindSerializer(_kind_description(kind)).data)
        except ConfigurationError:
            raise exceptions.NotFound(f"no connector kind {kind!r}") from None
