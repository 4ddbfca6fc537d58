"""The unsubscribe page in real Chromium, with JavaScript off, from the link of an email received
on the loopback SMTP server: leave the message's service, undo, leave all email; 1366 px wide
without horizontal overflow, and a phone's width too."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from delivery.services import event_deliver
from events.models import Event
from messages_app.services import message_update
from profiles.models import Service, Subscription
from tests.conftest import trigger_path
from tests.profiles.helpers import jane, profile_based_event

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def no_horizontal_overflow(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_recipient_unsubscribes_from_the_emails_link_and_undoes_it(
    browser, live_server, api, smtp, settings
):
    settings.CAMPAIGN_PUBLIC_URL = live_server.url
    newsletter = Service.objects.create(name="newsletter", label="Newsletter")
    config = profile_based_event(
        event_id="EVTnews",
        channel="email",
        content={
            "sender_email": "shop@example.com",
            "subject": "News",
            "html": '<p>Hi {{ customer.first_name }}</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>',
        },
    )
    message_update(message=config.message, service=newsletter)
    profile = jane()
    Subscription.objects.create(profile=profile, service=newsletter, subscribed_at=timezone.now())
    response = api.post(trigger_path("EVTnews"), {"ctx": {"customerId": "C-1"}}, format="json")
    event_deliver(event_pk=Event.objects.get(pkey=response.json()["PKey"]).pk)
    [mail] = smtp.messages
    link = re.search(r'href="([^"]+/unsubscribe/[^"]+)"', mail.get_body(("html",)).get_content()).group(1)

    context = browser.new_context(java_script_enabled=False, viewport={"width": 1366, "height": 900})
    try:
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto(link)
        expect(page.get_by_role("heading", name="Unsubscribe")).to_be_visible()
        expect(page.get_by_text("j…@example.com")).to_be_visible()
        expect(page.get_by_label("Newsletter")).to_be_checked()
        assert no_horizontal_overflow(page)

        page.get_by_role("button", name="Unsubscribe").click()
        expect(page.get_by_role("status")).to_contain_text("You have left Newsletter.")
        subscription = Subscription.objects.get(profile=profile, service=newsletter)
        assert subscription.unsubscribed_at is not None
        assert subscription.source == "unsubscribePage"

        page.get_by_role("button", name="Undo").click()
        expect(page.get_by_role("status")).to_contain_text("You are subscribed to Newsletter again.")
        subscription.refresh_from_db()
        assert subscription.unsubscribed_at is None

        page.get_by_label("All email from us").check()
        page.get_by_role("button", name="Unsubscribe").click()
        expect(page.get_by_role("status")).to_contain_text("You will receive no more email from us.")
        profile.refresh_from_db()
        assert profile.email_opted_out_at is not None

        page.set_viewport_size({"width": 360, "height": 740})
        page.goto(link)
        expect(page.get_by_role("button", name="Receive email again")).to_be_visible()
        assert no_horizontal_overflow(page)
        page.get_by_role("button", name="Receive email again").click()
        expect(page.get_by_role("status")).to_contain_text("You will receive email from us again.")
        profile.refresh_from_db()
        assert profile.email_opted_out_at is None
    finally:
        context.close()
