from django.db import transaction
from django.db.models import Max

from campaign.exceptions import ApplicationError, FieldError, ValidationFailed
from events.models import EventConfiguration, PublicationStatus

from .models import MessageStatus, MessageVersion, TransactionalMessage
from .rendering import CHANNEL_PARTS, content_check, referenced_ctx_fields

CONTENT_FIELDS = ("sender_name", "sender_email", "subject", "html", "text")


def message_ensure_for_configuration(*, config: EventConfiguration) -> TransactionalMessage:
    """The message `RT` + event id of a configuration, created in Draft the first time."""
    message, _ = TransactionalMessage.objects.get_or_create(
        configuration=config,
        defaults={"message_id": f"RT{config.event_id}", "label": config.label},
    )
    return message


def message_update(*, message: TransactionalMessage, user=None, **content) -> TransactionalMessage:
    """Edit the draft; the published version, and so what is sent, does not change."""
    unknown = set(content) - set(CONTENT_FIELDS) - {"label"}
    if unknown:
        raise ApplicationError(f"Cannot edit {', '.join(sorted(unknown))}.", code="not_editable")
    for name, value in content.items():
        setattr(message, name, value)
    message.modified_by = user
    message.save(update_fields=[*content, "modified_by", "modified_at"])
    return message


def _content_snapshot(message: TransactionalMessage) -> dict:
    return {name: getattr(message, name) for name in CONTENT_FIELDS}


def message_validate(*, message: TransactionalMessage, content: dict) -> list[FieldError]:
    errors = []
    if not (content.get("subject") or "").strip():
        errors.append(FieldError("subject", "The subject is required."))
    if not (content.get("html") or "").strip() and not (content.get("text") or "").strip():
        errors.append(FieldError("html", "Write an HTML or a text content."))
    channel = message.configuration.channel
    syntax = content_check(channel=channel, content=content)
    errors.extend(syntax)
    version = message.configuration.published_version
    if version is not None and not syntax:
        known = {field["field_id"] for field in version.structure["fields"]} | {
            collection["collection_id"] for collection in version.structure.get("collections", [])
        }
        for part in CHANNEL_PARTS[channel]:
            for name in sorted(referenced_ctx_fields(source=content.get(part) or "") - known):
                errors.append(
                    FieldError(part, f"ctx.{name} is not a field of {message.configuration.event_id}.")
                )
    return errors


@transaction.atomic
def message_publish(*, message: TransactionalMessage, user=None) -> MessageVersion:
    """Validate the draft and freeze it into a new immutable version that the worker renders."""
    message = (
        TransactionalMessage.objects.select_for_update(of=("self",))
        .select_related("configuration__published_version")
        .get(pk=message.pk)
    )
    if message.configuration.status != PublicationStatus.PUBLISHED:
        raise ApplicationError(
            f"Publish the event configuration {message.configuration.event_id} first.",
            code="configuration_not_published",
        )
    content = _content_snapshot(message)
    errors = message_validate(message=message, content=content)
    if errors:
        raise ValidationFailed(
            "The message cannot be published: " + "; ".join(f"{e.path}: {e.message}" for e in errors),
            errors=errors,
        )
    number = (message.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = MessageVersion.objects.create(
        message=message, number=number, content=content, published_by=user
    )
    message.published_version = version
    message.status = MessageStatus.PUBLISHED
    message.modified_by = user
    message.save(update_fields=["published_version", "status", "modified_by", "modified_at"])
    return version


def message_withdraw(*, message: TransactionalMessage, user=None) -> TransactionalMessage:
    """Take the message off the air without touching its configuration (used by the cascades)."""
    message.status = MessageStatus.DRAFT
    message.published_version = None
    message.modified_by = user
    message.save(update_fields=["status", "published_version", "modified_by", "modified_at"])
    return message


@transaction.atomic
def message_unpublish(*, message: TransactionalMessage, user=None) -> TransactionalMessage:
    """Unpublish the message, and with it its event configuration (its endpoint closes)."""
    from events.services import event_config_unpublish

    if message.status != MessageStatus.PUBLISHED:
        raise ApplicationError(f"{message.message_id} is not published.", code="not_published")
    if message.configuration.status == PublicationStatus.PUBLISHED:
        event_config_unpublish(config=message.configuration, user=user)
    else:
        message_withdraw(message=message, user=user)
    message.refresh_from_db()
    return message
