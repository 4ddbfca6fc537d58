import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def attribute_profiles(apps, schema_editor):
    """The interactions recorded before get the profile their event was counted as a contact of
    (the contact's key is the event's PKey), while the event is still kept: the profiles of the
    messages without a typology (no contact) and of purged events stay unknown."""
    Interaction = apps.get_model("delivery", "Interaction")
    Event = apps.get_model("events", "Event")
    Contact = apps.get_model("typologies", "Contact")
    pkey = Event.objects.filter(pk=OuterRef(OuterRef("event_id"))).order_by().values("pkey")[:1]
    contact = Contact.objects.filter(key=Subquery(pkey)).order_by("pk").values("profile_id")[:1]
    profile_based = Event.objects.filter(configuration__targeting="profile").values("pk")
    Interaction.objects.filter(profile__isnull=True, event_id__in=profile_based).update(
        profile_id=Subquery(contact)
    )


class Migration(migrations.Migration):
    dependencies = [
        ("delivery", "0009_translatable_names"),
        ("events", "0013_follow_ups"),
        ("profiles", "0005_translatable_names_2"),
        ("typologies", "0004_translatable_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="interaction",
            name="profile",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="profiles.profile",
                verbose_name="profile",
            ),
        ),
        migrations.RunPython(attribute_profiles, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="interaction",
            index=models.Index(
                condition=models.Q(("machine_reason", ""), ("profile__isnull", False)),
                fields=["configuration_id", "kind", "profile"],
                name="interaction_human_profile",
            ),
        ),
        migrations.AddIndex(
            model_name="interaction",
            index=models.Index(
                condition=models.Q(("profile__isnull", False)), fields=["profile"], name="interaction_profile"
            ),
        ),
    ]
