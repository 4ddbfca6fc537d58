"""Marketing deliveries: checked, prepared (the audience through the typology, in set operations,
frozen as recipients), confirmed, then sent in throttled batches on the bulk queue; paused,
resumed and cancelled. One function per move of its status."""

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext

from campaign.channels import Channel
from campaign.exceptions import ApplicationError, FieldError, ValidationFailed
from delivery.channels import SendFailure, channel_address, message_send
from delivery.feedback import address_exclusions
from delivery.models import InteractionKind
from delivery.selectors import human_interactions
from delivery.targeting import (
    Recipient,
    TargetingFailed,
    event_context,
    event_language,
    event_recipients,
    event_target_profile,
)
from delivery.tracking import TrackedContent, email_tracking_add, marketing_tracked, marketing_tracked_content
from events.models import Event, EventStatus, Targeting
from messages_app.analysis import ANY, UNSUBSCRIBE_URL, profile_shape, structure_shapes, template_check
from messages_app.rendering import message_render
from messages_app.rendering.checks import content_check, template_sources
from messages_app.sms import sms_length
from profiles.models import Profile
from profiles.selectors import (
    addresses_suppressed,
    attribute_definitions,
    profile_consent_refusal,
    profile_live_app_subscriptions,
    profile_variables,
)
from profiles.unsubscribe import unsubscribe_url
from typologies.conditions import condition_problems
from typologies.models import RuleKind, RuleType, Typology
from typologies.selectors import (
    content_rule_hit,
    duplicate_q,
    rule_profile_q,
    typology_default,
    typology_rules,
)
from typologies.services import contacts_record

from .models import (
    DeliveryRecipient,
    DeliveryStatus,
    FollowUpEngagement,
    MarketingDelivery,
    RecipientStatus,
    Recurrence,
)
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
    message = delivery.follow_up_of
    if message is not None:
        # A follow-up reads what the message reads: the original event's data and enrichments.
        config = message.configuration
        if config.published_version is None:
            errors.append(
                FieldError("follow_up_of", gettext("The message's configuration is not published."))
            )
            return errors
        shapes = structure_shapes(
            structure=config.published_version.structure,
            event_id=config.event_id,
            attributes=attribute_definitions(),
        )
        if config.targeting == Targeting.PROFILE:
            shapes[UNSUBSCRIBE_URL] = ANY
        if delivery.follow_up_min_days > delivery.follow_up_max_days:
            errors.append(
                FieldError(
                    "follow_up_max_days", gettext("The window ends before it starts: swap the two days.")
                )
            )
    else:
        shapes = {
            "profile": profile_shape(name="profile", attributes=attribute_definitions()),
            UNSUBSCRIBE_URL: ANY,
        }
    for path, source in template_sources(channel=channel, content=content):
        errors += template_check(part=path, source=source, shapes=shapes)
    if delivery.audience and message is None:
        errors += [FieldError("audience", problem) for problem in condition_problems(delivery.audience)]
    hit = content_rule_hit(
        typology=delivery.typology,
        rules=typology_rules(typology=delivery.typology, channel=channel),
        channel=channel,
        content=content,
        sms_segments=sms_length(delivery.sms_text).segments if channel == Channel.SMS else 0,
        # The follow-up of an event-based message has no profile to unsubscribe.
        marketing=message is None or message.configuration.targeting == Targeting.PROFILE,
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
    if delivery.follow_up_of_id is not None:
        _follow_up_prepare(delivery, now)
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


def follow_up_events(*, delivery: MarketingDelivery, now: datetime):
    """The events of the follow-up's message it goes to: processed between `follow_up_max_days`
    and `follow_up_min_days` ago, chosen by what their recipient did (human opens and clicks
    only), and not followed up by this delivery yet (a daily follow-up reaches each one once)."""
    message = delivery.follow_up_of
    events = Event.objects.filter(
        configuration_id=message.configuration_id,
        status=EventStatus.PROCESSED,
        processed_at__gte=now - timedelta(days=delivery.follow_up_max_days),
        processed_at__lte=now - timedelta(days=delivery.follow_up_min_days),
    ).exclude(
        pk__in=DeliveryRecipient.objects.filter(delivery=delivery, event__isnull=False).values("event_id")
    )
    engagement = delivery.follow_up_engagement
    if engagement != FollowUpEngagement.ANY:
        kind = InteractionKind.OPEN if engagement == FollowUpEngagement.NOT_OPENED else InteractionKind.CLICK
        human = Exists(human_interactions(kind=kind).filter(event_id=OuterRef("pk")))
        events = events.filter(human if engagement == FollowUpEngagement.CLICKED else ~Q(human))
    return events


def _follow_up_prepare(delivery: MarketingDelivery, now: datetime) -> None:
    """Freeze the follow-up's new recipients: one per event, excluded when its address is in
    quarantine, on the denylist or suppressed, or when its profile withdrew consent."""
    channel = delivery.channel
    try:
        with transaction.atomic():
            events = list(
                follow_up_events(delivery=delivery, now=now).select_related(
                    "configuration", "configuration_version"
                )
            )
            rows = []
            for event in events:
                profile, address, refusal = _follow_up_recipient(event, channel, delivery.follow_up_of)
                rows.append((event, profile, address, refusal))
            listed = address_exclusions(channel=channel, addresses=[row[2] for row in rows if row[2]])
            suppressed = addresses_suppressed(channel=channel, addresses=[row[2] for row in rows if row[2]])
            recipients = []
            for event, profile, address, refusal in rows:
                if refusal is None and address in suppressed:
                    refusal = gettext("The address belongs to an erased profile.")
                if refusal is None and address in listed:
                    refusal = listed[address][1]
                recipients.append(
                    DeliveryRecipient(
                        delivery=delivery,
                        event=event,
                        profile=profile,
                        status=RecipientStatus.EXCLUDED if refusal else RecipientStatus.PENDING,
                        error=refusal or "",
                    )
                )
            DeliveryRecipient.objects.bulk_create(recipients, batch_size=1000)
            excluded = sum(1 for recipient in recipients if recipient.status == RecipientStatus.EXCLUDED)
            _move(
                delivery,
                (DeliveryStatus.PREPARING,),
                DeliveryStatus.PREPARED,
                audience_count=len(recipients),
                excluded_count=excluded,
                target_count=len(recipients) - excluded,
                sent_count=0,
                failed_count=0,
                prepared_at=timezone.now(),
            )
    except Exception as exc:
        logger.exception("preparing follow-up %s failed", delivery.pk)
        _move(delivery, (DeliveryStatus.PREPARING,), DeliveryStatus.FAILED, error=str(exc)[:2000])


def _follow_up_recipient(event: Event, channel: str, message) -> tuple[Profile | None, str, str | None]:
    """(the event's profile for a profile-based message, its address on the channel, why it may
    not receive the follow-up or None)."""
    try:
        targets = event_recipients(event=event)
    except TargetingFailed as exc:
        return None, "", exc.message
    address = channel_address(channel=channel, recipient=targets[0]) if targets else ""
    if event.configuration.targeting != Targeting.PROFILE:
        return None, address, None if address else gettext("The event has no address on this channel.")
    profile = event_target_profile(event=event)
    refusal = profile_consent_refusal(profile=profile, channel=channel, service_id=message.service_id)
    return profile, address, refusal[1] if refusal else None


def follow_up_ensure(*, message, user=None) -> MarketingDelivery | None:
    """The draft follow-up of a message whose configuration asks for one, created once (when the
    configuration is published): the message's content to start from, sent to its recipients of
    the last week who did not open it."""
    config = message.configuration
    if not config.create_follow_up or MarketingDelivery.objects.filter(follow_up_of=message).exists():
        return None
    typology = typology_default() or Typology.objects.order_by("pk").first()
    if typology is None:
        return None
    delivery = MarketingDelivery(
        label=gettext("Follow-up of %(message)s") % {"message": message.label},
        channel=config.channel,
        follow_up_of=message,
        follow_up_engagement=FollowUpEngagement.NOT_OPENED
        if config.channel == Channel.EMAIL
        else FollowUpEngagement.ANY,
        typology=typology,
        unit_id=config.unit_id,
        **{name: getattr(message, name) for name in CONTENT_FIELDS if hasattr(message, name)},
    )
    if config.channel == Channel.PUSH:
        delivery.push_application = config.push_application
    delivery.created_by = user
    delivery.save()
    return delivery


def follow_up_on_publish(sender=None, *, message, user=None, **kwargs) -> None:
    """Receiver of messages_app's configuration_published signal."""
    follow_up_ensure(message=message, user=user)


def follow_ups_recur(*, now: datetime | None = None) -> int:
    """Start the daily follow-ups whose last sending ended a day ago or more: prepared again (for
    their new recipients only) and sent. Returns how many started."""
    now = now or timezone.now()
    due = MarketingDelivery.objects.filter(
        follow_up_of__isnull=False,
        recurrence=Recurrence.DAILY,
        status=DeliveryStatus.DONE,
        finished_at__lte=now - timedelta(days=1),
    )
    started = 0
    for delivery in due:
        if not _move(delivery, (DeliveryStatus.DONE,), DeliveryStatus.PREPARING, error=""):
            continue
        _follow_up_prepare(delivery, now)
        delivery.refresh_from_db()
        if delivery.status == DeliveryStatus.PREPARED:
            delivery.scheduled_at = None
            delivery_confirm(delivery=delivery)
            started += 1
    return started


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
        .select_related("profile", "event__configuration", "event__configuration_version")
        .order_by("pk")[:size]
    )
    if not batch:
        _move(delivery, (DeliveryStatus.SENDING,), DeliveryStatus.DONE, finished_at=timezone.now())
        return None
    definitions = attribute_definitions()
    content = delivery_content(delivery=delivery)
    tracked = None
    if delivery.channel == Channel.EMAIL and delivery.tracking_enabled:
        # Its links stored once (per position and URL); each email signed for its recipient.
        tracked = marketing_tracked_content(delivery_pk=delivery.pk, content=content)
        content = tracked.content
    for recipient in batch:
        _send_one(delivery, recipient, content, definitions, tracked)
    sent = [recipient for recipient in batch if recipient.status == RecipientStatus.SENT]
    failed = [recipient for recipient in batch if recipient.status == RecipientStatus.FAILED]
    with transaction.atomic():
        _outcomes_write(batch)
        MarketingDelivery.objects.filter(pk=delivery.pk).update(
            sent_count=F("sent_count") + len(sent), failed_count=F("failed_count") + len(failed)
        )
        contacts_record(
            profile_ids=[recipient.profile_id for recipient in sent if recipient.profile_id is not None],
            channel=delivery.channel,
            category=delivery.category,
            source=delivery.label,
            key_prefix=f"marketing-{delivery.pk}",
        )
    return max(0.0, size / rate - (time.monotonic() - started))


def _outcomes_write(batch: list[DeliveryRecipient]) -> None:
    """The batch's outcomes in one UPDATE ... FROM (VALUES ...): Django's bulk_update builds a CASE
    per column and row, which cost about as much as the sends themselves (bench/RESULTS.md). On
    SQLite (development), Django's bulk_update."""
    if connection.vendor != "postgresql":
        DeliveryRecipient.objects.bulk_update(batch, ["status", "error", "provider_message_id", "sent_at"])
        return
    row = "(%s::bigint, %s::text, %s::text, %s::text, %s::timestamptz)"
    params = []
    for recipient in batch:
        params += [
            recipient.pk,
            recipient.status,
            recipient.error,
            recipient.provider_message_id,
            recipient.sent_at,
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE marketing_deliveryrecipient AS r SET status = v.status, error = v.error,"  # noqa: S608
            " provider_message_id = v.message_id, sent_at = v.sent_at"
            f" FROM (VALUES {', '.join([row] * len(batch))}) AS v (id, status, error, message_id, sent_at)"
            " WHERE r.id = v.id",
            params,
        )


def _send_one(
    delivery: MarketingDelivery,
    recipient: DeliveryRecipient,
    content: dict,
    definitions,
    tracked: TrackedContent | None,
) -> None:
    """Render and send to one recipient, recording the outcome on it: sent, failed, or still to
    send after a temporary failure (tried again in a later batch, MAX_SEND_ATTEMPTS in all). With
    `tracked`, its email gets the open pixel and click redirects signed for this recipient."""
    try:
        context, language, targets = _addressing(delivery, recipient, definitions)
        rendered = message_render(
            channel=delivery.channel, content=content, context=context, language=language
        )
        if not targets:
            raise SendFailure(gettext("The profile has no address on this channel."), temporary=False)
        if tracked is not None:
            whom = marketing_tracked(
                recipient_pk=recipient.pk,
                delivery_pk=delivery.pk,
                profile_id=recipient.profile_id,
                email=targets[0].email,
            )
            rendered = email_tracking_add(rendered=rendered, whom=whom, tracked=tracked)
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
        _failed(recipient, failure)
        return
    except Exception as exc:  # a render error, a profile gone: this recipient fails, the others go on
        recipient.error = str(exc)[:2000]
        recipient.status = RecipientStatus.FAILED
        return
    _sent(recipient, provider_ids)


def _addressing(
    delivery: MarketingDelivery, recipient: DeliveryRecipient, definitions
) -> tuple[dict, str | None, list[Recipient]]:
    """(template variables, language, addresses) of one recipient: a follow-up reads the original
    event's data (and its profile) as the message did; a delivery to profiles reads `profile`."""
    if recipient.event_id is not None:
        event = recipient.event
        return event_context(event=event), event_language(event=event) or None, event_recipients(event=event)
    profile = recipient.profile
    link = unsubscribe_url(profile_id=profile.pk, service_id=delivery.service_id)
    context = {"profile": profile_variables(profile=profile, definitions=definitions), UNSUBSCRIBE_URL: link}
    return context, profile.language or None, _targets(delivery, profile, link)


def _failed(recipient: DeliveryRecipient, failure: SendFailure) -> None:
    attempts = recipient.error.count("\n") + 1 if recipient.error else 1
    recipient.error = (recipient.error + "\n" if recipient.error else "") + failure.message[:500]
    if not failure.temporary or attempts >= MAX_SEND_ATTEMPTS:
        recipient.status = RecipientStatus.FAILED


def _sent(recipient: DeliveryRecipient, provider_ids: list[str]) -> None:
    recipient.status = RecipientStatus.SENT
    recipient.provider_message_id = provider_ids[0][:255] if provider_ids else ""
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
