"""Reads for connections."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.accounts.models import Workspace
from apps.connections.models import Connection


def connections_for_workspace(workspace: Workspace) -> QuerySet[Connection]:
    return Connection.objects.for_workspace(workspace).order_by("name")
