"""Typologies in real Chromium at 1366 px: an administrator writes a custom-condition rule (a bad
condition is explained on the form), a marketer simulates the message's typology and downloads the
table as CSV; a rule on who did not open a message, built in the condition builder."""

import json
from pathlib import Path

import pytest
from playwright.sync_api import expect

from campaign.roles import ADMINISTRATORS, MARKETERS
from tests.factories import UserFactory
from tests.profiles.helpers import jane, profile_based_event
from typologies.models import Typology, TypologyRule

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def no_horizontal_overflow(page):
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_an_administrator_writes_a_rule_and_a_marketer_simulates_it(login_page):
    page = login_page(UserFactory(role=ADMINISTRATORS))
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto("/admin/typologies/typologyrule/add/")
    page.fill("#id_label", "French speakers")
    page.select_option("#id_kind", "customCondition")
    page.get_by_text("Custom condition", exact=True).click()
    page.fill("#id_condition", '{"all": [{"field": "langage", "op": "eq", "value": "fr"}]}')
    page.click("input[name=_save]")
    expect(page.locator(".errorlist")).to_contain_text("Unknown profile field “langage”")
    no_horizontal_overflow(page)
    # Built without writing JSON: a row of field, operator and value.
    page.goto("/admin/typologies/typologyrule/add/")
    page.fill("#id_label", "French speakers")
    page.select_option("#id_kind", "customCondition")
    page.get_by_text("Custom condition", exact=True).click()
    page.get_by_role("button", name="Add a condition").click()
    row = page.locator(".mc-condition-row").first
    row.locator(".mc-condition-field").select_option("language")
    row.locator(".mc-condition-op").select_option("eq")
    row.locator(".mc-condition-value").fill("fr")
    assert json.loads(page.input_value("#id_condition")) == {
        "all": [{"field": "language", "op": "eq", "value": "fr"}]
    }
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    no_horizontal_overflow(page)

    config = profile_based_event(
        event_id="EVTsimulation",
        channel="email",
        content={"sender_email": "shop@example.com", "subject": "Hi", "html": "<p>Hi</p>", "text": "Hi"},
    )
    typology = Typology.objects.create(name="french", label="No French")
    typology.rules.add(TypologyRule.objects.get(label="French speakers"))
    config.message.typology = typology
    config.message.save()
    jane()
    jane(external_id="C-2", email="marie@example.fr", language="fr")

    page = login_page(UserFactory(role=MARKETERS))
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"/admin/messages_app/transactionalmessage/{config.message.pk}/change/")
    page.get_by_role("link", name="Simulate the typology").click()
    row = page.locator("#mc-simulation tbody tr", has_text="French speakers")
    expect(row).to_contain_text("1")
    expect(page.locator("#mc-simulation tfoot")).to_contain_text("1")
    no_horizontal_overflow(page)
    with page.expect_download() as download:
        page.get_by_role("link", name="Download as CSV").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert "French speakers,Filtering,1,1" in text


def test_a_rule_on_who_did_not_open_a_message_is_built_in_the_builder(login_page):
    config = profile_based_event(
        event_id="EVTsale",
        channel="email",
        content={"sender_email": "shop@example.com", "subject": "Hi", "html": "<p>Hi</p>", "text": "Hi"},
    )
    page = login_page(UserFactory(role=ADMINISTRATORS))
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto("/admin/typologies/typologyrule/add/")
    page.fill("#id_label", "Did not open the sale")
    page.select_option("#id_kind", "customCondition")
    page.get_by_text("Custom condition", exact=True).click()
    page.get_by_role("button", name="Add a condition").click()
    row = page.locator(".mc-condition-row").first
    row.locator(".mc-condition-field").select_option("message")
    row.locator(".mc-condition-op").select_option(label="did not open")
    row.locator(".mc-condition-value").fill("RTEVTsael")
    page.click("input[name=_save]")
    expect(page.locator(".errorlist")).to_contain_text("No message has the ID “RTEVTsael”")

    row = page.locator(".mc-condition-row").first
    row.locator(".mc-condition-value").fill(config.message.message_id)
    assert json.loads(page.input_value("#id_condition")) == {
        "all": [{"field": "message", "op": "notOpened", "value": "RTEVTsale"}]
    }
    page.click("input[name=_save]")
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    no_horizontal_overflow(page)
