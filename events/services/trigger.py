"""The trigger path: validate events against the published contract and store them.

Storing is all the API does (SPEC section 7: the least work per request): the dispatcher of the
transactional workers (delivery/dispatcher.py) publishes stored events to the queue. An event the
API answered 2xx for is in PostgreSQL, whatever the broker's state (DLV-3); while the database is
down the API answers 503 and stores nothing.
"""

import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaign.exceptions import ApplicationError, FieldError, NotFoundError, ValidationFailed
from fastpath.rows import row_insert_grouped, rows_copy
from fastpath.versions import per_version
from integrations.models import Integration

from ..contract import ctx_checker
from ..lifecycle import event_initial, events_stored
from ..models import (
    ADDRESS_KEYS,
    Channel,
    Event,
    EventConfiguration,
    EventConfigurationVersion,
    EventStatus,
    PushPlatform,
    Targeting,
    event_insert_fields,
    event_new,
)
from ..selectors import configuration_for_trigger_get

logger = logging.getLogger(__name__)

PAYLOAD_KEYS = {"ctx", "scheduled", "expiration"}
E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Dates far from now are mistakes; the bounds also keep offsets and the default validity from
# overflowing what Python and the database can hold.
MIN_YEAR, MAX_YEAR = 1970, 9000


class EventNotAllowed(ApplicationError):
    status = 403
    code = "event_not_allowed"


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
        if len(value) > 254:
            return "At most 254 characters."
        try:
            validate_email(value)
        except DjangoValidationError:
            return f"{value!r} is not a valid email address."
        return None
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
    """An ISO 8601 date and time, with `T` or a space between date and time; UTC when no offset."""
    raw = payload.get(key)
    if raw in (None, ""):
        return None
    try:
        value = parse_datetime(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if value is None:
        errors.append(FieldError(key, "Expected an ISO 8601 date and time, e.g. 2026-12-01 08:00:00Z."))
        return None
    if not timezone.is_aware(value):
        value = value.replace(tzinfo=UTC)
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        errors.append(FieldError(key, f"Expected a year between {MIN_YEAR} and {MAX_YEAR}."))
        return None
    return value


def _default_expiration(start: datetime) -> datetime | None:
    try:
        return start + timedelta(seconds=settings.CAMPAIGN_EVENT_DEFAULT_VALIDITY)
    except OverflowError:
        return None


@dataclass
class Checked:
    """One payload validated into the values of its Event row, or its errors."""

    fields: dict = field(default_factory=dict)
    errors: list[FieldError] = field(default_factory=list)


def event_payload_check(*, config: EventConfiguration, payload: object, now: datetime) -> Checked:
    """Validate one payload against the published contract; never raises for bad input."""
    if not isinstance(payload, dict):
        return Checked(errors=[FieldError("", "Expected a JSON object (the event).")])
    errors: list[FieldError] = []
    address_keys = ADDRESS_KEYS[config.channel] if config.targeting == Targeting.EVENT else ()
    allowed = PAYLOAD_KEYS | {key for key, _ in address_keys}
    errors.extend(FieldError(str(key), "Unknown field.") for key in payload if key not in allowed)
    values: dict = {}
    for key, attribute in address_keys:
        problem = _address_error(key, payload.get(key))
        if problem:
            errors.append(FieldError(key, problem))
        else:
            values[attribute] = payload[key]
    scheduled = _parse_when(payload, "scheduled", errors)
    expiration = _parse_when(payload, "expiration", errors)
    if scheduled and expiration and expiration <= scheduled:
        errors.append(FieldError("expiration", "Must be later than scheduled."))
    ctx = payload.get("ctx", {})
    if not isinstance(ctx, dict):
        errors.append(FieldError("ctx", "Expected an object holding the event's fields."))
    else:
        check = version_ctx_check(
            version_pk=config.published_version_id, published_at=config.published_version_published_at
        )
        errors.extend(check(ctx))
    if errors:
        return Checked(errors=errors)
    if expiration is None:
        expiration = _default_expiration(scheduled or now)
    values.update(ctx=ctx, scheduled=scheduled, expiration=expiration)
    return Checked(fields=values)


def configuration_for_trigger(*, event_id: str, integration: Integration | None = None) -> EventConfiguration:
    """The published configuration the caller may trigger: 404 when unknown or unpublished
    (nothing stored), 403 when these credentials are not allowed for it. Loads what the trigger
    reads, plus `message_paused` (whether its message holds new events)."""
    config = configuration_for_trigger_get(event_id=event_id)
    if config is None or config.published_version_id is None:
        raise NotFoundError(f"No published event configuration {event_id}.", code="event_not_found")
    integration_scope_check(integration=integration, configuration=config)
    return config


@per_version(maxsize=512)
def version_ctx_check(*, version_pk: int, published_at: datetime) -> Callable[[object], list[FieldError]]:
    """The check of `ctx` against a published version's schema, read and compiled once per process
    (fastpath/versions.py: a published version never changes)."""
    schema = EventConfigurationVersion.objects.values_list("ctx_schema", flat=True).get(pk=version_pk)
    return ctx_checker(schema=schema)


def _unit_path(instance, attribute: str = "unit_path") -> str | None:
    path = getattr(instance, attribute, None)
    return path if path is not None else instance.unit.path


def integration_reaches(*, integration: Integration, configuration: EventConfiguration) -> bool:
    """True when the event belongs to the credentials' unit or to one below it."""
    if integration is None:
        return True
    return _unit_path(configuration).startswith(_unit_path(integration))


def integration_scope_check(*, integration: Integration | None, configuration: EventConfiguration) -> None:
    """404 unless the event belongs to the credentials' organisational unit or one below it (an
    event of another unit does not exist for them, exactly as an unknown one); 403 unless these
    credentials may use this event (all events, or the listed ones)."""
    if integration is None:
        return
    if not integration_reaches(integration=integration, configuration=configuration):
        raise NotFoundError(
            f"No published event configuration {configuration.event_id}.", code="event_not_found"
        )
    if integration.all_events:
        return
    allowed = getattr(integration, "allowed_configuration_ids", None)  # set by authentication
    if allowed is None:
        allowed = set(integration.allowed_events.values_list("pk", flat=True))
    if configuration.pk not in allowed:
        raise EventNotAllowed(f"These credentials are not allowed to use {configuration.event_id}.")


def _inserted(config: EventConfiguration, status: str) -> tuple[str, ...]:
    address = (
        tuple(name for _, name in ADDRESS_KEYS[config.channel]) if config.targeting == Targeting.EVENT else ()
    )
    return event_insert_fields(address + (("error",) if status == EventStatus.TOO_OLD else ()))


def _event_build(
    config: EventConfiguration, fields: dict, integration: Integration | None, now: datetime
) -> Event:
    event = event_new(
        pkey=secrets.token_urlsafe(18),
        configuration_id=config.pk,
        configuration_version_id=config.published_version_id,
        integration_id=integration.pk if integration is not None else None,
        created_at=now,
        updated_at=now,
        **fields,
        **event_initial(expiration=fields["expiration"], message_paused=config.message_paused, now=now),
    )
    Event.configuration.field.set_cached_value(event, config)
    if integration is not None:
        Event.integration.field.set_cached_value(event, integration)
    return event


def event_trigger(*, event_id: str, payload: object, integration: Integration | None = None) -> Event:
    """Validate one event and store it: `pending` (for the dispatcher), `paused` when its message
    is paused, `tooOld` when already expired."""
    config = configuration_for_trigger(event_id=event_id, integration=integration)
    if not isinstance(payload, dict):
        raise ValidationFailed("The body must be a JSON object.", code="invalid_body")
    now = timezone.now()
    checked = event_payload_check(config=config, payload=payload, now=now)
    if checked.errors:
        raise ValidationFailed(
            "The event does not match its published data structure.", errors=checked.errors
        )
    event = _event_build(config, checked.fields, integration, now)
    # One INSERT is atomic on its own: no explicit transaction, which saves two round trips on the
    # hot path.
    row_insert_grouped(event, fields=_inserted(config, event.status))
    events_stored(events=[event])
    return event


@dataclass(frozen=True)
class BatchItem:
    index: int
    event: Event | None = None
    errors: list[FieldError] = field(default_factory=list)


def events_trigger_batch(
    *, event_id: str, body: object, integration: Integration | None = None
) -> list[BatchItem]:
    """`{"events": [...]}`: at least one event, at most CAMPAIGN_API_MAX_BATCH_EVENTS. Validate each
    payload on its own; store every valid one in one transaction (all or none). Invalid items are
    answered with their errors and stored nowhere."""
    payloads = body.get("events") if isinstance(body, dict) else None
    limit = settings.CAMPAIGN_API_MAX_BATCH_EVENTS
    if not isinstance(payloads, list) or not payloads:
        raise ValidationFailed(
            'Send {"events": [<event>, ...]}, with at least one event.', code="invalid_body"
        )
    if len(payloads) > limit:
        raise ValidationFailed(
            f"At most {limit} events per batch (got {len(payloads)}).", code="batch_too_large"
        )
    config = configuration_for_trigger(event_id=event_id, integration=integration)
    now = timezone.now()
    items: list[BatchItem] = []
    for index, payload in enumerate(payloads):
        checked = event_payload_check(config=config, payload=payload, now=now)
        if checked.errors:
            items.append(BatchItem(index=index, errors=checked.errors))
        else:
            items.append(BatchItem(index=index, event=_event_build(config, checked.fields, integration, now)))
    events = [item.event for item in items if item.event is not None]
    if events:
        with transaction.atomic():
            # The columns of an expired event too (its status, processed_at and error), which
            # the others hold at their defaults.
            rows_copy(events, fields=_inserted(config, EventStatus.TOO_OLD))
            events_stored(events=events)
    return items
