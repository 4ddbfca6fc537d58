"""A marketing delivery on the real SMTP server on loopback: checked, prepared through its typology
(exclusion counts per rule match the profiles), sent in throttled batches personalised with each
profile, paused, resumed and cancelled mid-send; what it sent counts for fatigue."""

import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.utils import timezone, translation

from campaign.exceptions import ApplicationError, ValidationFailed
from delivery.models import AddressQuarantine
from marketing.models import DeliveryRecipient, DeliveryStatus, MarketingDelivery, RecipientStatus
from marketing.selectors import delivery_exclusions, delivery_progress
from marketing.services import (
    delivery_cancel,
    delivery_confirm,
    delivery_pause,
    delivery_prepare,
    delivery_prepare_start,
    delivery_resume,
    delivery_save,
    delivery_send_batch,
)
from profiles.models import AttributeDefinition, Profile, Service, Subscription
from typologies.models import Contact, RuleKind, Typology, TypologyRule

pytestmark = pytest.mark.django_db


@pytest.fixture
def typology(db):
    typology = Typology.objects.create(name="newsletter-rules", label="Newsletter rules")
    typology.rules.set(
        TypologyRule.objects.filter(
            kind__in=[RuleKind.ADDRESS_MISSING, RuleKind.QUARANTINED, RuleKind.OPTED_OUT, RuleKind.DUPLICATE]
        )
    )
    return typology


@pytest.fixture
def audience(db):
    """Six subscribers of the newsletter (one opted out, one quarantined, one without an address,
    one sharing another's address) and one profile that is not subscribed."""
    AttributeDefinition.objects.create(name="tier", label="Tier", type="text")
    news = Service.objects.create(name="newsletter", label="Newsletter")
    rows = [
        ("Ann", "ann@example.com", {}),
        ("Bob", "bob@example.com", {"email_opted_out_at": timezone.now() - timedelta(days=3)}),
        ("Cid", "cid@example.com", {}),
        ("Dee", "", {}),
        ("Eve", "eve@example.com", {}),
        ("Eve2", "EVE@example.com", {}),
    ]
    for name, email, extra in rows:
        profile = Profile.objects.create(first_name=name, email=email, attributes={"tier": "gold"}, **extra)
        Subscription.objects.create(profile=profile, service=news, subscribed_at=timezone.now())
    Profile.objects.create(first_name="Zed", email="zed@example.com")
    AddressQuarantine.objects.create(
        channel="email", address="cid@example.com", quarantined_at=timezone.now()
    )
    return {"all": [{"field": "service", "op": "subscribed", "value": "newsletter"}]}


def more_subscribers(count):
    news = Service.objects.get(name="newsletter")
    for number in range(count):
        profile = Profile.objects.create(first_name=f"P{number}", email=f"p{number}@example.com")
        Subscription.objects.create(profile=profile, service=news, subscribed_at=timezone.now())


def draft(typology, audience, **fields):
    values = {
        "label": "Spring sale",
        "channel": "email",
        "sender_email": "news@example.com",
        "subject": "{{ profile.first_name }}, spring is here",
        "html": "<p>Hello {{ profile.first_name }}, your tier: {{ profile.attributes.tier }}</p>",
        "audience": audience,
        "typology": typology,
        **fields,
    }
    return delivery_save(delivery=MarketingDelivery(**values))


def prepared(typology, audience, **fields):
    delivery = draft(typology, audience, **fields)
    delivery_prepare_start(delivery=delivery)
    delivery_prepare(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    return delivery


def send_all(delivery, token=None, limit=50):
    delivery.refresh_from_db()
    for _ in range(limit):
        if delivery_send_batch(delivery_id=delivery.pk, token=token or delivery.send_token) is None:
            break
    delivery.refresh_from_db()


def test_preparation_applies_the_typology_in_order(typology, audience):
    delivery = prepared(typology, audience)
    assert delivery.status == DeliveryStatus.PREPARED
    assert (delivery.audience_count, delivery.excluded_count, delivery.target_count) == (6, 4, 2)
    assert delivery_exclusions(delivery=delivery) == [
        ("Address missing", 1),
        ("Address in quarantine", 1),
        ("Profile opted out of the channel", 1),
        ("Duplicate address in one delivery", 1),
    ]
    pending = DeliveryRecipient.objects.filter(delivery=delivery, status=RecipientStatus.PENDING)
    assert sorted(pending.values_list("profile__first_name", flat=True)) == ["Ann", "Eve"]


def test_sending_personalises_each_message_and_counts_the_contacts(typology, audience, smtp):
    delivery = prepared(typology, audience)
    delivery_confirm(delivery=delivery)
    send_all(delivery)
    assert delivery.status == DeliveryStatus.DONE
    assert (delivery.sent_count, delivery.failed_count) == (2, 0)
    subjects = sorted(message["Subject"] for message in smtp.messages)
    assert subjects == ["Ann, spring is here", "Eve, spring is here"]
    body = next(m for m in smtp.messages if m["To"] == "ann@example.com").get_body(("html",)).get_content()
    assert "Hello Ann, your tier: gold" in body
    assert Contact.objects.filter(channel="email", source="Spring sale").count() == 2
    assert delivery_progress(delivery_id=delivery.pk)["percent"] == 100


def test_pause_resume_and_cancel_mid_send(typology, audience, smtp):
    for number in range(10):
        profile = Profile.objects.create(first_name=f"P{number}", email=f"p{number}@example.com")
        Subscription.objects.create(
            profile=profile, service=Service.objects.get(), subscribed_at=timezone.now()
        )
    delivery = prepared(typology, audience, rate_per_second=3)
    assert delivery.target_count == 12
    delivery_confirm(delivery=delivery)
    token = delivery.send_token
    assert delivery_send_batch(delivery_id=delivery.pk, token=token) is not None
    assert len(smtp.messages) == 3
    delivery_pause(delivery=delivery)
    assert delivery_send_batch(delivery_id=delivery.pk, token=token) is None  # the queued batch stops
    assert len(smtp.messages) == 3
    delivery_resume(delivery=delivery)
    assert delivery_send_batch(delivery_id=delivery.pk, token=token) is None  # an old chain's batch
    assert delivery_send_batch(delivery_id=delivery.pk, token=delivery.send_token) is not None
    assert len(smtp.messages) == 6
    delivery_cancel(delivery=delivery)
    send_all(delivery)
    assert len(smtp.messages) == 6
    assert delivery.status == DeliveryStatus.CANCELLED
    assert DeliveryRecipient.objects.filter(delivery=delivery, status=RecipientStatus.PENDING).count() == 6
    with pytest.raises(ApplicationError):
        delivery_resume(delivery=delivery)


def test_the_throttle_holds_the_rate(typology, audience, smtp):
    for number in range(10):
        profile = Profile.objects.create(first_name=f"P{number}", email=f"p{number}@example.com")
        Subscription.objects.create(
            profile=profile, service=Service.objects.get(), subscribed_at=timezone.now()
        )
    delivery = prepared(typology, audience, rate_per_second=4)
    delivery_confirm(delivery=delivery)
    started = time.monotonic()
    while (wait := delivery_send_batch(delivery_id=delivery.pk, token=delivery.send_token)) is not None:
        time.sleep(wait)  # as the task's countdown would
    spent = time.monotonic() - started
    sent = DeliveryRecipient.objects.filter(delivery=delivery, status=RecipientStatus.SENT).count()
    assert sent == 12
    # 12 messages at 4 per second: three batches, two waits of about a second in between. The rate
    # is a ceiling: the measured rate may be lower on a loaded machine, never much higher.
    assert sent / spent <= 4 * 1.5


def test_problems_are_named_before_preparation(typology, audience):
    delivery = draft(typology, audience)
    delivery.subject = ""
    delivery.html = "<p>{{ profile.nickname }} {{ ctx.x }}</p>"
    delivery.audience = {"all": [{"field": "shoe_size", "op": "eq", "value": 42}]}
    with pytest.raises(ValidationFailed) as refused:
        delivery_prepare_start(delivery=delivery)
    errors = [(error.path, error.message) for error in refused.value.errors]
    assert ("subject", "Required for this channel.") in errors
    assert ("html", "line 1: profile.nickname is not a field of a profile (profile).") in errors
    assert any(path == "html" and "ctx is not defined" in message for path, message in errors)
    assert any(
        path == "audience" and "Unknown profile field “shoe_size”" in message for path, message in errors
    )
    assert MarketingDelivery.objects.get(pk=delivery.pk).status == DeliveryStatus.DRAFT


def test_the_marketing_typology_refuses_an_email_without_unsubscribe_link(audience):
    delivery = draft(Typology.objects.get(name="marketing"), audience)
    with pytest.raises(ValidationFailed) as refused:
        delivery_prepare_start(delivery=delivery)
    assert any("unsubscribe link" in error.message for error in refused.value.errors)


def test_editing_a_prepared_delivery_takes_it_back_to_draft(typology, audience):
    delivery = prepared(typology, audience)
    delivery.subject = "Changed"
    delivery_save(delivery=delivery)
    assert delivery.status == DeliveryStatus.DRAFT
    assert not DeliveryRecipient.objects.filter(delivery=delivery).exists()
    delivery_confirm_refused = pytest.raises(ApplicationError)
    with delivery_confirm_refused:
        delivery_confirm(delivery=delivery)


def test_marketing_messages_count_for_transactional_fatigue(typology, audience, smtp):
    delivery = prepared(typology, audience)
    delivery_confirm(delivery=delivery)
    send_all(delivery)
    fatigue = TypologyRule.objects.create(label="Weekly", kind=RuleKind.FATIGUE, threshold=1, period=7)
    typology.rules.add(fatigue)
    again = prepared(typology, audience)
    assert dict(delivery_exclusions(delivery=again))["Weekly"] == 2
    assert again.target_count == 0


def test_a_delivery_of_a_service_carries_its_unsubscribe_link(typology, audience, smtp, client):
    delivery = draft(
        typology,
        None,
        service=Service.objects.get(name="newsletter"),
        html='<p>Hi {{ profile.first_name }}</p><a href="{{ unsubscribe_url }}">Unsubscribe</a>',
    )
    delivery_prepare_start(delivery=delivery)
    delivery_prepare(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.audience_count == 6  # the service's subscribers, not Zed
    delivery_confirm(delivery=delivery)
    send_all(delivery)
    mail = next(m for m in smtp.messages if m["To"] == "ann@example.com")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = mail["List-Unsubscribe"].split(">")[0].strip(" <")
    assert link in mail.get_body(("html",)).get_content()
    assert client.post(urlsplit(link).path, {"List-Unsubscribe": "One-Click"}).status_code == 200
    ann = Subscription.objects.get(profile__first_name="Ann")
    assert ann.unsubscribed_at is not None


def test_a_french_marketer_reads_the_delivery_page_and_its_script_in_french(
    typology, audience, client, marketer
):
    delivery = prepared(typology, audience)
    client.force_login(marketer)
    french = {"HTTP_ACCEPT_LANGUAGE": "fr"}
    try:
        page = client.get(
            f"/admin/marketing/marketingdelivery/{delivery.pk}/change/", **french
        ).content.decode()
        catalogue = client.get("/i18n/js/", **french).content.decode()
    finally:
        translation.activate("en")  # the test client served French in this thread
    assert "Avancement" in page and "Préparés" in page and "Exclus par" in page
    assert "Préparée" in page  # the delivery's status
    # The live audience count of delivery.js is worded by the catalogue the page loads.
    assert 'src="/i18n/js/"' in page
    assert "L\\u2019audience compte %s profil" in catalogue
