import logging
import secrets
from datetime import UTC, datetime
from functools import partial

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaign.exceptions import ApplicationError, FieldError, NotFoundError, ValidationFailed

from . import selectors
from .contract import ctx_schema_build, ctx_validate
from .models import (
    EVENT_ID_MAX_LENGTH,
    EVENT_ID_PREFIX,
    EVENT_ID_RE,
    FIELD_ID_RE,
    Channel,
    Event,
    EventConfiguration,
    EventConfigurationVersion,
    EventStatus,
    PublicationStatus,
    Targeting,
)

logger = logging.getLogger(__name__)

# The top-level address key(s) of an event-based payload, per channel (ACS names).
ADDRESS_KEYS = {Channel.EMAIL: "email"}
PAYLOAD_KEYS = {"ctx", "scheduled", "expiration"}


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


def _parse_when(payload: dict, key: str, errors: list[FieldError]) -> datetime | None:
    raw = payload.get(key)
    if raw in (None, ""):
        return None
    value = parse_datetime(raw) if isinstance(raw, str) else None
    if value is None:
        errors.append(FieldError(key, "Expected an ISO 8601 date and time, e.g. 2026-12-01 08:00:00Z."))
        return None
    return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)


def event_trigger(*, event_id: str, payload: object, integration=None) -> Event:
    """Validate one event against the published contract, store it `pending`, enqueue it after commit."""
    config = selectors.configuration_published_get(event_id=event_id)
    if config is None or config.published_version is None:
        raise NotFoundError(f"No published event configuration {event_id}.", code="event_not_found")
    if not isinstance(payload, dict):
        raise ValidationFailed("The body must be a JSON object.", code="invalid_body")

    version = config.published_version
    errors: list[FieldError] = []
    address_key = ADDRESS_KEYS.get(config.channel) if config.targeting == Targeting.EVENT else None
    allowed = PAYLOAD_KEYS | ({address_key} if address_key else set())
    errors.extend(FieldError(key, "Unknown field.") for key in payload if key not in allowed)
    email = ""
    if address_key == "email":
        email = payload.get("email")
        if email in (None, ""):
            errors.append(FieldError("email", "This field is required: the recipient's email address."))
        elif not isinstance(email, str) or len(email) > 254:
            errors.append(FieldError("email", "Expected an email address."))
        else:
            try:
                validate_email(email)
            except DjangoValidationError:
                errors.append(FieldError("email", f"{email!r} is not a valid email address."))
    scheduled = _parse_when(payload, "scheduled", errors)
    expiration = _parse_when(payload, "expiration", errors)
    ctx = payload.get("ctx", {})
    if not isinstance(ctx, dict):
        errors.append(FieldError("ctx", "Expected an object holding the event's fields."))
    else:
        errors.extend(ctx_validate(schema=version.ctx_schema, ctx=ctx))
    if errors:
        raise ValidationFailed("The event does not match its published data structure.", errors=errors)

    with transaction.atomic():
        event = Event.objects.create(
            pkey=secrets.token_urlsafe(18),
            configuration=config,
            configuration_version=version,
            integration=integration,
            email=email,
            ctx=ctx,
            scheduled=scheduled,
            expiration=expiration,
            status=EventStatus.PENDING,
        )
        transaction.on_commit(partial(event_enqueue, event_pk=event.pk, eta=scheduled), robust=True)
    return event


def event_enqueue(*, event_pk: int, eta: datetime | None = None) -> None:
    """Hand the event to the transactional queue; if the broker refuses, the event stays stored `pending`."""
    from .tasks import event_process

    try:
        event_process.apply_async(args=[event_pk], eta=eta if eta and eta > timezone.now() else None)
    except Exception:
        logger.exception("could not enqueue event %s; it stays pending", event_pk)
