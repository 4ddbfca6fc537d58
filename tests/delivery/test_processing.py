import pytest

from campaign.exceptions import ApplicationError, ValidationFailed
from delivery.services import event_deliver
from events.models import EventStatus
from events.services import event_trigger
from messages_app.rendering import message_render
from messages_app.services import message_publish, message_update
from tests.conftest import make_published_event

pytestmark = pytest.mark.django_db

CART = {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket"}


def trigger(config, ctx=CART, email="jane@example.com", **extra):
    return event_trigger(event_id=config.event_id, payload={"email": email, "ctx": ctx, **extra})


class TestDeliver:
    def test_sends_the_published_version_not_the_draft(self, cart_event, smtp):
        message_update(message=cart_event.message, subject="DRAFT ONLY {{ ctx.firstName }}")
        event = trigger(cart_event)
        event_deliver(event_pk=event.pk)
        event.refresh_from_db()
        assert event.status == EventStatus.PROCESSED
        [mail] = smtp.messages
        assert mail["Subject"] == "Jane, your cart is waiting"
        assert mail["Message-ID"] == event.provider_message_id
        assert mail.envelope_recipients == ["jane@example.com"]

    def test_event_data_is_escaped_in_html_but_not_in_text(self, cart_event, smtp):
        event = trigger(cart_event, ctx={**CART, "firstName": '<script>alert("x")</script>'})
        event_deliver(event_pk=event.pk)
        [mail] = smtp.messages
        html = mail.get_body(("html",)).get_content()
        text = mail.get_body(("plain",)).get_content()
        assert "<script>" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html
        assert '<script>alert("x")</script>' in text

    def test_long_and_non_ascii_headers_arrive_intact(self, cart_event, smtp):
        subject = "{{ ctx.firstName }}, the jacket you left in your cart is still waiting for you, in size L"
        message_update(message=cart_event.message, sender_name="Boutique Ça & Là", subject=subject)
        message_publish(message=cart_event.message)
        event_deliver(event_pk=trigger(cart_event, ctx={**CART, "firstName": "Zoë"}).pk)
        [mail] = smtp.messages
        # Folded onto a continuation line (by Django's compat32 serialisation), whose leading
        # space Python's parser keeps.
        assert mail["Subject"].strip() == (
            "Zoë, the jacket you left in your cart is still waiting for you, in size L"
        )
        assert mail["From"].addresses[0].display_name == "Boutique Ça & Là"
        assert mail.get_body(("plain",)).get_content().startswith("Hello Zoë,")

    def test_a_redelivered_task_does_nothing_twice(self, cart_event, smtp):
        event = trigger(cart_event)
        event_deliver(event_pk=event.pk)
        event_deliver(event_pk=event.pk)
        assert len(smtp.messages) == 1

    def test_unpublished_message_gives_routing_failed(self, smtp):
        config = make_published_event(publish_message=False)
        event = trigger(config)
        event_deliver(event_pk=event.pk)
        event.refresh_from_db()
        assert event.status == EventStatus.ROUTING_FAILED
        assert smtp.messages == []

    def test_refused_recipient_gives_delivery_failed(self, cart_event, smtp):
        smtp.refuse.add("gone@example.com")
        event = trigger(cart_event, email="gone@example.com")
        event_deliver(event_pk=event.pk)
        event.refresh_from_db()
        assert event.status == EventStatus.DELIVERY_FAILED
        assert "550" in event.error

    def test_expired_event_becomes_too_old(self, cart_event, smtp):
        event = trigger(cart_event, expiration="2020-01-01 00:00:00Z")
        event_deliver(event_pk=event.pk)
        event.refresh_from_db()
        assert event.status == EventStatus.TOO_OLD
        assert smtp.messages == []

    def test_sandbox_refuses_object_internals(self, cart_event):
        message_update(message=cart_event.message, text="{{ ctx.__class__ }}")
        with pytest.raises(ValidationFailed, match=r"'__class__' starts with '_'"):
            message_publish(message=cart_event.message)
        with pytest.raises(ApplicationError, match="the sandbox refused an operation"):
            message_render(
                channel="email",
                content={"subject": "s", "text": "{{ ''.__class__.__mro__[1].__subclasses__() }}"},
                context={"ctx": CART},
            )


def test_profile_based_event_without_targeting_enrichment_ends_targeting_failed(smtp):
    from events.models import Event, Targeting

    config = make_published_event(event_id="EVTprofileWelcome")
    config.targeting = Targeting.PROFILE
    config.save(update_fields=["targeting"])
    event = Event.objects.create(
        pkey="profile-event", configuration=config, configuration_version=config.published_version, ctx=CART
    )
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.TARGETING_FAILED
    assert "targeting enrichment" in event.error
    assert smtp.messages == []


def test_sms_and_push_content_render_with_the_event_context():
    sms = message_render(
        channel="sms", content={"sms_text": "Hi {{ ctx.firstName }} <3"}, context={"ctx": CART}
    )
    assert sms.text == "Hi Jane <3"
    push = message_render(
        channel="push",
        content={
            "push_title": "{{ ctx.firstName }}",
            "push_body": "{{ ctx.lastProduct }} is waiting",
            "push_deep_link": "shop://cart",
            "push_custom_data": {"amount": "{{ ctx.cartAmount }}"},
            "push_badge": 1,
            "push_sound": "default",
        },
        context={"ctx": CART},
    )
    assert (push.title, push.body, push.deep_link) == ("Jane", "Jacket is waiting", "shop://cart")
    assert push.data == {"amount": "$ 125"}
    assert (push.badge, push.sound) == (1, "default")


def test_the_reply_to_of_the_message_is_sent(cart_event, smtp):
    message_update(message=cart_event.message, reply_to="help@example.com")
    message_publish(message=cart_event.message)
    event_deliver(event_pk=trigger(cart_event).pk)
    [mail] = smtp.messages
    assert mail["Reply-To"] == "help@example.com"


def test_an_event_claimed_while_its_message_is_paused_waits_for_the_resume(cart_event, smtp):
    from events.models import Event
    from messages_app.services import message_pause, message_resume

    event = trigger(cart_event)  # queued before the pause
    message_pause(message=cart_event.message)
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.PAUSED
    assert smtp.messages == []
    cart_event.message.refresh_from_db()
    message_resume(message=cart_event.message)
    assert Event.objects.get(pk=event.pk).status == EventStatus.PENDING
    event_deliver(event_pk=event.pk)
    assert Event.objects.get(pk=event.pk).status == EventStatus.PROCESSED
    assert len(smtp.messages) == 1
