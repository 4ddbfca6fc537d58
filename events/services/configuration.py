from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from campaign.exceptions import ApplicationError

from ..contract import ctx_schema_build
from ..models import (
    EVENT_ID_MAX_LENGTH,
    EVENT_ID_PREFIX,
    EVENT_ID_RE,
    FIELD_ID_RE,
    Channel,
    EventConfiguration,
    EventConfigurationVersion,
    PublicationStatus,
    Targeting,
)


def event_id_normalize(raw: str) -> str:
    event_id = (raw or "").strip()
    if not event_id.startswith(EVENT_ID_PREFIX):
        event_id = EVENT_ID_PREFIX + event_id
    if event_id == EVENT_ID_PREFIX:
        raise ApplicationError("The ID is required.", code="event_id_required")
    if not EVENT_ID_RE.match(event_id):
        raise ApplicationError(
            "The ID may hold letters, digits and '_' only (it becomes part of the API's URL).",
            code="event_id_invalid",
        )
    if len(event_id) > EVENT_ID_MAX_LENGTH:
        raise ApplicationError(
            f"The ID has {len(event_id)} characters with the '{EVENT_ID_PREFIX}' prefix; "
            f"at most {EVENT_ID_MAX_LENGTH} are allowed.",
            code="event_id_too_long",
        )
    return event_id


@transaction.atomic
def event_config_create(
    *, event_id: str, label: str, channel: str, targeting: str, user=None
) -> EventConfiguration:
    event_id = event_id_normalize(event_id)
    if channel not in Channel.values:
        raise ApplicationError(f"Unknown channel {channel!r}.", code="channel_invalid")
    if targeting not in Targeting.values:
        raise ApplicationError(f"Unknown targeting dimension {targeting!r}.", code="targeting_invalid")
    if not label.strip():
        raise ApplicationError("The label is required.", code="label_required")
    if EventConfiguration.objects.filter(event_id=event_id).exists():
        raise ApplicationError(
            f"An event configuration with ID {event_id} already exists.", code="event_id_taken"
        )
    return EventConfiguration.objects.create(
        event_id=event_id, label=label.strip(), channel=channel, targeting=targeting, modified_by=user
    )


IMMUTABLE_FIELDS = {"event_id": "ID", "channel": "channel", "targeting": "targeting dimension"}


def event_config_update(*, config: EventConfiguration, user=None, **changes) -> EventConfiguration:
    """Change the editable attributes (label); the ID, channel and targeting never change."""
    for name, value in changes.items():
        if name in IMMUTABLE_FIELDS:
            if getattr(config, name) != value:
                raise ApplicationError(
                    f"The {IMMUTABLE_FIELDS[name]} cannot be changed after creation.", code="immutable"
                )
        elif name != "label":
            raise ApplicationError(f"{name} cannot be changed here.", code="not_editable")
    label = changes.get("label", config.label).strip()
    if not label:
        raise ApplicationError("The label is required.", code="label_required")
    config.label = label
    config.modified_by = user
    config.save(update_fields=["label", "modified_by", "modified_at"])
    return config


def _structure_snapshot(config: EventConfiguration) -> dict:
    fields = []
    errors = []
    for field in config.fields.all():
        if not FIELD_ID_RE.match(field.field_id):
            errors.append(
                f"Field ID {field.field_id!r} must use letters, digits and '_', not starting with a digit."
            )
        fields.append(
            {
                "field_id": field.field_id,
                "label": field.label,
                "type": field.type,
                "max_length": field.max_length,
                "required": field.required,
            }
        )
    if errors:
        raise ApplicationError(" ".join(errors), code="structure_invalid")
    return {"fields": fields}


@transaction.atomic
def event_config_publish(*, config: EventConfiguration, user=None) -> EventConfigurationVersion:
    """Freeze the data structure into a new version, open the endpoint, create the message."""
    from messages_app.services import message_ensure_for_configuration

    config = EventConfiguration.objects.select_for_update().get(pk=config.pk)
    structure = _structure_snapshot(config)
    number = (config.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = EventConfigurationVersion.objects.create(
        configuration=config,
        number=number,
        structure=structure,
        ctx_schema=ctx_schema_build(fields=structure["fields"]),
        published_by=user,
    )
    config.published_version = version
    config.status = PublicationStatus.PUBLISHED
    config.modified_by = user
    config.save(update_fields=["published_version", "status", "modified_by", "modified_at"])
    message_ensure_for_configuration(config=config)
    return version


@transaction.atomic
def event_config_unpublish(*, config: EventConfiguration, user=None) -> EventConfiguration:
    """Close the endpoint (later events are refused, not stored) and unpublish the message."""
    from messages_app.services import message_withdraw

    updated = EventConfiguration.objects.filter(pk=config.pk, status=PublicationStatus.PUBLISHED).update(
        status=PublicationStatus.DRAFT, modified_by=user, modified_at=timezone.now()
    )
    if not updated:
        raise ApplicationError(f"{config.event_id} is not published.", code="not_published")
    config.refresh_from_db()
    message = getattr(config, "message", None)
    if message is not None:
        message_withdraw(message=message, user=user)
    return config
