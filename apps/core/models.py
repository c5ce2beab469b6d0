"""Base models shared by every app."""

from __future__ import annotations

import uuid

from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class WorkspaceQuerySet(models.QuerySet):
    """The one way product code narrows a query to a workspace."""

    def for_workspace(self, workspace: models.Model | int) -> WorkspaceQuerySet:
        """Narrow to one workspace, given as the row or its primary key."""
        workspace_id = workspace if isinstance(workspace, int) else workspace.pk
        return self.filter(workspace_id=workspace_id)


class WorkspaceScopedModel(TimeStampedModel):
    """A product object that belongs to exactly one workspace.

    Views and API views reach these through `apps.accounts.scoping` (which resolves the
    request's workspace), never through an unfiltered `objects.all()`. A test walks every
    subclass and every API route to keep it so.
    """

    workspace = models.ForeignKey("accounts.Workspace", on_delete=models.CASCADE, related_name="+")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    objects = WorkspaceQuerySet.as_manager()

    class Meta:
        abstract = True
