"""Consent on profile-based email over the loopback SMTP server: the signed unsubscribe link and
its RFC 8058 headers, the one-click POST a mail client sends, and the consent checked at send time
(opted-out and unsubscribed profiles end `ignored` with the reason; event-based messages are not
filtered by profile consent)."""

from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from delivery.models import Exclusion
from delivery.services import event_deliver
from events.models import Event, EventStatus
from messages_app.services import message_update
from profiles.models import AppSubscription, Profile, Service, Subscription, SubscriptionSource
from profiles.unsubscribe import unsubscribe_target, unsubscribe_url
from tests.conftest import make_published_event, trigger_path
from tests.profiles.helpers import APPLICATION, jane, profile_based_event

pytestmark = pytest.mark.django_db

CONTENT = {
    "sender_email": "shop@example.com",
    "subject": "News for {{ customer.first_name }}",
    "html": '<p>Hello {{ customer.first_name }}</p><p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
    "text": "Hello {{ customer.first_name }}\nUnsubscribe: {{ unsubscribe_url }}",
}


@pytest.fixture
def newsletter(db):
    return Service.objects.create(name="newsletter", label="Newsletter")


@pytest.fixture
def news_email(db, newsletter):
    config = profile_based_event(event_id="EVTnews", channel="email", content=CONTENT)
    message_update(message=config.message, service=newsletter)
    return config


def subscribed(profile, service):
    return Subscription.objects.create(profile=profile, service=service, subscribed_at=timezone.now())


def send(api, event_id="EVTnews", body=None):
    response = api.post(trigger_path(event_id), body or {"ctx": {"customerId": "C-1"}}, format="json")
    assert response.status_code == 202, response.content
    event = Event.objects.get(pkey=response.json()["PKey"])
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    return event


def one_click(client, path):
    return client.post(path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")


def link_path(mail) -> str:
    """The path of the unsubscribe link of a received email, from its List-Unsubscribe header."""
    url = mail["List-Unsubscribe"].strip().removeprefix("<").split(">")[0]
    return urlsplit(url).path


def test_a_profile_based_email_carries_its_signed_link_and_the_one_click_headers(
    api, smtp, news_email, newsletter, settings
):
    profile = jane()
    subscribed(profile, newsletter)

    event = send(api)

    assert event.status == EventStatus.PROCESSED
    [mail] = smtp.messages
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # Folded on a line of its own when long: mail clients unfold it.
    header = str(mail["List-Unsubscribe"]).strip()
    assert header.startswith(f"<{settings.CAMPAIGN_PUBLIC_URL}/unsubscribe/")
    url = header.strip("<>")
    # The same link is in the content, and it names this profile and the message's service.
    assert f"Unsubscribe: {url}" in mail.get_body(("plain",)).get_content()
    assert f'href="{url}"' in mail.get_body(("html",)).get_content()
    token = link_path(mail).removeprefix("/unsubscribe/").rstrip("/")
    target = unsubscribe_target(token=token)
    assert (target.profile_id, target.service_id) == (profile.pk, newsletter.pk)
    # An altered token is not one of ours.
    assert unsubscribe_target(token=token.replace(":", ":x", 1)) is None


def test_the_mailto_is_offered_when_configured(api, smtp, news_email, newsletter, settings):
    settings.CAMPAIGN_UNSUBSCRIBE_MAILTO = "unsubscribe@shop.example.com"
    subscribed(jane(), newsletter)
    send(api)
    [mail] = smtp.messages
    assert "<mailto:unsubscribe@shop.example.com?subject=unsubscribe%20http" in mail["List-Unsubscribe"]


def test_the_one_click_post_unsubscribes_and_the_next_message_is_ignored(
    api, client, smtp, news_email, newsletter
):
    profile = jane()
    subscribed(profile, newsletter)
    send(api)
    [mail] = smtp.messages

    # What a mail client's unsubscribe button sends (RFC 8058): no page, no cookie, no CSRF token.
    response = one_click(client, link_path(mail))

    assert response.status_code == 200
    subscription = Subscription.objects.get(profile=profile, service=newsletter)
    assert subscription.unsubscribed_at is not None
    assert subscription.source == SubscriptionSource.ONE_CLICK
    # Sent again by a mail client: nothing changes.
    left_at = subscription.unsubscribed_at
    one_click(client, link_path(mail))
    subscription.refresh_from_db()
    assert subscription.unsubscribed_at == left_at

    event = send(api)

    assert event.status == EventStatus.IGNORED
    assert len(smtp.messages) == 1
    [exclusion] = Exclusion.objects.filter(event=event)
    assert exclusion.reason == "unsubscribed"
    assert "left the service newsletter" in exclusion.detail
    assert "One-click unsubscribe" in exclusion.detail
    assert "left the service newsletter" in event.error


def test_a_post_with_another_body_or_a_made_up_token_changes_nothing(client, news_email, newsletter):
    profile = jane()
    subscribed(profile, newsletter)
    path = urlsplit(unsubscribe_url(profile_id=profile.pk, service_id=newsletter.pk)).path
    assert client.post(path, "hello", content_type="text/plain").status_code == 400
    forged = path.replace("/unsubscribe/", "/unsubscribe/x", 1)
    assert one_click(client, forged).status_code == 404
    assert "This link is not valid" in client.get(forged).content.decode()
    assert Subscription.objects.get(profile=profile).unsubscribed_at is None


def test_a_profile_never_subscribed_to_the_service_is_not_sent_it(api, smtp, news_email):
    jane()
    event = send(api)
    assert event.status == EventStatus.IGNORED
    assert smtp.messages == []
    [exclusion] = Exclusion.objects.filter(event=event)
    assert exclusion.reason == "unsubscribed"
    assert exclusion.detail.endswith("is not subscribed to the service newsletter.")


def test_a_profile_opted_out_of_email_is_ignored_with_the_reason(api, smtp, news_email, newsletter):
    profile = jane(email_opted_out_at=timezone.now())
    subscribed(profile, newsletter)
    event = send(api)
    assert event.status == EventStatus.IGNORED
    assert smtp.messages == []
    [exclusion] = Exclusion.objects.filter(event=event)
    assert exclusion.reason == "optedOut"
    assert exclusion.address == "jane@example.com"
    assert f"The profile {profile.pk} opted out of email" in exclusion.detail


def test_an_email_opt_out_does_not_stop_sms(api, twilio, newsletter):
    profile_based_event(
        event_id="EVTnewsSms", channel="sms", content={"sms_text": "Hi {{ customer.first_name }}"}
    )
    jane(email_opted_out_at=timezone.now())
    event = send(api, "EVTnewsSms")
    assert event.status == EventStatus.PROCESSED
    assert twilio.requests[0]["Body"] == "Hi Jane"


def test_a_message_of_no_service_goes_to_every_profile_that_accepts_the_channel(api, smtp, news_email):
    message_update(message=news_email.message, service=None)
    jane()
    assert send(api).status == EventStatus.PROCESSED
    [mail] = smtp.messages
    # Without a service, the link leaves all email.
    token = link_path(mail).removeprefix("/unsubscribe/").rstrip("/")
    assert unsubscribe_target(token=token).service_id is None


def test_event_based_messages_are_not_filtered_by_profile_consent(api, smtp):
    make_published_event()
    # The same address as an opted-out profile: event-based messages do not look profiles up.
    Profile.objects.create(email="jane.doe@example.com", email_opted_out_at=timezone.now())
    response = api.post(
        trigger_path("EVTcartAbandonment"),
        {
            "email": "jane.doe@example.com",
            "ctx": {"firstName": "Jane", "cartAmount": "$ 10", "lastProduct": "Socks"},
        },
        format="json",
    )
    assert response.status_code == 202, response.content
    event = Event.objects.get(pkey=response.json()["PKey"])
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    [mail] = smtp.messages
    assert mail["List-Unsubscribe"] is None
    assert mail["List-Unsubscribe-Post"] is None


def test_the_one_click_post_may_come_as_multipart_form_data(client, news_email, newsletter):
    # RFC 8058 allows either form encoding; the test client's dict is multipart/form-data.
    profile = jane()
    subscribed(profile, newsletter)
    path = urlsplit(unsubscribe_url(profile_id=profile.pk, service_id=newsletter.pk)).path
    assert client.post(path, {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert Subscription.objects.get(profile=profile).unsubscribed_at is not None


def test_a_profile_opted_out_of_push_gets_nothing_on_any_device(api, fcm):
    content = {"push_title": "Hi {{ customer.first_name }}", "push_body": "News"}
    profile_based_event(event_id="EVTnewsPush", channel="push", content=content)
    profile = jane(push_opted_out_at=timezone.now())
    for token in ("phone", "tablet"):
        AppSubscription.objects.create(
            profile=profile, application=APPLICATION, platform="gcm", registration_token=token
        )
    event = send(api, "EVTnewsPush")
    assert event.status == EventStatus.IGNORED
    assert fcm.requests == []
    assert Exclusion.objects.get(event=event).reason == "optedOut"


def test_a_profile_whose_address_is_written_otherwise_is_still_held_by_the_quarantine(
    api, smtp, news_email, newsletter
):
    """The quarantine and the denylist hold addresses lower-cased; a profile's address is kept as
    it was imported, and sent to lower-cased: `Jane@Example.COM` is the quarantined
    `jane@example.com`."""
    from delivery.feedback import address_quarantine

    subscribed(jane(email="Jane@Example.COM"), newsletter)
    address_quarantine(channel="email", address="jane@example.com", reason="hardBounce")
    event = send(api)
    assert event.status == EventStatus.IGNORED
    assert smtp.messages == []
    [exclusion] = Exclusion.objects.filter(event=event)
    assert exclusion.reason == "quarantine"
    assert exclusion.detail.startswith("jane@example.com is in quarantine since")
