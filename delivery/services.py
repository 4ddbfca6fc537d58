"""Processing of events: claim them, render the published message, send it, record every attempt.

`events_deliver` takes a chunk of events (one task for many), `event_deliver` one; both give each
event the same treatment and final status. What the events of a chunk share is read once (their
rows, messages and the exclusion lists, in a few queries); each event is claimed, sent and
committed on its own.

Two retry levels (DLV-4): a processing error (render, configuration) postpones the event and
tries again a few times, except a render that can only fail again (a limit of the sandbox, an
operation it refuses, a missing value under the fail policy), which ends `deliveryFailed` at once;
a temporary sending failure retries with exponential backoff and equal jitter until the event's
deadline, then `tooOld`. A permanent failure ends `deliveryFailed`.
"""

import logging
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from campaign.exceptions import ApplicationError
from events.lifecycle import event_move, events_lease_renew, events_move
from events.models import Channel, Event, EventStatus, Targeting
from fastpath.rows import row_insert
from messages_app.models import CONTENT_FIELDS, MessageStatus, TransactionalMessage
from messages_app.rendering import Rendered, RenderedEmail, RenderError, message_render
from messages_app.selectors import version_content
from profiles.selectors import profile_consent_refusal
from profiles.services import app_subscription_disable
from typologies.selectors import RuleHit

from .channels import SendFailure, channel_address, message_send
from .feedback import address_exclusions, address_quarantine
from .models import AttemptOutcome, DeliveryAttempt, Exclusion, ExclusionReason, QuarantineReason
from .queue import event_enqueue
from .targeting import (
    Recipient,
    TargetingFailed,
    event_context,
    event_language,
    event_recipients,
    event_service_id,
    event_target_profile,
)
from .tracking import Tracked, TrackedContent, email_markers_strip, email_tracking_add, tracked_content
from .typology import event_content_hit, event_profile_hit

logger = logging.getLogger(__name__)


def _finish(event: Event, status: str, **fields) -> None:
    event_move(
        event_pk=event.pk,
        source=EventStatus.PROCESSING,
        target=status,
        callback_url=event.callback_url or "",
        **fields,
    )


def event_deadline(*, event: Event) -> datetime:
    """When retrying stops: the event's expiration, or its creation plus the default validity."""
    return event.expiration or event.created_at + timedelta(seconds=settings.CAMPAIGN_EVENT_DEFAULT_VALIDITY)


def retry_delay(*, attempt: int) -> float:
    """Exponential backoff with equal jitter (seconds before attempt `attempt` + 1): at least half
    the backoff, so a busy server is never retried at once, and the other half random, which
    spreads the retries of many events failing together instead of sending them back in one wave."""
    ceiling = min(
        settings.DELIVERY_RETRY_MAX_SECONDS, settings.DELIVERY_RETRY_BASE_SECONDS * 2 ** (attempt - 1)
    )
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret


@dataclass
class _Attempt:
    """The attempt in progress, written to the log with the outcome."""

    event: Event
    channel: str
    address: str = ""
    started_at: datetime = field(default_factory=timezone.now)
    clock: float = field(default_factory=time.monotonic)
    # The attempts to several devices of one event (profile-based push) are numbered in turn.
    offset: int = 0

    @property
    def number(self) -> int:
        return self.event.attempts + 1 + self.offset

    def row(self, outcome: str, **fields) -> DeliveryAttempt:
        """The attempt's log row, to be written with the event's move (`_finish(..., record=row)`,
        one statement) or by `record`."""
        return DeliveryAttempt(
            event=self.event,
            event_pkey=self.event.pkey,
            configuration_id=self.event.configuration_id,
            number=self.number,
            channel=self.channel,
            address=self.address,
            started_at=self.started_at,
            duration_ms=round((time.monotonic() - self.clock) * 1000),
            outcome=outcome,
            **fields,
        )

    def record(self, outcome: str, **fields) -> DeliveryAttempt:
        """Log the attempt; the caller moves the event in the same transaction, with
        `attempts=self.number`."""
        attempt = self.row(outcome, **fields)
        row_insert(attempt)
        return attempt


@dataclass
class _Routed:
    """A claimed event whose message is live, with what sending it needs."""

    event: Event
    channel: str
    content: dict
    # (recipient, channel address): one, or one per device for profile-based push.
    targets: list[tuple[Recipient, str]]
    # Emails of a message that tracks: its links, numbered in `content` (delivery/tracking.py).
    tracked: TrackedContent | None = None


def _claim(event_pks: list[int]) -> list[int]:
    """The events of `event_pks` this call moves from `pending` to `processing`. Each move is
    conditional on `pending`, so a redelivered task or chunk finds its events moved and does
    nothing, and an event another worker holds is left to it."""
    if len(event_pks) == 1:
        # One prepared conditional UPDATE, whose row count says whether it claimed the event.
        moved = event_move(event_pk=event_pks[0], source=EventStatus.PENDING, target=EventStatus.PROCESSING)
        return list(event_pks) if moved else []
    # Not SKIP LOCKED: a row locked by the dispatcher that is still committing this very chunk would
    # be skipped, and the event left `pending` until the sweeper's lease; waiting for that lock
    # costs milliseconds, and a competing claim then sees `processing`.
    return events_move(source=[EventStatus.PENDING], target=EventStatus.PROCESSING, pks=event_pks)


def _claimed_events(event_pks: list[int]) -> list[Event]:
    """The claimed events with everything their delivery reads, in one query: configuration,
    the version they were accepted with (without its JSON Schema), the message (status and
    published version, without the draft) and the callback URL of their integration."""
    return list(
        Event.objects.filter(pk__in=event_pks)
        .select_related("configuration", "configuration_version", "configuration__message__published_version")
        .defer(
            "configuration_version__ctx_schema",
            "configuration__message__published_version__content",
            *(f"configuration__message__{name}" for name in CONTENT_FIELDS),
        )
        .annotate(callback_url=F("integration__callback_url"))
        .order_by("pk")
    )


@contextmanager
def _on_its_own(*events: Event) -> Iterator[None]:
    """An unexpected error with one event (a bug, the database going away) does not stop the
    others of its chunk: it is logged, and the event, left `processing`, is enqueued again by
    the sweeper after the lease."""
    try:
        yield
    except Exception:
        logger.exception("delivering event(s) %s failed", ", ".join(event.pkey for event in events))


@contextmanager
def _heartbeat(event_pks: list[int]) -> Iterator[None]:
    """While the block runs, renew the lease of these claimed events every third of the lease, on
    a thread with its own database connection, so that the sweeper takes them over only once this
    worker stopped (killed) or held them longer than DELIVERY_LEASE_MAX_SECONDS (stuck). Most
    chunks finish within the first interval: the thread then ends without a query."""
    stop = threading.Event()
    interval = settings.DELIVERY_LEASE_SECONDS / 3
    give_up = time.monotonic() + settings.DELIVERY_LEASE_MAX_SECONDS - settings.DELIVERY_LEASE_SECONDS

    def beat() -> None:
        try:
            while not stop.wait(interval) and time.monotonic() < give_up:
                try:
                    events_lease_renew(pks=event_pks)
                except Exception:
                    logger.exception("could not renew the lease of events %s", event_pks)
        finally:
            connections.close_all()

    thread = threading.Thread(target=beat, name="lease-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _message_of(event: Event) -> TransactionalMessage | None:
    # The reverse one-to-one was read by select_related: None when the configuration has none.
    return getattr(event.configuration, "message", None)


def _wait_for_resume(events: list[Event], message: TransactionalMessage) -> TransactionalMessage | None:
    """Events claimed while their message is paused wait (`paused`) for the resume: None then.
    The message row is locked as resume locks it, so an event cannot miss a resume running
    meanwhile; a message resumed meanwhile is returned as it is now, to be sent."""
    with transaction.atomic():
        locked = TransactionalMessage.objects.select_for_update().filter(pk=message.pk).first()
        if locked is not None and locked.status != MessageStatus.PAUSED:
            return locked
        events_move(
            source=[EventStatus.PROCESSING], target=EventStatus.PAUSED, pks=[event.pk for event in events]
        )
    return None


def _route(events: list[Event]) -> list[tuple[Event, dict, TrackedContent | None]]:
    """The events of one configuration that can be sent, with the content of their message's live
    version; the others end `tooOld` (expired) or `routingFailed` (no live message), or wait
    `paused` for the resume."""
    now = timezone.now()
    live = []
    for event in events:
        if event_deadline(event=event) < now:
            with _on_its_own(event):
                _finish(event, EventStatus.TOO_OLD, error="Expired before it could be processed.")
        else:
            live.append(event)
    if not live:
        return []
    message = _message_of(live[0])
    if message is not None and message.status == MessageStatus.PAUSED:
        message = _wait_for_resume(live, message)
        if message is None:
            return []
    if message is None or message.status != MessageStatus.PUBLISHED or message.published_version is None:
        for event in live:
            with _on_its_own(event):
                _finish(event, EventStatus.ROUTING_FAILED, error="No published message for this event.")
        return []
    version = message.published_version
    tracked = None
    if live[0].configuration.channel == Channel.EMAIL:
        # Links are numbered whether or not the message tracks: turning tracking on later then
        # needs no new version.
        tracked = tracked_content(version_pk=version.pk, published_at=version.published_at)
        content = tracked.content
        if not message.tracking_enabled:
            tracked = None
    else:
        content = version_content(version_pk=version.pk, published_at=version.published_at)
    return [(event, content, tracked) for event in live]


def _targets(event: Event, channel: str) -> list[tuple[Recipient, str]] | None:
    """The recipients and their channel addresses; None when the event could not be targeted (it
    is finished, `targetingFailed`, or postponed after a processing error)."""
    try:
        return [
            (recipient, channel_address(channel=channel, recipient=recipient))
            for recipient in event_recipients(event=event)
        ]
    except TargetingFailed as exc:
        _finish(event, EventStatus.TARGETING_FAILED, error=exc.message)
    except Exception as exc:
        _attempt_failed(_Attempt(event=event, channel=channel), exc)
    return None


def _render(routed: _Routed) -> Rendered:
    rendered = message_render(
        channel=routed.channel,
        content=routed.content,
        context=event_context(event=routed.event),
        language=event_language(event=routed.event),
    )
    if isinstance(rendered, RenderedEmail):
        if routed.tracked is not None:
            return email_tracking_add(
                rendered=rendered, whom=Tracked(event_pk=routed.event.pk), tracked=routed.tracked
            )
        return email_markers_strip(rendered=rendered)
    return rendered


def _send(routed: _Routed, exclusions: dict[str, tuple[str, str]]) -> None:
    """Send one routed event to its addresses that are not excluded (none left: the event is
    ignored) and record the attempts with the event's new status."""
    event, channel = routed.event, routed.channel
    if event.configuration.targeting == Targeting.PROFILE:
        # The profile's consent (SPEC MSG-7): event-based messages are not filtered by it.
        profile = event_target_profile(event=event)
        refusal = profile_consent_refusal(
            profile=profile, channel=channel, service_id=event_service_id(event=event)
        )
        if refusal is not None:
            reason, detail = refusal
            _exclude(event, channel=channel, address=routed.targets[0][1], reason=reason, detail=detail)
            return
    targets = [(recipient, address) for recipient, address in routed.targets if address not in exclusions]
    if not targets:
        address = routed.targets[0][1]
        reason, detail = exclusions[address]
        _exclude(event, channel=channel, address=address, reason=reason, detail=detail)
        return
    message = _message_of(event)
    if targets[0][0].app_subscription_id is not None:
        hit = event_profile_hit(event=event, message=message, channel=channel)
        if hit is not None:
            _exclude_by_rule(event, channel=channel, address=targets[0][1], hit=hit)
            return
        _send_to_devices(routed, targets)
        return
    [(recipient, address)] = targets
    attempt = _Attempt(event=event, channel=channel, address=address)
    try:
        rendered = _render(routed)
        hit = event_content_hit(event=event, message=message, channel=channel, rendered=rendered) or (
            event_profile_hit(event=event, message=message, channel=channel)
        )
        if hit is None:
            provider_id = message_send(
                channel=channel, pkey=event.pkey, recipient=recipient, rendered=rendered
            )
    except Exception as exc:
        _attempt_failed(attempt, exc)
        return
    if hit is not None:
        _exclude_by_rule(event, channel=channel, address=address, hit=hit)
        return
    _finish(
        event,
        EventStatus.PROCESSED,
        record=attempt.row(AttemptOutcome.SENT, provider_message_id=provider_id[:255]),
        attempts=attempt.number,
        provider_message_id=provider_id[:255],
        error="",
    )


def _send_to_devices(routed: _Routed, targets: list[tuple[Recipient, str]]) -> None:
    """Profile-based push: the notification goes to each live device of the profile, one attempt
    each. The event is `processed` when at least one device accepted it; when none did, it is
    postponed if a failure was temporary, else `deliveryFailed`. A token the provider refuses for
    good (unregistered) has its app subscription disabled: it is never used again."""
    event, channel = routed.event, routed.channel
    try:
        rendered = _render(routed)
    except Exception as exc:
        _attempt_failed(_Attempt(event=event, channel=channel, address=targets[0][1]), exc)
        return
    sent: list[tuple[_Attempt, str]] = []
    failed: list[tuple[_Attempt, SendFailure, Recipient]] = []
    for recipient, address in targets:
        attempt = _Attempt(event=event, channel=channel, address=address)
        try:
            provider_id = message_send(
                channel=channel, pkey=event.pkey, recipient=recipient, rendered=rendered
            )
        except SendFailure as failure:
            failed.append((attempt, failure, recipient))
        except Exception as exc:
            if sent or failed:
                # A device after others (the provider's answer unreadable): an unexpected failure,
                # recorded as temporary, that does not undo what the others got.
                failed.append((attempt, SendFailure(str(exc)[:2000], temporary=True), recipient))
                continue
            _attempt_failed(attempt, exc)
            return
        else:
            sent.append((attempt, provider_id))
    temporary = [item for item in failed if item[1].temporary]
    # Numbered in the order they are logged: the sent ones first; when the event is postponed,
    # the temporary failure that postpones it last.
    ordered = [attempt for attempt, _ in sent] + [a for a, f, _ in failed if not f.temporary]
    ordered += [a for a, _, _ in temporary]
    for offset, attempt in enumerate(ordered):
        attempt.offset = offset
    last = ordered[-1]
    with transaction.atomic():
        for attempt, provider_id in sent:
            attempt.record(AttemptOutcome.SENT, provider_message_id=provider_id[:255])
        for attempt, failure, recipient in failed:
            if not failure.temporary:
                attempt.record(
                    AttemptOutcome.PERMANENT_FAILURE,
                    provider_response=failure.response,
                    error=failure.message[:2000],
                )
                if failure.address_rejected and recipient.app_subscription_id is not None:
                    app_subscription_disable(
                        app_subscription_id=recipient.app_subscription_id, reason=failure.message
                    )
            elif sent or attempt is not last:
                attempt.record(
                    AttemptOutcome.TEMPORARY_FAILURE,
                    provider_response=failure.response,
                    error=failure.message[:2000],
                )
        errors = "; ".join(f"{attempt.address[:16]}…: {failure.message}" for attempt, failure, _ in failed)
        if sent:
            note = f"Sent to {len(sent)} of {len(targets)} devices. {errors}" if failed else ""
            _finish(
                event,
                EventStatus.PROCESSED,
                attempts=last.number,
                provider_message_id=sent[0][1][:255],
                error=note[:2000],
            )
        elif temporary:
            _postpone(
                last, AttemptOutcome.TEMPORARY_FAILURE, errors[:2000], response=temporary[-1][1].response
            )
        else:
            _finish(
                event,
                EventStatus.DELIVERY_FAILED,
                attempts=last.number,
                error=f"No device accepted the notification: {errors}"[:2000],
            )


def _attempt_failed(attempt: _Attempt, exc: Exception) -> None:
    if isinstance(exc, SendFailure):
        _send_failed(attempt, exc)
        return
    if isinstance(exc, RenderError) and exc.final:
        _render_failed(attempt, exc)
        return
    # Render, enrichment or configuration: worth trying again later (a message fixed and
    # republished, a provider configured, a database hiccup), a bounded number of times.
    if not isinstance(exc, ApplicationError):
        logger.exception("processing event %s failed", attempt.event.pkey, exc_info=exc)
    _processing_failed(attempt, f"Processing failed: {exc}"[:2000])


def event_deliver(*, event_pk: int) -> None:
    """Render the published message for one event and send it. A redelivered task finds
    the event already claimed and does nothing."""
    events_deliver(event_pks=[event_pk])


def events_deliver(*, event_pks: list[int]) -> None:
    """Deliver a chunk of events in one call, each as `event_deliver` would: claimed by its own
    conditional status change (a redelivered chunk does nothing twice), sent, and committed with
    its attempt on its own; one failing event does not stop the others. The events, their
    messages and the exclusion lists are read in a few queries for the whole chunk, and the
    channel's connection (SMTP) is reused from one event to the next."""
    claimed = _claim(list(event_pks))
    if not claimed:
        return
    with _heartbeat(claimed):
        _claimed_deliver(claimed)


def _claimed_deliver(claimed: list[int]) -> None:
    by_configuration: dict[int, list[Event]] = {}
    for event in _claimed_events(claimed):
        by_configuration.setdefault(event.configuration_id, []).append(event)
    routed: list[_Routed] = []
    for events in by_configuration.values():
        routable: list[tuple[Event, dict, TrackedContent | None]] = []
        with _on_its_own(*events):
            routable = _route(events)
        for event, content, tracked in routable:
            channel = event.configuration.channel
            with _on_its_own(event):
                targets = _targets(event, channel)
                if targets is not None:
                    routed.append(_Routed(event, channel, content, targets, tracked))
    exclusions = {
        channel: address_exclusions(
            channel=channel,
            addresses=[address for item in routed if item.channel == channel for _, address in item.targets],
        )
        for channel in {item.channel for item in routed}
    }
    for item in routed:
        with _on_its_own(item.event):
            _send(item, exclusions[item.channel])


def _exclude(
    event: Event, *, channel: str, address: str, reason: str, detail: str, rule_id: int | None = None
) -> None:
    if reason == ExclusionReason.SUPPRESSED:
        # The log must not bring back the address an erasure removed.
        address = ""
    with transaction.atomic():
        Exclusion.objects.create(
            event=event,
            event_pkey=event.pkey,
            configuration_id=event.configuration_id,
            channel=channel,
            address=address,
            reason=reason,
            detail=detail,
            rule_id=rule_id,
        )
        _finish(event, EventStatus.IGNORED, error=f"Not sent: {detail}")


def _exclude_by_rule(event: Event, *, channel: str, address: str, hit: RuleHit) -> None:
    _exclude(
        event,
        channel=channel,
        address=address,
        reason=ExclusionReason.TYPOLOGY,
        detail=hit.reason,
        rule_id=hit.rule.pk,
    )


def _send_failed(attempt: _Attempt, failure: SendFailure) -> None:
    logger.warning("event %s attempt %s: %s", attempt.event.pkey, attempt.number, failure.message)
    if failure.temporary:
        _postpone(attempt, AttemptOutcome.TEMPORARY_FAILURE, failure.message, response=failure.response)
        return
    with transaction.atomic():
        attempt.record(
            AttemptOutcome.PERMANENT_FAILURE, provider_response=failure.response, error=failure.message[:2000]
        )
        if failure.address_rejected:
            address_quarantine(
                channel=attempt.channel,
                address=attempt.address,
                reason=QuarantineReason.REFUSED,
                detail=failure.response,
            )
        _finish(
            attempt.event, EventStatus.DELIVERY_FAILED, attempts=attempt.number, error=failure.message[:2000]
        )


def _render_failed(attempt: _Attempt, exc: RenderError) -> None:
    """A render that can only fail again (a limit of the sandbox, an operation it refuses, a
    missing value under the fail policy) ends the event at once: retrying would only spend the
    worker's time on it again."""
    _processing_failed_for_good(attempt, f"Rendering failed: {exc.message}"[:2000])


def _processing_failed_for_good(attempt: _Attempt, error: str) -> None:
    _finish(
        attempt.event,
        EventStatus.DELIVERY_FAILED,
        record=attempt.row(AttemptOutcome.PROCESSING_ERROR, error=error),
        attempts=attempt.number,
        error=error,
    )


def _processing_failed(attempt: _Attempt, error: str) -> None:
    failures = DeliveryAttempt.objects.filter(
        event=attempt.event, outcome=AttemptOutcome.PROCESSING_ERROR
    ).count()
    if failures + 1 >= settings.DELIVERY_PROCESSING_MAX_ATTEMPTS:
        _processing_failed_for_good(attempt, error)
        return
    _postpone(attempt, AttemptOutcome.PROCESSING_ERROR, error)


def _postpone(attempt: _Attempt, outcome: str, error: str, response: str = "") -> None:
    """Put the event back to `pending` and enqueue it for later; `tooOld` when that is past its deadline."""
    event = attempt.event
    retry_at = timezone.now() + timedelta(seconds=retry_delay(attempt=attempt.number))
    if retry_at >= event_deadline(event=event):
        _finish(
            event,
            EventStatus.TOO_OLD,
            record=attempt.row(outcome, provider_response=response, error=error[:2000]),
            attempts=attempt.number,
            error=f"Expired while retrying. Last error: {error}"[:2000],
        )
        return
    with transaction.atomic():
        attempt.record(outcome, provider_response=response, error=error[:2000], retry_at=retry_at)
        moved = event_move(
            event_pk=event.pk,
            source=EventStatus.PROCESSING,
            target=EventStatus.PENDING,
            attempts=attempt.number,
            error=error[:2000],
        )
        if moved:
            transaction.on_commit(lambda: event_enqueue(event_pk=event.pk, eta=retry_at), robust=True)


def events_sweep(*, now: datetime | None = None) -> int:
    """Enqueue again the events lost on the way, in bounded batches; returns how many.

    Lost means `processing` with a lease not renewed for DELIVERY_LEASE_SECONDS (a worker killed
    mid-task: a live one renews it), or `pending` and due for longer than
    DELIVERY_QUEUE_LEASE_SECONDS (an enqueue lost with the broker, a broker restarted empty).

    Each batch is one indexed query, one UPDATE and `DELIVERY_SWEEP_BATCH_SIZE` publishes (about
    half a second on Redis), so a run stays well inside the beat interval even after an outage;
    what remains is taken by the next run.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.DELIVERY_LEASE_SECONDS)
    queue_cutoff = now - timedelta(seconds=settings.DELIVERY_QUEUE_LEASE_SECONDS)
    due_retry = DeliveryAttempt.objects.filter(event=OuterRef("pk"), retry_at__gte=queue_cutoff)
    total = 0
    for _ in range(settings.DELIVERY_SWEEP_MAX_BATCHES):
        with transaction.atomic():
            stuck = list(
                Event.objects.filter(
                    Q(status=EventStatus.PROCESSING, updated_at__lt=cutoff)
                    | Q(status=EventStatus.PENDING, updated_at__lt=queue_cutoff)
                    & (Q(scheduled__isnull=True) | Q(scheduled__lt=queue_cutoff))
                    & ~Exists(due_retry)
                )
                .order_by("updated_at")
                .select_for_update(skip_locked=True)
                .values_list("pk", flat=True)[: settings.DELIVERY_SWEEP_BATCH_SIZE]
            )
            if not stuck:
                break
            # Touching updated_at gives each event a new lease: the next run leaves it alone
            # while it waits in the queue.
            events_move(
                source=[EventStatus.PROCESSING, EventStatus.PENDING],
                target=EventStatus.PENDING,
                pks=stuck,
                updated_at=now,
                dispatched_at=now,
            )
            for pk in stuck:
                transaction.on_commit(lambda pk=pk: event_enqueue(event_pk=pk), robust=True)
        total += len(stuck)
        if len(stuck) < settings.DELIVERY_SWEEP_BATCH_SIZE:
            break
    if total:
        logger.warning("sweeper enqueued %s lost events again", total)
    return total
