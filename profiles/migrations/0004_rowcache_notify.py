"""Profile attribute definitions are read through the row cache (fastpath/rowcache.py): their
table notifies the processes on every change, as the other cached tables do. Nothing on SQLite."""

from django.db import migrations

TABLE = "profiles_attributedefinition"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE TRIGGER mc_rowcache_notify AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION mc_rowcache_notify()"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP TRIGGER IF EXISTS mc_rowcache_notify ON {TABLE}")


class Migration(migrations.Migration):
    dependencies = [("profiles", "0003_profile_csv_import"), ("campaign", "0004_rowcache_notify")]
    operations = [migrations.RunPython(create, drop)]
