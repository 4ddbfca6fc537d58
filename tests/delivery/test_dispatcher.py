"""The dispatcher publishes what the API stored: due `pending` events, once each, in arrival order,
a chunk of events per task."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from delivery.dispatcher import events_dispatch
from delivery.services import events_deliver
from events.models import Event, EventStatus
from events.services import event_trigger
from messages_app.services import message_pause, message_resume
from tests.conftest import make_published_event

pytestmark = pytest.mark.django_db

CART = {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket"}


def trigger(config, **fields) -> Event:
    return event_trigger(
        event_id=config.event_id, payload={"email": "jane@example.com", "ctx": CART, **fields}
    )


def test_stored_events_are_published_in_chunks_in_arrival_order_once(
    cart_event, settings, transactional_queue
):
    settings.DELIVERY_DISPATCH_CHUNK_SIZE = 10
    settings.DELIVERY_DISPATCH_SPREAD = 2
    events = [trigger(cart_event) for _ in range(25)]

    assert events_dispatch() == 25
    assert events_dispatch() == 0

    tasks = transactional_queue()
    assert [name for name, _ in tasks] == ["delivery.tasks.events_process"] * 3
    # Sorted: kombu's file-system broker (the suite's without CELERY_BROKER_URL) hands messages
    # published within the same millisecond out in random order.
    assert sorted(args[0] for _, args in tasks) == [
        [e.pk for e in events[:9]],
        [e.pk for e in events[9:17]],
        [e.pk for e in events[17:]],
    ]
    assert not Event.objects.filter(dispatched_at__isnull=True).exists()
    assert set(Event.objects.values_list("status", flat=True)) == {EventStatus.PENDING}


def test_a_batch_is_bounded_and_the_rest_waits_for_the_next_round(cart_event, settings, transactional_queue):
    settings.DELIVERY_DISPATCH_BATCH_SIZE = 4
    settings.DELIVERY_DISPATCH_CHUNK_SIZE = 3
    settings.DELIVERY_DISPATCH_SPREAD = 1
    for _ in range(6):
        trigger(cart_event)

    assert events_dispatch() == 4
    # Sorted: the file-system broker does not keep the order of one millisecond's messages.
    assert sorted(len(args[0]) for _, args in transactional_queue()) == [2, 2]
    assert events_dispatch() == 2
    assert [len(args[0]) for _, args in transactional_queue()] == [2]


def test_a_few_events_are_spread_over_the_pool_and_a_backlog_goes_in_full_chunks(
    cart_event, settings, transactional_queue
):
    settings.DELIVERY_DISPATCH_CHUNK_SIZE = 25
    settings.DELIVERY_DISPATCH_SPREAD = 4
    for _ in range(6):
        trigger(cart_event)
    assert events_dispatch() == 6
    assert sorted(len(args[0]) for _, args in transactional_queue()) == [1, 1, 2, 2]

    for _ in range(110):
        trigger(cart_event)
    assert events_dispatch() == 110
    assert sorted(len(args[0]) for _, args in transactional_queue()) == [22, 22, 22, 22, 22]

    trigger(cart_event)
    assert events_dispatch() == 1
    assert [len(args[0]) for _, args in transactional_queue()] == [1]


def test_scheduled_events_wait_until_they_are_due(cart_event, transactional_queue):
    later = timezone.now() + timedelta(hours=1)
    scheduled = trigger(cart_event, scheduled=later.isoformat())

    assert events_dispatch() == 0
    assert events_dispatch(now=later + timedelta(seconds=1)) == 1
    assert transactional_queue() == [("delivery.tasks.events_process", [[scheduled.pk]])]


def test_paused_events_are_published_when_the_message_resumes(cart_event, transactional_queue):
    message = cart_event.message
    message_pause(message=message)
    held = [trigger(cart_event) for _ in range(2)]
    assert {e.status for e in held} == {EventStatus.PAUSED}
    assert events_dispatch() == 0

    assert message_resume(message=message) == 2
    assert events_dispatch() == 2
    tasks = transactional_queue()
    assert {name for name, _ in tasks} == {"delivery.tasks.events_process"}
    assert sorted(pk for _, args in tasks for pk in args[0]) == [e.pk for e in held]


@pytest.mark.django_db(transaction=True)
def test_a_chunk_taken_before_the_dispatcher_commits_is_still_delivered(smtp):
    # A fast worker can receive a chunk while the dispatcher's transaction still holds its rows:
    # the claim waits for that commit instead of skipping the rows (which left them pending).
    config = make_published_event()
    # Scheduled ahead: the dispatcher of a worker running for other tests leaves them alone.
    later = (timezone.now() + timedelta(days=1)).isoformat()
    events = [trigger(config, scheduled=later) for _ in range(3)]
    pks = [event.pk for event in events]
    worker = threading.Thread(target=lambda: (events_deliver(event_pks=pks), connection.close()))
    with transaction.atomic():
        list(Event.objects.filter(pk__in=pks).order_by("pk").select_for_update())
        worker.start()
        worker.join(timeout=0.5)  # the worker is waiting for these rows meanwhile
    worker.join(timeout=30)

    assert set(Event.objects.filter(pk__in=pks).values_list("status", flat=True)) == {EventStatus.PROCESSED}
    assert len(smtp.messages) == 3
