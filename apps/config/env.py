"""Helpers for reading settings from the environment with errors that name the variable."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")


class ConfigError(ImproperlyConfigured):
    """A setting is missing or malformed; the message names the variable."""


def read_env(reader: Callable[..., T], name: str, **kwargs: Any) -> T:
    """Call a django-environ reader, turning any parse failure into a ConfigError.

    django-environ raises ValueError, KeyError or ImproperlyConfigured depending on the type;
    a person starting the server needs one message that says which variable and why.
    """
    try:
        value = reader(name, **kwargs)
    except Exception as exc:
        shown = os.environ.get(name, "")
        raise ConfigError(
            f"environment variable {name} has a bad value {shown[:80]!r}: {exc}"
        ) from exc
    if name in os.environ and reader.__name__ in ("db_url", "url", "cache_url"):
        _check_url(name, os.environ[name], value)
    return value


def _check_url(name: str, raw: str, parsed: Any) -> None:
    scheme = raw.split("://", 1)[0] if "://" in raw else ""
    if not scheme:
        raise ConfigError(f"environment variable {name} is not a URL: {raw[:80]!r}")
    if isinstance(parsed, dict) and not parsed.get("ENGINE"):
        raise ConfigError(f"environment variable {name} names no known database: {raw[:80]!r}")


def load_or_create_key(path: Path, *, kind: str) -> str:
    """Return the key kept in `path`, creating it (mode 0600) on first use. Development only."""
    if path.is_file():
        return path.read_text().strip()
    key = Fernet.generate_key().decode() if kind == "fernet" else secrets.token_urlsafe(50)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key + "\n")
    return key
