"""Every final status, by every path that reaches it, queues exactly one status callback for the
event (when its integration has a callback URL), and none otherwise. The callbacks are read where
the lifecycle queues them: the functions run when the transaction commits."""

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.models import DenylistEntry
from delivery.services import event_deliver, events_sweep
from events.lifecycle import ALLOWED, callback_enqueue, event_move
from events.models import FINAL_STATUSES, Event, EventStatus
from events.services import event_trigger
from integrations.services import integration_create
from messages_app.services import configuration_unpublish, message_pause, message_resume, message_unpublish
from tests.conftest import make_published_event
from tests.delivery.test_targeting import referral  # noqa: F401 - a fixture

pytestmark = pytest.mark.django_db

CART = {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket"}


@pytest.fixture
def shop(db):
    integration = integration_create(name="Shop").integration
    integration.callback_url = "https://shop.example.com/callbacks"
    integration.save(update_fields=["callback_url"])
    return integration


def trigger(config, integration, email="jane@example.com", **extra) -> Event:
    return event_trigger(
        event_id=config.event_id,
        payload={"email": email, "ctx": CART, **extra},
        integration=integration,
    )


def queued_callbacks(callbacks) -> list[int]:
    return sorted(cb.args[0] for cb in callbacks if getattr(cb, "func", None) is callback_enqueue)


def past() -> str:
    return (timezone.now() - timedelta(minutes=5)).isoformat()


def test_stored_too_old_at_the_trigger(shop, django_capture_on_commit_callbacks):
    config = make_published_event()
    with django_capture_on_commit_callbacks() as callbacks:
        event = trigger(config, shop, scheduled=(timezone.now() - timedelta(days=9)).isoformat())
    assert event.status == EventStatus.TOO_OLD
    assert queued_callbacks(callbacks) == [event.pk]


def test_processed(shop, smtp, django_capture_on_commit_callbacks):
    event = trigger(make_published_event(), shop)
    with django_capture_on_commit_callbacks() as callbacks:
        event_deliver(event_pk=event.pk)
        event_deliver(event_pk=event.pk)  # redelivered: nothing moves, nothing is queued
    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    assert queued_callbacks(callbacks) == [event.pk]


def test_ignored_for_a_denylisted_address(shop, smtp, django_capture_on_commit_callbacks):
    DenylistEntry.objects.create(channel="email", address="jane@example.com")
    event = trigger(make_published_event(), shop)
    with django_capture_on_commit_callbacks() as callbacks:
        event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.IGNORED
    assert queued_callbacks(callbacks) == [event.pk]


def test_delivery_failed_when_the_server_refuses_the_address(shop, smtp, django_capture_on_commit_callbacks):
    smtp.refuse.add("jane@example.com")
    event = trigger(make_published_event(), shop)
    with django_capture_on_commit_callbacks() as callbacks:
        event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.DELIVERY_FAILED
    assert queued_callbacks(callbacks) == [event.pk]


def test_routing_failed_without_a_live_message(shop, django_capture_on_commit_callbacks):
    config = make_published_event(publish_message=False)
    event = trigger(config, shop)
    with django_capture_on_commit_callbacks() as callbacks:
        event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.ROUTING_FAILED
    assert queued_callbacks(callbacks) == [event.pk]


def test_routing_failed_when_the_message_is_unpublished_while_paused(
    shop, django_capture_on_commit_callbacks
):
    config = make_published_event()
    message_pause(message=config.message)
    held = [trigger(config, shop), trigger(config, shop)]
    assert {e.status for e in held} == {EventStatus.PAUSED}
    with django_capture_on_commit_callbacks() as callbacks:
        message_unpublish(message=config.message)
    assert set(Event.objects.values_list("status", flat=True)) == {EventStatus.ROUTING_FAILED}
    assert queued_callbacks(callbacks) == sorted(e.pk for e in held)


def test_routing_failed_when_the_configuration_is_unpublished_while_paused(
    shop, django_capture_on_commit_callbacks
):
    config = make_published_event()
    message_pause(message=config.message)
    event = trigger(config, shop)
    with django_capture_on_commit_callbacks() as callbacks:
        configuration_unpublish(config=config)
    event.refresh_from_db()
    assert event.status == EventStatus.ROUTING_FAILED
    assert queued_callbacks(callbacks) == [event.pk]


def test_too_old_when_expired_during_a_pause(shop, django_capture_on_commit_callbacks):
    config = make_published_event()
    message_pause(message=config.message)
    expired = trigger(config, shop, expiration=(timezone.now() + timedelta(seconds=1)).isoformat())
    kept = trigger(config, shop)
    Event.objects.filter(pk=expired.pk).update(expiration=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks() as callbacks:
        assert message_resume(message=config.message) == 1
    expired.refresh_from_db()
    kept.refresh_from_db()
    assert (expired.status, kept.status) == (EventStatus.TOO_OLD, EventStatus.PENDING)
    assert queued_callbacks(callbacks) == [expired.pk]


def test_too_old_when_it_expired_before_a_worker_took_it(shop, django_capture_on_commit_callbacks):
    event = trigger(make_published_event(), shop)
    Event.objects.filter(pk=event.pk).update(expiration=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks() as callbacks:
        event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.TOO_OLD
    assert queued_callbacks(callbacks) == [event.pk]


def test_too_old_when_a_retry_would_fall_past_the_deadline(
    shop, smtp, settings, django_capture_on_commit_callbacks
):
    settings.DELIVERY_RETRY_BASE_SECONDS = settings.DELIVERY_RETRY_MAX_SECONDS = 3600
    smtp.defer["jane@example.com"] = 5
    event = trigger(
        make_published_event(), shop, expiration=(timezone.now() + timedelta(minutes=1)).isoformat()
    )
    with django_capture_on_commit_callbacks() as callbacks:
        event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.TOO_OLD
    assert queued_callbacks(callbacks) == [event.pk]


def test_targeting_failed_for_an_unknown_profile(shop, referral, django_capture_on_commit_callbacks):  # noqa: F811
    config = referral
    event = event_trigger(
        event_id=config.event_id, payload={"ctx": {"customerId": "nobody"}}, integration=shop
    )
    with django_capture_on_commit_callbacks() as callbacks:
        event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.TARGETING_FAILED
    assert queued_callbacks(callbacks) == [event.pk]


def test_moves_that_do_not_end_an_event_queue_nothing(shop, django_capture_on_commit_callbacks):
    event = trigger(make_published_event(), shop)
    Event.objects.filter(pk=event.pk).update(
        status=EventStatus.PROCESSING, updated_at=timezone.now() - timedelta(days=1)
    )
    with django_capture_on_commit_callbacks() as callbacks:
        assert events_sweep() == 1
    assert queued_callbacks(callbacks) == []


def test_without_a_callback_url_nothing_is_queued(django_capture_on_commit_callbacks, smtp):
    event = event_trigger(
        event_id=make_published_event().event_id, payload={"email": "a@example.com", "ctx": CART}
    )
    with django_capture_on_commit_callbacks() as callbacks:
        event_deliver(event_pk=event.pk)
    assert queued_callbacks(callbacks) == []


@pytest.mark.parametrize("final", sorted(FINAL_STATUSES))
def test_a_final_status_is_final(final, shop):
    event = trigger(make_published_event(), shop)
    Event.objects.filter(pk=event.pk).update(status=final)
    assert final not in ALLOWED
    with pytest.raises(ValueError, match="cannot move"):
        event_move(event_pk=event.pk, source=final, target=EventStatus.PENDING)
