import json

import pytest

from delivery import channels
from messages_app.models import MessageStatus, MessageVersion
from tests.factories import EventConfigurationFactory, EventFieldFactory

from .fakes import FakeFcm, FakeTwilio


@pytest.fixture
def twilio(settings):
    fake = FakeTwilio()
    settings.DELIVERY_SMS_BACKEND = "delivery.channels.sms.TwilioBackend"
    settings.TWILIO_API_URL = fake.url
    settings.TWILIO_ACCOUNT_SID = fake.account_sid
    settings.TWILIO_AUTH_TOKEN = fake.auth_token
    settings.TWILIO_FROM = "+15005550006"
    settings.TWILIO_MESSAGING_SERVICE_SID = ""
    channels._backend.cache_clear()
    yield fake
    channels._backend.cache_clear()
    fake.stop()


@pytest.fixture
def fcm(settings):
    fake = FakeFcm()
    settings.DELIVERY_PUSH_BACKEND = "delivery.channels.push.FcmBackend"
    settings.FCM_SERVICE_ACCOUNT_JSON = json.dumps(fake.service_account)
    settings.FCM_PROJECT_ID = ""
    settings.FCM_API_URL = fake.url
    channels._backend.cache_clear()
    yield fake
    channels._backend.cache_clear()
    fake.stop()


@pytest.fixture
def capture_backends(settings):
    settings.DELIVERY_SMS_BACKEND = "delivery.channels.sms.CaptureBackend"
    settings.DELIVERY_PUSH_BACKEND = "delivery.channels.push.CaptureBackend"
    channels._backend.cache_clear()
    yield
    channels._backend.cache_clear()


def published_channel_event(*, event_id: str, channel: str, content: dict):
    """A published SMS or push event configuration with a published message version."""
    from messages_app.services import configuration_publish

    config = EventConfigurationFactory(event_id=event_id, channel=channel)
    EventFieldFactory(configuration=config, field_id="firstName", position=0)
    configuration_publish(config=config)
    config.refresh_from_db()
    message = config.message
    version = MessageVersion.objects.create(message=message, number=1, content=content)
    message.published_version = version
    message.status = MessageStatus.PUBLISHED
    message.save(update_fields=["published_version", "status"])
    return config
