"""A published profile-based configuration and its published message, for any channel."""

from datetime import date
from decimal import Decimal

from events.services import event_config_structure_set
from messages_app.services import configuration_publish, message_publish, message_update
from profiles.models import AttributeDefinition, Profile
from tests.factories import EventConfigurationFactory

APPLICATION = "com.example.shop"

# The event names the customer by the website's id; the targeting enrichment `customer` finds
# the profile.
STRUCTURE = {
    "fields": [{"field_id": "customerId", "label": "Customer", "type": "text", "required": True}],
    "collections": [],
    "enrichments": [
        {
            "name": "customer",
            "target": "event",
            "resource": "profile",
            "join": [{"event_field": "customerId", "profile_field": "external_id"}],
            "targeting": True,
        }
    ],
}


def attributes_declared() -> None:
    AttributeDefinition.objects.get_or_create(
        name="member_since", defaults={"label": "Member since", "type": "date"}
    )
    AttributeDefinition.objects.get_or_create(name="points", defaults={"label": "Points", "type": "decimal"})


def jane(**fields) -> Profile:
    """A stored profile with a typed attribute of each kind the tests read."""
    attributes_declared()
    values = {
        "external_id": "C-1",
        "email": "jane@example.com",
        "mobile_phone": "+33612345678",
        "first_name": "Jane",
        "last_name": "Doe",
        "language": "en",
        "time_zone": "Europe/Paris",
        "attributes": {"member_since": "2021-03-04", "points": "1234.50"},
        **fields,
    }
    return Profile.objects.create(**values)


JANE_TYPED = {"member_since": date(2021, 3, 4), "points": Decimal("1234.50")}


def profile_based_event(*, event_id: str, channel: str, content: dict, push_application: str = APPLICATION):
    attributes_declared()
    config = EventConfigurationFactory(
        event_id=event_id,
        channel=channel,
        targeting="profile",
        push_application=push_application if channel == "push" else "",
    )
    event_config_structure_set(config=config, structure=STRUCTURE)
    configuration_publish(config=config)
    config.refresh_from_db()
    message_update(message=config.message, **content)
    message_publish(message=config.message)
    config.refresh_from_db()
    return config
