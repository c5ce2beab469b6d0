"""Model fields that keep secrets encrypted in the database."""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from apps.core import crypto


class EncryptedJSONField(models.TextField):
    """A JSON value (a dict of secrets, typically) stored as one Fernet token.

    The database only ever holds ciphertext, so a dump contains no plaintext secret. The
    Python value is the decoded JSON. Encrypted values cannot be filtered on.
    """

    description = "JSON value encrypted at rest"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return None
        return json.loads(crypto.decrypt(value))

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(crypto.PREFIX):
            return json.loads(crypto.decrypt(value))
        return value

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return crypto.encrypt(json.dumps(value, sort_keys=True))

    def value_to_string(self, obj: models.Model) -> str:
        # Serialisation (dumpdata) writes the ciphertext, never the plaintext.
        return self.get_prep_value(self.value_from_object(obj)) or ""


class EncryptedTextField(EncryptedJSONField):
    """A single secret string encrypted at rest."""

    description = "text encrypted at rest"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return None
        return crypto.decrypt(value)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith(crypto.PREFIX):
            return crypto.decrypt(value)
        return value

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        return crypto.encrypt(str(value))


def encrypted_fields() -> list[tuple[type[models.Model], str]]:
    """Every (model, field name) that holds an encrypted value, across installed apps."""
    from django.apps import apps

    found = []
    for model in apps.get_models():
        for f in model._meta.get_fields():
            if isinstance(f, EncryptedJSONField):
                found.append((model, f.name))
    return found
