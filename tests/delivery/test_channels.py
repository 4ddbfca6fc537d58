"""SMS through Twilio's protocol and push through FCM HTTP v1, against loopback fakes of both,
and the capture backends of development."""

import pytest

from delivery.models import AddressQuarantine, AttemptOutcome, CapturedMessage, DeliveryAttempt
from delivery.services import event_deliver
from events.models import EventStatus
from events.services import event_trigger

from .conftest import published_channel_event

pytestmark = pytest.mark.django_db

SMS_CONTENT = {"sms_text": "Hi {{ ctx.firstName }}, your order has shipped."}
PUSH_CONTENT = {
    "push_title": "Hello {{ ctx.firstName }}",
    "push_body": "Your order has shipped",
    "push_deep_link": "shop://orders/42",
    "push_custom_data": {"order": "42", "who": "{{ ctx.firstName }}"},
    "push_badge": 3,
    "push_sound": "default",
}
ANDROID_TOKEN = "fcm-android-token-" + "a" * 40
IOS_TOKEN = "fcm-ios-token-" + "b" * 40


@pytest.fixture(autouse=True)
def fast_retries(settings):
    settings.DELIVERY_RETRY_BASE_SECONDS = 0


@pytest.fixture
def sms_event(db):
    return published_channel_event(event_id="EVTorderShippedSms", channel="sms", content=SMS_CONTENT)


@pytest.fixture
def push_event(db):
    return published_channel_event(event_id="EVTorderShippedPush", channel="push", content=PUSH_CONTENT)


def sms(config, phone="+33612345678"):
    event = event_trigger(
        event_id=config.event_id, payload={"mobilePhone": phone, "ctx": {"firstName": "Jane"}}
    )
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    return event


def push(config, token=ANDROID_TOKEN, platform="gcm"):
    event = event_trigger(
        event_id=config.event_id,
        payload={
            "registrationToken": token,
            "application": "com.example.shop",
            "pushPlatform": platform,
            "ctx": {"firstName": "Jane"},
        },
    )
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    return event


def outcomes(event):
    return list(
        DeliveryAttempt.objects.filter(event=event).order_by("number").values_list("outcome", flat=True)
    )


class TestTwilio:
    def test_sends_the_sms(self, sms_event, twilio):
        event = sms(sms_event)
        assert event.status == EventStatus.PROCESSED
        [request] = twilio.requests
        assert request == {
            "To": "+33612345678",
            "From": "+15005550006",
            "Body": "Hi Jane, your order has shipped.",
        }
        assert event.provider_message_id.startswith("SM")

    @pytest.mark.parametrize("status", [429, 500, 503])
    def test_rate_limits_and_server_errors_are_retried(self, sms_event, twilio, status):
        twilio.script.append((status, {"code": 20429, "message": "Too Many Requests", "status": status}))
        event = sms(sms_event)
        assert event.status == EventStatus.PENDING
        event_deliver(event_pk=event.pk)
        event.refresh_from_db()
        assert event.status == EventStatus.PROCESSED
        assert outcomes(event) == [AttemptOutcome.TEMPORARY_FAILURE, AttemptOutcome.SENT]
        assert len(twilio.requests) == 1

    def test_an_invalid_number_fails_and_is_quarantined(self, sms_event, twilio):
        event = sms(sms_event, phone="+15005550001")
        assert event.status == EventStatus.DELIVERY_FAILED
        assert "21211" in DeliveryAttempt.objects.get(event=event).provider_response
        assert "is not a valid phone number" in event.error
        assert AddressQuarantine.objects.get(channel="sms", address="+15005550001").quarantined_at
        assert sms(sms_event, phone="+15005550001").status == EventStatus.IGNORED

    def test_wrong_credentials_fail_without_quarantine(self, sms_event, twilio, settings):
        settings.TWILIO_AUTH_TOKEN = "wrong"
        from delivery import channels

        channels._backend.cache_clear()
        event = sms(sms_event)
        assert event.status == EventStatus.DELIVERY_FAILED
        assert "401" in event.error
        assert not AddressQuarantine.objects.exists()

    def test_a_provider_timeout_is_retried(self, sms_event, twilio, settings):
        settings.DELIVERY_HTTP_TIMEOUT = 0.3
        twilio.delay = 1.0
        event = sms(sms_event)
        assert event.status == EventStatus.PENDING
        assert DeliveryAttempt.objects.get(event=event).provider_response == "timeout"
        twilio.delay = 0
        event_deliver(event_pk=event.pk)
        event.refresh_from_db()
        assert event.status == EventStatus.PROCESSED


class TestFcm:
    def test_android_and_ios_notifications_with_one_oauth_token(self, push_event, fcm):
        android = push(push_event)
        ios = push(push_event, token=IOS_TOKEN, platform="apns")
        assert android.status == ios.status == EventStatus.PROCESSED
        assert android.provider_message_id.startswith("projects/demo-app/messages/")
        assert fcm.token_requests == 1
        first, second = fcm.requests
        assert first["token"] == ANDROID_TOKEN and second["token"] == IOS_TOKEN
        assert first["notification"] == {"title": "Hello Jane", "body": "Your order has shipped"}
        assert first["data"] == {
            "order": "42",
            "who": "Jane",
            "deep_link": "shop://orders/42",
            "mc_message_id": f"mc-{android.pkey}",
        }
        assert first["android"] == {
            "collapse_key": f"mc-{android.pkey}",
            "notification": {"click_action": "shop://orders/42", "sound": "default"},
        }
        assert second["apns"]["payload"] == {"aps": {"sound": "default", "badge": 3}}
        assert second["apns"]["headers"] == {"apns-collapse-id": f"mc-{ios.pkey}"}

    def test_an_unregistered_token_fails_and_is_quarantined(self, push_event, fcm):
        fcm.unregistered.add(ANDROID_TOKEN)
        event = push(push_event)
        assert event.status == EventStatus.DELIVERY_FAILED
        assert "UNREGISTERED" in DeliveryAttempt.objects.get(event=event).provider_response
        assert push(push_event).status == EventStatus.IGNORED
        assert fcm.requests == []

    def test_unavailable_and_quota_errors_are_retried(self, push_event, fcm):
        fcm.script.append(
            (503, {"error": {"code": 503, "message": "The service is unavailable.", "status": "UNAVAILABLE"}})
        )
        fcm.script.append(
            (429, {"error": {"code": 429, "message": "Quota exceeded.", "status": "RESOURCE_EXHAUSTED"}})
        )
        event = push(push_event)
        for _ in range(2):
            event_deliver(event_pk=event.pk)
        event.refresh_from_db()
        assert event.status == EventStatus.PROCESSED
        assert outcomes(event) == [AttemptOutcome.TEMPORARY_FAILURE] * 2 + [AttemptOutcome.SENT]

    def test_a_revoked_access_token_is_renewed(self, push_event, fcm):
        assert push(push_event).status == EventStatus.PROCESSED
        fcm.tokens.clear()
        event = push(push_event)
        assert event.status == EventStatus.PENDING
        event_deliver(event_pk=event.pk)
        event.refresh_from_db()
        assert event.status == EventStatus.PROCESSED
        assert fcm.token_requests == 2


def test_capture_backends_keep_sms_and_push_in_the_outbox(sms_event, push_event, capture_backends):
    assert sms(sms_event).status == EventStatus.PROCESSED
    assert push(push_event).status == EventStatus.PROCESSED
    captured = {m.channel: m for m in CapturedMessage.objects.all()}
    assert captured["sms"].to == "+33612345678"
    assert captured["sms"].body == "Hi Jane, your order has shipped."
    assert captured["push"].title == "Hello Jane"
    assert captured["push"].data["apns"]["payload"]["aps"]["badge"] == 3
