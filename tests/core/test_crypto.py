"""Secrets are ciphertext at rest, decryptable with any configured key, and rotatable."""

from __future__ import annotations

import io
import json

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from apps.connections.models import Connection
from apps.core import crypto
from tests.factories import WorkspaceFactory

SECRET = "pat-na1-0b7e5c2d-plaintext-token"


def raw_column(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        return cursor.fetchone()[0]


def make_connection(**secrets: str) -> Connection:
    return Connection.objects.create(
        workspace=WorkspaceFactory(),
        name="HubSpot",
        kind="hubspot",
        config={"base_url": "https://api.hubapi.com"},
        secrets=secrets,
    )


def test_each_encryption_uses_a_fresh_nonce():
    assert crypto.encrypt(SECRET) != crypto.encrypt(SECRET)
    assert crypto.decrypt(crypto.encrypt(SECRET)) == SECRET


def test_tampered_ciphertext_is_refused():
    token = crypto.encrypt(SECRET)
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(crypto.DecryptionError):
        crypto.decrypt(tampered)


@pytest.mark.django_db
def test_database_holds_only_ciphertext():
    conn = make_connection(access_token=SECRET)
    stored = raw_column("connections_connection", "secrets", conn.pk)
    assert SECRET not in stored
    assert stored.startswith("fernet:")
    assert Connection.objects.get(pk=conn.pk).secrets == {"access_token": SECRET}


@pytest.mark.django_db
def test_a_database_dump_contains_no_plaintext_secret():
    conn = make_connection(access_token=SECRET)
    out = io.StringIO()
    call_command("dumpdata", "connections", stdout=out)
    dump = out.getvalue()
    assert SECRET not in dump
    assert conn.webhook_secret not in dump
    [row] = json.loads(dump)
    assert row["fields"]["secrets"].startswith("fernet:")


@pytest.mark.django_db
def test_rotation_reencrypts_every_value_with_the_newest_key(settings):
    old_key = settings.CONCORD_ENCRYPTION_KEYS[0]
    conn = make_connection(access_token=SECRET)
    before = raw_column("connections_connection", "secrets", conn.pk)

    new_key = Fernet.generate_key().decode()
    settings.CONCORD_ENCRYPTION_KEYS = [new_key, old_key]
    out = io.StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    assert "re-encrypted 2 values" in out.getvalue()  # secrets and webhook_secret
    after = raw_column("connections_connection", "secrets", conn.pk)
    assert after != before

    # The old key can now be dropped: everything reads with the new key alone.
    settings.CONCORD_ENCRYPTION_KEYS = [new_key]
    assert Connection.objects.get(pk=conn.pk).secrets == {"access_token": SECRET}
    # And the old key alone can no longer read it.
    settings.CONCORD_ENCRYPTION_KEYS = [old_key]
    with pytest.raises(crypto.DecryptionError):
        Connection.objects.get(pk=conn.pk)
