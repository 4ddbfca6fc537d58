from django.db import migrations
from django.db.models import Count, Exists, OuterRef, Subquery


def count_attempts(apps, schema_editor):
    """Events that may still be attempted (not in a final status) get the count of their logged
    attempts, so that the next one is numbered after them. Final events keep 0: nothing will
    attempt them again, and leaving them alone keeps this a small update on a large table."""
    Event = apps.get_model("events", "Event")
    DeliveryAttempt = apps.get_model("delivery", "DeliveryAttempt")
    logged = DeliveryAttempt.objects.filter(event=OuterRef("pk")).order_by().values("event")
    Event.objects.filter(status__in=["pending", "processing", "paused"]).filter(Exists(logged)).update(
        attempts=Subquery(logged.annotate(n=Count("pk")).values("n"))
    )


class Migration(migrations.Migration):
    dependencies = [
        ("delivery", "0002_attempts_quarantine_tracking"),
        ("events", "0004_event_attempts"),
    ]

    operations = [migrations.RunPython(count_attempts, migrations.RunPython.noop)]
