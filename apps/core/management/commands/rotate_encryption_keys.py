"""Re-encrypt every stored secret with the newest key in CONCORD_ENCRYPTION_KEY."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.core import crypto
from apps.core.fields import encrypted_fields


class Command(BaseCommand):
    help = (
        "Re-encrypt every encrypted value with the first key of CONCORD_ENCRYPTION_KEY. "
        "Rotate by putting a new key first (NEW,OLD), running this, then removing OLD."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        total = 0
        for model, field_name in encrypted_fields():
            column = model._meta.get_field(field_name).column
            with transaction.atomic():
                # Raw column values: the ciphertext, without decoding to Python values.
                rows = (
                    model._base_manager.select_for_update()
                    .exclude(**{f"{field_name}__isnull": True})
                    .values_list("pk", flat=True)
                )
                for pk in rows.iterator():
                    raw = self._raw(model, column, pk)
                    if not raw:
                        continue
                    try:
                        rotated = crypto.rotate(raw)
                    except crypto.DecryptionError as exc:
                        raise CommandError(
                            f"{model._meta.label} {pk}.{field_name}: {exc}; nothing was changed"
                        ) from exc
                    self._write(model, column, pk, rotated)
                    total += 1
        self.stdout.write(self.style.SUCCESS(f"re-encrypted {total} values with the newest key"))

    @staticmethod
    def _raw(model: Any, column: str, pk: Any) -> str | None:
        from django.db import connection

        table = connection.ops.quote_name(model._meta.db_table)
        col = connection.ops.quote_name(column)
        pk_col = connection.ops.quote_name(model._meta.pk.column)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {col} FROM {table} WHERE {pk_col} = %s", [pk])  # noqa: S608
            row = cursor.fetchone()
        return row[0] if row else None

    @staticmethod
    def _write(model: Any, column: str, pk: Any, value: str) -> None:
        from django.db import connection

        table = connection.ops.quote_name(model._meta.db_table)
        col = connection.ops.quote_name(column)
        pk_col = connection.ops.quote_name(model._meta.pk.column)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {col} = %s WHERE {pk_col} = %s",  # noqa: S608
                [value, pk],
            )
