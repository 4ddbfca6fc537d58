"""Publishing an event configuration together with its message: the one service that calls both
sides, events' configuration services first, then this app's message, in one transaction. The
events app never calls back into this one."""

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext

from audit.context import audit_quiet
from audit.models import AuditAction
from audit.services import audit_record
from campaign.exceptions import ApplicationError
from events.models import EventConfiguration, EventConfigurationVersion, PublicationStatus
from events.services import event_config_duplicate, event_config_publish, event_config_unpublish

from ..models import CONTENT_FIELDS, MessageStatus, TransactionalMessage
from ..signals import configuration_published
from .messages import message_ensure_for_configuration, message_update, message_withdraw


def configuration_publish(
    *, config: EventConfiguration, user: AbstractBaseUser | None = None
) -> EventConfigurationVersion:
    """Publish the configuration (its endpoint opens on the new version) and create its message
    (in Draft) the first time."""

    def message_ready(config: EventConfiguration) -> str:
        message = message_ensure_for_configuration(config=config)
        configuration_published.send(sender=TransactionalMessage, message=message, user=user)
        return f"Message {message.message_id} ready"

    return event_config_publish(config=config, user=user, then=message_ready)


def configuration_unpublish(
    *, config: EventConfiguration, user: AbstractBaseUser | None = None
) -> EventConfiguration:
    """Close the configuration's endpoint and unpublish its message (the events it kept paused
    fail: routingFailed)."""

    def message_off(config: EventConfiguration) -> str | None:
        message = getattr(config, "message", None)
        if message is None:
            return None
        message_withdraw(message=message, user=user)
        return f"Message {message.message_id} unpublished"

    return event_config_unpublish(config=config, user=user, then=message_off)


@transaction.atomic
def message_unpublish(
    *, message: TransactionalMessage, user: AbstractBaseUser | None = None
) -> TransactionalMessage:
    """Unpublish the message, and with it its event configuration (its endpoint closes)."""
    if message.status not in (MessageStatus.PUBLISHED, MessageStatus.PAUSED):
        raise ApplicationError(
            gettext("{message_id} is not published.").format(message_id=message.message_id),
            code="not_published",
        )
    before = {"status": message.status}
    after = {"status": MessageStatus.DRAFT}
    # One action, recorded once, on the message the user unpublished.
    with audit_quiet():
        if message.configuration.status == PublicationStatus.PUBLISHED:
            configuration_unpublish(config=message.configuration, user=user)
            after["configuration"] = f"{message.configuration.event_id} unpublished"
        else:
            message_withdraw(message=message, user=user)
    message.refresh_from_db()
    audit_record(action=AuditAction.MESSAGE_UNPUBLISHED, obj=message, before=before, after=after, user=user)
    return message


@transaction.atomic
def configuration_duplicate(
    *,
    config: EventConfiguration,
    user: AbstractBaseUser | None = None,
    event_id: str | None = None,
    label: str | None = None,
) -> EventConfiguration:
    """A new Draft configuration with the same channel, targeting and data structure, and a Draft
    message holding a copy of its message's content."""
    copy = event_config_duplicate(config=config, user=user, event_id=event_id, label=label)
    message = message_ensure_for_configuration(config=copy)
    source = getattr(config, "message", None)
    if source is not None:
        # Part of the copy, recorded as the configuration's creation.
        with audit_quiet():
            message_update(
                message=message,
                user=user,
                label=f"Copy of {source.label}",
                **{name: getattr(source, name) for name in CONTENT_FIELDS},
            )
    return copy
