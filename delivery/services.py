"""Processing of one event: claim it, render the published message, send it, record the outcome."""

import logging
import smtplib

from anymail.exceptions import AnymailError
from django.utils import timezone

from campaign.callbacks import event_status_changed
from campaign.exceptions import ApplicationError
from events.enrichment import TargetingFailed, event_context, event_recipient
from events.models import Event, EventStatus
from messages_app.models import MessageStatus, TransactionalMessage
from messages_app.rendering import message_render

from .channels import message_send

logger = logging.getLogger(__name__)


def _finish(event: Event, status: str, **fields) -> None:
    Event.objects.filter(pk=event.pk, status=EventStatus.PROCESSING).update(
        status=status, processed_at=timezone.now(), updated_at=timezone.now(), **fields
    )
    event_status_changed(event_pk=event.pk)


def event_deliver(*, event_pk: int) -> None:
    """Render the published message for one event and send it. A redelivered task finds
    the event already claimed and does nothing."""
    claimed = Event.objects.filter(pk=event_pk, status=EventStatus.PENDING).update(
        status=EventStatus.PROCESSING, updated_at=timezone.now()
    )
    if not claimed:
        return
    event = Event.objects.select_related("configuration").get(pk=event_pk)
    now = timezone.now()
    if event.expiration and event.expiration < now:
        _finish(event, EventStatus.TOO_OLD, error="Expired before it could be processed.")
        return
    message = (
        TransactionalMessage.objects.select_related("published_version")
        .filter(configuration=event.configuration, status=MessageStatus.PUBLISHED)
        .first()
    )
    if message is None or message.published_version is None:
        _finish(event, EventStatus.ROUTING_FAILED, error="No published message for this event.")
        return
    channel = event.configuration.channel
    try:
        recipient = event_recipient(event=event)
    except TargetingFailed as exc:
        _finish(event, EventStatus.TARGETING_FAILED, error=exc.message)
        return
    try:
        rendered = message_render(
            channel=channel, content=message.published_version.content, context=event_context(event=event)
        )
        provider_id = message_send(channel=channel, pkey=event.pkey, recipient=recipient, rendered=rendered)
    except (ApplicationError, AnymailError, smtplib.SMTPException, OSError) as exc:
        logger.warning("event %s not delivered: %s", event.pkey, exc)
        _finish(event, EventStatus.DELIVERY_FAILED, error=str(exc)[:2000])
        return
    _finish(event, EventStatus.PROCESSED, provider_message_id=provider_id[:255], error="")
