"""The rules and typologies every installation starts with (all editable afterwards)."""

from django.db import migrations

RULES = [
    # (key, label, kind, channel, order, active, extra)
    ("missing", "Address missing", "addressMissing", "", 10, True, {}),
    ("quarantine", "Address in quarantine", "quarantined", "", 20, True, {}),
    ("denylist", "Address on the denylist", "denylisted", "", 30, True, {}),
    ("opted_out", "Profile opted out of the channel", "optedOut", "", 40, True, {}),
    ("duplicate", "Duplicate address in one delivery", "duplicateAddress", "", 50, True, {}),
    (
        "domains",
        "Disposable email domains",
        "domainExclusion",
        "email",
        60,
        False,
        {"domains": "mailinator.com\nyopmail.com\nguerrillamail.com"},
    ),
    ("subject", "Subject missing", "subjectMissing", "email", 100, True, {}),
    ("unsubscribe", "Unsubscribe link missing in a marketing email", "unsubscribeLinkMissing", "email", 110, True, {}),
    ("segments", "SMS over 3 segments", "smsSegments", "sms", 120, True, {"max_segments": 3}),
]
TYPOLOGIES = [
    (
        "transactional-profile",
        "Transactional message on profile",
        "The rules of profile-based transactional messages (new ones get this typology).",
        ["missing", "quarantine", "denylist", "opted_out", "domains", "subject", "segments"],
    ),
    (
        "marketing",
        "Marketing delivery",
        "The rules of marketing deliveries.",
        ["missing", "quarantine", "denylist", "opted_out", "duplicate", "domains", "subject", "unsubscribe", "segments"],
    ),
]


def create(apps, schema_editor):
    # In the database being migrated (a router may send other writes elsewhere).
    db = schema_editor.connection.alias
    TypologyRule = apps.get_model("typologies", "TypologyRule")
    Typology = apps.get_model("typologies", "Typology")
    rules = {}
    for key, label, kind, channel, order, active, extra in RULES:
        rules[key] = TypologyRule.objects.using(db).create(
            label=label, kind=kind, channel=channel, order=order, active=active, **extra
        )
    for name, label, description, keys in TYPOLOGIES:
        typology = Typology.objects.using(db).create(name=name, label=label, description=description)
        typology.rules.set([rules[key] for key in keys])


def remove(apps, schema_editor):
    db = schema_editor.connection.alias
    apps.get_model("typologies", "Typology").objects.using(db).filter(name__in=[t[0] for t in TYPOLOGIES]).delete()
    apps.get_model("typologies", "TypologyRule").objects.using(db).filter(label__in=[r[1] for r in RULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("typologies", "0001_initial")]
    operations = [migrations.RunPython(create, remove)]
