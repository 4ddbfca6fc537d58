"""A live worker renews the lease of the events it holds, so that the sweeper takes over only the
events of a worker that stopped (or that held them longer than DELIVERY_LEASE_MAX_SECONDS)."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.services import _heartbeat, events_sweep
from events.models import Event, EventStatus
from events.services import event_trigger

CART = {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket"}
# The heartbeat runs on its own thread and database connection: it sees committed rows only.
pytestmark = pytest.mark.django_db(transaction=True)


def held_event(config, age_seconds: float) -> Event:
    event = event_trigger(event_id=config.event_id, payload={"email": "jane@example.com", "ctx": CART})
    Event.objects.filter(pk=event.pk).update(
        status=EventStatus.PROCESSING, updated_at=timezone.now() - timedelta(seconds=age_seconds)
    )
    return event


def wait_until(check, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def renewed_since(event: Event, moment) -> bool:
    return Event.objects.get(pk=event.pk).updated_at > moment


def test_a_live_worker_keeps_its_events_and_a_stopped_one_loses_them(cart_event, settings):
    settings.DELIVERY_LEASE_SECONDS = 3
    settings.DELIVERY_LEASE_MAX_SECONDS = 60
    held = held_event(cart_event, age_seconds=5)
    abandoned = held_event(cart_event, age_seconds=5)
    start = timezone.now()

    with _heartbeat([held.pk]):
        assert wait_until(lambda: renewed_since(held, start))
        # The worker holding `held` is alive: the sweeper takes only the other one.
        assert events_sweep() == 1

    statuses = dict(Event.objects.values_list("pk", "status"))
    assert statuses[held.pk] == EventStatus.PROCESSING
    assert statuses[abandoned.pk] == EventStatus.PENDING
    # Once the heartbeat stopped (the chunk is done, or the worker was killed), a lease later the
    # sweeper takes the event over.
    assert wait_until(lambda: events_sweep() == 1)
    assert Event.objects.get(pk=held.pk).status == EventStatus.PENDING


def test_the_heartbeat_stops_renewing_after_the_maximum_hold(cart_event, settings):
    settings.DELIVERY_LEASE_SECONDS = 1
    settings.DELIVERY_LEASE_MAX_SECONDS = 3
    stuck = held_event(cart_event, age_seconds=5)
    start = timezone.now()

    with _heartbeat([stuck.pk]):
        assert wait_until(lambda: renewed_since(stuck, start))
        # A worker stuck on one chunk longer than the maximum hold loses its events, although its
        # heartbeat thread is alive.
        assert wait_until(lambda: events_sweep() == 1)

    assert Event.objects.get(pk=stuck.pk).status == EventStatus.PENDING


def test_renewing_leaves_events_that_moved_on(cart_event, settings):
    from events.lifecycle import events_lease_renew

    processed = held_event(cart_event, age_seconds=5)
    Event.objects.filter(pk=processed.pk).update(status=EventStatus.PROCESSED)
    held = held_event(cart_event, age_seconds=5)

    assert events_lease_renew(pks=[processed.pk, held.pk]) == 1
