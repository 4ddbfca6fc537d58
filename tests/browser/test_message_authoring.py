"""A marketer authors a cart-abandonment email in real Chromium: field picker, preview with two
test profiles, a proof that arrives on the loopback SMTP server, publish, and the next event."""

import json
import re

import pytest
from playwright.sync_api import expect

from campaign.roles import ADMINISTRATORS, MARKETERS
from delivery.services import event_deliver
from events.models import Channel
from events.services import event_trigger
from messages_app import models
from messages_app.services import message_test_profile_save
from tests.conftest import make_published_event
from tests.factories import UserFactory
from tests.messages_app.helpers import CART_ITEMS, structure_extend

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CART = {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket"}
ITEMS = [{"name": "Jacket", "price": "120"}, {"name": "Scarf", "price": "19.9"}]


def cart_with_items():
    config = make_published_event()
    structure_extend(config, collections=[CART_ITEMS])
    message_test_profile_save(
        profile=models.TestProfile(
            message=config.message,
            name="Jane full cart",
            address="jane.proof@example.com",
            event_data={**CART, "items": ITEMS},
        )
    )
    return config


def test_a_marketer_builds_previews_proofs_and_publishes_a_cart_email(login_page, smtp):
    config = cart_with_items()
    page = login_page(UserFactory(role=MARKETERS))
    page.goto(f"/admin/messages_app/transactionalmessage/{config.message.pk}/change/")
    expect(page.get_by_role("link", name="Unpublish")).to_have_count(0)
    expect(page.get_by_role("button", name="Pause")).to_be_visible()

    page.fill("#id_subject", "")
    page.click("#id_subject")
    page.get_by_role("button", name="firstName (firstName)").click()
    page.keyboard.type(", your cart misses you")
    expect(page.locator("#mc-picker-target")).to_have_text("Subject")

    page.fill("#id_html", "<p>Hello ")
    page.get_by_role("button", name="firstName (firstName)").click()
    page.keyboard.type("</p>\n<ul>\n")
    page.get_by_role("button", name=re.compile("Cart items: loop")).click()
    html = page.input_value("#id_html")
    assert html.startswith("<p>Hello {{ ctx.firstName }}</p>\n<ul>\n{% for item in ctx.items[:5] %}")
    # Prices next to names: replace the loop's body, inserting the price with the picker.
    html = html.replace(
        "{% if loop.first %}<strong>{{ item.name }}</strong>{% else %}{{ item.name }}{% endif %}",
        "<li>{{ item.name }}: PRICE</li>",
    ).replace("Nothing here yet.", "<li>Your cart is empty.</li>")
    page.fill("#id_html", html.replace("PRICE", "") + "\n</ul>")
    cursor = page.input_value("#id_html").index(": </li>") + 2
    page.eval_on_selector("#id_html", f"el => el.setSelectionRange({cursor}, {cursor})")
    page.get_by_role("button", name=re.compile("Cart items > Price")).click()
    for _ in " }}":
        page.keyboard.press("ArrowLeft")
    page.keyboard.type("|format_currency('USD')")

    # A second test profile, with an empty cart; its event data is checked against the structure.
    page.get_by_text("Add another Test profile").click()
    page.fill("#id_test_profiles-1-name", "Zoe empty cart")
    page.fill("#id_test_profiles-1-address", "zoe.proof@example.com")
    page.fill("#id_test_profiles-1-event_data", '{"firstName": "Zoe", "items": []}')
    page.click("input[name=_continue]")
    expect(page.locator("#id_test_profiles-1-event_data_error")).to_contain_text(
        "event_data.cartAmount: This field is required: expected a text of at most 100 characters."
    )
    page.fill("#id_test_profiles-1-event_data", json.dumps({**CART, "firstName": "Zoe", "items": []}))
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("was changed successfully")
    config.message.refresh_from_db()
    assert "<li>{{ item.name }}: {{ item.price|format_currency('USD') }}</li>" in config.message.html

    page.get_by_role("link", name="Preview & proof").click()
    expect(page.locator("#mc-preview-subject")).to_have_text("Jane, your cart misses you")
    frame = page.frame_locator("iframe.mc-preview-frame")
    expect(frame.locator("li")).to_have_text(["Jacket: $120.00", "Scarf: $19.90"])
    page.select_option("#mc-profile", label="Zoe empty cart (Proof) - zoe.proof@example.com")
    expect(page.locator("#mc-preview-subject")).to_have_text("Zoe, your cart misses you")
    expect(frame.locator("li")).to_have_text(["Your cart is empty."])
    page.select_option("#mc-profile", label="Jane full cart (Proof) - jane.proof@example.com")
    page.get_by_role("button", name="Send proof to Jane full cart").click()
    expect(page.locator(".messagelist")).to_contain_text("Proof sent to jane.proof@example.com.")
    [proof] = smtp.wait_for(1)
    assert proof["Subject"] == "[Proof] Jane, your cart misses you"
    assert "<li>Jacket: $120.00</li>" in proof.get_body(("html",)).get_content()

    page.get_by_role("link", name=re.compile("RTEVTcartAbandonment")).click()
    page.get_by_role("link", name="Publish", exact=True).click()
    page.get_by_role("button", name="Yes, publish").click()
    expect(page.locator(".messagelist")).to_contain_text("is published (version 2)")

    event = event_trigger(
        event_id=config.event_id, payload={"email": "jane@example.com", "ctx": {**CART, "items": ITEMS}}
    )
    event_deliver(event_pk=event.pk)
    delivered = smtp.wait_for(2)[-1]
    assert delivered["Subject"] == "Jane, your cart misses you"
    assert (
        delivered.get_body(("html",)).get_content().strip() == proof.get_body(("html",)).get_content().strip()
    )


def test_an_administrator_sees_unpublish_and_the_versions_diff(login_page):
    config = cart_with_items()
    page = login_page(UserFactory(role=ADMINISTRATORS))
    page.goto(f"/admin/messages_app/transactionalmessage/{config.message.pk}/change/")
    expect(page.get_by_role("link", name="Unpublish")).to_be_visible()
    page.fill("#id_subject", "Second subject")
    page.click("input[name=_continue]")
    page.get_by_role("link", name="Publish", exact=True).click()
    page.get_by_role("button", name="Yes, publish").click()
    expect(page.locator(".messagelist")).to_contain_text("is published (version 2)")
    page.get_by_role("link", name="Versions").click()
    expect(page.locator("#mc-diff .added")).to_have_text(["+ Second subject"])
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.locator(".messagelist")).to_contain_text("Version 1 is live again as version 3")


def test_the_sms_counter_counts_gsm7_and_ucs2_segments_live(login_page):
    config = make_published_event(event_id="EVTsmsCode", content=None, publish_message=False)
    config.channel = Channel.SMS
    config.save(update_fields=["channel"])
    page = login_page(UserFactory(role=MARKETERS))
    page.goto(f"/admin/messages_app/transactionalmessage/{config.message.pk}/change/")
    counter = page.locator(".mc-sms-counter").first
    page.fill("#id_sms_text", "x" * 160)
    expect(counter).to_contain_text("160 characters · GSM-7 · 1 segment (160 per segment)")
    page.fill("#id_sms_text", "x" * 160 + " {{ ctx.firstName }} €")
    expect(counter).to_contain_text("164 characters · GSM-7 · 2 segments (153 per segment)")
    page.fill("#id_sms_text", "Bonjour ç")
    expect(counter).to_contain_text("9 characters · UCS-2 · 1 segment (70 per segment)")
