"""Authenticated encryption of secrets at rest, with key rotation.

Values are encrypted with Fernet (AES-128-CBC + HMAC-SHA256, a fresh random IV per value)
under the first key of settings.CONCORD_ENCRYPTION_KEYS and decrypted with any of them
(MultiFernet), so a key is rotated by putting a new key first, running
`manage.py rotate_encryption_keys`, and then dropping the old key.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

PREFIX = "fernet:"


class DecryptionError(Exception):
    """A stored value cannot be decrypted with any configured key."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("CONCORD_ENCRYPTION_KEY is empty")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "CONCORD_ENCRYPTION_KEY must be comma-separated Fernet keys "
            "(32 url-safe base64-encoded bytes each)"
        ) from exc


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.CONCORD_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return PREFIX + fernet().encrypt(plaintext.encode()).decode()


def decrypt(stored: str) -> str:
    if not stored.startswith(PREFIX):
        raise DecryptionError("stored value is not an encrypted token")
    try:
        return fernet().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError(
            "stored value cannot be decrypted with any key in CONCORD_ENCRYPTION_KEY"
        ) from exc


def rotate(stored: str) -> str:
    """Re-encrypt a stored value under the newest key."""
    if not stored.startswith(PREFIX):
        raise DecryptionError("stored value is not an encrypted token")
    try:
        return PREFIX + fernet().rotate(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("stored value cannot be decrypted with any configured key") from exc
