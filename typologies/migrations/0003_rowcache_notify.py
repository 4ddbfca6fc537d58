"""Typologies and their rules are read for every profile-based event through the row cache
(fastpath/rowcache.py): their tables notify the processes on every change, as the other cached
tables do. Nothing on SQLite, where the cache is off."""

from django.db import migrations

TABLES = ("typologies_typology", "typologies_typology_rules", "typologies_typologyrule")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(
            f"CREATE TRIGGER mc_rowcache_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION mc_rowcache_notify()"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"DROP TRIGGER IF EXISTS mc_rowcache_notify ON {table}")


class Migration(migrations.Migration):
    dependencies = [("typologies", "0002_default_rules"), ("campaign", "0004_rowcache_notify")]
    operations = [migrations.RunPython(create, drop)]
