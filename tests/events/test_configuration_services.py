import pytest

from campaign.exceptions import ApplicationError
from events.models import EventConfiguration, PublicationStatus
from events.services import event_config_create, event_config_update
from messages_app.models import MessageStatus
from messages_app.services import configuration_publish, configuration_unpublish
from tests.factories import EventConfigurationFactory, EventFieldFactory

pytestmark = pytest.mark.django_db


def create(event_id="cartAbandonment", **kwargs):
    return event_config_create(
        event_id=event_id,
        label=kwargs.pop("label", "Cart abandonment"),
        channel=kwargs.pop("channel", "email"),
        targeting=kwargs.pop("targeting", "event"),
    )


class TestEventId:
    def test_prefix_is_added_when_missing(self):
        assert create("cartAbandonment").event_id == "EVTcartAbandonment"

    def test_prefix_is_kept_when_present(self):
        assert create("EVTorderShipped").event_id == "EVTorderShipped"

    def test_64_characters_including_the_prefix_are_accepted(self):
        assert len(create("x" * 61).event_id) == 64

    def test_65_characters_including_the_prefix_are_refused(self):
        with pytest.raises(ApplicationError, match=r"65 characters .* at most 64"):
            create("x" * 62)

    def test_duplicate_id_is_refused_even_without_the_prefix(self):
        create("EVTorder")
        with pytest.raises(ApplicationError, match="already exists"):
            create("order")

    @pytest.mark.parametrize("raw", ["cart abandonment", "cart/x", "café", ""])
    def test_characters_outside_the_url_safe_set_are_refused(self, raw):
        with pytest.raises(ApplicationError):
            create(raw)

    def test_unknown_channel_is_refused(self):
        with pytest.raises(ApplicationError, match="Unknown channel"):
            create(channel="fax")


class TestImmutability:
    @pytest.mark.parametrize(
        ("name", "value"), [("event_id", "EVTother"), ("channel", "sms"), ("targeting", "profile")]
    )
    def test_id_channel_and_targeting_cannot_change(self, name, value):
        config = create()
        with pytest.raises(ApplicationError, match="cannot be changed"):
            event_config_update(config=config, **{name: value})
        config.refresh_from_db()
        assert (config.event_id, config.channel, config.targeting) == ("EVTcartAbandonment", "email", "event")

    def test_label_can_change(self):
        config = create()
        event_config_update(config=config, label="Abandoned cart")
        config.refresh_from_db()
        assert config.label == "Abandoned cart"


class TestPublish:
    def test_publish_opens_the_endpoint_and_creates_the_draft_message(self):
        config = EventConfigurationFactory(event_id="EVTwelcome")
        EventFieldFactory(configuration=config, field_id="firstName")
        version = configuration_publish(config=config)
        config.refresh_from_db()
        assert config.status == PublicationStatus.PUBLISHED
        assert config.published_version == version
        assert config.message.message_id == "RTEVTwelcome"
        assert config.message.status == MessageStatus.DRAFT
        assert version.structure["fields"][0]["field_id"] == "firstName"

    def test_republish_freezes_a_new_version_and_keeps_the_same_message(self):
        config = EventConfigurationFactory()
        first = configuration_publish(config=config)
        message_pk = EventConfiguration.objects.get(pk=config.pk).message.pk
        EventFieldFactory(configuration=config, field_id="orderId")
        second = configuration_publish(config=config)
        first.refresh_from_db()
        assert (first.number, second.number) == (1, 2)
        assert first.structure == {"fields": [], "collections": [], "enrichments": []}
        assert [f["field_id"] for f in second.structure["fields"]] == ["orderId"]
        assert EventConfiguration.objects.get(pk=config.pk).message.pk == message_pk

    def test_draft_changes_do_not_touch_the_published_version(self):
        config = EventConfigurationFactory()
        field = EventFieldFactory(configuration=config, field_id="firstName", max_length=10)
        version = configuration_publish(config=config)
        field.max_length = 500
        field.save()
        version.refresh_from_db()
        assert version.ctx_schema["properties"]["firstName"]["maxLength"] == 10

    def test_unpublish_closes_the_endpoint_and_unpublishes_the_message(self, cart_event):
        assert cart_event.message.status == MessageStatus.PUBLISHED
        configuration_unpublish(config=cart_event)
        cart_event.refresh_from_db()
        cart_event.message.refresh_from_db()
        assert cart_event.status == PublicationStatus.DRAFT
        assert cart_event.message.status == MessageStatus.DRAFT
        assert cart_event.message.published_version is None

    def test_unpublishing_a_draft_is_refused(self):
        with pytest.raises(ApplicationError, match="not published"):
            configuration_unpublish(config=EventConfigurationFactory())


class TestDeleteAndDuplicate:
    def test_a_published_configuration_cannot_be_deleted(self, cart_event):
        from events.services import event_config_delete

        with pytest.raises(ApplicationError, match="unpublish it before deleting it"):
            event_config_delete(config=cart_event)
        assert EventConfiguration.objects.filter(pk=cart_event.pk).exists()

    def test_deleting_a_draft_removes_its_message_events_and_logs(self, api, cart_event):
        from events.models import Event, PublicationLog
        from events.selectors import configuration_deletion_summary
        from events.services import event_config_delete
        from messages_app.models import MessageVersion, TransactionalMessage
        from tests.conftest import trigger_path

        body = {"email": "jane@example.com", "ctx": {"firstName": "J", "cartAmount": "1", "lastProduct": "x"}}
        assert api.post(trigger_path("EVTcartAbandonment"), body, format="json").status_code == 202
        configuration_unpublish(config=cart_event)
        assert configuration_deletion_summary(config=cart_event) == [
            "The event configuration EVTcartAbandonment and its data structure",
            "Its message RTEVTcartAbandonment and its 1 published version",
            "1 event received, with delivery status",
            "1 published version of the data structure",
            "2 publication log entries",
        ]
        event_config_delete(config=cart_event)
        assert not EventConfiguration.objects.exists()
        assert not TransactionalMessage.objects.exists() and not MessageVersion.objects.exists()
        assert not Event.objects.exists() and not PublicationLog.objects.exists()

    def test_duplicate_gives_a_draft_configuration_and_a_draft_message_copy(self, cart_event):
        from events.selectors import configuration_structure
        from messages_app.services import configuration_duplicate

        copy = configuration_duplicate(config=cart_event)
        assert (copy.event_id, copy.label) == ("EVTcartAbandonmentCopy", f"Copy of {cart_event.label}")
        assert copy.status == PublicationStatus.DRAFT and copy.published_version is None
        assert configuration_structure(config=copy) == configuration_structure(config=cart_event)
        assert copy.message.status == MessageStatus.DRAFT
        assert copy.message.message_id == "RTEVTcartAbandonmentCopy"
        assert copy.message.subject == cart_event.message.subject
        assert configuration_duplicate(config=cart_event).event_id == "EVTcartAbandonmentCopy2"
        # The copy publishes on its own, leaving the original untouched.
        configuration_publish(config=copy)
        cart_event.refresh_from_db()
        assert cart_event.published_version.number == 1
