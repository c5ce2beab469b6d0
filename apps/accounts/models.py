"""Workspaces (tenants), memberships with roles, and API tokens."""

from __future__ import annotations

import enum

from django.conf import settings
from django.db import models

from apps.core.models import TimeStampedModel


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


class Permission(enum.IntEnum):
    """What a role may do; each role may do everything the roles below it may."""

    VIEW = 1  # read everything in the workspace
    EDIT = 2  # change syncs, resolve conflicts, run syncs
    ADMIN = 3  # manage connections, members and tokens
    OWN = 4  # delete the workspace, manage owners


ROLE_LEVEL = {
    Role.VIEWER: Permission.VIEW,
    Role.EDITOR: Permission.EDIT,
    Role.ADMIN: Permission.ADMIN,
    Role.OWNER: Permission.OWN,
}


class Workspace(TimeStampedModel):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)

    def __str__(self) -> str:
        return self.name


class Membership(TimeStampedModel):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} as {self.role}"

    def allows(self, permission: Permission) -> bool:
        return ROLE_LEVEL[Role(self.role)] >= permission


class ApiToken(TimeStampedModel):
    """A per-user token scoped to one workspace. Only a SHA-256 digest is stored."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="api_tokens")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=120)
    prefix = models.CharField(max_length=12, db_index=True)  # shown in lists to tell tokens apart
    digest = models.CharField(max_length=64, unique=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
