from django.db import migrations

ROLE_GROUPS = ["Administrators", "Marketers"]


def create_role_groups(apps, schema_editor):
    group_model = apps.get_model("auth", "Group")
    for name in ROLE_GROUPS:
        group_model.objects.using(schema_editor.connection.alias).get_or_create(name=name)


def delete_role_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.using(schema_editor.connection.alias).filter(
        name__in=ROLE_GROUPS
    ).delete()


class Migration(migrations.Migration):
    """The role groups; their permissions are synced from campaign/roles.py after each migrate."""

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("campaign", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_role_groups, delete_role_groups)]
