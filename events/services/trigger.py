"""The trigger path: validate one event against the published contract, store it, enqueue it."""

import logging
import re
import secrets
from datetime import UTC, datetime

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaign.exceptions import FieldError, NotFoundError, ValidationFailed

from .. import selectors
from ..contract import ctx_validate
from ..models import Channel, Event, EventStatus, PushPlatform, Targeting

logger = logging.getLogger(__name__)

# The top-level address keys of an event-based payload per channel (ACS's names), and the
# Event attribute each one is stored in.
ADDRESS_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    Channel.EMAIL: (("email", "email"),),
    Channel.SMS: (("mobilePhone", "mobile_phone"),),
    Channel.PUSH: (
        ("registrationToken", "push_token"),
        ("application", "push_application"),
        ("pushPlatform", "push_platform"),
    ),
}
PAYLOAD_KEYS = {"ctx", "scheduled", "expiration"}
E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")


def _address_error(key: str, value: object) -> str | None:
    """Why this address value is unusable, or None."""
    if value in (None, ""):
        return {
            "email": "This field is required: the recipient's email address.",
            "mobilePhone": "This field is required: the recipient's mobile phone (E.164, e.g. +33612345678).",
            "registrationToken": "This field is required: the device's push registration token.",
            "application": "This field is required: the mobile application's id.",
            "pushPlatform": "This field is required: gcm or apns.",
        }[key]
    if not isinstance(value, str):
        return f"Expected a string, got {type(value).__name__}."
    if key == "email":
        try:
            validate_email(value)
        except DjangoValidationError:
            return f"{value!r} is not a valid email address."
        return None if len(value) <= 254 else "At most 254 characters."
    if key == "mobilePhone" and not E164_RE.match(value):
        return f"{value!r} is not in E.164 form (+, country code and number, e.g. +33612345678)."
    if key == "pushPlatform" and value not in PushPlatform.values:
        return f"Expected gcm or apns, got {value!r}."
    if key in ("registrationToken", "application"):
        limit = Event._meta.get_field(dict(ADDRESS_KEYS[Channel.PUSH])[key]).max_length
        if len(value) > limit:
            return f"At most {limit} characters."
    return None


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
    address_keys = ADDRESS_KEYS[config.channel] if config.targeting == Targeting.EVENT else ()
    allowed = PAYLOAD_KEYS | {key for key, _ in address_keys}
    errors.extend(FieldError(key, "Unknown field.") for key in payload if key not in allowed)
    addresses = {}
    for key, attribute in address_keys:
        problem = _address_error(key, payload.get(key))
        if problem:
            errors.append(FieldError(key, problem))
        else:
            addresses[attribute] = payload[key]
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
            **addresses,
            ctx=ctx,
            scheduled=scheduled,
            expiration=expiration,
            status=EventStatus.PENDING,
        )
        transaction.on_commit(lambda: event_enqueue(event_pk=event.pk, eta=scheduled), robust=True)
    return event


def event_enqueue(*, event_pk: int, eta: datetime | None = None) -> None:
    """Hand the event to the transactional queue; if the broker refuses, the event stays stored `pending`."""
    from ..tasks import event_process

    try:
        event_process.apply_async(args=[event_pk], eta=eta if eta and eta > timezone.now() else None)
    except Exception:
        logger.exception("could not enqueue event %s; it stays pending", event_pk)
