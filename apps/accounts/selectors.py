"""Reads for accounts."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from apps.accounts.models import ApiToken, Membership, Workspace


def memberships_for_user(user: AbstractBaseUser) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user).select_related("workspace").order_by("workspace__name")
    )


def membership_for(user: AbstractBaseUser, workspace_id: int | None) -> Membership | None:
    """The user's membership in that workspace, else their first one, else None."""
    memberships = memberships_for_user(user)
    if workspace_id is not None:
        found = memberships.filter(workspace_id=workspace_id).first()
        if found:
            return found
    return memberships.first()


def workspace_members(workspace: Workspace) -> QuerySet[Membership]:
    return workspace.memberships.select_related("user").order_by("user__username")


def workspace_tokens(workspace: Workspace, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(workspace=workspace, user=user).order_by("-created_at")
