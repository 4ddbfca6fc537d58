"""The marketing delivery screens as a marketer uses them: create, the live audience count, prepare
(refusals named on the page), the exclusions and progress, confirm, the recipients CSV."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from marketing.models import DeliveryStatus, MarketingDelivery
from marketing.services import delivery_prepare, delivery_send_batch
from profiles.models import Profile
from tests.delivery.engagement import engagement_message, send_and_engage
from typologies.models import RuleKind, Typology, TypologyRule

pytestmark = pytest.mark.django_db


@pytest.fixture
def typology(db):
    typology = Typology.objects.create(name="simple", label="Simple")
    typology.rules.set(TypologyRule.objects.filter(kind__in=[RuleKind.ADDRESS_MISSING, RuleKind.OPTED_OUT]))
    return typology


@pytest.fixture
def people(db):
    Profile.objects.create(first_name="Ann", email="ann@example.com", language="en")
    Profile.objects.create(
        first_name="Bob", email="bob@example.com", language="en", email_opted_out_at=timezone.now()
    )
    Profile.objects.create(first_name="Cid", email="", language="en")
    Profile.objects.create(first_name="Dee", email="dee@example.com", language="fr")


def action(client, delivery, name):
    url = reverse("admin:marketing_marketingdelivery_object_action", args=[delivery.pk, name])
    return client.post(url, follow=True).content.decode()


def test_a_marketer_creates_prepares_and_sends_a_delivery(client, marketer, typology, people, smtp):
    client.force_login(marketer)
    count_url = reverse("admin:marketing_marketingdelivery_audience_count")
    english = '{"all": [{"field": "language", "op": "eq", "value": "en"}]}'
    assert client.get(count_url, {"audience": english}).json() == {"count": 3}
    assert (
        "Unknown profile field"
        in client.get(count_url, {"audience": '{"all": [{"field": "x", "op": "eq", "value": 1}]}'}).json()[
            "errors"
        ][0]
    )
    assert client.get(count_url, {"audience": "{"}).json()["errors"][0].startswith("Not JSON")

    response = client.post(
        reverse("admin:marketing_marketingdelivery_add"),
        {
            "label": "Spring sale",
            "channel": "email",
            "sender_email": "news@example.com",
            "subject": "",
            "html": "<p>Hi {{ profile.first_name }}</p>",
            "locale": "en",
            "audience": english,
            "typology": typology.pk,
            "recurrence": "once",
        },
    )
    assert response.status_code == 302
    delivery = MarketingDelivery.objects.get()
    page = action(client, delivery, "prepare")
    assert "The delivery cannot be prepared." in page and "subject: Required for this channel." in page

    delivery.subject = "Spring is here"
    delivery.save()
    action(client, delivery, "prepare")
    delivery_prepare(delivery_id=delivery.pk)  # the task the bulk worker runs
    page = client.get(
        reverse("admin:marketing_marketingdelivery_change", args=[delivery.pk])
    ).content.decode()
    assert "Address missing" in page and "Profile opted out of the channel" in page
    progress = reverse("admin:marketing_marketingdelivery_progress", args=[delivery.pk])
    assert client.get(progress).json() | {"status_label": ""} == {
        "status": "prepared",
        "status_label": "",
        "audience": 3,
        "excluded": 2,
        "target": 1,
        "sent": 0,
        "failed": 0,
        "pending": 1,
        "percent": 0,
    }
    assert (
        "Send this delivery to its recipients?"
        in client.get(
            reverse("admin:marketing_marketingdelivery_object_action", args=[delivery.pk, "confirm"])
        ).content.decode()
    )
    action(client, delivery, "confirm")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENDING

    csv = client.get(reverse("admin:marketing_marketingdelivery_recipients", args=[delivery.pk]))
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "Profile,Email,Mobile phone,Status,Rule,Sent,Error,Opened,Clicked"
    assert sorted(line.split(",")[3] for line in lines[1:]) == ["Excluded", "Excluded", "To send"]


def test_users_without_the_role_cannot_reach_deliveries(client, django_user_model, typology):
    user = django_user_model.objects.create_user(username="visitor", password="x", is_staff=True)
    client.force_login(user)
    assert client.get(reverse("admin:marketing_marketingdelivery_changelist")).status_code == 403
    count_url = reverse("admin:marketing_marketingdelivery_audience_count")
    assert client.get(count_url, {"audience": ""}).status_code == 403


def test_an_audience_of_who_did_not_open_a_message(client, marketer, typology, smtp, settings):
    config = engagement_message(event_id="EVTsale", settings=settings)
    message = config.message.message_id
    people = {
        name: Profile.objects.create(external_id=name, first_name=name.title(), email=f"{name}@example.com")
        for name in ("ann", "bob", "cid", "dee")
    }
    Profile.objects.create(external_id="eve", email="eve@example.com")  # never sent the sale
    send_and_engage(config=config, smtp=smtp, profile=people["ann"], does=("machineOpen", "open"))
    send_and_engage(config=config, smtp=smtp, profile=people["bob"], does=("machineOpen",))
    send_and_engage(config=config, smtp=smtp, profile=people["cid"], does=("click",))
    send_and_engage(config=config, smtp=smtp, profile=people["dee"])
    client.force_login(marketer)

    page = client.get(reverse("admin:marketing_marketingdelivery_add")).content.decode()
    assert '"notOpened": "did not open"' in page and '"clicked": "clicked in"' in page
    count_url = reverse("admin:marketing_marketingdelivery_audience_count")

    def count(op, value=message):
        return client.get(count_url, {"audience": json.dumps(opened(op, value))}).json()

    assert count("opened") == {"count": 1}  # Ann; Bob's opens were a privacy proxy's
    assert count("clicked") == {"count": 1}  # Cid
    assert count("notClicked") == {"count": 4}
    assert "No message has the ID “RTEVTnope”" in count("opened", "RTEVTnope")["errors"][0]

    audience = {
        "all": [{"field": "message", "op": "received", "value": message}, opened("notOpened", message)]
    }
    response = client.post(
        reverse("admin:marketing_marketingdelivery_add"),
        {
            "label": "Sale reminder",
            "channel": "email",
            "sender_email": "news@example.com",
            "subject": "The sale ends tonight",
            "html": "<p>Hi {{ profile.first_name }}</p>",
            "locale": "en",
            "audience": json.dumps(audience),
            "typology": typology.pk,
            "recurrence": "once",
        },
    )
    assert response.status_code == 302
    delivery = MarketingDelivery.objects.get()
    action(client, delivery, "prepare")
    delivery_prepare(delivery_id=delivery.pk)
    progress = client.get(reverse("admin:marketing_marketingdelivery_progress", args=[delivery.pk])).json()
    assert (progress["audience"], progress["excluded"], progress["target"]) == (3, 0, 3)

    smtp.messages.clear()
    action(client, delivery, "confirm")
    while delivery_send_batch(delivery_id=delivery.pk, token=MarketingDelivery.objects.get().send_token):
        pass
    assert sorted(m["To"] for m in smtp.messages) == ["bob@example.com", "cid@example.com", "dee@example.com"]


def opened(op, value):
    return {"all": [{"field": "message", "op": op, "value": value}]}
