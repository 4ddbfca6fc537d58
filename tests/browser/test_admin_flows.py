"""Admin flows in real Chromium (headless), against a live server."""

import re

import pytest
from playwright.sync_api import expect

from campaign.roles import ADMINISTRATORS, MARKETERS
from events.models import EventConfiguration, PublicationStatus
from tests.conftest import make_published_event
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_marketer_edits_and_publishes_a_message(login_page):
    config = make_published_event()
    page = login_page(UserFactory(role=MARKETERS))
    expect(page.get_by_role("link", name="Transactional messages").first).to_be_visible()
    expect(page.get_by_text("Event configurations")).to_have_count(0)
    expect(page.get_by_text("API credentials")).to_have_count(0)

    page.get_by_role("link", name="Transactional messages").last.click()
    page.get_by_role("link", name=re.compile("RTEVTcartAbandonment")).click()
    page.fill("#id_subject", "{{ ctx.firstName }}, still thinking about it?")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")

    page.get_by_role("link", name="Publish", exact=True).click()
    page.get_by_role("button", name="Yes, publish").click()
    expect(page.locator(".messagelist")).to_contain_text("is published (version 2)")
    config.message.refresh_from_db()
    published = config.message.published_version.content
    assert published["subject"] == "{{ ctx.firstName }}, still thinking about it?"


def test_an_administrator_creates_and_publishes_a_configuration(login_page):
    page = login_page(UserFactory(role=ADMINISTRATORS))
    page.goto("/admin/events/eventconfiguration/add/")
    page.fill("#id_label", "Order shipped")
    page.fill("#id_event_id", "orderShipped")
    page.get_by_text("Add another field").click()
    page.fill("#id_fields-0-field_id", "trackingNumber")
    page.fill("#id_fields-0-label", "Tracking number")
    page.check("#id_fields-0-required")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    page.get_by_role("link", name="Publish", exact=True).click()
    page.get_by_role("button", name="Yes, publish").click()
    expect(page.locator(".messagelist")).to_contain_text("EVTorderShipped is published (version 1)")
    assert EventConfiguration.objects.get(event_id="EVTorderShipped").status == PublicationStatus.PUBLISHED
    expect(page.get_by_role("link", name="Unpublish")).to_be_visible()
