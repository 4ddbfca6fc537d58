"""Profiles in the admin, for administrators: the declared attribute types drive the form (each
value checked, with a clear error, and nothing saved on error), opt-out dates, subscriptions and
app subscriptions inline; subscription services and attribute definitions."""

import pytest
from django.utils import timezone

from messages_app.services import message_update
from profiles.models import AppSubscription, AttributeDefinition, Profile, Service, Subscription
from tests.profiles.helpers import jane, profile_based_event

pytestmark = pytest.mark.django_db

EMPTY_INLINES = {
    "subscriptions-TOTAL_FORMS": "0",
    "subscriptions-INITIAL_FORMS": "0",
    "app_subscriptions-TOTAL_FORMS": "0",
    "app_subscriptions-INITIAL_FORMS": "0",
}


@pytest.fixture
def declared(db):
    for name, type_ in (
        ("tier", "text"),
        ("points", "integer"),
        ("balance", "decimal"),
        ("vip", "boolean"),
        ("birthday", "date"),
        ("last_order", "datetime"),
    ):
        AttributeDefinition.objects.create(name=name, label=name.replace("_", " ").title(), type=type_)


def profile_form(**fields):
    return {
        "email": "jane@example.com",
        "mobile_phone": "+33612345678",
        "external_id": "C42",
        "first_name": "Jane",
        "last_name": "Doe",
        "language": "fr",
        **EMPTY_INLINES,
        **fields,
    }


def test_an_administrator_adds_a_profile_with_typed_attributes_and_finds_it(client, administrator, declared):
    client.force_login(administrator)
    form = client.get("/admin/profiles/profile/add/").content.decode()
    for name in ("tier", "points", "balance", "vip", "birthday", "last_order_0"):
        assert f'name="attribute__{name}"' in form

    response = client.post(
        "/admin/profiles/profile/add/",
        profile_form(
            attribute__tier="gold",
            attribute__points="120",
            attribute__balance="80.50",
            attribute__vip="true",
            attribute__birthday="1990-05-17",
            attribute__last_order_0="2026-11-30",
            attribute__last_order_1="18:30:00",
        ),
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    profile = Profile.objects.get()
    assert profile.attributes["tier"] == "gold"
    assert profile.attributes["points"] == 120
    assert profile.attributes["balance"] == "80.50"
    assert profile.attributes["vip"] is True
    assert profile.attributes["birthday"] == "1990-05-17"
    assert profile.attributes["last_order"].startswith("2026-11-30T")
    listing = client.get("/admin/profiles/profile/?q=C42").content.decode()
    assert "Jane Doe &lt;jane@example.com&gt;" in listing
    # The change page shows the stored values in their typed fields.
    page = client.get(f"/admin/profiles/profile/{profile.pk}/change/").content.decode()
    assert 'name="attribute__balance" value="80.50"' in page
    assert 'name="attribute__birthday" value="1990-05-17"' in page


def test_values_of_the_wrong_type_are_refused_with_a_clear_error_and_nothing_saved(
    client, administrator, declared
):
    client.force_login(administrator)
    response = client.post(
        "/admin/profiles/profile/add/",
        profile_form(attribute__points="12.5", attribute__balance="lots", attribute__birthday="17/05/1990"),
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Enter a whole number." in page
    assert "Enter a number." in page
    assert "Enter a valid date." in page
    assert not Profile.objects.exists()


def test_an_attribute_stored_with_the_wrong_type_shows_as_stored_and_must_be_corrected(
    client, administrator, declared
):
    profile = Profile.objects.create(email="old@example.com", attributes={"points": "many", "legacy": "x"})
    client.force_login(administrator)
    page = client.get(f"/admin/profiles/profile/{profile.pk}/change/").content.decode()
    assert 'name="attribute__points" value="many"' in page
    # An attribute with no definition is shown, and kept on save.
    assert "legacy=x" in page
    response = client.post(
        f"/admin/profiles/profile/{profile.pk}/change/",
        profile_form(email="old@example.com", attribute__points="7"),
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    profile.refresh_from_db()
    assert profile.attributes == {"points": 7, "legacy": "x"}


def test_opt_outs_subscriptions_and_app_subscriptions_are_edited_on_the_profile(client, administrator):
    newsletter = Service.objects.create(name="newsletter", label="Newsletter")
    profile = jane()
    client.force_login(administrator)
    response = client.post(
        f"/admin/profiles/profile/{profile.pk}/change/",
        profile_form(
            email="jane@example.com",
            external_id="C-1",
            sms_opted_out_at_0="2026-10-01",
            sms_opted_out_at_1="09:00:00",
            **{
                "subscriptions-TOTAL_FORMS": "1",
                "subscriptions-0-service": str(newsletter.pk),
                "subscriptions-0-subscribed_at_0": "2026-01-02",
                "subscriptions-0-subscribed_at_1": "10:00:00",
                "subscriptions-0-source": "admin",
                "app_subscriptions-TOTAL_FORMS": "1",
                "app_subscriptions-0-application": "com.example.shop",
                "app_subscriptions-0-platform": "gcm",
                "app_subscriptions-0-registration_token": "token-1",
                "app_subscriptions-0-device": "Pixel 8",
            },
        ),
    )
    assert response.status_code == 302, response.content.decode()[:4000]
    profile.refresh_from_db()
    assert profile.sms_opted_out_at is not None
    assert profile.email_opted_out_at is None
    subscription = Subscription.objects.get(profile=profile)
    assert subscription.service == newsletter and subscription.unsubscribed_at is None
    assert AppSubscription.objects.get(profile=profile).device == "Pixel 8"
    # Listed and found by the filters.
    assert "Jane Doe" in client.get("/admin/profiles/profile/?opted_out=sms").content.decode()
    assert "Jane Doe" not in client.get("/admin/profiles/profile/?opted_out=email").content.decode()
    assert "Jane Doe" in client.get(f"/admin/profiles/profile/?subscribed={newsletter.pk}").content.decode()


def test_an_unsubscribe_date_before_the_subscribe_date_is_refused(client, administrator):
    newsletter = Service.objects.create(name="newsletter", label="Newsletter")
    profile = jane()
    client.force_login(administrator)
    response = client.post(
        f"/admin/profiles/profile/{profile.pk}/change/",
        profile_form(
            email="jane@example.com",
            external_id="C-1",
            **{
                "subscriptions-TOTAL_FORMS": "1",
                "subscriptions-0-service": str(newsletter.pk),
                "subscriptions-0-subscribed_at_0": "2026-05-02",
                "subscriptions-0-subscribed_at_1": "10:00:00",
                "subscriptions-0-unsubscribed_at_0": "2026-05-01",
                "subscriptions-0-unsubscribed_at_1": "10:00:00",
                "subscriptions-0-source": "admin",
            },
        ),
    )
    assert response.status_code == 200
    assert "The unsubscribe date is before the subscribe date." in response.content.decode()
    assert not Subscription.objects.exists()


def test_services_and_attribute_definitions_are_managed_in_the_admin(client, administrator):
    client.force_login(administrator)
    response = client.post(
        "/admin/profiles/service/add/",
        {"name": "order-updates", "label": "Order updates", "channel": "email"},
    )
    assert response.status_code == 302
    service = Service.objects.get()
    Subscription.objects.create(profile=jane(), service=service, subscribed_at=timezone.now())
    listing = client.get("/admin/profiles/service/").content.decode()
    assert "Order updates" in listing
    response = client.post(
        "/admin/profiles/attributedefinition/add/", {"name": "tier", "label": "Tier", "type": "text"}
    )
    assert response.status_code == 302
    assert AttributeDefinition.objects.filter(name="tier", type="text").exists()


def test_a_service_that_messages_belong_to_is_not_deleted(client, administrator):
    service = Service.objects.create(name="newsletter", label="Newsletter")
    config = profile_based_event(
        event_id="EVTnews",
        channel="email",
        content={"subject": "Hi", "text": "Hello", "sender_email": "a@b.co"},
    )
    message_update(message=config.message, service=service)
    client.force_login(administrator)
    response = client.post(f"/admin/profiles/service/{service.pk}/delete/", {"post": "yes"}, follow=True)
    assert "Messages belong to the service Newsletter" in response.content.decode()
    assert Service.objects.filter(pk=service.pk).exists()


def test_a_marketer_cannot_open_profiles(client, marketer):
    client.force_login(marketer)
    assert client.get("/admin/profiles/profile/").status_code == 403
    assert client.get("/admin/profiles/service/").status_code == 403
