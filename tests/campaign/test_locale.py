"""The admin speaks its user's language (the browser's, or the one chosen in its menu), with dates
and numbers formatted for it; the APIs answer in English whatever the caller asks."""

import pytest
from django.utils import translation
from django.utils.formats import date_format
from django.utils.timezone import localtime
from rest_framework.test import APIClient

from events.contract import structure_check
from messages_app.services import message_update
from tests.conftest import trigger_path

pytestmark = pytest.mark.django_db

FRENCH = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9,en;q=0.5"}


@pytest.fixture(autouse=True)
def _english_after_each_test():
    """The test client serves requests in the test's thread: the language a French request
    activated must not outlive its test."""
    yield
    translation.activate("en")


def change_url(message):
    return f"/admin/messages_app/transactionalmessage/{message.pk}/change/"


def test_the_login_page_follows_the_browser_language(client):
    page = client.get("/admin/login/", **FRENCH).content.decode()
    assert '<html lang="fr"' in page
    assert "Mot de passe" in page
    assert 'id="mc-language"' in page  # the menu is there before logging in too
    assert '<html lang="en"' in client.get("/admin/login/").content.decode()


def test_a_french_browser_gets_the_message_screens_in_french_with_french_dates(client, marketer, cart_event):
    client.force_login(marketer)
    listing = client.get("/admin/messages_app/transactionalmessage/", **FRENCH).content.decode()
    assert "Messages transactionnels" in listing
    assert "Publié" in listing  # the status column's label
    page = client.get(change_url(cart_event.message), **FRENCH).content.decode()
    for label in ("Expéditeur", "Personnalisation", "Historique", "Sélecteur de champs", "Mettre en pause"):
        assert label in page, label
    with translation.override("fr"):
        modified = date_format(localtime(cart_event.message.modified_at), "DATETIME_FORMAT")
    assert any(
        month in modified
        for month in (
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        )
    )
    assert modified in page


def test_the_language_menu_choice_wins_over_the_browser(client, marketer):
    client.force_login(marketer)
    response = client.post("/i18n/setlang/", {"language": "fr", "next": "/admin/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert response.cookies["django_language"]["max-age"] == 365 * 24 * 3600  # kept across visits
    page = client.get("/admin/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert '<html lang="fr"' in page and "Messages transactionnels" in page
    assert '<option value="fr" lang="fr" selected>Français</option>' in page
    client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    page = client.get("/admin/", **FRENCH).content.decode()
    assert '<html lang="en"' in page and "Transactional messages" in page


def test_the_scripts_of_the_admin_get_their_translations(client):
    french = client.get("/i18n/js/", **FRENCH).content.decode()
    assert "avant personnalisation" in french and "%(units)s caract\\u00e8res" in french
    assert "avant personnalisation" not in client.get("/i18n/js/").content.decode()


def test_a_refused_publish_is_explained_in_french(client, marketer, cart_event):
    message_update(message=cart_event.message, user=None, subject="")
    client.force_login(marketer)
    response = client.post(
        f"/admin/messages_app/transactionalmessage/{cart_event.message.pk}/action/publish/",
        follow=True,
        **FRENCH,
    )
    page = response.content.decode()
    assert "Le message ne peut pas être publié" in page
    assert "L\u2019objet est obligatoire." in page


def test_publish_checks_of_a_data_structure_speak_the_active_language():
    translation.activate("en")
    structure = {"fields": [{"field_id": "9lives", "type": "text"}], "collections": [], "enrichments": []}
    assert "must use letters, digits" in structure_check(structure=structure, targeting="event")[0].message
    with translation.override("fr"):
        message = structure_check(structure=structure, targeting="event")[0].message
    assert "lettres, chiffres" in message and "'9lives'" in message


class TestTheApiStaysEnglish:
    """Django REST framework has a French catalogue of its own: the API must not use it."""

    def test_errors_of_the_trigger_api_are_english_whatever_the_accept_language(self, api, cart_event):
        path = trigger_path("EVTcartAbandonment")
        english = api.get(path)
        for asked in (FRENCH, {"HTTP_ACCEPT_LANGUAGE": "fr"}):
            french = api.get(path, **asked)
            assert french.status_code == english.status_code == 405
            assert french.json() == english.json()
            assert french.json()["message"] == 'Method "GET" not allowed.'
            assert "Content-Language" not in french

    def test_the_language_chosen_in_the_admin_does_not_reach_the_api(self, cart_event):
        client = APIClient()
        client.cookies["django_language"] = "fr"
        response = client.post(trigger_path("EVTcartAbandonment"), {}, format="json", **FRENCH)
        assert response.status_code == 401
        assert response.json()["code"] == "not_authenticated"
        assert response.json()["message"] == "Authentication credentials were not provided."
