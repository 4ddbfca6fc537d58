import django.db.models.deletion
from django.db import migrations, models

from campaign.migration_ops import AddIndexOnline, DropNotNull, backfill_from_events

CONFIGURATION = models.ForeignKey(
    blank=True,
    db_constraint=False,
    db_index=False,
    null=True,
    on_delete=django.db.models.deletion.CASCADE,
    related_name="+",
    to="events.eventconfiguration",
    verbose_name="configuration",
)
PKEY = models.CharField(blank=True, db_default="", default="", max_length=64, verbose_name="PKey")


class Migration(migrations.Migration):
    """The delivery logs outlive their event (REP-3: events 1 month, logs 6 months): the event
    becomes nullable (SET_NULL), and each row keeps the event's PKey and configuration. Every step
    is cheap on a large table: columns added without a rewrite, DROP NOT NULL, the backfill in
    bounded statements, the indexes of the logs' retention built without blocking writes."""

    atomic = False

    dependencies = [
        ("delivery", "0011_marketing_tracking"),
        ("events", "0013_follow_ups"),
        ("typologies", "0004_translatable_names"),
    ]

    operations = [
        migrations.AddField(model_name="deliveryattempt", name="configuration", field=CONFIGURATION),
        migrations.AddField(model_name="deliveryattempt", name="event_pkey", field=PKEY),
        migrations.AddField(model_name="exclusion", name="configuration", field=CONFIGURATION),
        migrations.AddField(model_name="exclusion", name="event_pkey", field=PKEY),
        migrations.AddField(model_name="trackingevent", name="configuration", field=CONFIGURATION),
        migrations.AddField(model_name="trackingevent", name="event_pkey", field=PKEY),
        DropNotNull(
            model_name="deliveryattempt",
            name="event",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="delivery_attempts",
                to="events.event",
                verbose_name="event",
            ),
        ),
        DropNotNull(
            model_name="exclusion",
            name="event",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="exclusions",
                to="events.event",
                verbose_name="event",
            ),
        ),
        # Already nullable: only Django's on_delete changes, no SQL.
        migrations.AlterField(
            model_name="trackingevent",
            name="event",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="tracking_events",
                to="events.event",
                verbose_name="event",
            ),
        ),
        migrations.RunPython(backfill_from_events("delivery", "DeliveryAttempt"), migrations.RunPython.noop),
        migrations.RunPython(backfill_from_events("delivery", "Exclusion"), migrations.RunPython.noop),
        migrations.RunPython(backfill_from_events("delivery", "TrackingEvent"), migrations.RunPython.noop),
        AddIndexOnline(
            model_name="deliveryattempt",
            index=models.Index(fields=["started_at"], name="attempt_started"),
        ),
        AddIndexOnline(
            model_name="exclusion",
            index=models.Index(fields=["created_at"], name="exclusion_created"),
        ),
        AddIndexOnline(
            model_name="trackingevent",
            index=models.Index(fields=["received_at"], name="tracking_received"),
        ),
    ]
