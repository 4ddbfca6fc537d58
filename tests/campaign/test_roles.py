import pytest
from django.contrib.auth.models import Group

from campaign.roles import ADMINISTRATORS, MARKETERS
from events.models import EventConfiguration, PublicationStatus

pytestmark = pytest.mark.django_db

ADMIN_ONLY_PAGES = [
    "/admin/events/eventconfiguration/",
    "/admin/events/eventconfiguration/add/",
    "/admin/integrations/integration/",
    "/admin/integrations/integration/add/",
    "/admin/reports/",
]


def test_the_role_groups_exist_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= {ADMINISTRATORS, MARKETERS}
    assert (
        Group.objects.get(name=MARKETERS).permissions.filter(codename="publish_transactionalmessage").exists()
    )
    assert (
        not Group.objects.get(name=MARKETERS)
        .permissions.filter(codename__contains="eventconfiguration")
        .exists()
    )


@pytest.mark.parametrize("url", ADMIN_ONLY_PAGES)
def test_a_marketer_cannot_reach_administrator_pages(client, marketer, url):
    client.force_login(marketer)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", ADMIN_ONLY_PAGES)
def test_an_administrator_can(client, administrator, url):
    client.force_login(administrator)
    assert client.get(url).status_code == 200


def test_the_marketer_admin_index_offers_messages_and_outbox_only(client, marketer):
    client.force_login(marketer)
    page = client.get("/admin/").content.decode()
    assert "Transactional messages" in page
    assert "Outbox emails" in page
    assert "Event configurations" not in page
    assert "Integrations" not in page


def test_a_marketer_cannot_publish_an_event_configuration(client, marketer, cart_event):
    from messages_app.services import configuration_unpublish

    configuration_unpublish(config=cart_event)
    client.force_login(marketer)
    response = client.post(f"/admin/events/eventconfiguration/{cart_event.pk}/action/publish/")
    assert response.status_code == 403
    assert EventConfiguration.objects.get(pk=cart_event.pk).status == PublicationStatus.DRAFT


EMPTY_INLINE = {"TOTAL_FORMS": "0", "INITIAL_FORMS": "0", "MIN_NUM_FORMS": "0", "MAX_NUM_FORMS": "1000"}


def test_a_marketer_edits_and_publishes_a_message_but_sees_no_admin_only_action(client, marketer, cart_event):
    message = cart_event.message
    client.force_login(marketer)
    url = f"/admin/messages_app/transactionalmessage/{message.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200
    assert f"/admin/events/eventconfiguration/{cart_event.pk}" not in page.content.decode()
    form = {
        "label": message.label,
        "sender_name": "Shop",
        "sender_email": "shop@example.com",
        "subject": "Still thinking, {{ ctx.firstName }}?",
        "html": "<p>{{ ctx.lastProduct }}</p>",
        "text": "",
        "versions-TOTAL_FORMS": "1",
        "versions-INITIAL_FORMS": "1",
        "versions-MIN_NUM_FORMS": "0",
        "versions-MAX_NUM_FORMS": "1000",
        "versions-0-id": str(message.published_version.pk),
        "versions-0-message": str(message.pk),
        "locale": "en",
        "missing_value_policy": "empty",
        **{
            f"{prefix}-{key}": value
            for prefix in ("variants", "test_profiles")
            for key, value in EMPTY_INLINE.items()
        },
    }
    assert client.post(url, form).status_code == 302
    response = client.post(
        f"/admin/messages_app/transactionalmessage/{message.pk}/action/publish/", follow=True
    )
    assert "is published (version 2)" in response.content.decode()
    message.refresh_from_db()
    assert message.published_version.content["subject"] == "Still thinking, {{ ctx.firstName }}?"
