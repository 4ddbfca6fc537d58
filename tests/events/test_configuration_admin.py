"""The event configuration admin, as an administrator sees it (Django's test client)."""

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from events.models import Event, EventConfiguration, EventField, PublicationStatus
from messages_app.services import configuration_unpublish
from tests.conftest import trigger_path
from tests.events.test_trigger_contract import CTX, published

pytestmark = pytest.mark.django_db
BASE = "/admin/events/eventconfiguration"


@pytest.fixture
def admin_client(client, administrator):
    client.force_login(administrator)
    return client


@pytest.fixture
def order(db):
    return published()


def page(client, url) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_the_list_shows_the_columns_and_filters_by_idle_days(admin_client, order):
    quiet = published(event_id="EVTquiet")
    Event.objects.create(
        pkey="recent", configuration=order, configuration_version=order.published_version, ctx=CTX
    )
    old = Event.objects.create(
        pkey="old", configuration=quiet, configuration_version=quiet.published_version, ctx=CTX
    )
    Event.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    listing = page(admin_client, f"{BASE}/")
    for header in (
        "Label (ID)",
        "Publication status",
        "Channel",
        "Targeting dimension",
        "Modified by",
        "Last modified",
    ):
        assert header.lower() in listing.lower()
    idle = page(admin_client, f"{BASE}/?idle_days=30")
    assert "EVTquiet" in idle and "EVTorderConfirmation" not in idle
    assert "EVTorderConfirmation" in page(admin_client, f"{BASE}/?q=order")


def test_unpublished_changes_are_shown_until_republished(admin_client, order):
    url = f"{BASE}/{order.pk}/change/"
    assert "Published (version 1), up to date." in page(admin_client, url)
    EventField.objects.create(configuration=order, field_id="coupon", label="Coupon")
    assert "Unpublished changes" in page(admin_client, url)
    admin_client.post(f"{BASE}/{order.pk}/action/publish/")
    assert "Published (version 2), up to date." in page(admin_client, url)
    # The publication log lists both publishes with their steps.
    assert page(admin_client, url).count("Trigger endpoint serves the new version") == 2


def test_a_refused_publish_is_reported_and_logged(admin_client, order):
    EventField.objects.create(configuration=order, field_id="bad id", label="Bad")
    assert "The field ID &#x27;bad id&#x27; must use letters" in page(
        admin_client, f"{BASE}/{order.pk}/change/"
    )
    response = admin_client.post(f"{BASE}/{order.pk}/action/publish/", follow=True)
    text = response.content.decode()
    assert "EVTorderConfirmation cannot be published" in text
    assert "Publish failed" in text
    order.refresh_from_db()
    assert order.published_version.number == 1


def test_api_preview_shows_endpoint_headers_sample_and_latest_events(admin_client, api, order):
    first = api.post(trigger_path(order.event_id), {"email": "a@example.com", "ctx": CTX}, format="json")
    second = api.post(
        trigger_path(order.event_id),
        {"email": "b@example.com", "ctx": {**CTX, "firstName": "Zoe"}},
        format="json",
    )
    text = page(admin_client, f"{BASE}/{order.pk}/api-preview/")
    assert "POST http://testserver/acme/campaign/mcacme/EVTorderConfirmation" in text
    assert "X-Api-Key: &lt;CLIENT_ID&gt;" in text and "Authorization: Bearer &lt;ACCESS_TOKEN&gt;" in text
    assert "curl -X POST" in text and "Simulated" not in text
    assert text.index(second.json()["PKey"]) < text.index(first.json()["PKey"])
    assert "&quot;Zoe&quot;" in text and "&quot;email&quot;: &quot;b@example.com&quot;" in text

    configuration_unpublish(config=order)
    assert "Simulated: EVTorderConfirmation is not published" in page(
        admin_client, f"{BASE}/{order.pk}/api-preview/"
    )


def test_delete_is_offered_only_in_draft_and_confirms_what_goes(admin_client, order):
    assert admin_client.get(f"{BASE}/{order.pk}/delete/").status_code == 403
    configuration_unpublish(config=order)
    confirmation = page(admin_client, f"{BASE}/{order.pk}/delete/")
    assert "Its message RTEVTorderConfirmation" in confirmation
    assert "0 events received" in confirmation
    admin_client.post(f"{BASE}/{order.pk}/delete/", {"post": "yes"})
    assert not EventConfiguration.objects.exists()


def test_duplicate_button_creates_a_draft_copy(admin_client, order):
    response = admin_client.post(f"{BASE}/{order.pk}/action/duplicate/", follow=True)
    assert "duplicated into the Draft configuration EVTorderConfirmationCopy" in response.content.decode()
    copy = EventConfiguration.objects.get(event_id="EVTorderConfirmationCopy")
    assert copy.status == PublicationStatus.DRAFT and copy.message.status == "draft"


def test_export_action_and_import_page_round_trip(admin_client, order):
    response = admin_client.post(f"{BASE}/", {"action": "export_selected", "_selected_action": [order.pk]})
    assert response["Content-Disposition"].startswith('attachment; filename="message-center-package-')
    document = json.loads(response.content)
    document["configurations"][0]["event_id"] = "EVTimported"
    upload = SimpleUploadedFile(
        "package.json", json.dumps(document).encode(), content_type="application/json"
    )
    done = admin_client.post(f"{BASE}/import-package/", {"package": upload}, follow=True)
    assert "EVTimported created (Draft)." in done.content.decode()
    imported = EventConfiguration.objects.get(event_id="EVTimported")
    assert imported.fields.filter(collection=None).count() == 10 and imported.collections.count() == 1

    document["configurations"][0]["structure"]["fields"][0]["type"] = "money"
    upload = SimpleUploadedFile(
        "package.json", json.dumps(document).encode(), content_type="application/json"
    )
    refused = admin_client.post(f"{BASE}/import-package/", {"package": upload}).content.decode()
    assert "The package was not imported: nothing changed." in refused
    assert "configurations[0].structure.fields[0].type" in refused


def test_a_marketer_sees_no_event_configuration_pages(client, marketer, order):
    client.force_login(marketer)
    assert client.get(f"{BASE}/{order.pk}/api-preview/").status_code == 403
    assert client.get(f"{BASE}/import-package/").status_code == 403


def test_an_up_to_date_configuration_offers_no_publish_and_no_readiness(admin_client, order):
    text = page(admin_client, f"{BASE}/{order.pk}/change/")
    assert "Published (version 1), up to date." in text
    assert "Before publishing" not in text and 'data-action="publish"' not in text
    EventField.objects.create(configuration=order, field_id="coupon", label="Coupon", position=9)
    text = page(admin_client, f"{BASE}/{order.pk}/change/")
    assert "Unpublished changes" in text and "Before publishing" in text
    assert 'data-action="publish"' in text


def test_publish_asks_for_confirmation_before_it_publishes(admin_client, order):
    EventField.objects.create(configuration=order, field_id="coupon", label="Coupon", position=9)
    text = page(admin_client, f"{BASE}/{order.pk}/action/publish/")
    assert "Publish the data structure?" in text and 'value="Yes, publish"' in text
    order.refresh_from_db()
    assert order.published_version.number == 1
    admin_client.post(f"{BASE}/{order.pk}/action/publish/")
    order.refresh_from_db()
    assert order.published_version.number == 2
