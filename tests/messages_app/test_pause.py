"""Pause and resume: events kept while paused are processed in arrival order with the latest
published content; expired ones become tooOld."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from campaign.exceptions import ApplicationError
from events.models import Event, EventStatus
from events.services import event_trigger
from messages_app.models import MessageStatus
from messages_app.services import (
    message_pause,
    message_publish,
    message_resume,
    message_unpublish,
    message_update,
)
from tests.conftest import make_published_event

CART = {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket"}


def trigger_while_paused(config, *, first_name="Jane", expiration=None) -> Event:
    """An event arriving while the message is paused: the trigger API stores it `paused`
    (the trigger issue implements that on `MessageStatus.PAUSED`; set here for the same effect)."""
    payload = {"email": f"{first_name.lower()}@example.com", "ctx": {**CART, "firstName": first_name}}
    if expiration:
        payload["expiration"] = expiration.isoformat()
    event = event_trigger(event_id=config.event_id, payload=payload)
    Event.objects.filter(pk=event.pk).update(status=EventStatus.PAUSED)
    return event


@pytest.mark.django_db
class TestPauseTransitions:
    def test_only_a_published_message_can_be_paused_and_only_a_paused_one_resumed(self, cart_event):
        message = cart_event.message
        with pytest.raises(ApplicationError, match="is not paused"):
            message_resume(message=message)
        assert message_pause(message=message).status == MessageStatus.PAUSED
        with pytest.raises(ApplicationError, match="only a live message can be paused"):
            message_pause(message=message)

    def test_publishing_while_paused_keeps_the_message_paused(self, cart_event):
        message_pause(message=cart_event.message)
        message_update(message=cart_event.message, subject="New")
        message_publish(message=cart_event.message)
        cart_event.message.refresh_from_db()
        assert cart_event.message.status == MessageStatus.PAUSED

    def test_unpublishing_a_paused_message_releases_its_waiting_events(self, cart_event):
        message_pause(message=cart_event.message)
        event = trigger_while_paused(cart_event)
        message_unpublish(message=cart_event.message)
        event.refresh_from_db()
        assert event.status == EventStatus.ROUTING_FAILED
        assert cart_event.message.status == MessageStatus.DRAFT

    def test_resume_moves_waiting_events_to_pending_and_expired_ones_to_too_old(self, cart_event):
        message_pause(message=cart_event.message)
        kept = trigger_while_paused(cart_event, expiration=timezone.now() + timedelta(hours=1))
        expired = trigger_while_paused(cart_event, first_name="Old")
        Event.objects.filter(pk=expired.pk).update(expiration=timezone.now() - timedelta(seconds=1))
        assert message_resume(message=cart_event.message) == 1
        kept.refresh_from_db()
        expired.refresh_from_db()
        assert (kept.status, expired.status) == (EventStatus.PENDING, EventStatus.TOO_OLD)
        assert cart_event.message.status == MessageStatus.PUBLISHED


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_resume_delivers_the_kept_events_with_the_new_content(celery_worker, smtp_server):
    smtp_server.messages.clear()
    config = make_published_event()
    message_pause(message=config.message)
    first = trigger_while_paused(config, first_name="Ann")
    second = trigger_while_paused(config, first_name="Bob")
    expired = trigger_while_paused(config, first_name="Old", expiration=timezone.now() + timedelta(seconds=1))
    message_update(message=config.message, subject="{{ ctx.firstName }}, 10% off your cart")
    message_publish(message=config.message)
    time.sleep(1.1)  # the third event's expiration passes while the message is paused

    assert message_resume(message=config.message) == 2
    received = smtp_server.wait_for(2)
    # Enqueued in arrival order; the worker's two processes may finish them in either order.
    assert sorted(m["Subject"] for m in received) == ["Ann, 10% off your cart", "Bob, 10% off your cart"]
    for event, status in (
        (first, EventStatus.PROCESSED),
        (second, EventStatus.PROCESSED),
        (expired, EventStatus.TOO_OLD),
    ):
        deadline = time.monotonic() + 20
        while Event.objects.get(pk=event.pk).status != status and time.monotonic() < deadline:
            time.sleep(0.1)
        assert Event.objects.get(pk=event.pk).status == status
