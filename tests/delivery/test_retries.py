"""Two retry levels and the attempts log, against the real SMTP server on loopback."""

import socket
import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.models import AddressQuarantine, AttemptOutcome, DeliveryAttempt, Exclusion
from delivery.services import event_deliver, retry_delay
from events.models import Event, EventStatus
from events.services import event_trigger

pytestmark = pytest.mark.django_db

CART = {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket"}


@pytest.fixture(autouse=True)
def fast_retries(settings):
    # No wait between attempts: the tests call the delivery again as the delayed task would.
    settings.DELIVERY_RETRY_BASE_SECONDS = 0


def trigger(config, email="jane@example.com", **extra):
    return event_trigger(event_id=config.event_id, payload={"email": email, "ctx": CART, **extra})


def attempts(event):
    return list(DeliveryAttempt.objects.filter(event=event).order_by("number"))


@pytest.fixture
def silent_smtp_server():
    """A TCP server that accepts connections and never says a word (a hung SMTP server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join(timeout=2)
    for connection in accepted:
        connection.close()
    listener.close()


def test_smtp_4xx_is_retried_until_accepted(cart_event, smtp):
    smtp.defer["jane@example.com"] = 2
    event = trigger(cart_event)

    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.PENDING
    assert "451" in event.error
    event_deliver(event_pk=event.pk)
    event_deliver(event_pk=event.pk)

    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    [mail] = smtp.messages
    assert mail["Message-ID"] == event.provider_message_id
    log = attempts(event)
    print("attempts:", [(a.number, a.outcome, a.provider_response) for a in log])
    assert [a.outcome for a in log] == [
        AttemptOutcome.TEMPORARY_FAILURE,
        AttemptOutcome.TEMPORARY_FAILURE,
        AttemptOutcome.SENT,
    ]
    assert [a.number for a in log] == [1, 2, 3]
    assert log[0].provider_response.startswith("451 4.3.0 Mailbox busy")
    assert log[0].retry_at is not None and log[0].address == "jane@example.com"
    assert log[2].provider_message_id == event.provider_message_id and log[2].retry_at is None


def test_smtp_5xx_gives_delivery_failed_and_quarantines_the_address(cart_event, smtp):
    smtp.refuse.add("gone@example.com")
    event = trigger(cart_event, email="gone@example.com")
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.DELIVERY_FAILED
    assert "550 5.1.1 Mailbox unavailable" in event.error
    [attempt] = attempts(event)
    assert attempt.outcome == AttemptOutcome.PERMANENT_FAILURE
    assert AddressQuarantine.objects.get(address="gone@example.com").quarantined_at is not None

    # The next message to that address is not sent: ignored, with the reason logged.
    smtp.refuse.clear()
    again = trigger(cart_event, email="Gone@Example.com")
    event_deliver(event_pk=again.pk)
    again.refresh_from_db()
    assert again.status == EventStatus.IGNORED
    assert "quarantine" in again.error
    assert Exclusion.objects.get(event=again).reason == "quarantine"
    assert smtp.messages == []


def test_smtp_timeout_is_a_temporary_failure(cart_event, smtp, settings, silent_smtp_server):
    settings.EMAIL_PORT = silent_smtp_server
    settings.EMAIL_TIMEOUT = 1
    event = trigger(cart_event)
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.PENDING
    [attempt] = attempts(event)
    assert attempt.outcome == AttemptOutcome.TEMPORARY_FAILURE
    assert "timed out" in attempt.error
    assert attempt.duration_ms >= 900

    settings.EMAIL_PORT = smtp.port
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    assert len(smtp.messages) == 1


def test_unreachable_smtp_server_is_retried(cart_event, smtp, settings):
    settings.EMAIL_PORT = 1  # nothing listens there
    event = trigger(cart_event)
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.PENDING
    assert attempts(event)[0].outcome == AttemptOutcome.TEMPORARY_FAILURE


def test_temporary_failures_past_the_expiration_end_too_old(cart_event, smtp, settings):
    # A backoff far longer than the event's validity: the next try would come too late.
    settings.DELIVERY_RETRY_BASE_SECONDS = 10**9
    settings.DELIVERY_RETRY_MAX_SECONDS = 10**9
    smtp.defer["jane@example.com"] = 1
    expiration = (timezone.now() + timedelta(minutes=1)).isoformat()
    event = trigger(cart_event, expiration=expiration)
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.TOO_OLD
    assert "451" in event.error
    assert smtp.messages == []


@pytest.mark.parametrize("attempt, ceiling", [(1, 30), (2, 60), (5, 480), (12, 3600)])
def test_a_retry_waits_at_least_half_its_backoff(settings, attempt, ceiling):
    # Equal jitter: a busy server is never retried at once, and failures that came together spread.
    settings.DELIVERY_RETRY_BASE_SECONDS, settings.DELIVERY_RETRY_MAX_SECONDS = 30, 3600
    delays = [retry_delay(attempt=attempt) for _ in range(200)]
    assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
    assert len(set(delays)) > 100


def test_default_validity_applies_without_expiration(cart_event, smtp, settings):
    settings.CAMPAIGN_EVENT_DEFAULT_VALIDITY = 60
    event = trigger(cart_event)
    Event.objects.filter(pk=event.pk).update(expiration=None)
    Event.objects.filter(pk=event.pk).update(created_at=timezone.now() - timedelta(minutes=2))
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.TOO_OLD
    assert smtp.messages == []


def test_processing_errors_postpone_then_fail_after_the_limit(cart_event, smtp, settings):
    settings.DELIVERY_PROCESSING_MAX_ATTEMPTS = 3
    # A configuration error: the email backend cannot be loaded.
    settings.EMAIL_BACKEND = "no.such.Backend"
    event = trigger(cart_event)
    for expected in (EventStatus.PENDING, EventStatus.PENDING, EventStatus.DELIVERY_FAILED):
        event_deliver(event_pk=event.pk)
        event.refresh_from_db()
        assert event.status == expected
    assert [a.outcome for a in attempts(event)] == [AttemptOutcome.PROCESSING_ERROR] * 3
    assert "Processing failed" in event.error


def test_a_processing_error_heals_when_the_configuration_is_fixed(cart_event, smtp, settings):
    settings.EMAIL_BACKEND = "no.such.Backend"
    event = trigger(cart_event)
    event_deliver(event_pk=event.pk)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    assert [a.outcome for a in attempts(event)] == [AttemptOutcome.PROCESSING_ERROR, AttemptOutcome.SENT]
