"""A hand-counted fixture: ten events of one message on 2026-11-20, what happened to them, and
every figure the report must show for them (counted by hand in the comments)."""

from datetime import UTC, datetime, timedelta

import pytest

from delivery.models import TrackedLink, TrackingEvent
from delivery.tracking import Tracked, interaction_record
from events.models import Event
from events.services import event_trigger
from tests.conftest import make_published_event

DAY = datetime(2026, 11, 20, tzinfo=UTC)
CART = {"firstName": "Jane", "cartAmount": "125", "lastProduct": "Jacket"}
BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Safari/605.1.15"
)

# (address, final status, minute of the day it finished, trigger-to-send latency in ms)
EVENTS = [
    ("e1@a.example", "processed", 10 * 60, 30),
    ("e2@b.example", "processed", 10 * 60 + 5, 80),
    ("e3@a.example", "processed", 10 * 60 + 10, 150),
    ("e4@a.example", "processed", 11 * 60, 150),
    ("e5@b.example", "processed", 11 * 60 + 1, 400),
    ("e6@a.example", "processed", 11 * 60 + 2, 900),
    ("e7@b.example", "processed", 14 * 60, 4000),
    ("e8@a.example", "deliveryFailed", 14 * 60 + 1, None),
    ("e9@b.example", "ignored", 14 * 60 + 2, None),
    ("e10@a.example", "tooOld", 15 * 60, None),
]

# The figures, by hand:
EXPECTED = {
    "sent": 7,  # e1-e7
    "delivered": 5,  # 7 sent - 1 hard bounce (e4) - 1 soft bounce (e5)
    "bounces_hard": 1,
    "bounces_soft": 1,
    "errors": 2,  # e8 deliveryFailed, e10 tooOld
    "ignored": 1,  # e9
    "opens": 4,  # e1 three times, e2 once (humans)
    "opens_unique": 2,  # e1, e2
    "opens_machine": 1,  # e3 through Apple's proxy
    "clicks": 4,  # e1 twice on link 1; e2 once on link 1 and once on link 2, a minute apart
    "clicks_unique": 2,  # e1, e2
    "clicks_machine": 2,  # e3 clicked both links within a second: a scanner
    "unsubscribes": 1,  # e2
    "open_rate": 40.0,  # 2 unique opens / 5 delivered
    "click_rate": 40.0,  # 2 unique clickers / 5 delivered
    "click_to_open": 100.0,  # 2 unique clickers / 2 unique openers
}
# Sorted by sent: (domain, sent, delivered, bounced, opened)
EXPECTED_DOMAINS = [("a.example", 4, 3, 1, 1), ("b.example", 3, 2, 1, 1)]
# Link 1: e1 twice, e2 once (2 recipients); link 2: e2 once; e3's scanner clicks are not counted.
EXPECTED_LINKS = [
    ("https://shop.example.com/cart", 3, 2),
    ("https://shop.example.com/p/{{ ctx.lastProduct }}", 1, 1),
]
# Latencies 30, 80, 150, 150, 400, 900, 4000 ms: buckets <50:1 <100:1 <200:2 <500:1 <1000:1 <5000:1.
# p50: the 3.5th of 7 falls in <200; p90 (6.3rd) and p99 (6.93rd) in <5000.
EXPECTED_LATENCY = (7, 200, 5000, 5000)
# Per hour (UTC): 10h: 3 processed; 11h: 3 processed; 14h: 1 processed, 1 deliveryFailed,
# 1 ignored; 15h: 1 tooOld.
EXPECTED_HOURS = {
    10: {"processed": 3},
    11: {"processed": 3},
    14: {"processed": 1, "deliveryFailed": 1, "ignored": 1},
}


def finish(event, status, minute, latency_ms):
    processed_at = DAY + timedelta(minutes=minute)
    created_at = processed_at - timedelta(milliseconds=latency_ms or 1000)
    Event.objects.filter(pk=event.pk).update(status=status, created_at=created_at, processed_at=processed_at)


def at(event, minutes, seconds=0):
    return Event.objects.get(pk=event.pk).processed_at + timedelta(minutes=minutes, seconds=seconds)


@pytest.fixture
def counted(db):
    """The message (configuration) with the hand-counted events, before any rollup."""
    config = make_published_event(
        content={
            "subject": "Hello",
            "html": '<a href="https://shop.example.com/cart">Cart</a>'
            '<a href="https://shop.example.com/p/{{ ctx.lastProduct }}">Product</a>',
        }
    )
    version = config.message.published_version
    link1 = TrackedLink.objects.create(version=version, position=0, url="https://shop.example.com/cart")
    link2 = TrackedLink.objects.create(
        version=version, position=1, url="https://shop.example.com/p/{{ ctx.lastProduct }}"
    )
    events = []
    for email, status, minute, latency in EVENTS:
        event = event_trigger(event_id=config.event_id, payload={"email": email, "ctx": CART})
        finish(event, status, minute, latency)
        events.append(event)
    e1, e2, e3, e4, e5 = events[:5]
    for minutes in (5, 30, 90):
        interaction_record(
            whom=Tracked(event_pk=e1.pk),
            kind="open",
            user_agent=BROWSER,
            ip="198.51.100.4",
            at=at(e1, minutes),
        )
    interaction_record(
        whom=Tracked(event_pk=e2.pk), kind="open", user_agent=BROWSER, ip="198.51.100.9", at=at(e2, 3)
    )
    interaction_record(
        whom=Tracked(event_pk=e3.pk), kind="open", user_agent="Mozilla/5.0", ip="17.58.1.2", at=at(e3, 0, 5)
    )
    interaction_record(
        whom=Tracked(event_pk=e1.pk), kind="click", link=link1, user_agent=BROWSER, at=at(e1, 6)
    )
    interaction_record(
        whom=Tracked(event_pk=e1.pk), kind="click", link=link1, user_agent=BROWSER, at=at(e1, 31)
    )
    interaction_record(
        whom=Tracked(event_pk=e2.pk), kind="click", link=link1, user_agent=BROWSER, at=at(e2, 4)
    )
    interaction_record(
        whom=Tracked(event_pk=e2.pk),
        kind="click",
        link=link2,
        url="https://shop.example.com/p/Jacket",
        user_agent=BROWSER,
        at=at(e2, 5),
    )
    interaction_record(
        whom=Tracked(event_pk=e3.pk), kind="click", link=link1, user_agent=BROWSER, at=at(e3, 0, 6)
    )
    interaction_record(
        whom=Tracked(event_pk=e3.pk),
        kind="click",
        link=link2,
        url="https://shop.example.com/p/Jacket",
        user_agent=BROWSER,
        at=at(e3, 0, 7),
    )
    for event, event_type, response in (
        (e4, "bounced", "550 5.1.1 The email account does not exist"),
        (e5, "bounced", "452 4.2.2 Mailbox full"),
        (e2, "unsubscribed", ""),
    ):
        feedback = TrackingEvent.objects.create(
            event=event,
            event_pkey=event.pkey,
            configuration_id=event.configuration_id,
            esp_name="postmark",
            event_type=event_type,
            recipient=Event.objects.get(pk=event.pk).email,
            mta_response=response,
            occurred_at=at(event, 1),
        )
        # Received when it happened (a log is kept by its own time).
        TrackingEvent.objects.filter(pk=feedback.pk).update(received_at=at(event, 2))
    return config
