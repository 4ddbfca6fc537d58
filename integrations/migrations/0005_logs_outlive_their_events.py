import django.db.models.deletion
from django.db import migrations, models

from campaign.migration_ops import AddIndexOnline, DropNotNull, backfill_from_events


class Migration(migrations.Migration):
    """The status callbacks' log outlives its events, as the delivery logs do (see
    delivery/migrations/0012_logs_outlive_their_events.py)."""

    atomic = False

    dependencies = [
        ("events", "0013_follow_ups"),
        ("integrations", "0004_translatable_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="callbackattempt",
            name="configuration",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="events.eventconfiguration",
                verbose_name="configuration",
            ),
        ),
        migrations.AddField(
            model_name="callbackattempt",
            name="event_pkey",
            field=models.CharField(blank=True, db_default="", default="", max_length=64, verbose_name="PKey"),
        ),
        DropNotNull(
            model_name="callbackattempt",
            name="event",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="events.event",
                verbose_name="event",
            ),
        ),
        migrations.RunPython(
            backfill_from_events("integrations", "CallbackAttempt"), migrations.RunPython.noop
        ),
        AddIndexOnline(
            model_name="callbackattempt",
            index=models.Index(fields=["created_at"], name="callback_attempt_created"),
        ),
    ]
