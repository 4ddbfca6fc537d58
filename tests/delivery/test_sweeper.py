"""The sweeper finds the events lost on the way (and only those) and enqueues them again."""

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.models import AttemptOutcome, DeliveryAttempt
from delivery.services import events_sweep
from events.models import Event, EventStatus
from events.services import event_trigger

pytestmark = pytest.mark.django_db

CART = {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket"}


def stored_event(config, *, status, age_seconds, **fields):
    event = event_trigger(
        event_id=config.event_id, payload={"email": "jane@example.com", "ctx": CART, **fields}
    )
    Event.objects.filter(pk=event.pk).update(
        status=status, updated_at=timezone.now() - timedelta(seconds=age_seconds)
    )
    return event


def test_takes_lost_pending_and_stale_processing_events_back_to_pending(cart_event, settings):
    settings.DELIVERY_LEASE_SECONDS = settings.DELIVERY_QUEUE_LEASE_SECONDS = 60
    lost = stored_event(cart_event, status=EventStatus.PENDING, age_seconds=120)
    killed = stored_event(cart_event, status=EventStatus.PROCESSING, age_seconds=120)
    fresh = stored_event(cart_event, status=EventStatus.PENDING, age_seconds=5)
    working = stored_event(cart_event, status=EventStatus.PROCESSING, age_seconds=5)
    done = stored_event(cart_event, status=EventStatus.PROCESSED, age_seconds=600)
    paused = stored_event(cart_event, status=EventStatus.PAUSED, age_seconds=600)

    assert events_sweep() == 2

    statuses = dict(Event.objects.values_list("pk", "status"))
    assert statuses[lost.pk] == statuses[killed.pk] == EventStatus.PENDING
    assert statuses[working.pk] == EventStatus.PROCESSING
    assert statuses[done.pk] == EventStatus.PROCESSED
    assert statuses[paused.pk] == EventStatus.PAUSED
    assert statuses[fresh.pk] == EventStatus.PENDING
    # Each swept event has a new lease: the next run leaves them alone.
    assert events_sweep() == 0


def test_leaves_scheduled_and_postponed_events_until_they_are_due(cart_event, settings):
    settings.DELIVERY_LEASE_SECONDS = settings.DELIVERY_QUEUE_LEASE_SECONDS = 60
    later = (timezone.now() + timedelta(hours=2)).isoformat()
    stored_event(cart_event, status=EventStatus.PENDING, age_seconds=600, scheduled=later)
    postponed = stored_event(cart_event, status=EventStatus.PENDING, age_seconds=600)
    DeliveryAttempt.objects.create(
        event=postponed,
        number=1,
        channel="email",
        started_at=timezone.now(),
        duration_ms=3,
        outcome=AttemptOutcome.TEMPORARY_FAILURE,
        retry_at=timezone.now() + timedelta(minutes=30),
    )
    assert events_sweep() == 0


def test_works_in_bounded_batches(cart_event, settings):
    settings.DELIVERY_LEASE_SECONDS = settings.DELIVERY_QUEUE_LEASE_SECONDS = 60
    settings.DELIVERY_SWEEP_BATCH_SIZE = 3
    settings.DELIVERY_SWEEP_MAX_BATCHES = 2
    for _ in range(8):
        stored_event(cart_event, status=EventStatus.PENDING, age_seconds=120)
    assert events_sweep() == 6
    assert events_sweep() == 2


def test_a_processing_event_is_lost_after_the_lease_and_a_pending_one_after_the_queue_lease(
    cart_event, settings
):
    settings.DELIVERY_LEASE_SECONDS = 30
    settings.DELIVERY_QUEUE_LEASE_SECONDS = 300
    killed = stored_event(cart_event, status=EventStatus.PROCESSING, age_seconds=45)
    queued = stored_event(cart_event, status=EventStatus.PENDING, age_seconds=45)
    lost = stored_event(cart_event, status=EventStatus.PENDING, age_seconds=400)

    assert events_sweep() == 2

    statuses = dict(Event.objects.values_list("pk", "status"))
    assert statuses[killed.pk] == statuses[lost.pk] == EventStatus.PENDING
    # Waiting in a queue backlog for less than the queue lease: left alone.
    assert Event.objects.get(pk=queued.pk).updated_at < timezone.now() - timedelta(seconds=40)
