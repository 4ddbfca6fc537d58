"""Several events delivered in one call (events_deliver, the chunk task's service), against the
real SMTP server on loopback: each event gets what event_deliver would give it."""

import pytest

from delivery.feedback import address_quarantine, denylist_add
from delivery.models import AttemptOutcome, DeliveryAttempt, Exclusion, QuarantineReason
from delivery.services import event_deliver, events_deliver
from events.models import Event, EventStatus
from events.services import event_trigger
from messages_app.services import message_pause, message_resume
from tests.conftest import CART_CONTENT, make_published_event

pytestmark = pytest.mark.django_db

# The amount goes through a number filter: an amount that is not a number fails the render.
CONTENT = {
    **CART_CONTENT,
    "subject": "{{ ctx.firstName }}, your {{ ctx.lastProduct }} is waiting",
    "text": "Hello {{ ctx.firstName }}, you left {{ ctx.lastProduct }} ({{ ctx.cartAmount|format_number }}).",
}


@pytest.fixture
def cart(db):
    return make_published_event(content=CONTENT)


def trigger(config, first_name, email=None, amount="125", **extra):
    return event_trigger(
        event_id=config.event_id,
        payload={
            "email": email or f"{first_name.lower()}@example.com",
            "ctx": {"firstName": first_name, "cartAmount": amount, "lastProduct": "Jacket"},
            **extra,
        },
    )


def statuses(*events):
    return [Event.objects.get(pk=event.pk).status for event in events]


def test_every_event_of_a_chunk_arrives_personalised(cart, smtp):
    names = ["Jane", "Omar", "Li", "Ada"]
    events = [trigger(cart, name) for name in names]

    events_deliver(event_pks=[event.pk for event in events])

    assert statuses(*events) == [EventStatus.PROCESSED] * 4
    by_recipient = {mail.envelope_recipients[0]: mail for mail in smtp.messages}
    assert sorted(by_recipient) == sorted(f"{name.lower()}@example.com" for name in names)
    for name, event in zip(names, events, strict=True):
        mail = by_recipient[f"{name.lower()}@example.com"]
        event.refresh_from_db()
        assert mail["Subject"] == f"{name}, your Jacket is waiting"
        assert f"Hello {name}, you left Jacket (125)." in mail.get_body(("plain",)).get_content()
        assert mail["Message-ID"] == event.provider_message_id
        [attempt] = DeliveryAttempt.objects.filter(event=event)
        assert (attempt.number, attempt.outcome) == (1, AttemptOutcome.SENT)


def test_excluded_refused_and_unrenderable_events_do_not_stop_the_others(cart, smtp):
    address_quarantine(channel="email", address="bounced@example.com", reason=QuarantineReason.HARD_BOUNCE)
    denylist_add(channel="email", address="boss@example.com", reason="asked by legal")
    smtp.refuse.add("gone@example.com")
    jane = trigger(cart, "Jane")
    quarantined = trigger(cart, "Bob", email="Bounced@Example.com")
    unrenderable = trigger(cart, "Eve", amount="a lot")
    denylisted = trigger(cart, "Boss")
    refused = trigger(cart, "Gone")
    expired = trigger(cart, "Old", expiration="2020-01-01 00:00:00Z")
    omar = trigger(cart, "Omar")
    chunk = [jane, quarantined, unrenderable, denylisted, refused, expired, omar]

    events_deliver(event_pks=[event.pk for event in chunk])

    assert statuses(*chunk) == [
        EventStatus.PROCESSED,
        EventStatus.IGNORED,
        # A render error is a processing error: the event is tried again later.
        EventStatus.PENDING,
        EventStatus.IGNORED,
        EventStatus.DELIVERY_FAILED,
        EventStatus.TOO_OLD,
        EventStatus.PROCESSED,
    ]
    assert sorted(mail.envelope_recipients[0] for mail in smtp.messages) == [
        "jane@example.com",
        "omar@example.com",
    ]
    assert Exclusion.objects.get(event=quarantined).reason == "quarantine"
    assert Exclusion.objects.get(event=denylisted).reason == "denylist"
    unrenderable.refresh_from_db()
    assert "is not a number" in unrenderable.error
    assert DeliveryAttempt.objects.get(event=unrenderable).outcome == AttemptOutcome.PROCESSING_ERROR
    refused.refresh_from_db()
    assert "550" in refused.error


def test_a_chunk_delivered_twice_sends_each_message_once(cart, smtp):
    first = trigger(cart, "Jane")
    event_deliver(event_pk=first.pk)  # its own task ran before the chunk
    chunk = [first, trigger(cart, "Omar"), trigger(cart, "Ada")]

    events_deliver(event_pks=[event.pk for event in chunk])
    events_deliver(event_pks=[event.pk for event in chunk])

    assert sorted(mail.envelope_recipients[0] for mail in smtp.messages) == [
        "ada@example.com",
        "jane@example.com",
        "omar@example.com",
    ]
    assert statuses(*chunk) == [EventStatus.PROCESSED] * 3
    assert DeliveryAttempt.objects.filter(event__in=chunk).count() == 3


def test_events_of_several_messages_in_one_chunk(cart, smtp):
    other = make_published_event(
        event_id="EVTorderShipped", content={**CART_CONTENT, "subject": "{{ ctx.firstName }}, it shipped"}
    )
    draft = make_published_event(event_id="EVTdraftOnly", publish_message=False)
    chunk = [trigger(cart, "Jane"), trigger(other, "Omar"), trigger(draft, "Ada"), trigger(cart, "Li")]

    events_deliver(event_pks=[event.pk for event in chunk])

    assert statuses(*chunk) == [
        EventStatus.PROCESSED,
        EventStatus.PROCESSED,
        EventStatus.ROUTING_FAILED,
        EventStatus.PROCESSED,
    ]
    subjects = {mail.envelope_recipients[0]: mail["Subject"] for mail in smtp.messages}
    assert subjects == {
        "jane@example.com": "Jane, your Jacket is waiting",
        "omar@example.com": "Omar, it shipped",
        "li@example.com": "Li, your Jacket is waiting",
    }


def test_a_chunk_of_a_paused_message_waits_for_the_resume(cart, smtp):
    chunk = [trigger(cart, "Jane"), trigger(cart, "Omar")]  # queued before the pause
    message_pause(message=cart.message)

    events_deliver(event_pks=[event.pk for event in chunk])
    assert statuses(*chunk) == [EventStatus.PAUSED] * 2
    assert smtp.messages == []

    cart.message.refresh_from_db()
    message_resume(message=cart.message)
    events_deliver(event_pks=[event.pk for event in chunk])
    assert statuses(*chunk) == [EventStatus.PROCESSED] * 2
    assert len(smtp.messages) == 2
