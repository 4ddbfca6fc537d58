"""Migration operations for large tables, which must not be locked for as long as they take to read
(the delivery logs hold months of rows; the trigger and delivery paths write them all the time).

PostgreSQL gets the cheap statement; other databases (SQLite in development) Django's own.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations
from django.db.models import Max, Min

# Rows updated per statement (each its own transaction) by `backfill_from_events`: a few tens of
# milliseconds each, so that the rows written meanwhile by the delivery path never wait long.
BACKFILL_BATCH_SIZE = 10_000


class DropNotNull(migrations.AlterField):
    """`AlterField` making a foreign key nullable (its `on_delete` is Django's). On PostgreSQL only
    DROP NOT NULL, which is instant: Django's own drops the constraint and adds it again, which
    checks every row under a lock."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        self._alter(schema_editor, to_state.apps.get_model(app_label, self.model_name), "DROP")
        return None

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        self._alter(schema_editor, to_state.apps.get_model(app_label, self.model_name), "SET")
        return None

    def _alter(self, schema_editor, model, verb: str) -> None:
        quote = schema_editor.quote_name
        column = model._meta.get_field(self.name).column
        schema_editor.execute(
            f"ALTER TABLE {quote(model._meta.db_table)} ALTER COLUMN {quote(column)} {verb} NOT NULL"
        )


class AddIndexOnline(AddIndexConcurrently):
    """`AddIndex` that does not block writes on PostgreSQL (CREATE INDEX CONCURRENTLY; the migration
    must be `atomic = False`); a plain CREATE INDEX elsewhere."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return migrations.AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


def backfill_from_events(app_label: str, model_name: str):
    """A RunPython function copying to the existing rows of a log its event's PKey and configuration,
    by ranges of BACKFILL_BATCH_SIZE primary keys, each range its own statement (the migration is
    `atomic = False`, so each commits on its own)."""

    def backfill(apps, schema_editor):
        model = apps.get_model(app_label, model_name)
        event = apps.get_model("events", "Event")
        quote = schema_editor.quote_name
        log, events = quote(model._meta.db_table), quote(event._meta.db_table)
        alias = schema_editor.connection.alias
        bounds = model.objects.using(alias).aggregate(low=Min("pk"), high=Max("pk"))
        low, high = bounds["low"], bounds["high"]
        if low is None:
            return
        sql = (
            f"UPDATE {log} SET event_pkey = {events}.pkey, configuration_id = {events}.configuration_id "  # noqa: S608
            f"FROM {events} WHERE {events}.id = {log}.event_id AND {log}.id >= %s AND {log}.id < %s"
        )
        with schema_editor.connection.cursor() as cursor:
            for start in range(low, high + 1, BACKFILL_BATCH_SIZE):
                cursor.execute(sql, [start, start + BACKFILL_BATCH_SIZE])

    return backfill
