"""Accounts API: who am I, workspace members and roles, API tokens."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from apps.accounts import services
from apps.accounts.api.scoping import WorkspaceScopedViewSet
from apps.accounts.api.serializers import (
    MemberCreateSerializer,
    MemberSerializer,
    MemberUpdateSerializer,
    TokenCreatedSerializer,
    TokenCreateSerializer,
    TokenSerializer,
)
from apps.accounts.models import ApiToken, Membership, Permission, Role
from apps.core.api import error_responses


@extend_schema(
    responses=inline_serializer(
        "Me",
        {
            "username": serializers.CharField(),
            "workspace": serializers.CharField(allow_null=True),
            "role": serializers.CharField(allow_null=True),
        },
    )
)
@api_view(["GET"])
def me(request: Request) -> Response:
    """Who the caller is and which workspace the request is scoped to."""
    membership = getattr(request._request, "membership", None)
    return Response(
        {
            "username": request.user.get_username(),
            "workspace": membership.workspace.slug if membership else None,
            "role": membership.role if membership else None,
        }
    )


@extend_schema_view(
    list=extend_schema(summary="List the workspace's members"),
    retrieve=extend_schema(summary="Read a member"),
    destroy=extend_schema(
        summary="Remove a member (admins; owners only by owners; the last owner stays)",
        responses={204: None, **error_responses(409)},
    ),
)
class MemberViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    WorkspaceScopedViewSet,
):
    model = Membership
    serializer_class = MemberSerializer
    lookup_field = "id"
    lookup_value_regex = "[0-9]+"
    action_permissions = {
        "list": Permission.VIEW,
        "retrieve": Permission.VIEW,
        "create": Permission.ADMIN,
        "update": Permission.ADMIN,
        "partial_update": Permission.ADMIN,
        "destroy": Permission.ADMIN,
    }
    filter_fields = {"role": "role"}
    ordering_fields = ["created_at", "role"]
    ordering = ["user__username"]

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset.select_related("user")

    @extend_schema(
        summary="Add an existing account to the workspace with a role",
        request=MemberCreateSerializer,
        responses={201: MemberSerializer},
    )
    def create(self, request: Request) -> Response:
        data = MemberCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.member_add(
            workspace=request.workspace,
            email=data.validated_data["email"],
            role=Role(data.validated_data["role"]),
            actor=request.membership,
        )
        return Response(MemberSerializer(membership).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Change a member's role",
        request=MemberUpdateSerializer,
        responses={200: MemberSerializer, **error_responses(409)},
    )
    def update(self, request: Request, id: str | None = None) -> Response:
        membership = self.get_object()
        data = MemberUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.membership_set(
            workspace=request.workspace,
            user=membership.user,
            role=Role(data.validated_data["role"]),
            actor=request.membership,
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(
        summary="Change a member's role",
        request=MemberUpdateSerializer,
        responses={200: MemberSerializer, **error_responses(409)},
    )
    def partial_update(self, request: Request, id: str | None = None) -> Response:
        # The only writable attribute is the role, so PATCH and PUT take the same document.
        return self.update(request, id)

    def perform_destroy(self, instance: Membership) -> None:
        services.membership_remove(membership=instance, actor=self.request.membership)


@extend_schema_view(
    list=extend_schema(
        summary="List API tokens (your own; admins see everyone's). Only the prefix is shown."
    ),
    retrieve=extend_schema(summary="Read an API token's metadata"),
    destroy=extend_schema(summary="Revoke an API token (your own; admins any)"),
)
class TokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    WorkspaceScopedViewSet,
):
    """Every member may hold tokens of their own (a token carries its holder's role);
    admins manage every token of the workspace."""

    model = ApiToken
    serializer_class = TokenSerializer
    lookup_field = "id"
    lookup_value_regex = "[0-9]+"
    action_permissions = {
        "list": Permission.VIEW,
        "retrieve": Permission.VIEW,
        "create": Permission.VIEW,
        "destroy": Permission.VIEW,
    }
    ordering_fields = ["created_at", "last_used_at", "name"]
    ordering = ["-created_at", "-id"]

    def refine_queryset(self, queryset: QuerySet) -> QuerySet:
        queryset = queryset.select_related("user")
        if not self.request.membership.allows(Permission.ADMIN):
            queryset = queryset.filter(user=self.request.user)
        return queryset

    @extend_schema(
        summary="Create an API token for yourself; the answer shows it once",
        request=TokenCreateSerializer,
        responses={201: TokenCreatedSerializer},
    )
    def create(self, request: Request) -> Response:
        data = TokenCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        token, raw = services.api_token_create(
            workspace=request.workspace, user=request.user, name=data.validated_data["name"]
        )
        token.token = raw  # only for this answer's serializer; never stored
        return Response(TokenCreatedSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiToken) -> None:
        services.api_token_revoke(token=instance)
