"""Profile-based push: the notification goes to every live registration of the configuration's
application on the targeted profile's devices (FCM HTTP v1 fake on loopback); a token FCM reports
UNREGISTERED is disabled and never used again."""

import pytest

from delivery.models import AttemptOutcome, DeliveryAttempt, DenylistEntry, Exclusion
from delivery.services import event_deliver
from events.models import Event, EventStatus
from profiles.models import AppSubscription
from tests.conftest import trigger_path
from tests.profiles.helpers import APPLICATION, jane, profile_based_event

pytestmark = pytest.mark.django_db

CONTENT = {
    "push_title": "Hello {{ customer.first_name }}",
    "push_body": "You have {{ customer.attributes.points|format_number }} points",
}


@pytest.fixture
def order_push(db):
    return profile_based_event(event_id="EVTorderPush", channel="push", content=CONTENT)


def device(profile, token, *, application=APPLICATION, **fields):
    return AppSubscription.objects.create(
        profile=profile, application=application, platform="gcm", registration_token=token, **fields
    )


def send(api, customer_id="C-1"):
    response = api.post(trigger_path("EVTorderPush"), {"ctx": {"customerId": customer_id}}, format="json")
    assert response.status_code == 202, response.content
    event = Event.objects.get(pkey=response.json()["PKey"])
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    return event


def test_two_devices_one_unregistered_sends_to_the_other_and_disables_the_dead_token(api, fcm, order_push):
    profile = jane()
    phone = device(profile, "token-phone", device="Pixel 8")
    tablet = device(profile, "token-tablet", device="Galaxy Tab")
    # Another application's registration and a disabled one are never used.
    device(profile, "token-other-app", application="com.example.other")
    device(profile, "token-old", disabled_at="2026-01-01T00:00:00Z", disabled_reason="replaced")
    fcm.unregistered.add("token-tablet")

    event = send(api)

    assert event.status == EventStatus.PROCESSED
    [message] = fcm.requests
    assert message["token"] == "token-phone"
    assert message["notification"] == {"title": "Hello Jane", "body": "You have 1,234.5 points"}
    assert event.provider_message_id.startswith("projects/demo-app/messages/")
    assert "Sent to 1 of 2 devices" in event.error
    attempts = {a.address: a for a in DeliveryAttempt.objects.filter(event=event)}
    assert attempts["token-phone"].outcome == AttemptOutcome.SENT
    assert attempts["token-tablet"].outcome == AttemptOutcome.PERMANENT_FAILURE
    assert "UNREGISTERED" in attempts["token-tablet"].error
    assert sorted(a.number for a in attempts.values()) == [1, 2]
    assert event.attempts == 2
    tablet.refresh_from_db()
    phone.refresh_from_db()
    assert tablet.disabled_at is not None
    assert "UNREGISTERED" in tablet.disabled_reason
    assert phone.disabled_at is None

    # The disabled token is not used again: the next event goes to the phone alone.
    fcm.requests.clear()
    second = send(api)
    assert second.status == EventStatus.PROCESSED
    assert [m["token"] for m in fcm.requests] == ["token-phone"]
    assert list(DeliveryAttempt.objects.filter(event=second).values_list("address", flat=True)) == [
        "token-phone"
    ]


def test_every_device_unregistered_fails_the_event(api, fcm, order_push):
    profile = jane()
    device(profile, "token-a")
    device(profile, "token-b")
    fcm.unregistered.update({"token-a", "token-b"})

    event = send(api)

    assert event.status == EventStatus.DELIVERY_FAILED
    assert event.error.startswith("No device accepted the notification")
    assert AppSubscription.objects.filter(profile=profile, disabled_at__isnull=True).count() == 0

    # With no live registration left, the next event fails its targeting, saying why.
    second = send(api)
    assert second.status == EventStatus.TARGETING_FAILED
    assert f"has no live registration of the application '{APPLICATION}'" in second.error


def test_a_profile_without_a_registration_fails_targeting(api, fcm, order_push):
    jane()
    event = send(api)
    assert event.status == EventStatus.TARGETING_FAILED
    assert "has no live registration" in event.error
    assert fcm.requests == []


def test_a_temporary_failure_on_every_device_postpones_the_event(api, fcm, order_push):
    profile = jane()
    device(profile, "token-a")
    device(profile, "token-b")
    unavailable = (
        503,
        {"error": {"code": 503, "message": "The service is currently unavailable.", "status": "UNAVAILABLE"}},
    )
    fcm.script.extend([unavailable, unavailable])

    event = send(api)

    assert event.status == EventStatus.PENDING
    outcomes = list(
        DeliveryAttempt.objects.filter(event=event).order_by("number").values_list("outcome", "retry_at")
    )
    assert [outcome for outcome, _ in outcomes] == [AttemptOutcome.TEMPORARY_FAILURE] * 2
    # The last attempt holds when the event is due again.
    assert outcomes[-1][1] is not None
    assert AppSubscription.objects.filter(profile=profile, disabled_at__isnull=True).count() == 2


def test_denylisted_devices_are_skipped_and_all_of_them_make_the_event_ignored(api, fcm, order_push):
    profile = jane()
    device(profile, "token-a")
    device(profile, "token-b")
    DenylistEntry.objects.create(channel="push", address="token-a", reason="test device")

    event = send(api)
    assert event.status == EventStatus.PROCESSED
    assert [m["token"] for m in fcm.requests] == ["token-b"]

    DenylistEntry.objects.create(channel="push", address="token-b", reason="test device")
    second = send(api)
    assert second.status == EventStatus.IGNORED
    assert Exclusion.objects.get(event=second).reason == "denylist"
    assert len(fcm.requests) == 1
