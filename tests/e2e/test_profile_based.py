"""Profile-based email, SMS and push on the whole path: HTTP trigger -> database -> broker ->
Celery worker process -> the loopback SMTP server, Twilio fake and FCM fake; each message reaches
the targeted profile with its data (a name, typed attributes) in the content."""

import urllib.request
from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from delivery.models import Exclusion
from messages_app.services import message_update
from profiles.models import AppSubscription, Service, Subscription
from tests.conftest import trigger_path
from tests.e2e.test_delivery import http, wait_for_status
from tests.profiles.helpers import APPLICATION, jane, profile_based_event

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

FINAL = {"processed", "deliveryFailed", "routingFailed", "tooOld", "targetingFailed", "ignored"}
GREETING = (
    "{{ customer.first_name }}, member since {{ customer.attributes.member_since|format_date('long') }}, "
    "{{ customer.attributes.points|format_number }} points"
)
JANE_GREETING = "Jane, member since March 4, 2021, 1,234.5 points"


def trigger(live_server, credentials, event_id):
    url = live_server.url + trigger_path(event_id)
    status, body = http("POST", url, credentials, {"ctx": {"customerId": "C-1"}})
    assert status == 202, body
    return wait_for_status(f"{url}/{body['PKey']}", credentials, FINAL)


def test_a_profile_based_email_reaches_the_profile_with_its_data(
    live_server, celery_worker, smtp_server, credentials
):
    smtp_server.messages.clear()
    profile_based_event(
        event_id="EVTprofileEmail",
        channel="email",
        content={
            "sender_email": "shop@example.com",
            "subject": "Welcome {{ customer.first_name }}",
            "html": f"<p>{GREETING}</p>",
            "text": GREETING,
        },
    )
    jane()
    assert trigger(live_server, credentials, "EVTprofileEmail")["status"] == "processed"
    [mail] = smtp_server.wait_for(1)
    assert mail["To"] == "jane@example.com"
    assert mail["Subject"] == "Welcome Jane"
    assert JANE_GREETING in mail.get_body(("plain",)).get_content()


def test_a_profile_based_sms_reaches_the_profile_with_its_data(
    live_server, celery_worker, worker_providers, credentials
):
    worker_providers.twilio.requests.clear()
    profile_based_event(event_id="EVTprofileSms", channel="sms", content={"sms_text": GREETING})
    jane()
    assert trigger(live_server, credentials, "EVTprofileSms")["status"] == "processed"
    [sms] = worker_providers.twilio.requests
    assert sms["To"] == "+33612345678"
    assert sms["Body"] == JANE_GREETING


def test_a_profile_based_push_reaches_each_live_device_with_the_profiles_data(
    live_server, celery_worker, worker_providers, credentials
):
    fcm = worker_providers.fcm
    fcm.requests.clear()
    profile_based_event(
        event_id="EVTprofilePush",
        channel="push",
        content={"push_title": "Hi {{ customer.first_name }}", "push_body": GREETING},
    )
    profile = jane()
    for token in ("e2e-phone", "e2e-tablet", "e2e-gone"):
        AppSubscription.objects.create(
            profile=profile, application=APPLICATION, platform="gcm", registration_token=token
        )
    fcm.unregistered.add("e2e-gone")

    final = trigger(live_server, credentials, "EVTprofilePush")

    assert final["status"] == "processed"
    assert sorted(message["token"] for message in fcm.requests) == ["e2e-phone", "e2e-tablet"]
    for message in fcm.requests:
        assert message["notification"] == {"title": "Hi Jane", "body": JANE_GREETING}
    gone = AppSubscription.objects.get(registration_token="e2e-gone")
    assert gone.disabled_at is not None
    assert "UNREGISTERED" in gone.disabled_reason


def test_one_click_unsubscribe_on_the_live_server_then_the_next_email_is_ignored(
    live_server, celery_worker, smtp_server, credentials
):
    """The whole consent path across processes: the worker's email carries the one-click headers,
    the mail client's POST reaches the web server, and the worker then ignores the profile."""
    smtp_server.messages.clear()
    newsletter = Service.objects.create(name="newsletter", label="Newsletter")
    config = profile_based_event(
        event_id="EVTprofileNews",
        channel="email",
        content={"sender_email": "shop@example.com", "subject": "News", "text": "Bye: {{ unsubscribe_url }}"},
    )
    message_update(message=config.message, service=newsletter)
    profile = jane()
    Subscription.objects.create(profile=profile, service=newsletter, subscribed_at=timezone.now())
    assert trigger(live_server, credentials, "EVTprofileNews")["status"] == "processed"
    [mail] = smtp_server.wait_for(1)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    path = urlsplit(str(mail["List-Unsubscribe"]).strip().strip("<>")).path

    request = urllib.request.Request(
        live_server.url + path,
        data=b"List-Unsubscribe=One-Click",
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200

    final = trigger(live_server, credentials, "EVTprofileNews")
    assert final["status"] == "ignored"
    assert len(smtp_server.messages) == 1
    assert Exclusion.objects.get(event__pkey=final["PKey"]).reason == "unsubscribed"
