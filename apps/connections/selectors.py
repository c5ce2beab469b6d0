"""Reads about connectors and connections that need no external system: the catalogue of
connector kinds this installation offers, and what each one can do."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors import registry
from connectors.base import ObjectType
from connectors.errors import ConfigurationError


@dataclass(frozen=True)
class ConnectorOffer:
    """One connector kind as a catalogue shows it, before any connection exists."""

    kind: str
    label: str
    object_types: tuple[ObjectType, ...]
    # The system announces changes by webhook for at least one of its object types.
    webhooks: bool
    # The system dictates the webhook signing secret (a person pastes it into Concord).
    webhook_secret_from_system: bool
    # The system can be asked to send a test delivery.
    sends_test_webhooks: bool
    secret_fields: tuple[str, ...]


def connector_kind_installed(kind: str) -> bool:
    """Whether `kind` is listed and its package is in this build. False for a kind the
    registry lists but whose package is not shipped yet; any other import problem is a real
    error and propagates."""
    if kind not in registry.kinds():
        return False
    try:
        registry.get(kind)
    except ModuleNotFoundError as exc:
        if exc.name in (f"connectors.{kind}", f"connectors.{kind}.connector"):
            return False
        raise
    except ConfigurationError:
        return False
    return True


def connector_kinds() -> list[str]:
    """The connector kinds this installation offers, in the registry's order."""
    return [kind for kind in registry.kinds() if connector_kind_installed(kind)]


def connector_offer(kind: str) -> ConnectorOffer | None:
    """What `kind` offers, or None when this installation has no such connector."""
    if not connector_kind_installed(kind):
        return None
    cls = registry.get(kind)
    return ConnectorOffer(
        kind=kind,
        label=cls.label,
        object_types=tuple(cls.object_types_offered),
        webhooks=any(t.webhooks for t in cls.object_types_offered),
        webhook_secret_from_system=cls.webhook_secret_from_system,
        sends_test_webhooks=cls.sends_test_webhooks,
        secret_fields=tuple(cls.config_class.secret_fields()),
    )


def connector_catalogue() -> list[ConnectorOffer]:
    """Every connector kind this installation offers, with what it can sync."""
    return [offer for kind in connector_kinds() if (offer := connector_offer(kind)) is not None]


def connector_config_schema(kind: str) -> dict[str, Any]:
    """The JSON schema of a kind's configuration; secret fields are marked `writeOnly` (and
    `secret`), as the API serves it. Raises ConfigurationError for an unknown kind."""
    return registry.config_schema(kind)
