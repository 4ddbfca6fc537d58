"""The profile change page in real Chromium at 1366 px: typed attribute fields, opt-outs,
subscriptions and app subscriptions inline, a type error shown on its field."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaign.roles import ADMINISTRATORS
from profiles.models import AppSubscription, Service, Subscription
from tests.factories import UserFactory
from tests.profiles.helpers import jane

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_administrator_edits_a_profiles_typed_attribute_and_sees_a_type_error(login_page):
    profile = jane()
    newsletter = Service.objects.create(name="newsletter", label="Newsletter")
    Subscription.objects.create(profile=profile, service=newsletter, subscribed_at=timezone.now())
    AppSubscription.objects.create(
        profile=profile, application="com.example.shop", platform="gcm", registration_token="t" * 180
    )
    page = login_page(UserFactory(role=ADMINISTRATORS))
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"/admin/profiles/profile/{profile.pk}/change/")
    expect(page.locator("#id_attribute__member_since")).to_have_value("2021-03-04")
    expect(page.locator("#id_attribute__points")).to_have_value("1234.50")
    expect(page.get_by_text("Subscriptions to services")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # A number field takes numbers only; a date typed wrong is refused on its field.
    page.fill("#id_attribute__member_since", "2021-02-30")
    page.fill("#id_attribute__points", "99.5")
    page.click("input[name=_continue]")
    expect(page.locator(".field-attribute__member_since .errorlist")).to_contain_text("Enter a valid date.")
    profile.refresh_from_db()
    assert profile.attributes["points"] == "1234.50"

    page.fill("#id_attribute__member_since", "2021-03-05")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    profile.refresh_from_db()
    assert profile.attributes == {"member_since": "2021-03-05", "points": "99.5"}

    # The list, with its filters, fits the screen too.
    page.goto(f"/admin/profiles/profile/?subscribed={newsletter.pk}")
    expect(page.locator("#result_list")).to_contain_text("jane@example.com")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
