"""Writes for connections, and the one place where a Connection row becomes a connector."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from pydantic import ValidationError

from apps.accounts.models import Workspace
from apps.connections.models import Connection
from apps.connections.urlpolicy import UrlNotAllowed, check_base_url
from connectors import registry
from connectors.base import CallObserver, Connector, FieldSpec, ObjectType
from connectors.errors import ConfigurationError, ConnectorError

logger = logging.getLogger(__name__)


class ConnectionError(Exception):
    """A connection cannot be saved as given. `field` names the offending input, if one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _validated(kind: str, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        config = registry.parse_config(kind, values)
    except ConfigurationError as exc:
        raise ConnectionError(exc.message) from None
    try:
        base_url = check_base_url(config.base_url)
    except UrlNotAllowed as exc:
        raise ConnectionError(str(exc), field="base_url") from None
    plain, secrets = registry.config_to_storage(config)
    plain["base_url"] = base_url
    return plain, secrets


@transaction.atomic
def connection_create(
    *,
    workspace: Workspace,
    name: str,
    kind: str,
    values: dict[str, Any],
    webhook_secret: str | None = None,
) -> Connection:
    """Validate the config for its connector kind and store it, secrets encrypted."""
    name = name.strip()
    if not name:
        raise ConnectionError("a connection needs a name", field="name")
    if Connection.objects.for_workspace(workspace).filter(name=name).exists():
        raise ConnectionError(f"a connection named {name!r} already exists", field="name")
    plain, secrets = _validated(kind, values)
    connection = Connection(
        workspace=workspace, name=name, kind=kind, config=plain, secrets=secrets
    )
    if webhook_secret:
        connection.webhook_secret = webhook_secret
    connection.save()
    return connection


@transaction.atomic
def connection_update(
    connection: Connection,
    *,
    name: str | None = None,
    values: dict[str, Any] | None = None,
    webhook_secret: str | None = None,
) -> Connection:
    """Change name and/or config. Secret fields left out (or empty) keep their stored value."""
    if name is not None and name.strip() != connection.name:
        name = name.strip()
        taken = (
            Connection.objects.for_workspace(connection.workspace_id)
            .filter(name=name)
            .exclude(pk=connection.pk)
            .exists()
        )
        if not name or taken:
            raise ConnectionError(f"the name {name!r} is empty or taken", field="name")
        connection.name = name
    if values is not None:
        merged = {**connection.config, **(connection.secrets or {})}
        merged.update({k: v for k, v in values.items() if v not in (None, "")})
        connection.config, connection.secrets = _validated(connection.kind, merged)
        connection.status = Connection.Status.UNKNOWN
    if webhook_secret:
        connection.webhook_secret = webhook_secret
    connection.save()
    return connection


def connector_for(connection: Connection, *, on_call: CallObserver | None = None) -> Connector:
    """Build the connector for a connection. The only place a row becomes a connector."""
    from apps.connections.ratelimit import shared_rate_limiter

    values = {**connection.config, **(connection.secrets or {})}
    return registry.build(
        connection.kind,
        values,
        rate_limiter=shared_rate_limiter(),
        on_call=on_call,
        budget_key=f"connection:{connection.pk}",
    )


def connection_record_success(connection: Connection) -> None:
    now = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(
        status=Connection.Status.OK,
        last_checked_at=now,
        last_success_at=now,
        last_error="",
        consecutive_failures=0,
    )


def connection_record_failure(connection: Connection, error: str) -> None:
    Connection.objects.filter(pk=connection.pk).update(
        status=Connection.Status.FAILING,
        last_checked_at=timezone.now(),
        last_error=error[:2000],
        consecutive_failures=F("consecutive_failures") + 1,
    )


def connection_check(connection: Connection) -> tuple[bool, str]:
    """Run the connector's check() and record the outcome on the row. Returns (ok, message)."""
    try:
        connector = connector_for(connection)
        try:
            connector.check()
        finally:
            connector.close()
    except ConnectorError as exc:
        connection_record_failure(connection, str(exc))
        return False, str(exc)
    connection_record_success(connection)
    return True, "The credentials work."


# --- Used by the API (and any other caller that needs the same guarantees) -------------------
def connection_config_problems(
    kind: str, values: dict[str, Any], *, connection: Connection | None = None
) -> dict[str, str]:
    """Per-field problems of config `values` for `kind`, without saving: {} when they are valid.

    With `connection`, `values` are read as an update of it: fields left out (or empty) keep
    the stored value, the same rule connection_update applies. Keys are config field names
    ("config" for a problem with the whole document); messages never include a value. The
    base-URL allow policy is not applied here (it resolves host names): connection_create and
    connection_update apply it and name `base_url`.

    Raises ConnectionError(field="kind") for an unknown or uninstalled kind.
    """
    try:
        config_class = registry.get(kind).config_class
    except ConfigurationError as exc:
        raise ConnectionError(exc.message, field="kind") from None
    except ImportError:
        raise ConnectionError(f"the connector {kind!r} is not installed", field="kind") from None
    if connection is not None:
        merged = {**connection.config, **(connection.secrets or {})}
        merged.update({k: v for k, v in values.items() if v not in (None, "")})
        values = merged
    try:
        config_class.model_validate(values)
    except ValidationError as exc:
        problems: dict[str, str] = {}
        for err in exc.errors(include_input=False):
            name = str(err["loc"][0]) if err["loc"] else "config"
            problems.setdefault(name, err["msg"])
        return problems
    return {}


def connection_delete(connection: Connection) -> None:
    """Delete the connection and its stored credentials.

    TODO(syncs): refuse with a domain error while a sync uses the connection, once syncs
    exist; today nothing references a connection.
    """
    connection.delete()


def connection_webhook_url(connection: Connection, *, public_url: str | None = None) -> str:
    """The URL the external system must deliver this connection's webhooks to, on
    `public_url` (default: CONCORD_PUBLIC_URL)."""
    base = public_url or settings.CONCORD_PUBLIC_URL
    return f"{base.rstrip('/')}/hooks/{connection.public_id}/"


def connection_object_types(connection: Connection) -> list[ObjectType]:
    """The object types the connected system offers. Raises ConnectorError subclasses."""
    connector = connector_for(connection)
    try:
        return connector.object_types()
    finally:
        connector.close()


def connection_fields(connection: Connection, object_type: str) -> list[FieldSpec]:
    """Field discovery for one object type. Raises ConnectorError subclasses (an unknown
    object type is the connector's ConfigurationError or NotFound)."""
    connector = connector_for(connection)
    try:
        return connector.fields(object_type)
    finally:
        connector.close()
