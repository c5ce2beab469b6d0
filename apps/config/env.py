"""Helpers for reading settings from the environment with errors that name the variable."""

from __future__ import annotations

import importlib.util
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
    if isinstance(parsed, dict):
        engine = parsed.get("ENGINE") or ""
        try:
            known = bool(engine) and importlib.util.find_spec(engine) is not None
        except (ImportError, ValueError):
            known = False
        if not known:
            raise ConfigError(
                f"environment variable {name} names no known database ({scheme!r}); "
                "use postgres:// or sqlite:///"
            )


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


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def read_bool(name: str, *, default: bool) -> bool:
    """A boolean variable; unlike environ.Env.bool, an unknown word is an error, not False."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise ConfigError(
        f"environment variable {name} must be true or false (1/0, yes/no, on/off), not {raw[:40]!r}"
    )
