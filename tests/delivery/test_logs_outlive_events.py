"""The logs of a sending (delivery attempts, exclusions, provider feedback, status callbacks) outlive
their event (REP-3: events 1 month, logs 6 months): once the event is deleted their admin pages
still show which sending they were about."""

import pytest
from django.utils import timezone

from delivery.models import DeliveryAttempt, Exclusion, TrackingEvent
from events.models import Event
from events.services import event_trigger
from integrations.models import CallbackAttempt
from integrations.services import integration_create
from tests.conftest import make_published_event

pytestmark = pytest.mark.django_db

CART = {"firstName": "Jane", "cartAmount": "$ 5", "lastProduct": "Hat"}


@pytest.fixture
def logs(db):
    """One row of each log of one event, written as the delivery path writes them."""
    config = make_published_event()
    event = event_trigger(event_id=config.event_id, payload={"email": "jane@example.com", "ctx": CART})
    keys = {"event": event, "event_pkey": event.pkey, "configuration_id": event.configuration_id}
    integration = integration_create(name="Shop website").integration
    return {
        "deliveryattempt": DeliveryAttempt.objects.create(
            **keys,
            number=1,
            channel="email",
            address="jane@example.com",
            started_at=timezone.now(),
            duration_ms=5,
            outcome="sent",
        ),
        "exclusion": Exclusion.objects.create(
            **keys, channel="email", address="jane@example.com", reason="denylist", detail="denylisted"
        ),
        "trackingevent": TrackingEvent.objects.create(
            **keys, esp_name="postmark", event_type="bounced", recipient="jane@example.com"
        ),
        "callbackattempt": CallbackAttempt.objects.create(
            **keys,
            integration=integration,
            event_status="processed",
            url="https://shop.example.com/hooks",
            result="delivered",
            response_status=200,
        ),
    }


ADMIN = {
    "deliveryattempt": "/admin/delivery/deliveryattempt/",
    "exclusion": "/admin/delivery/exclusion/",
    "trackingevent": "/admin/delivery/trackingevent/",
    "callbackattempt": "/admin/integrations/callbackattempt/",
}


def test_the_logs_admin_pages_show_the_pkey_of_a_deleted_event(client, administrator, logs):
    event = Event.objects.get()
    event_pk = event.pk
    client.force_login(administrator)
    for name in logs:
        page = client.get(ADMIN[name]).content.decode()
        assert f"/admin/events/event/{event_pk}/change/" in page, name
    event.delete()
    for name, row in logs.items():
        row.refresh_from_db()
        assert (row.event_id, row.event_pkey) == (None, event.pkey)
        listed = client.get(ADMIN[name])
        assert listed.status_code == 200
        assert f"{event.pkey} (event deleted)" in listed.content.decode(), name
        assert f"{ADMIN[name]}{row.pk}/change/" in listed.content.decode(), name
        searched = client.get(ADMIN[name], {"q": event.pkey}).content.decode()
        assert f"{ADMIN[name]}{row.pk}/change/" in searched, name
        detail = client.get(f"{ADMIN[name]}{row.pk}/change/")
        assert detail.status_code == 200
        assert f"{event.pkey} (event deleted)" in detail.content.decode(), name
    # The event's own page is gone with it; the list of the logs no longer links to it.
    assert client.get(f"/admin/events/event/{event_pk}/change/").status_code == 404
    for name in logs:
        assert f"/admin/events/event/{event_pk}/change/" not in client.get(ADMIN[name]).content.decode()
