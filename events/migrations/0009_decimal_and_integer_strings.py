"""Published versions accept decimal and integer fields as text too ("80.50", "3"), as the contract
now compiles them: the stored JSON Schema of each version is widened the same way (the structure,
what the marketer sees, does not change)."""

from django.db import migrations

# As events.contract compiles them (copied: a migration does not import code that may change).
PATTERNS = {
    "number": r"^-?[0-9]{1,30}(\.[0-9]{1,30})?(?![\s\S])",
    "integer": r"^-?[0-9]{1,30}(?![\s\S])",
}


def _widen(schema: dict) -> bool:
    changed = False
    for field in (schema.get("properties") or {}).values():
        if not isinstance(field, dict):
            continue
        if field.get("type") == "array" and isinstance(field.get("items"), dict):
            changed |= _widen(field["items"])
            continue
        types = field.get("type")
        types = types if isinstance(types, list) else [types]
        for kind, pattern in PATTERNS.items():
            if kind in types and "string" not in types:
                field["type"] = [kind, "string", *(["null"] if "null" in types else [])]
                field["pattern"] = pattern
                changed = True
    return changed


def widen_schemas(apps, schema_editor):
    Version = apps.get_model("events", "EventConfigurationVersion")
    db = schema_editor.connection.alias  # the database being migrated, whatever the routers say
    for version in Version.objects.using(db).only("pk", "ctx_schema").iterator():
        if isinstance(version.ctx_schema, dict) and _widen(version.ctx_schema):
            version.save(update_fields=["ctx_schema"])


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0008_publicationlog_duration_wording"),
    ]

    operations = [migrations.RunPython(widen_schemas, migrations.RunPython.noop)]
