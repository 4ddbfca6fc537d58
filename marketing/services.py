"""Marketing deliveries: checked, prepared (the audience through the typology, in set operations,
frozen as recipients), confirmed, then sent in throttled batches on the bulk queue; paused,
resumed and cancelled. One function per move of its status."""

import logging
import time
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext

from campaign.channels import Channel
from campaign.exceptions import ApplicationError, FieldError, ValidationFailed
from delivery.channels import SendFailure, message_send
from delivery.targeting import Recipient
from messages_app.analysis import ANY, UNSUBSCRIBE_URL, profile_shape, template_check
from messages_app.rendering import message_render
from messages_app.rendering.checks import content_check, template_sources
from messages_app.sms import sms_length
from profiles.models import Profile
from profiles.selectors import attribute_definitions, profile_live_app_subscriptions, profile_variables
from profiles.unsubscribe import unsubscribe_url
from typologies.conditions import condition_problems
from typologies.models import RuleKind, RuleType
from typologies.selectors import content_rule_hit, duplicate_q, rule_profile_q, typology_rules
from typologies.services import contacts_record

from .models import DeliveryRecipient, DeliveryStatus, MarketingDelivery, RecipientStatus
from .queue import prepare_enqueue, send_enqueue
from .selectors import audience_q

logger = logging.getLogger(__name__)

CONTENT_FIELDS = (
    "sender_name",
    "sender_email",
    "reply_to",
    "subject",
    "preheader",
    "html",
    "text",
    "sms_text",
    "push_title",
    "push_body",
    "locale",
)
EDITABLE = (DeliveryStatus.DRAFT, DeliveryStatus.PREPARED, DeliveryStatus.FAILED)
MAX_SEND_ATTEMPTS = 3


def delivery_content(*, delivery: MarketingDelivery) -> dict:
    return {name: getattr(delivery, name) for name in CONTENT_FIELDS}


def delivery_problems(*, delivery: MarketingDelivery) -> list[FieldError]:
    """Why the delivery cannot be prepared: missing parts, template errors (syntax, unknown
    variables: templates read {{ profile.<field> }}), the audience condition, and the control rules
    of its typology on the content as written."""
    errors: list[FieldError] = []
    channel = delivery.channel
    required = {
        Channel.EMAIL: ("sender_email", "subject", "html"),
        Channel.SMS: ("sms_text",),
        Channel.PUSH: ("push_title", "push_body", "push_application"),
    }[channel]
    for name in required:
        if not str(getattr(delivery, name) or "").strip():
            errors.append(FieldError(name, gettext("Required for this channel.")))
    content = delivery_content(delivery=delivery)
    errors += content_check(channel=channel, content=content)
    shapes = {
        "profile": profile_shape(name="profile", attributes=attribute_definitions()),
        UNSUBSCRIBE_URL: ANY,
    }
    for path, source in template_sources(channel=channel, content=content):
        errors += template_check(part=path, source=source, shapes=shapes)
    if delivery.audience:
        errors += [FieldError("audience", problem) for problem in condition_problems(delivery.audience)]
    hit = content_rule_hit(
        typology=delivery.typology,
        rules=typology_rules(typology=delivery.typology, channel=channel),
        channel=channel,
        content=content,
        sms_segments=sms_length(delivery.sms_text).segments if channel == Channel.SMS else 0,
        marketing=True,
    )
    if hit is not None:
        errors.append(FieldError("typology", hit.reason))
    return errors


def _move(delivery: MarketingDelivery, source: tuple[str, ...], target: str, **fields) -> bool:
    """Move the delivery's status from one of `source` to `target` (a conditional UPDATE)."""
    moved = MarketingDelivery.objects.filter(pk=delivery.pk, status__in=source).update(
        status=target, **fields
    )
    if moved:
        delivery.status = target
        for name, value in fields.items():
            if not hasattr(value, "resolve_expression"):
                setattr(delivery, name, value)
    return bool(moved)


def delivery_save(*, delivery: MarketingDelivery, user=None) -> MarketingDelivery:
    """Create or change a delivery while it is not sending; a prepared one goes back to draft (its
    recipient list no longer matches)."""
    if delivery.pk and delivery.status not in EDITABLE:
        raise ApplicationError(
            gettext("A delivery that is sending or sent cannot change."), code="not_editable"
        )
    delivery.full_clean()
    with transaction.atomic():
        if delivery.pk is None:
            delivery.created_by = user
        elif delivery.status == DeliveryStatus.PREPARED:
            DeliveryRecipient.objects.filter(delivery=delivery).delete()
            delivery.status = DeliveryStatus.DRAFT
        delivery.save()
    return delivery


def delivery_prepare_start(*, delivery: MarketingDelivery) -> None:
    """Check the delivery and queue its preparation."""
    errors = delivery_problems(delivery=delivery)
    if errors:
        raise ValidationFailed(gettext("The delivery cannot be prepared."), errors=errors)
    if not _move(delivery, EDITABLE, DeliveryStatus.PREPARING, error=""):
        raise ApplicationError(gettext("Only a draft can be prepared."), code="invalid_status")
    transaction.on_commit(lambda: prepare_enqueue(delivery_id=delivery.pk))


def _insert_recipients(delivery: MarketingDelivery, profiles, status: str, rule_id: int | None) -> int:
    """INSERT ... SELECT of the profiles of a queryset as recipients: no row goes through Python."""
    sql, params = profiles.order_by().values("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO marketing_deliveryrecipient"  # noqa: S608 - `sql` is Django's own, with params
            " (delivery_id, profile_id, status, rule_id, error, provider_message_id, sent_at)"
            f" SELECT %s, s.id, %s, %s, '', '', NULL FROM ({sql}) AS s",
            [delivery.pk, status, rule_id, *params],
        )
        return cursor.rowcount


def delivery_prepare(*, delivery_id: int, now: datetime | None = None) -> None:
    """Compute the target: the audience, each rule of the typology in order excluding the profiles
    no earlier rule excluded (one INSERT ... SELECT per rule), the rest to send; then `prepared`."""
    now = now or timezone.now()
    delivery = MarketingDelivery.objects.select_related("typology").get(pk=delivery_id)
    if delivery.status != DeliveryStatus.PREPARING:
        return
    audience = audience_q(audience=delivery.audience, service_id=delivery.service_id)
    try:
        with transaction.atomic():
            DeliveryRecipient.objects.filter(delivery=delivery).delete()
            taken = DeliveryRecipient.objects.filter(delivery=delivery).values("profile_id")
            total = Profile.objects.filter(audience).count()
            excluded = 0
            for rule in typology_rules(typology=delivery.typology, channel=delivery.channel):
                if rule.type == RuleType.CONTROL:
                    continue
                if rule.kind == RuleKind.DUPLICATE:
                    q = duplicate_q(channel=delivery.channel, audience=audience)
                else:
                    q = rule_profile_q(rule=rule, channel=delivery.channel, now=now)
                if q is None:
                    continue
                profiles = Profile.objects.filter(audience).filter(q).exclude(pk__in=taken)
                excluded += _insert_recipients(delivery, profiles, RecipientStatus.EXCLUDED, rule.pk)
            target = _insert_recipients(
                delivery,
                Profile.objects.filter(audience).exclude(pk__in=taken),
                RecipientStatus.PENDING,
                None,
            )
            _move(
                delivery,
                (DeliveryStatus.PREPARING,),
                DeliveryStatus.PREPARED,
                audience_count=total,
                excluded_count=excluded,
                target_count=target,
                sent_count=0,
                failed_count=0,
                prepared_at=timezone.now(),
            )
    except Exception as exc:
        logger.exception("preparing marketing delivery %s failed", delivery_id)
        _move(delivery, (DeliveryStatus.PREPARING,), DeliveryStatus.FAILED, error=str(exc)[:2000])


def delivery_confirm(*, delivery: MarketingDelivery) -> None:
    """The marketer confirms the prepared delivery: it sends now, or at its time."""
    later = delivery.scheduled_at is not None and delivery.scheduled_at > timezone.now()
    target = DeliveryStatus.SCHEDULED if later else DeliveryStatus.SENDING
    if not _move(delivery, (DeliveryStatus.PREPARED,), target, started_at=None if later else timezone.now()):
        raise ApplicationError(gettext("Only a prepared delivery can be confirmed."), code="invalid_status")
    _enqueue(delivery, eta=delivery.scheduled_at if later else None)


def delivery_pause(*, delivery: MarketingDelivery) -> None:
    if not _move(delivery, (DeliveryStatus.SENDING, DeliveryStatus.SCHEDULED), DeliveryStatus.PAUSED):
        raise ApplicationError(
            gettext("Only a sending or scheduled delivery can be paused."), code="invalid_status"
        )


def delivery_resume(*, delivery: MarketingDelivery) -> None:
    if not _move(delivery, (DeliveryStatus.PAUSED,), DeliveryStatus.SENDING, started_at=timezone.now()):
        raise ApplicationError(gettext("Only a paused delivery can be resumed."), code="invalid_status")
    _enqueue(delivery)


def delivery_cancel(*, delivery: MarketingDelivery) -> None:
    """Stop for good: what was sent stays sent, the rest is never sent."""
    source = (*EDITABLE, DeliveryStatus.SCHEDULED, DeliveryStatus.SENDING, DeliveryStatus.PAUSED)
    if not _move(delivery, source, DeliveryStatus.CANCELLED, finished_at=timezone.now()):
        raise ApplicationError(gettext("This delivery cannot be cancelled."), code="invalid_status")


def _enqueue(delivery: MarketingDelivery, eta: datetime | None = None) -> None:
    # A new chain of batches: a batch of an older chain (before a pause) finds the token changed
    # and stops, so a pause followed by a resume never sends twice as fast.
    MarketingDelivery.objects.filter(pk=delivery.pk).update(send_token=F("send_token") + 1)
    delivery.refresh_from_db(fields=["send_token"])
    token = delivery.send_token
    transaction.on_commit(lambda: send_enqueue(delivery_id=delivery.pk, token=token, eta=eta))


def _rate(delivery: MarketingDelivery) -> int:
    return max(1, delivery.rate_per_second or settings.MARKETING_RATE_PER_SECOND[delivery.channel])


def delivery_send_batch(*, delivery_id: int, token: int) -> float | None:
    """Send the next batch (one second's worth at the delivery's rate, at most
    MARKETING_BATCH_SIZE); returns in how many seconds the next batch may start, None when the
    chain stops (paused, cancelled, replaced, or nothing left: then `done`)."""
    delivery = MarketingDelivery.objects.get(pk=delivery_id)
    if delivery.send_token != token:
        return None
    if delivery.status == DeliveryStatus.SCHEDULED:
        _move(delivery, (DeliveryStatus.SCHEDULED,), DeliveryStatus.SENDING, started_at=timezone.now())
    if delivery.status != DeliveryStatus.SENDING:
        return None
    rate = _rate(delivery)
    size = min(rate, settings.MARKETING_BATCH_SIZE)
    started = time.monotonic()
    batch = list(
        DeliveryRecipient.objects.filter(delivery=delivery, status=RecipientStatus.PENDING)
        .select_related("profile")
        .order_by("pk")[:size]
    )
    if not batch:
        _move(delivery, (DeliveryStatus.SENDING,), DeliveryStatus.DONE, finished_at=timezone.now())
        return None
    definitions = attribute_definitions()
    content = delivery_content(delivery=delivery)
    for recipient in batch:
        _send_one(delivery, recipient, content, definitions)
    sent = [recipient.profile_id for recipient in batch if recipient.status == RecipientStatus.SENT]
    failed = [recipient for recipient in batch if recipient.status == RecipientStatus.FAILED]
    with transaction.atomic():
        DeliveryRecipient.objects.bulk_update(batch, ["status", "error", "provider_message_id", "sent_at"])
        MarketingDelivery.objects.filter(pk=delivery.pk).update(
            sent_count=F("sent_count") + len(sent), failed_count=F("failed_count") + len(failed)
        )
        contacts_record(
            profile_ids=sent,
            channel=delivery.channel,
            category=delivery.category,
            source=delivery.label,
            key_prefix=f"marketing-{delivery.pk}",
        )
    return max(0.0, size / rate - (time.monotonic() - started))


def _send_one(delivery: MarketingDelivery, recipient: DeliveryRecipient, content: dict, definitions) -> None:
    """Render and send to one recipient, recording the outcome on it: sent, failed, or still to
    send after a temporary failure (tried again in a later batch, MAX_SEND_ATTEMPTS in all)."""
    profile = recipient.profile
    link = unsubscribe_url(profile_id=profile.pk, service_id=delivery.service_id)
    try:
        rendered = message_render(
            channel=delivery.channel,
            content=content,
            context={
                "profile": profile_variables(profile=profile, definitions=definitions),
                UNSUBSCRIBE_URL: link,
            },
            language=profile.language or None,
        )
        targets = _targets(delivery, profile, link)
        if not targets:
            raise SendFailure(gettext("The profile has no address on this channel."), temporary=False)
        provider_ids = [
            message_send(
                channel=delivery.channel,
                pkey=f"mkt{delivery.pk}-{recipient.pk}",
                recipient=target,
                rendered=rendered,
            )
            for target in targets
        ]
    except SendFailure as failure:
        attempts = recipient.error.count("\n") + 1 if recipient.error else 1
        recipient.error = (recipient.error + "\n" if recipient.error else "") + failure.message[:500]
        if not failure.temporary or attempts >= MAX_SEND_ATTEMPTS:
            recipient.status = RecipientStatus.FAILED
        return
    except Exception as exc:  # a render error: this recipient fails, the others go on
        recipient.error = str(exc)[:2000]
        recipient.status = RecipientStatus.FAILED
        return
    recipient.status = RecipientStatus.SENT
    recipient.provider_message_id = provider_ids[0][:255]
    recipient.sent_at = timezone.now()
    recipient.error = ""


def _targets(delivery: MarketingDelivery, profile: Profile, link: str) -> list[Recipient]:
    if delivery.channel == Channel.EMAIL:
        return [Recipient(email=profile.email, unsubscribe_url=link)] if profile.email else []
    if delivery.channel == Channel.SMS:
        return [Recipient(mobile_phone=profile.mobile_phone)] if profile.mobile_phone else []
    return [
        Recipient(
            push_token=registration.registration_token,
            push_application=registration.application,
            push_platform=registration.platform,
            app_subscription_id=registration.pk,
        )
        for registration in profile_live_app_subscriptions(
            profile=profile, application=delivery.push_application
        )
    ]
