"""Create the database cache table used when REDIS_URL is unset.

As a migration, so that every database (including test databases) has it without a separate
`createcachetable` step. With Redis configured the cache does not use it; it stays empty.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    call_command("createcachetable", "concord_cache", database=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = []
    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
