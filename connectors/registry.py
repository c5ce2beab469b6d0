"""Every connector by its stable `kind` key, and the one way to build one from stored config.

Rows store the kind ("hubspot"), never a class path. Each package in INSTALLED has a
`connector` module whose `CONNECTOR` attribute is the Connector subclass.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

from pydantic import SecretStr, ValidationError

from connectors.base import Connector, ConnectorConfig
from connectors.errors import ConfigurationError

INSTALLED = ("hubspot", "zendesk", "jira", "pipedrive", "redmine", "github")


@cache
def _load(kind: str) -> type[Connector]:
    if kind not in INSTALLED and kind != "memory":
        raise ConfigurationError(f"unknown connector kind {kind!r}")
    module = importlib.import_module(f"connectors.{kind}.connector")
    cls: type[Connector] = module.CONNECTOR
    if cls.kind != kind:
        raise ConfigurationError(f"connectors.{kind} declares kind {cls.kind!r}")
    return cls


def get(kind: str) -> type[Connector]:
    """The Connector class for a kind. Raises ConfigurationError for an unknown kind."""
    return _load(kind)


def kinds() -> list[str]:
    return list(INSTALLED)


def parse_config(kind: str, values: dict[str, Any]) -> ConnectorConfig:
    """Validate raw config values for a kind; errors name each bad field, never a value."""
    cls = get(kind)
    try:
        return cls.config_class.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}"
            for err in exc.errors(include_input=False)
        )
        raise ConfigurationError(f"invalid {cls.label} configuration: {problems}") from None


def build(kind: str, values: dict[str, Any], **options: Any) -> Connector:
    """A ready connector from raw config values; `options` go to Connector.__init__."""
    return get(kind)(parse_config(kind, values), **options)


def config_schema(kind: str) -> dict[str, Any]:
    """JSON schema of a kind's config, secret fields marked `writeOnly` and `secret`."""
    cls = get(kind).config_class
    schema = cls.model_json_schema()
    for name in cls.secret_fields():
        prop = schema.get("properties", {}).get(name)
        if prop is not None:
            prop.update({"writeOnly": True, "secret": True, "format": "password"})
    return schema


def config_to_storage(config: ConnectorConfig) -> tuple[dict[str, Any], dict[str, str]]:
    """Split a config into (plain values, secret values) for storage; secrets in clear."""
    plain: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    secret_names = set(type(config).secret_fields())
    for name in type(config).model_fields:
        value = getattr(config, name)
        if name in secret_names:
            if value is not None:
                secrets[name] = (
                    value.get_secret_value() if isinstance(value, SecretStr) else str(value)
                )
        else:
            plain[name] = value
    return plain, secrets
