from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response


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
