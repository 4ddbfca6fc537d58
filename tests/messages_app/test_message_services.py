import pytest

from campaign.exceptions import ApplicationError, ValidationFailed
from events.models import PublicationStatus
from events.services import event_trigger
from messages_app.models import MessageStatus
from messages_app.services import configuration_publish, message_publish, message_unpublish, message_update
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
        configuration_publish(config=config)
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
