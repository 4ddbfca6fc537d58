import pytest

from campaign.exceptions import ApplicationError, ValidationFailed
from events.models import EventStatus, PublicationStatus
from events.services import event_config_publish, event_trigger
from messages_app.models import MessageStatus
from messages_app.rendering import email_render
from messages_app.services import event_deliver, message_publish, message_unpublish, message_update
from tests.conftest import make_published_event
from tests.factories import EventConfigurationFactory

pytestmark = pytest.mark.django_db

CART = {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket"}


def trigger(config, ctx=CART, email="jane@example.com", **extra):
    return event_trigger(event_id=config.event_id, payload={"email": email, "ctx": ctx, **extra})


class TestMessagePublish:
    def test_publish_freezes_the_content(self, cart_event):
        message = cart_event.message
        version = message.published_version
        message_update(message=message, subject="Changed draft subject")
        version.refresh_from_db()
        assert version.content["subject"] == "{{ ctx.firstName }}, your cart is waiting"
        assert message.published_version_id == version.pk

    def test_a_second_publish_makes_version_two(self, cart_event):
        message_update(message=cart_event.message, subject="New subject")
        version = message_publish(message=cart_event.message)
        assert version.number == 2
        assert version.content["subject"] == "New subject"

    def test_subject_is_required(self, cart_event):
        message_update(message=cart_event.message, subject="  ")
        with pytest.raises(ValidationFailed, match="subject: The subject is required"):
            message_publish(message=cart_event.message)

    def test_syntax_error_is_reported_with_part_and_line(self, cart_event):
        message_update(message=cart_event.message, html="<p>ok</p>\n{% if ctx.firstName %}unclosed")
        with pytest.raises(ValidationFailed, match=r"html: line 2"):
            message_publish(message=cart_event.message)

    def test_unknown_event_field_is_refused(self, cart_event):
        message_update(message=cart_event.message, text="Order {{ ctx.orderNumber }}")
        with pytest.raises(ValidationFailed, match=r"ctx\.orderNumber is not a field of EVTcartAbandonment"):
            message_publish(message=cart_event.message)

    def test_message_of_unpublished_configuration_cannot_be_published(self):
        config = EventConfigurationFactory()
        event_config_publish(config=config)
        config.refresh_from_db()
        config.status = PublicationStatus.DRAFT
        config.save()
        message_update(message=config.message, subject="Hi", text="Hello")
        with pytest.raises(ApplicationError, match="Publish the event configuration"):
            message_publish(message=config.message)

    def test_unpublish_message_unpublishes_the_configuration(self, cart_event):
        message_unpublish(message=cart_event.message)
        cart_event.refresh_from_db()
        assert cart_event.status == PublicationStatus.DRAFT
        assert cart_event.message.status == MessageStatus.DRAFT


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

    def test_unreachable_smtp_server_gives_delivery_failed(self, cart_event, smtp, settings):
        settings.EMAIL_PORT = 1  # nothing listens there
        event = trigger(cart_event)
        event_deliver(event_pk=event.pk)
        event.refresh_from_db()
        assert event.status == EventStatus.DELIVERY_FAILED

    def test_expired_event_becomes_too_old(self, cart_event, smtp):
        event = trigger(cart_event, expiration="2020-01-01 00:00:00Z")
        event_deliver(event_pk=event.pk)
        event.refresh_from_db()
        assert event.status == EventStatus.TOO_OLD
        assert smtp.messages == []

    def test_sandbox_refuses_object_internals(self, cart_event):
        message_update(message=cart_event.message, text="{{ ctx.__class__ }}")
        with pytest.raises(ValidationFailed, match=r"ctx\.__class__ is not a field"):
            message_publish(message=cart_event.message)
        with pytest.raises(ApplicationError, match="could not be rendered"):
            email_render(
                content={"subject": "s", "text": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}, ctx=CART
            )
