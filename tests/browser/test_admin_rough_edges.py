"""The admin's rough edges, walked in real Chromium at 1366 px: screens that fit, a 403 page that
links back, publish that asks first and goes away when up to date, a field put in a collection
created in the same save, hints in words, plain-text parts, and the API docs kept to administrators."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaign.roles import ADMINISTRATORS, MARKETERS
from delivery.feedback import denylist_add
from delivery.models import AddressQuarantine, CapturedEmail, DeliveryAttempt, QuarantineReason
from events.models import Event, EventConfiguration
from events.selectors import configuration_structure
from messages_app import models
from messages_app.services import message_test_profile_save, message_update
from tests.conftest import make_published_event
from tests.factories import EventFieldFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WIDTH = 1366
LONG_ADDRESS = "jane.proof.with.a.rather.long.address@example-company-domain.example.com"
SUBJECT = "{{ ctx.firstName }}, your order {{ ctx.lastProduct }} has shipped and arrives on Friday"
ORDER_HTML = (
    "<h1>Hello {{ ctx.firstName }}</h1><p>Your order <strong>SO-1001</strong> has shipped.</p>"
    '<p><a href="https://track.example.com/SO-1001">Track your parcel</a></p>'
    "<table><tr><th>Product</th><th>Price</th></tr><tr><td>{{ ctx.lastProduct }}</td>"
    "<td>{{ ctx.cartAmount }}</td></tr></table>"
)
# What overflows a screen: the page itself, a list's table or a tabular inline wider than its box.
OVERFLOW = """() => {
  const doc = document.documentElement;
  const found = [];
  if (doc.scrollWidth > doc.clientWidth) found.push(`page ${doc.scrollWidth} > ${doc.clientWidth}`);
  document.querySelectorAll('#changelist .results, .inline-group .tabular').forEach((box) => {
    if (box.scrollWidth > box.clientWidth + 1) found.push(`${box.className} ${box.scrollWidth}`);
  });
  return found;
}"""


def busy_installation():
    """Every list holds a row, with the long values that used to widen the screens."""
    config = make_published_event()
    message_update(message=config.message, user=None, subject=SUBJECT)
    profile = message_test_profile_save(
        profile=models.TestProfile(
            message=config.message,
            name="Jane",
            address=LONG_ADDRESS,
            event_data={"firstName": "Jane", "cartAmount": "€125.00", "lastProduct": "Leather jacket"},
        )
    )
    for _ in range(2):
        models.ProofSend.objects.create(
            message=config.message,
            test_profile=profile,
            channel="email",
            address=LONG_ADDRESS,
            content={},
            status=models.ProofStatus.SENT,
        )
    event = Event.objects.create(
        pkey="Jx3kP9vQ_2mT8sLr-Wc4ZbNe",
        configuration=config,
        configuration_version=config.published_version,
        email=LONG_ADDRESS,
        ctx={"firstName": "Jane"},
    )
    DeliveryAttempt.objects.create(
        event=event,
        number=1,
        channel="email",
        address=LONG_ADDRESS,
        started_at=timezone.now(),
        duration_ms=12,
        outcome="sent",
        provider_message_id=f"<{event.pkey}@message-center.invalid>",
    )
    AddressQuarantine.objects.create(
        channel="email",
        address=LONG_ADDRESS,
        quarantined_at=timezone.now(),
        reason=QuarantineReason.HARD_BOUNCE,
    )
    denylist_add(channel="email", address=LONG_ADDRESS, reason="Asked never to be written to again")
    email = CapturedEmail.objects.create(
        from_email="Demo Shop <shop@example.com>",
        to=LONG_ADDRESS,
        subject="Jane, your order has shipped",
        html="<html><body><h1>Hello Jane</h1><p>Your order has shipped.</p></body></html>",
        text="Hello Jane\n\nYour order has shipped.\n",
        raw="(MIME)",
    )
    return config, email


def test_every_screen_fits_1366_px(login_page):
    config, email = busy_installation()
    page = login_page(UserFactory(role=ADMINISTRATORS), width=WIDTH)
    screens = [
        "/admin/",
        "/admin/events/eventconfiguration/",
        f"/admin/events/eventconfiguration/{config.pk}/change/",
        "/admin/events/eventconfiguration/add/",
        "/admin/events/event/",
        "/admin/messages_app/transactionalmessage/",
        f"/admin/messages_app/transactionalmessage/{config.message.pk}/change/",
        f"/admin/messages_app/transactionalmessage/{config.message.pk}/preview/",
        "/admin/messages_app/proofsend/",
        "/admin/delivery/capturedemail/",
        f"/admin/delivery/capturedemail/{email.pk}/change/",
        "/admin/delivery/deliveryattempt/",
        "/admin/delivery/addressquarantine/",
        "/admin/delivery/denylistentry/",
        "/admin/delivery/exclusion/",
        "/admin/integrations/integration/",
        "/admin/profiles/profile/",
    ]
    for url in screens:
        page.goto(url)
        assert page.evaluate(OVERFLOW) == [], url

    # The proof sends list shows its last column beside the filter, not under it.
    page.goto("/admin/messages_app/proofsend/")
    last = page.locator("#result_list thead th").last.bounding_box()
    results = page.locator("#changelist .results").bounding_box()
    assert last["x"] + last["width"] <= results["x"] + results["width"] + 1
    assert last["x"] + last["width"] <= page.locator("#changelist-filter").bounding_box()["x"]
    expect(page.locator("#changelist-filter")).to_contain_text("Email")

    # The outbox shows the email's HTML in a frame as wide as the row, not 220 px.
    page.goto(f"/admin/delivery/capturedemail/{email.pk}/change/")
    assert page.locator("iframe").bounding_box()["width"] > 600

    # A real subject fits its input.
    page.goto(f"/admin/messages_app/transactionalmessage/{config.message.pk}/change/")
    subject = page.locator("#id_subject")
    assert subject.bounding_box()["width"] > 550
    assert subject.evaluate("input => input.scrollWidth <= input.clientWidth")


def test_the_403_page_says_why_and_links_back(login_page):
    make_published_event()
    page = login_page(UserFactory(role=MARKETERS), width=WIDTH)
    page.goto("/admin/messages_app/transactionalmessage/")
    # Followed from the list, as a link a colleague sent would be.
    page.evaluate("location.href = '/admin/events/eventconfiguration/'")
    expect(page.locator("h1")).to_have_text("You cannot open this page")
    expect(page.locator("#site-name")).to_have_text("Message Center")
    expect(page.locator(".refusal-reason")).to_contain_text("does not have the permission this page needs")
    assert page.evaluate(OVERFLOW) == []
    page.get_by_role("link", name="Go back").click()
    expect(page).to_have_url(re.compile(r"/admin/messages_app/transactionalmessage/$"))
    expect(page.locator("h1")).to_have_text("Select transactional message to change")

    # The API documentation is for API credentials and administrators: a marketer gets the same page.
    page.evaluate("location.href = '/api/docs/'")
    expect(page.locator(".refusal-reason")).to_have_text(
        "The API documentation is for API credentials and administrators."
    )
    page.get_by_role("link", name="Go back").click()
    expect(page).to_have_url(re.compile(r"/admin/messages_app/transactionalmessage/$"))


def test_publish_asks_first_and_goes_away_once_up_to_date(login_page):
    config = make_published_event()
    EventFieldFactory(configuration=config, field_id="couponCode", position=9)
    page = login_page(UserFactory(role=ADMINISTRATORS), width=WIDTH)
    page.goto(f"/admin/events/eventconfiguration/{config.pk}/change/")
    expect(page.locator(".unpublished-changes")).to_be_visible()
    expect(page.locator(".field-publish_check")).to_contain_text("ready to publish")

    # Publish asks on a page of its own; going back publishes nothing.
    page.get_by_role("link", name="Publish", exact=True).click()
    expect(page.locator(".confirm-question")).to_contain_text("Publish the data structure?")
    page.get_by_role("link", name="No, go back").click()
    config.refresh_from_db()
    assert config.published_version.number == 1
    page.get_by_role("link", name="Publish", exact=True).click()
    page.get_by_role("button", name="Yes, publish").click()
    expect(page.locator(".messagelist")).to_contain_text("is published (version 2)")

    # Up to date: no Publish, no "Before publishing".
    expect(page.get_by_text("Published (version 2), up to date.")).to_be_visible()
    expect(page.get_by_role("link", name="Publish", exact=True)).to_have_count(0)
    expect(page.get_by_text("Before publishing")).to_have_count(0)

    # Unpublish asks too.
    page.get_by_role("link", name="Unpublish").click()
    expect(page.locator(".confirm-question")).to_contain_text("The endpoint will refuse events")
    page.get_by_role("link", name="No, go back").click()
    config.refresh_from_db()
    assert config.status == "published"

    # The message: published and up to date, so Pause but no Publish; every button the same size.
    page.goto(f"/admin/messages_app/transactionalmessage/{config.message.pk}/change/")
    expect(page.get_by_role("link", name="Publish", exact=True)).to_have_count(0)
    expect(page.locator(".field-live_version_state")).to_contain_text("up to date")
    pause = page.get_by_role("button", name="Pause")
    versions = page.get_by_role("link", name="Versions")
    assert pause.bounding_box()["height"] == versions.bounding_box()["height"]
    size = "element => getComputedStyle(element).fontSize"
    assert pause.evaluate(size) == versions.evaluate(size)

    # A change to the draft brings Publish back, and it asks first.
    page.fill("#id_subject", "A new subject for {{ ctx.firstName }}")
    page.click("input[name=_continue]")
    page.get_by_role("link", name="Publish", exact=True).click()
    expect(page.locator(".confirm-question")).to_contain_text("Publish the draft?")
    page.get_by_role("button", name="Yes, publish").click()
    expect(page.locator(".messagelist")).to_contain_text("is published (version 2)")
    expect(page.get_by_role("link", name="Publish", exact=True)).to_have_count(0)


def test_a_field_goes_into_a_collection_created_in_the_same_save(login_page):
    page = login_page(UserFactory(role=ADMINISTRATORS), width=WIDTH)
    page.goto("/admin/events/eventconfiguration/add/")
    page.fill("#id_label", "Order confirmation")
    page.fill("#id_event_id", "orderConfirmation")
    page.get_by_text("Add another collection").click()
    page.fill("#id_collections-0-collection_id", "items")
    page.fill("#id_collections-0-label", "Items")
    page.get_by_text("Add another field").click()
    page.fill("#id_fields-0-field_id", "firstName")
    page.fill("#id_fields-0-label", "First name")
    page.get_by_text("Add another field").click()
    page.fill("#id_fields-1-field_id", "price")
    page.fill("#id_fields-1-label", "Price")
    page.select_option("#id_fields-1-type", "decimal")
    # The collection typed above is offered at once.
    page.select_option("#id_fields-1-collection_ref", "items")
    # Renamed before saving: the field follows it.
    page.fill("#id_collections-0-collection_id", "lines")
    expect(page.locator("#id_fields-1-collection_ref")).to_have_value("lines")
    assert page.evaluate(OVERFLOW) == []
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    config = EventConfiguration.objects.get(event_id="EVTorderConfirmation")
    structure = configuration_structure(config=config)
    assert [f["field_id"] for f in structure["fields"]] == ["firstName"]
    assert [f["field_id"] for f in structure["collections"][0]["fields"]] == ["price"]
    expect(page.locator("#id_fields-1-collection_ref")).to_have_value("lines")

    # An empty collection: the hint names it in words, not as a JSON path.
    page.get_by_text("Add another collection").click()
    page.fill("#id_collections-1-collection_id", "gifts")
    page.fill("#id_collections-1-label", "Gifts")
    page.click("input[name=_continue]")
    problems = page.locator(".publish-problems")
    expect(problems).to_contain_text("Collection “gifts”: The collection 'gifts' needs at least one field.")
    expect(problems).not_to_contain_text("collections[")


def test_the_text_part_generated_from_html_is_plain_text(login_page):
    config = make_published_event()
    message_update(message=config.message, user=None, html=ORDER_HTML, text="")
    message_test_profile_save(
        profile=models.TestProfile(
            message=config.message,
            name="Jane",
            address="jane@example.com",
            event_data={"firstName": "Jane", "cartAmount": "€125.00", "lastProduct": "Leather jacket"},
        )
    )
    page = login_page(UserFactory(role=MARKETERS), width=WIDTH)
    page.goto(f"/admin/messages_app/transactionalmessage/{config.message.pk}/preview/")
    text = page.locator(".mc-text").inner_text()
    assert "Track your parcel: https://track.example.com/SO-1001" in text
    assert "Product         Price\nLeather jacket  €125.00" in text
    for markdown in ("#", "**", "---", "]("):
        assert markdown not in text


def test_the_admin_words_are_peoples_words(login_page):
    make_published_event()
    page = login_page(UserFactory(role=ADMINISTRATORS), width=WIDTH)
    page.goto("/admin/delivery/addressquarantine/")
    expect(page.locator("h1")).to_have_text("Select quarantined address to view")
    expect(page.locator("#changelist-form")).to_contain_text("0 quarantined addresses")
    page.goto("/admin/delivery/denylistentry/")
    expect(page.locator("#changelist-form")).to_contain_text("0 denylisted addresses")
    page.goto("/admin/messages_app/transactionalmessage/")
    expect(page.locator(".breadcrumbs")).to_have_text(
        re.compile(r"Home\s*\u203a\s*Messages\s*\u203a\s*Transactional messages")
    )
    page.goto("/admin/")
    expect(page.locator("#content-main")).to_contain_text("API credentials")
    expect(page.locator("#content-main")).not_to_contain_text("Integrations")
