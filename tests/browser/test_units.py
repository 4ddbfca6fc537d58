"""A marketer of Brand A, in real Chromium, cannot find Brand B's message: not in the list, not
by search, not by its URL, not in the related-object picker, not among the picker's fields."""

import pytest
from playwright.sync_api import expect

from campaign.roles import MARKETERS
from events.models import EventConfiguration
from organisations.selectors import unit_root
from organisations.services import membership_set, unit_create
from tests.conftest import make_published_event
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MESSAGES = "/admin/messages_app/transactionalmessage/"


def brand_message(unit, event_id, field):
    config = make_published_event(
        event_id=event_id,
        fields=[field],
        content={
            "sender_email": "shop@example.com",
            "subject": f"{{{{ ctx.{field} }}}}",
            "html": "<p>Hi</p>",
        },
    )
    EventConfiguration.objects.filter(pk=config.pk).update(unit=unit, label=f"Welcome {field}")
    config.message.label = f"Welcome {field}"
    config.message.save(update_fields=["label"])
    return config.message


def test_a_brand_a_marketer_cannot_find_brand_b_s_message(login_page):
    root = unit_root()
    brand_a, brand_b = unit_create(name="Brand A", parent=root), unit_create(name="Brand B", parent=root)
    own = brand_message(brand_a, "EVTbrandAWelcome", "brandAName")
    other = brand_message(brand_b, "EVTbrandBWelcome", "brandBSecret")
    marketer = UserFactory(role=MARKETERS)
    membership_set(user=marketer, unit=brand_a)
    page = login_page(marketer)

    # The list.
    page.goto(MESSAGES)
    results = page.locator("#result_list")
    expect(results).to_contain_text(own.message_id)
    expect(results).not_to_contain_text(other.message_id)
    expect(page.locator("#changelist")).not_to_contain_text("EVTbrandB")

    # The search, by its ID, part of it and its label.
    for term in (other.message_id, "brandBWelcome", other.label):
        page.fill("#searchbar", term)
        page.press("#searchbar", "Enter")
        expect(page.locator(".paginator")).to_contain_text("0 transactional messages")
        expect(page.locator("#result_list")).to_have_count(0)

    # A direct URL: its change page, its preview and its versions do not exist for this marketer.
    for suffix in ("change/", "preview/", "versions/", "history/"):
        response = page.goto(f"{MESSAGES}{other.pk}/{suffix}")
        assert response.status == 404, suffix
        expect(page.locator("body")).not_to_contain_text("brandBSecret")

    # The related-object picker (the popup a lookup widget opens), searched too.
    page.goto(f"{MESSAGES}?_to_field=id&_popup=1")
    expect(page.locator("#result_list")).to_contain_text(own.message_id)
    expect(page.locator("#result_list")).not_to_contain_text(other.message_id)
    page.goto(f"{MESSAGES}?_to_field=id&_popup=1&q=EVTbrandB")
    expect(page.locator(".paginator")).to_contain_text("0 transactional messages")

    # The field picker of its own message offers its event's fields, never the other brand's.
    page.goto(f"{MESSAGES}{own.pk}/change/")
    expect(page.get_by_role("button", name="brandAName (brandAName)")).to_be_visible()
    expect(page.get_by_role("button", name="brandBSecret (brandBSecret)")).to_have_count(0)
    expect(page.locator("body")).not_to_contain_text("brandBSecret")
