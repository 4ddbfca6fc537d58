"""Profile-based messages pass their typology at send time, on the real delivery path (the SMTP
server on loopback): each rule excludes the right profile and says why; order and deactivation
change the outcome; fatigue counts what was sent; event-based messages take no profile rule."""

from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.models import Exclusion
from delivery.services import event_deliver
from events.models import EventStatus
from events.services import event_trigger
from profiles.models import AttributeDefinition
from tests.conftest import make_published_event
from tests.profiles.helpers import jane, profile_based_event
from typologies.models import Contact, RuleKind, Typology, TypologyRule
from typologies.selectors import DEFAULT_TYPOLOGY

pytestmark = pytest.mark.django_db

EMAIL = {
    "sender_email": "shop@example.com",
    "subject": "Hello {{ customer.first_name }}",
    "html": "<p>Hi {{ customer.first_name }}</p>",
    "text": "Hi {{ customer.first_name }}",
}


LANGUAGE_EN = {"field": "language", "op": "eq", "value": "en"}
CART = {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Jacket"}


@pytest.fixture
def config(db):
    return profile_based_event(event_id="EVTtypology", channel="email", content=EMAIL)


def send(config, customer="C-1"):
    event = event_trigger(event_id=config.event_id, payload={"ctx": {"customerId": customer}})
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    return event


def rule(kind):
    return TypologyRule.objects.get(kind=kind)


def default_typology():
    return Typology.objects.get(name=DEFAULT_TYPOLOGY)


def test_new_profile_based_messages_get_the_default_typology(config):
    assert config.message.typology == default_typology()
    assert make_published_event().message.typology is None


def test_a_profile_that_passes_every_rule_is_sent_and_counted(config, smtp):
    jane()
    event = send(config)
    assert event.status == EventStatus.PROCESSED
    assert [m["To"] for m in smtp.messages] == ["jane@example.com"]
    [contact] = Contact.objects.all()
    assert (contact.channel, contact.key, contact.source) == ("email", event.pkey, config.message.message_id)


def test_consent_comes_before_the_typology(config, smtp):
    # An opted-out profile is refused by consent, which no typology can switch off.
    jane(email_opted_out_at=timezone.now() - timedelta(days=2))
    event = send(config)
    assert event.status == EventStatus.IGNORED
    assert smtp.messages == []
    [exclusion] = Exclusion.objects.filter(event=event)
    assert exclusion.reason == "optedOut"
    assert not Contact.objects.exists()


def test_a_profile_condition_excludes_until_the_rule_is_deactivated(config, smtp):
    jane()
    rule = TypologyRule.objects.create(
        label="English speakers", kind=RuleKind.CONDITION, condition={"all": [LANGUAGE_EN]}
    )
    default_typology().rules.add(rule)
    event = send(config)
    assert event.status == EventStatus.IGNORED
    [exclusion] = Exclusion.objects.filter(event=event)
    assert (exclusion.reason, exclusion.rule) == ("typology", rule)
    assert exclusion.detail == (
        "Transactional message on profile / English speakers: the profile matches the rule's condition"
    )
    rule.active = False
    rule.save()
    assert send(config).status == EventStatus.PROCESSED


def test_excluded_domains_once_the_rule_is_active(config, smtp):
    jane(email="jane@mailinator.com")
    assert send(config).status == EventStatus.PROCESSED
    TypologyRule.objects.filter(kind=RuleKind.DOMAINS).update(active=True)
    event = send(config)
    assert event.status == EventStatus.IGNORED
    assert "jane@mailinator.com is in an excluded domain" in event.exclusions.get().detail


def test_subject_missing_once_rendered(config, smtp):
    jane(first_name="")
    config.message.subject = "{{ customer.first_name }}"
    config.message.save()
    from messages_app.services import message_publish

    message_publish(message=config.message)
    event = send(config)
    assert event.status == EventStatus.IGNORED
    assert event.exclusions.get().detail.endswith("Subject missing: the email has no subject")


def test_the_first_rule_in_order_names_the_exclusion(config, smtp):
    jane(email="jane@mailinator.com")
    TypologyRule.objects.filter(kind=RuleKind.DOMAINS).update(active=True)  # order 60
    condition = TypologyRule.objects.create(
        label="English speakers", kind=RuleKind.CONDITION, order=1, condition={"all": [LANGUAGE_EN]}
    )
    default_typology().rules.add(condition)
    assert "English speakers" in send(config).exclusions.get().detail
    condition.order = 500
    condition.save()
    assert "excluded domain" in send(config).exclusions.get().detail


def test_fatigue_threshold_read_from_a_profile_attribute(config, smtp):
    AttributeDefinition.objects.create(name="max_emails", label="Emails a week", type="integer")
    jane(attributes={"max_emails": 2})
    fatigue = TypologyRule.objects.create(
        label="Weekly cap",
        kind=RuleKind.FATIGUE,
        channel="email",
        threshold=1,
        threshold_field="max_emails",
        period=7,
        period_unit="days",
    )
    default_typology().rules.add(fatigue)
    statuses = [send(config).status for _ in range(3)]
    assert statuses == [EventStatus.PROCESSED, EventStatus.PROCESSED, EventStatus.IGNORED]
    assert len(smtp.messages) == 2
    detail = Exclusion.objects.get().detail
    assert detail == "Transactional message on profile / Weekly cap: fatigue: 2 emails in 7 days, threshold 2"


def test_fatigue_falls_back_to_the_constant_and_slides(config, smtp):
    profile = jane()
    fatigue = TypologyRule.objects.create(
        label="Daily cap", kind=RuleKind.FATIGUE, threshold=1, period=24, period_unit="hours"
    )
    default_typology().rules.add(fatigue)
    assert send(config).status == EventStatus.PROCESSED
    assert send(config).exclusions.get().detail.endswith("fatigue: 1 message in 24 hours, threshold 1")
    # A day later the first message no longer counts.
    Contact.objects.filter(profile=profile).update(sent_at=timezone.now() - timedelta(hours=25))
    assert send(config).status == EventStatus.PROCESSED


def test_event_based_messages_ignore_profile_rules_and_fatigue(smtp):
    config = make_published_event()
    fatigue = TypologyRule.objects.create(label="Cap", kind=RuleKind.FATIGUE, threshold=0, period=7)
    default_typology().rules.add(fatigue)
    config.message.typology = default_typology()
    config.message.save()
    event = event_trigger(event_id=config.event_id, payload={"email": "jane@example.com", "ctx": CART})
    event_deliver(event_pk=event.pk)
    event.refresh_from_db()
    assert event.status == EventStatus.PROCESSED
    assert not Contact.objects.exists()


def test_a_rule_changed_after_a_send_applies_to_the_next_event(config, smtp):
    # The workers read typologies through the row cache: a change must be seen at the next event.
    jane(email="jane@mailinator.com")
    rule = TypologyRule.objects.get(kind=RuleKind.DOMAINS)
    assert send(config).status == EventStatus.PROCESSED
    rule.active = True
    rule.save()
    assert send(config).status == EventStatus.IGNORED
    rule.domains = "example.org"
    rule.save()
    assert send(config).status == EventStatus.PROCESSED


def test_a_fatigue_rule_of_a_category_limits_only_that_category(config, smtp):
    jane()
    fatigue = TypologyRule.objects.create(
        label="One promotion a week", kind=RuleKind.FATIGUE, threshold=1, period=7, category="promotion"
    )
    default_typology().rules.add(fatigue)
    assert [send(config).status for _ in range(2)] == [EventStatus.PROCESSED] * 2
    config.message.category = "promotion"
    config.message.save()
    assert [send(config).status for _ in range(2)] == [EventStatus.PROCESSED, EventStatus.IGNORED]
    assert list(Contact.objects.order_by("pk").values_list("category", flat=True)) == ["", "", "promotion"]


def test_a_condition_on_an_old_date_is_not_taken_for_the_time_of_the_check(config, smtp):
    """The check is compiled once and run with each event's time: a date the condition compares with
    stays the date it is, however far back it lies."""
    AttributeDefinition.objects.create(name="joined_on", label="Joined on", type="datetime")
    jane(attributes={"joined_on": "1958-06-01T00:00:00+00:00"})
    rule = TypologyRule.objects.create(
        label="Early members",
        kind=RuleKind.CONDITION,
        condition={
            "all": [{"field": "attributes.joined_on", "op": "lt", "value": "1960-01-01T00:00:00+00:00"}]
        },
    )
    default_typology().rules.add(rule)
    for _ in range(2):
        assert send(config).exclusions.get().rule == rule
    rule.condition = {
        "all": [{"field": "attributes.joined_on", "op": "lt", "value": "1950-01-01T00:00:00+00:00"}]
    }
    rule.save()
    assert send(config).status == EventStatus.PROCESSED
