"""The unsubscribe link: available to profile-based messages (publish check, picker, preview),
refused at publish in event-based ones; the landing page without login or JavaScript (choose the
service or all email, undo), recorded on the profile."""

from urllib.parse import urlsplit

import pytest
from django.utils import timezone

from campaign.exceptions import ValidationFailed
from messages_app.selectors import message_picker_fields
from messages_app.services import message_preview, message_publish, message_update
from profiles.models import Service, Subscription, SubscriptionSource
from profiles.unsubscribe import unsubscribe_url
from tests.conftest import make_published_event
from tests.profiles.helpers import jane, profile_based_event

pytestmark = pytest.mark.django_db

LINK = '<a href="{{ unsubscribe_url }}">Unsubscribe</a>'


def test_an_event_based_message_using_the_link_is_refused_at_publish_with_the_reason():
    config = make_published_event(publish_message=False)
    message_update(message=config.message, html=f"<p>Hi</p>\n{LINK}")
    with pytest.raises(ValidationFailed) as refused:
        message_publish(message=config.message)
    [error] = [e for e in refused.value.errors if "unsubscribe_url" in e.message]
    assert error.path == "html"
    assert error.message == (
        "line 2: unsubscribe_url is only available in profile-based messages: "
        "an event-based message has no profile to unsubscribe."
    )


def test_a_profile_based_message_publishes_with_the_link_offers_it_and_previews_a_harmless_one():
    config = profile_based_event(
        event_id="EVTnews",
        channel="email",
        content={"sender_email": "shop@example.com", "subject": "News", "html": LINK},
    )
    assert config.message.published_version.content["html"] == LINK
    picker = {entry.label: entry.insert for entry in message_picker_fields(message=config.message)}
    assert picker["Unsubscribe link (unsubscribe_url)"] == LINK
    rendered = message_preview(message=config.message, profile=None)
    assert 'href="http://127.0.0.1:8000/unsubscribe/proof/"' in rendered.html


def test_the_proof_link_shows_a_sample_page_and_changes_nothing(client):
    page = client.get("/unsubscribe/proof/").content.decode()
    assert "This is the unsubscribe link of a proof" in page


@pytest.fixture
def two_services(db):
    newsletter = Service.objects.create(name="newsletter", label="Newsletter")
    offers = Service.objects.create(name="offers", label="Special offers")
    profile = jane()
    for service in (newsletter, offers):
        Subscription.objects.create(profile=profile, service=service, subscribed_at=timezone.now())
    return profile, newsletter, offers


def page_path(profile, service):
    return urlsplit(unsubscribe_url(profile_id=profile.pk, service_id=service.pk if service else None)).path


def test_the_page_offers_the_links_service_first_then_the_others_and_all_email(client, two_services):
    profile, _, offers = two_services
    response = client.get(page_path(profile, offers))
    page = response.content.decode()
    assert response.status_code == 200
    assert response["Referrer-Policy"] == "no-referrer"
    assert "<script" not in page
    assert "j…@example.com" in page and "jane@example.com" not in page
    assert f'value="{offers.pk}" checked' in page
    assert page.index("Special offers") < page.index("Newsletter") < page.index("All email from us")
    # Opening the page changes nothing.
    assert Subscription.objects.filter(profile=profile, unsubscribed_at__isnull=True).count() == 2


def test_leaving_another_service_then_undoing_it(client, two_services):
    profile, newsletter, offers = two_services
    path = page_path(profile, offers)
    page = client.post(path, {"action": "leave", "choice": str(newsletter.pk)}).content.decode()
    assert "You have left Newsletter." in page
    left = Subscription.objects.get(profile=profile, service=newsletter)
    assert left.unsubscribed_at is not None and left.source == SubscriptionSource.UNSUBSCRIBE_PAGE
    assert Subscription.objects.get(profile=profile, service=offers).unsubscribed_at is None

    page = client.post(path, {"action": "undo", "choice": str(newsletter.pk)}).content.decode()
    assert "You are subscribed to Newsletter again." in page
    assert Subscription.objects.get(profile=profile, service=newsletter).unsubscribed_at is None


def test_leaving_all_email_opts_the_profile_out_and_undo_takes_it_back(client, two_services):
    profile, newsletter, _ = two_services
    path = page_path(profile, newsletter)
    page = client.post(path, {"action": "leave", "choice": "all"}).content.decode()
    assert "You will receive no more email from us." in page
    profile.refresh_from_db()
    assert profile.email_opted_out_at is not None
    # Coming back later: the page says so and offers to take it back.
    assert "You receive no email from us since" in client.get(path).content.decode()
    page = client.post(path, {"action": "undo", "choice": "all"}).content.decode()
    assert "You will receive email from us again." in page
    profile.refresh_from_db()
    assert profile.email_opted_out_at is None


def test_a_choice_that_is_not_the_profiles_is_refused(client, two_services):
    profile, newsletter, _ = two_services
    stranger = Service.objects.create(name="other", label="Other")
    response = client.post(page_path(profile, newsletter), {"action": "leave", "choice": str(stranger.pk)})
    assert response.status_code == 400
    assert "Choose what to unsubscribe from." in response.content.decode()
    assert not Subscription.objects.filter(unsubscribed_at__isnull=False).exists()


def test_a_marketer_chooses_the_service_of_a_profile_based_message_only(client, marketer):
    Service.objects.create(name="newsletter", label="Newsletter")
    profile_config = profile_based_event(
        event_id="EVTnews", channel="email", content={"sender_email": "a@b.co", "subject": "N", "text": "Hi"}
    )
    event_config = make_published_event()
    client.force_login(marketer)
    page = client.get(f"/admin/messages_app/transactionalmessage/{profile_config.message.pk}/change/")
    assert 'name="service"' in page.content.decode()
    assert "Newsletter" in page.content.decode()
    page = client.get(f"/admin/messages_app/transactionalmessage/{event_config.message.pk}/change/")
    assert 'name="service"' not in page.content.decode()
    with pytest.raises(ValidationFailed) as refused:
        message_update(message=event_config.message, service=Service.objects.get())
    assert refused.value.errors[0].message == "An event-based message has no profile to subscribe."


def test_the_page_speaks_the_profiles_language_not_the_browsers(client, two_services):
    profile, newsletter, offers = two_services
    profile.language = "fr-FR"
    profile.save(update_fields=["language"])
    path = page_path(profile, offers)
    page = client.get(path, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="fr">' in page
    assert "Que ne voulez-vous plus recevoir\u00a0?" in page and "Tous nos e-mails" in page
    page = client.post(path, {"action": "leave", "choice": str(newsletter.pk)}).content.decode()
    assert "Vous êtes désinscrit de Newsletter." in page
    # The one-click POST of a mail client answers in the profile's language too.
    response = client.post(path, {"List-Unsubscribe": "One-Click"})
    assert response.content.decode() == "Vous êtes désinscrit."


def test_a_profile_in_a_language_the_admin_does_not_speak_gets_english(client, two_services):
    profile, _, offers = two_services
    profile.language = "de"
    profile.save(update_fields=["language"])
    page = client.get(page_path(profile, offers), HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert '<html lang="en' in page and "What do you want to stop receiving?" in page
