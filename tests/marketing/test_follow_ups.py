"""Follow-up messages (SPEC EVT-5c) on the real SMTP server on loopback: the configuration's
checkbox creates the follow-up once; it reaches the message's recipients of a window who did not
open it (machine opens do not count as opening), personalised with the original event's data;
a daily follow-up reaches each new recipient once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.models import AddressQuarantine, Interaction
from delivery.services import event_deliver
from events.models import Event
from events.services import event_trigger
from marketing.models import DeliveryStatus, FollowUpEngagement, MarketingDelivery, Recurrence
from marketing.services import (
    delivery_confirm,
    delivery_prepare,
    delivery_prepare_start,
    delivery_save,
    delivery_send_batch,
    follow_ups_recur,
)
from messages_app.services import configuration_publish
from tests.conftest import make_published_event
from typologies.models import Typology

pytestmark = pytest.mark.django_db

PEOPLE = ["Ann", "Bob", "Cid", "Dee"]


def cart(name, config, days_ago=2):
    event = event_trigger(
        event_id=config.event_id,
        payload={
            "email": f"{name.lower()}@example.com",
            "ctx": {"firstName": name, "cartAmount": "$ 80", "lastProduct": f"{name}'s jacket"},
        },
    )
    event_deliver(event_pk=event.pk)
    Event.objects.filter(pk=event.pk).update(processed_at=timezone.now() - timedelta(days=days_ago))
    return Event.objects.get(pk=event.pk)


def opened(event, machine_reason=""):
    Interaction.objects.create(
        event_id=event.pk,
        configuration_id=event.configuration_id,
        kind="open",
        first_at=timezone.now(),
        last_at=timezone.now(),
        machine_reason=machine_reason,
    )


def follow_up(config, **fields):
    values = {
        "label": "Still thinking?",
        "channel": "email",
        "follow_up_of": config.message,
        "follow_up_engagement": FollowUpEngagement.NOT_OPENED,
        "typology": Typology.objects.get(name="transactional-profile"),
        "sender_email": "shop@example.com",
        "subject": "{{ ctx.firstName }}, your {{ ctx.lastProduct }} is waiting",
        "html": "<p>Hi {{ ctx.firstName }}, {{ ctx.cartAmount }} left in your cart.</p>",
        **fields,
    }
    return delivery_save(delivery=MarketingDelivery(**values))


def prepare_and_send(delivery):
    delivery_prepare_start(delivery=delivery)
    delivery_prepare(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    delivery_confirm(delivery=delivery)
    while delivery_send_batch(delivery_id=delivery.pk, token=delivery.send_token) is not None:
        pass
    delivery.refresh_from_db()


def test_publishing_with_the_checkbox_creates_the_follow_up_once(db):
    config = make_published_event(event_id="EVTwithFollowUp", publish_message=False)
    assert not MarketingDelivery.objects.exists()  # the checkbox is off by default
    config.create_follow_up = True
    config.save()
    configuration_publish(config=config)
    configuration_publish(config=config)
    [draft] = MarketingDelivery.objects.all()
    assert draft.follow_up_of == config.message and draft.status == DeliveryStatus.DRAFT
    assert draft.subject == config.message.subject  # the message's content to start from


def test_the_follow_up_reaches_who_did_not_open_with_the_events_data(smtp):
    config = make_published_event()
    ann, bob, _cid, dee = (cart(name, config) for name in PEOPLE)
    cart("Eve", config, days_ago=10)  # outside the window
    opened(ann)
    opened(bob, machine_reason="appleProxy")  # a privacy proxy, not Bob
    AddressQuarantine.objects.create(
        channel="email", address="dee@example.com", quarantined_at=timezone.now()
    )
    smtp.messages.clear()

    delivery = follow_up(config)
    prepare_and_send(delivery)

    assert list(delivery.recipients.exclude(error="").values_list("error", flat=True))[:1] == [
        delivery.recipients.get(event=dee).error
    ]
    assert (delivery.audience_count, delivery.excluded_count, delivery.sent_count) == (3, 1, 2)
    assert delivery.status == DeliveryStatus.DONE
    subjects = sorted((m["To"], m["Subject"]) for m in smtp.messages)
    assert subjects == [
        ("bob@example.com", "Bob, your Bob's jacket is waiting"),
        ("cid@example.com", "Cid, your Cid's jacket is waiting"),
    ]
    body = next(m for m in smtp.messages if m["To"] == "cid@example.com").get_body(("html",)).get_content()
    assert "Hi Cid, $ 80 left in your cart." in body
    assert delivery.recipients.get(event=dee).error.startswith("dee@example.com is in quarantine")


def test_a_daily_follow_up_reaches_each_new_recipient_once(smtp):
    config = make_published_event()
    cart("Ann", config)
    smtp.messages.clear()
    delivery = follow_up(config, follow_up_engagement=FollowUpEngagement.ANY, recurrence=Recurrence.DAILY)
    prepare_and_send(delivery)
    assert [m["To"] for m in smtp.messages] == ["ann@example.com"]
    assert follow_ups_recur() == 0  # sent less than a day ago

    MarketingDelivery.objects.filter(pk=delivery.pk).update(finished_at=timezone.now() - timedelta(days=1))
    cart("Bob", config)
    smtp.messages.clear()
    assert follow_ups_recur() == 1
    while delivery_send_batch(delivery_id=delivery.pk, token=MarketingDelivery.objects.get().send_token):
        pass
    assert [m["To"] for m in smtp.messages] == ["bob@example.com"]  # Ann is not followed up again


def test_a_follow_up_reads_only_what_the_message_reads(db):
    config = make_published_event()
    delivery = follow_up(config, html="<p>{{ profile.first_name }} {{ ctx.nope }}</p>")
    from campaign.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed) as refused:
        delivery_prepare_start(delivery=delivery)
    messages = [error.message for error in refused.value.errors if error.path == "html"]
    assert any("profile is not defined" in message for message in messages)
    assert any("nope" in message for message in messages)
