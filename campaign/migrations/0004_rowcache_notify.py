"""PostgreSQL tells every web process when a row the trigger caches changes (campaign/rowcache.py):
a statement trigger on each cached table runs NOTIFY mc_rowcache, delivered on commit. Nothing on
SQLite, where the cache is off."""

from django.db import migrations

TABLES = (
    "campaign_integration",
    "campaign_integration_allowed_events",
    "events_eventconfiguration",
    "messages_app_transactionalmessage",
)
FUNCTION = """
CREATE OR REPLACE FUNCTION mc_rowcache_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mc_rowcache', TG_TABLE_NAME);
    RETURN NULL;
END
$$
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(FUNCTION)
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
    schema_editor.execute("DROP FUNCTION IF EXISTS mc_rowcache_notify()")


class Migration(migrations.Migration):
    dependencies = [
        ("campaign", "0003_api_scope_idempotency_callbacks"),
        ("events", "0004_event_attempts"),
        ("messages_app", "0002_authoring"),
    ]

    operations = [migrations.RunPython(create, drop)]
