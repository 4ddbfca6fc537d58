from django.db import migrations


def create_root(apps, schema_editor):
    unit_model = apps.get_model("organisations", "Unit")
    units = unit_model.objects.using(schema_editor.connection.alias)
    if not units.filter(parent__isnull=True).exists():
        root = units.create(name="All")
        root.path = f"/{root.pk}/"
        root.save(update_fields=["path"])


class Migration(migrations.Migration):
    """The root unit "All": every existing configuration, message, test profile, credential and
    user belongs to it (ensured again after every migrate, e.g. after a flush)."""

    dependencies = [("organisations", "0001_units_and_memberships")]

    operations = [migrations.RunPython(create_root, migrations.RunPython.noop)]
