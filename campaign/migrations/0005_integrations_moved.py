"""The API credentials, idempotency keys and callback attempts now belong to the `integrations` app
(integrations/migrations/0001_initial.py takes them over with their tables and rows). Here they
leave `campaign`'s state, and their content types follow them, so that the permissions granted to
groups and users keep working."""

from django.db import migrations

MODELS = ("integration", "idempotencykey", "callbackattempt")


def content_types_move(apps, schema_editor, source="campaign", target="integrations"):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not ContentType.objects.filter(app_label=target, model=model).exists():
            ContentType.objects.filter(app_label=source, model=model).update(app_label=target)


def content_types_back(apps, schema_editor):
    content_types_move(apps, schema_editor, source="integrations", target="campaign")


class Migration(migrations.Migration):
    dependencies = [
        ("campaign", "0004_rowcache_notify"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("events", "0006_alter_event_integration"),
        ("integrations", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="idempotencykey", name="integration"),
                migrations.RemoveField(model_name="integration", name="allowed_events"),
                migrations.RemoveField(model_name="integration", name="created_by"),
                migrations.DeleteModel(name="CallbackAttempt"),
                migrations.DeleteModel(name="IdempotencyKey"),
                migrations.DeleteModel(name="Integration"),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_move, content_types_back),
    ]
