"""Provider feedback through anymail's tracking webhooks (here Postmark's, posted over HTTP as
Postmark does), quarantine and denylist."""

import base64

import pytest
from django.test import Client

from delivery.feedback import address_release, denylist_add
from delivery.models import AddressQuarantine, Exclusion, TrackingEvent
from delivery.services import event_deliver
from events.models import EventStatus
from events.services import event_trigger

pytestmark = pytest.mark.django_db

CART = {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket"}
WEBHOOK = "/webhooks/anymail/postmark/tracking/"


@pytest.fixture
def webhook(settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "postmark:hook-secret"}
    auth = base64.b64encode(b"postmark:hook-secret").decode()
    client = Client()

    def post(payload, authorization=f"Basic {auth}"):
        return client.post(
            WEBHOOK, payload, content_type="application/json", HTTP_AUTHORIZATION=authorization
        )

    return post


def delivered_event(config, email="jane@example.com"):
    event = event_trigger(event_id=config.event_id, payload={"email": email, "ctx": CART})
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    return event


def bounce(event, kind, email="jane@example.com", details="smtp;550 5.1.1 The email account does not exist."):
    return {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": kind,
        "TypeCode": 1,
        "MessageID": event.provider_message_id,
        "Description": "The server was unable to deliver your message.",
        "Details": details,
        "Email": email,
        "BouncedAt": "2026-11-27T04:00:00Z",
        "Inactive": True,
        "Subject": "Jane, your cart is waiting",
    }


def test_delivered_opened_and_clicked_go_to_the_delivery_log(cart_event, smtp, webhook):
    event = delivered_event(cart_event)
    for payload in (
        {
            "RecordType": "Delivery",
            "MessageID": event.provider_message_id,
            "Recipient": "jane@example.com",
            "DeliveredAt": "2026-11-27T04:00:01Z",
            "Details": "250 2.0.0 OK",
        },
        {
            "RecordType": "Open",
            "MessageID": event.provider_message_id,
            "Recipient": "jane@example.com",
            "ReceivedAt": "2026-11-27T04:05:00Z",
            "FirstOpen": True,
        },
        {
            "RecordType": "Click",
            "MessageID": event.provider_message_id,
            "Recipient": "jane@example.com",
            "ReceivedAt": "2026-11-27T04:06:00Z",
            "OriginalLink": "https://shop.example.com/cart",
        },
    ):
        assert webhook(payload).status_code == 200
    log = list(
        TrackingEvent.objects.filter(event=event).order_by("pk").values_list("event_type", "recipient")
    )
    assert log == [
        ("delivered", "jane@example.com"),
        ("opened", "jane@example.com"),
        ("clicked", "jane@example.com"),
    ]
    assert TrackingEvent.objects.get(event_type="clicked").click_url == "https://shop.example.com/cart"


def test_a_hard_bounce_quarantines_the_address(cart_event, smtp, webhook):
    event = delivered_event(cart_event)
    assert webhook(bounce(event, "HardBounce")).status_code == 200
    quarantine = AddressQuarantine.objects.get(channel="email", address="jane@example.com")
    assert quarantine.reason == "hardBounce" and quarantine.quarantined_at

    # The same address written otherwise: the case of an email address does not get it through.
    again = event_trigger(event_id=cart_event.event_id, payload={"email": "Jane@Example.COM", "ctx": CART})
    event_deliver(event_pk=again.pk)
    again.refresh_from_db()
    assert again.status == EventStatus.IGNORED
    assert Exclusion.objects.get(event=again).reason == "quarantine"
    assert "is in quarantine since" in again.error
    assert len(smtp.messages) == 1

    address_release(channel="email", address="jane@example.com")
    assert delivered_event(cart_event).status == EventStatus.PROCESSED


def test_a_complaint_quarantines_the_address(cart_event, smtp, webhook):
    event = delivered_event(cart_event)
    complaint = {**bounce(event, "SpamComplaint"), "RecordType": "SpamComplaint"}
    assert webhook(complaint).status_code == 200
    assert AddressQuarantine.objects.get(address="jane@example.com").reason == "complaint"


def test_soft_bounces_quarantine_at_the_threshold(cart_event, smtp, webhook, settings):
    settings.DELIVERY_SOFT_BOUNCE_THRESHOLD = 3
    event = delivered_event(cart_event)
    soft = bounce(event, "Transient", details="smtp;452 4.2.2 Mailbox full")
    for _ in range(2):
        assert webhook(soft).status_code == 200
    entry = AddressQuarantine.objects.get(address="jane@example.com")
    assert (entry.soft_bounces, entry.quarantined_at) == (2, None)
    # A delivery in between starts the count again.
    webhook(
        {
            "RecordType": "Delivery",
            "MessageID": event.provider_message_id,
            "Recipient": "jane@example.com",
            "DeliveredAt": "2026-11-27T04:00:01Z",
            "Details": "ok",
        }
    )
    for _ in range(3):
        webhook(soft)
    entry.refresh_from_db()
    assert entry.soft_bounces == 3
    assert entry.reason == "softBounces" and entry.quarantined_at


def test_a_webhook_without_the_secret_is_refused(cart_event, smtp, webhook):
    event = delivered_event(cart_event)
    response = webhook(
        bounce(event, "HardBounce"), authorization="Basic " + base64.b64encode(b"x:y").decode()
    )
    assert response.status_code in (400, 403)
    assert not TrackingEvent.objects.exists()
    assert not AddressQuarantine.objects.exists()


def test_denylisted_addresses_are_ignored(cart_event, smtp):
    denylist_add(channel="email", address="Boss@Example.com", reason="asked by legal")
    for written in ("boss@example.com", "BOSS@example.com"):
        event = event_trigger(event_id=cart_event.event_id, payload={"email": written, "ctx": CART})
        event_deliver(event_pk=event.pk)
        event.refresh_from_db()
        assert event.status == EventStatus.IGNORED
        assert "is on the denylist (asked by legal)" in event.error
        assert Exclusion.objects.get(event=event).reason == "denylist"
    assert smtp.messages == []
