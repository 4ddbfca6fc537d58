import logging
import re
from dataclasses import asdict

from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext

from audit.context import audit_quiet
from audit.models import AuditAction
from audit.services import audit_record
from campaign.exceptions import ApplicationError, FieldError, ValidationFailed
from events.contract import ctx_validate
from events.lifecycle import events_move
from events.models import Channel, EventConfiguration, EventStatus, PublicationStatus, Targeting
from profiles.selectors import attribute_definitions, profile_data_errors
from typologies.selectors import typology_default

from ..analysis import structure_shapes, template_check
from ..models import (
    CONTENT_FIELDS,
    MessageStatus,
    MessageVariant,
    MessageVersion,
    TestProfile,
    TestProfileUsage,
    TransactionalMessage,
)
from ..rendering import (
    VARIANT_PARTS,
    MissingValuePolicy,
    Rendered,
    content_check,
    locale_check,
    message_render,
    template_sources,
)
from ..selectors import content_diff, message_content, test_profile_context
from ..sms import MAX_SEGMENTS_WARNING, sms_fixed_text, sms_length

logger = logging.getLogger(__name__)

E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")


def message_ensure_for_configuration(*, config: EventConfiguration) -> TransactionalMessage:
    """The message `RT` + event id of a configuration, created in Draft the first time."""
    defaults = {"message_id": f"RT{config.event_id}", "label": config.label}
    if config.targeting == Targeting.PROFILE:
        defaults["typology"] = typology_default()
    message, _ = TransactionalMessage.objects.get_or_create(configuration=config, defaults=defaults)
    return message


def _diff(*, before: dict, after: dict) -> list[dict]:
    return [asdict(part) for part in content_diff(before=before, after=after)]


@transaction.atomic
def message_update(
    *, message: TransactionalMessage, user: AbstractBaseUser | None = None, **content
) -> TransactionalMessage:
    """Edit the draft; the published version, and so what is sent, does not change. Except its
    subscription `service`, which is consent and applies at once (not versioned)."""
    unknown = set(content) - set(CONTENT_FIELDS) - {"label", "service", "typology", "category"}
    if unknown:
        raise ApplicationError(
            gettext("Cannot edit {fields}.").format(fields=", ".join(sorted(unknown))), code="not_editable"
        )
    if content.get("service") is not None and message.configuration.targeting != Targeting.PROFILE:
        raise ValidationFailed(
            gettext("Only a profile-based message can belong to a subscription service."),
            errors=[FieldError("service", gettext("An event-based message has no profile to subscribe."))],
        )
    # What the row holds, not the instance: an admin form has already set the new values on it.
    stored = (
        TransactionalMessage.objects.select_for_update().filter(pk=message.pk).values(*content).first()
        if content
        else None
    )
    for name, value in content.items():
        setattr(message, name, value)
    message.modified_by = user
    message.save(update_fields=[*content, "modified_by", "modified_at"])
    # Related objects (service, typology) by their id, as the row holds them.
    diff = _diff(
        before=stored or {}, after={name: getattr(value, "pk", value) for name, value in content.items()}
    )
    if diff:
        audit_record(action=AuditAction.MESSAGE_CHANGED, obj=message, diff=diff, user=user)
    return message


def message_tracking_set(
    *, message: TransactionalMessage, enabled: bool, user: AbstractBaseUser | None = None
) -> TransactionalMessage:
    """Turn open and click tracking on or off; it applies to the next emails sent, without a
    publish (the links of every version are numbered anyway)."""
    message.tracking_enabled = enabled
    message.modified_by = user
    message.save(update_fields=["tracking_enabled", "modified_by", "modified_at"])
    return message


def message_validate(*, message: TransactionalMessage, content: dict) -> list[FieldError]:
    """Why this content cannot be published: required parts, syntax, and every variable it reads
    checked against the published data structure (static analysis, no trial render)."""
    config = message.configuration
    channel = config.channel
    errors: list[FieldError] = []
    if channel == Channel.EMAIL:
        if not (content.get("subject") or "").strip():
            errors.append(FieldError("subject", gettext("The subject is required.")))
        if not (content.get("html") or "").strip() and not (content.get("text") or "").strip():
            errors.append(FieldError("html", gettext("Write an HTML or a text content.")))
        for name in ("sender_email", "reply_to"):
            if content.get(name):
                try:
                    validate_email(content[name])
                except DjangoValidationError:
                    errors.append(
                        FieldError(
                            name,
                            gettext("{address!r} is not a valid email address.").format(
                                address=content[name]
                            ),
                        )
                    )
    elif channel == Channel.SMS:
        if not (content.get("sms_text") or "").strip():
            errors.append(FieldError("sms_text", gettext("The SMS text is required.")))
    elif channel == Channel.PUSH:
        if not (content.get("push_body") or "").strip():
            errors.append(FieldError("push_body", gettext("The push body is required.")))
        custom = content.get("push_custom_data")
        if not isinstance(custom, dict) or not all(isinstance(v, str) for v in custom.values()):
            errors.append(
                FieldError(
                    "push_custom_data", gettext('Expected an object of texts, e.g. {"screen": "cart"}.')
                )
            )
    locale_problem = locale_check(locale=content.get("locale") or "")
    if locale_problem:
        errors.append(FieldError("locale", locale_problem))
    for language in content.get("variants") or {}:
        problem = locale_check(locale=language)
        if problem:
            errors.append(FieldError(f"variants.{language}", problem))
    if content.get("missing_value_policy") not in {value for value, _ in MissingValuePolicy.choices}:
        errors.append(FieldError("missing_value_policy", gettext("Choose fail, empty or default.")))
    syntax = content_check(channel=channel, content=content)
    errors.extend(syntax)
    version = config.published_version
    if version is not None and not syntax:
        shapes = structure_shapes(
            structure=version.structure, event_id=config.event_id, attributes=attribute_definitions()
        )
        for part, source in template_sources(channel=channel, content=content):
            errors.extend(template_check(part=part, source=source, shapes=shapes))
    return errors


def message_warnings(*, message: TransactionalMessage, content: dict) -> list[FieldError]:
    """What may surprise the marketer without blocking the publish (SMS length)."""
    warnings = []
    if message.configuration.channel == Channel.SMS:
        texts = [("sms_text", content.get("sms_text") or "")]
        texts += [
            (f"variants.{k}.sms_text", v.get("sms_text") or "")
            for k, v in (content.get("variants") or {}).items()
        ]
        for part, text in texts:
            length = sms_length(sms_fixed_text(text))
            if length.segments > MAX_SEGMENTS_WARNING:
                warnings.append(
                    FieldError(
                        part,
                        gettext(
                            "{units} {encoding} characters before personalisation make {segments} SMS "
                            "segments; many operators refuse more than {maximum}."
                        ).format(
                            units=length.units,
                            encoding=length.encoding,
                            segments=length.segments,
                            maximum=MAX_SEGMENTS_WARNING,
                        ),
                    )
                )
            elif length.encoding == "UCS-2" and text:
                warnings.append(
                    FieldError(
                        part,
                        gettext("Characters outside GSM-7 make it UCS-2: {per_segment} per segment.").format(
                            per_segment=length.per_segment
                        ),
                    )
                )
    return warnings


def _validation_failed(errors: list[FieldError]) -> ValidationFailed:
    return ValidationFailed(
        gettext("The message cannot be published: ") + "; ".join(f"{e.path}: {e.message}" for e in errors),
        errors=errors,
    )


def _locked(message: TransactionalMessage) -> TransactionalMessage:
    return (
        TransactionalMessage.objects.select_for_update(of=("self",))
        .select_related("configuration__published_version")
        .get(pk=message.pk)
    )


def _freeze(
    *,
    message: TransactionalMessage,
    content: dict,
    user: AbstractBaseUser | None,
    restored_from: int | None = None,
) -> MessageVersion:
    if message.configuration.status != PublicationStatus.PUBLISHED:
        raise ApplicationError(
            gettext("Publish the event configuration {event_id} first.").format(
                event_id=message.configuration.event_id
            ),
            code="configuration_not_published",
        )
    errors = message_validate(message=message, content=content)
    if errors:
        raise _validation_failed(errors)
    number = (message.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = MessageVersion.objects.create(
        message=message, number=number, content=content, published_by=user, restored_from=restored_from
    )
    message.published_version = version
    # A paused message stays paused: publishing changes what resume will send.
    if message.status == MessageStatus.DRAFT:
        message.status = MessageStatus.PUBLISHED
    message.modified_by = user
    message.save(update_fields=["published_version", "status", "modified_by", "modified_at"])
    return version


def _live_content(message: TransactionalMessage) -> tuple[int | None, dict]:
    live = message.published_version
    return (live.number, live.content) if live is not None else (None, {})


@transaction.atomic
def message_publish(*, message: TransactionalMessage, user: AbstractBaseUser | None = None) -> MessageVersion:
    """Validate the draft and freeze it into a new immutable version that the worker renders."""
    message = _locked(message)
    live_number, live_content = _live_content(message)
    version = _freeze(message=message, content=message_content(message=message), user=user)
    audit_record(
        action=AuditAction.MESSAGE_PUBLISHED,
        obj=message,
        before={"version": live_number},
        after={"version": version.number},
        diff=_diff(before=live_content, after=version.content),
        user=user,
    )
    return version


@transaction.atomic
def message_rollback(
    *, message: TransactionalMessage, number: int, user: AbstractBaseUser | None = None
) -> MessageVersion:
    """Publish an older version's content again, as a new version; the draft becomes that content
    so that the next edit starts from what is live."""
    message = _locked(message)
    old = message.versions.filter(number=number).first()
    if old is None:
        raise ApplicationError(
            gettext("{message_id} has no version {number}.").format(
                message_id=message.message_id, number=number
            ),
            code="version_not_found",
        )
    live_number, live_content = _live_content(message)
    version = _freeze(message=message, content=old.content, user=user, restored_from=number)
    draft = {name: old.content[name] for name in CONTENT_FIELDS if name in old.content}
    for name, value in draft.items():
        setattr(message, name, value)
    message.save(update_fields=[*draft, "modified_at"])
    with audit_quiet():
        message_variants_set(message=message, variants=old.content.get("variants") or {})
    audit_record(
        action=AuditAction.MESSAGE_ROLLED_BACK,
        obj=message,
        before={"version": live_number},
        after={"version": version.number, "restored_from": number},
        diff=_diff(before=live_content, after=version.content),
        user=user,
    )
    return version


@transaction.atomic
def message_variants_set(
    *, message: TransactionalMessage, variants: dict[str, dict], user: AbstractBaseUser | None = None
) -> None:
    """Replace the draft's language variants ({language: {part: text}}); the published version, and
    so what is sent, does not change."""
    before = {
        variant.language: {part: getattr(variant, part) for part in VARIANT_PARTS}
        for variant in message.variants.all()
    }
    message.variants.all().delete()
    MessageVariant.objects.bulk_create(
        MessageVariant(message=message, language=language, **{p: parts.get(p, "") for p in VARIANT_PARTS})
        for language, parts in variants.items()
    )
    if user is not None:
        message.modified_by = user
        message.save(update_fields=["modified_by", "modified_at"])
    after = {language: {p: parts.get(p, "") for p in VARIANT_PARTS} for language, parts in variants.items()}
    diff = _diff(before={"variants": before}, after={"variants": after})
    if diff:
        audit_record(action=AuditAction.MESSAGE_CHANGED, obj=message, diff=diff, user=user)


def message_test_profile_delete(*, profile: TestProfile) -> None:
    profile.delete()


def _paused_events_fail(*, message: TransactionalMessage) -> None:
    events_move(
        source=[EventStatus.PAUSED],
        target=EventStatus.ROUTING_FAILED,
        where=Q(configuration_id=message.configuration_id),
        error="The message was unpublished while the event waited for resume.",
    )


def message_withdraw(
    *, message: TransactionalMessage, user: AbstractBaseUser | None = None
) -> TransactionalMessage:
    """Take the message off the air without touching its configuration (used by the cascades)."""
    message.status = MessageStatus.DRAFT
    message.published_version = None
    message.modified_by = user
    message.save(update_fields=["status", "published_version", "modified_by", "modified_at"])
    _paused_events_fail(message=message)
    return message


@transaction.atomic
def message_pause(
    *, message: TransactionalMessage, user: AbstractBaseUser | None = None
) -> TransactionalMessage:
    """Hold the message: new events are stored `paused` until resume or their expiration."""
    paused = TransactionalMessage.objects.filter(pk=message.pk, status=MessageStatus.PUBLISHED).update(
        status=MessageStatus.PAUSED, modified_by=user, modified_at=timezone.now()
    )
    if not paused:
        raise ApplicationError(
            gettext("{message_id} is not published: only a live message can be paused.").format(
                message_id=message.message_id
            ),
            code="not_published",
        )
    message.refresh_from_db()
    audit_record(
        action=AuditAction.MESSAGE_PAUSED,
        obj=message,
        before={"status": MessageStatus.PUBLISHED},
        after={"status": MessageStatus.PAUSED},
        user=user,
    )
    return message


@transaction.atomic
def message_resume(*, message: TransactionalMessage, user: AbstractBaseUser | None = None) -> int:
    """Put the message back on the air and process the events kept while paused, in arrival
    order, with the latest published version; the expired ones become `tooOld`. Returns how
    many events were queued (for the dispatcher, which publishes them in arrival order)."""
    resumed = TransactionalMessage.objects.filter(pk=message.pk, status=MessageStatus.PAUSED).update(
        status=MessageStatus.PUBLISHED, modified_by=user, modified_at=timezone.now()
    )
    if not resumed:
        raise ApplicationError(
            gettext("{message_id} is not paused.").format(message_id=message.message_id), code="not_paused"
        )
    now = timezone.now()
    waiting = Q(configuration_id=message.configuration_id)
    events_move(
        source=[EventStatus.PAUSED],
        target=EventStatus.TOO_OLD,
        where=waiting & Q(expiration__lt=now),
        error="Expired while the message was paused.",
    )
    # Back to `pending` and not yet dispatched: the dispatcher publishes them in arrival order.
    queued = events_move(
        source=[EventStatus.PAUSED], target=EventStatus.PENDING, where=waiting, dispatched_at=None
    )
    message.refresh_from_db()
    audit_record(
        action=AuditAction.MESSAGE_RESUMED,
        obj=message,
        before={"status": MessageStatus.PAUSED},
        after={"status": MessageStatus.PUBLISHED, "events_queued": len(queued)},
        user=user,
    )
    return len(queued)


# --- Test profiles, preview and proofs --------------------------------------------------------


def message_test_profile_errors(*, message: TransactionalMessage, profile: TestProfile) -> list[FieldError]:
    """The test profile's address and event data checked against the channel and data structure."""
    errors: list[FieldError] = []
    channel = message.configuration.channel
    if not isinstance(profile.event_data, dict):
        return [FieldError("event_data", gettext("Expected an object holding the event's fields."))]
    version = message.configuration.published_version
    if version is not None:
        # AC_language picks the language variant; it is not a field of the data structure.
        ctx = {k: v for k, v in profile.event_data.items() if k != "AC_language"}
        errors.extend(
            FieldError(f"event_data{e.path.removeprefix('ctx')}", e.message)
            for e in ctx_validate(schema=version.ctx_schema, ctx=ctx)
        )
    errors.extend(_test_profile_profile_errors(message=message, profile=profile))
    if profile.usage != TestProfileUsage.RENDERING:
        problem = _address_problem(channel=channel, address=profile.address)
        if problem:
            errors.append(FieldError("address", problem))
    return errors


def _test_profile_profile_errors(*, message: TransactionalMessage, profile: TestProfile) -> list[FieldError]:
    """A stored profile or profile data of its own, for profile-based messages only; the data
    checked against the profile fields and the declared attributes."""
    has_data = profile.profile_data not in (None, {}, "")
    if not has_data and profile.profile_id is None:
        return []
    if message.configuration.targeting != Targeting.PROFILE:
        return [
            FieldError(
                "profile" if profile.profile_id is not None else "profile_data",
                gettext("Only profile-based messages are personalised with a profile."),
            )
        ]
    if has_data and profile.profile_id is not None:
        return [
            FieldError("profile_data", gettext("Choose a stored profile or give profile data, not both."))
        ]
    if not has_data:
        return []
    return profile_data_errors(
        data=profile.profile_data, definitions=attribute_definitions(), path="profile_data"
    )


def _address_problem(*, channel: str, address: str) -> str | None:
    if not address:
        return gettext("The address is required to receive proofs.")
    if channel == Channel.EMAIL:
        try:
            validate_email(address)
        except DjangoValidationError:
            return gettext("{address!r} is not a valid email address.").format(address=address)
    if channel == Channel.SMS and not E164_RE.match(address):
        return gettext(
            "{address!r} is not in E.164 form (+, country code and number, e.g. +33612345678)."
        ).format(address=address)

    return None


def message_test_profile_save(*, profile: TestProfile) -> TestProfile:
    errors = message_test_profile_errors(message=profile.message, profile=profile)
    if errors:
        raise ValidationFailed(
            gettext("The test profile is not valid: ") + "; ".join(f"{e.path}: {e.message}" for e in errors),
            errors=errors,
        )
    profile.save()
    return profile


def message_preview(*, message: TransactionalMessage, profile: TestProfile | None) -> Rendered:
    """The draft rendered with a test profile's event data and profile (what a proof would send)."""
    return message_render(
        channel=message.configuration.channel,
        content=message_content(message=message),
        context=test_profile_context(message=message, profile=profile),
    )
