"""A marketer whose browser speaks French: the admin in French, dates written the French way, and
the language menu in the header to switch."""

import re

import pytest
from django.utils import translation
from django.utils.formats import date_format
from django.utils.timezone import localtime
from playwright.sync_api import expect

from campaign.roles import MARKETERS
from tests.conftest import make_published_event
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def french_page(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, locale="fr-FR", viewport={"width": 1366, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def no_horizontal_overflow(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_french_marketer_edits_a_message_in_french(french_page):
    page = french_page
    message = make_published_event().message
    user = UserFactory(role=MARKETERS)

    page.goto("/admin/login/")
    expect(page.locator("html")).to_have_attribute("lang", "fr")
    expect(page.get_by_text("Mot de passe")).to_be_visible()
    page.fill("#id_username", user.username)
    page.fill("#id_password", "secret-pass")
    page.get_by_role("button", name="Connexion").click()
    page.wait_for_url("**/admin/")
    expect(page.locator("#mc-language")).to_have_value("fr")

    page.locator("#content-main a[href$='/messages_app/transactionalmessage/']").first.click()
    expect(page.locator("h1")).to_have_text(re.compile("Sélectionnez l.objet message transactionnel"))
    expect(page.locator("#result_list thead")).to_contain_text("Version en ligne")
    expect(page.locator("#result_list tbody")).to_contain_text("Publié")
    assert no_horizontal_overflow(page)

    page.get_by_role("link", name=str(message)).click()
    expect(page.locator("fieldset h2", has_text="Expéditeur")).to_be_visible()
    expect(page.locator("fieldset h2", has_text="Contenu de l\u2019e-mail")).to_be_visible()
    expect(page.get_by_role("heading", name="Sélecteur de champs")).to_be_visible()
    expect(page.get_by_role("button", name="Mettre en pause")).to_be_visible()
    expect(page.locator("label[for=id_subject]")).to_have_text("Objet :")

    page.fill("#id_subject", "{{ ctx.firstName }}, votre panier vous attend")
    page.click("input[name=_continue]")
    expect(page.locator(".messagelist")).to_contain_text("a été modifié avec succès")
    message.refresh_from_db()
    assert message.subject == "{{ ctx.firstName }}, votre panier vous attend"
    with translation.override("fr"):
        written = date_format(localtime(message.modified_at), "DATETIME_FORMAT")
    # French dates: "3 décembre 2026 07:05", the month in words and in French.
    assert re.fullmatch(r"\d{1,2} [a-zéû]+ \d{4} \d{2}:\d{2}", written), written
    expect(page.locator(".field-modified_at .readonly")).to_have_text(written)

    # The menu in the header switches the admin to English, for this user from now on.
    page.select_option("#mc-language", "en")
    page.wait_for_load_state()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.locator("fieldset h2", has_text="Sender")).to_be_visible()
    expect(page.locator("label[for=id_subject]")).to_have_text("Subject:")
