"""The typology screens as administrators and marketers use them: rules checked on the form, the
typology page with its rules and simulations, the message's typology, the simulation and its CSV,
and the exclusion log filtered by rule and message."""

import pytest
from django.urls import reverse
from django.utils import timezone

from delivery.services import event_deliver
from events.services import event_trigger
from tests.profiles.helpers import jane, profile_based_event
from typologies.models import RuleKind, Typology, TypologyRule
from typologies.selectors import DEFAULT_TYPOLOGY

pytestmark = pytest.mark.django_db


@pytest.fixture
def config(db):
    return profile_based_event(
        event_id="EVTadminTypology",
        channel="email",
        content={"sender_email": "shop@example.com", "subject": "Hi", "html": "<p>Hi</p>", "text": "Hi"},
    )


def test_a_bad_condition_is_refused_on_the_form(client, administrator):
    client.force_login(administrator)
    response = client.post(
        reverse("admin:typologies_typologyrule_add"),
        {
            "label": "Bad",
            "kind": RuleKind.CONDITION,
            "channel": "",
            "order": 5,
            "active": "on",
            "condition": '{"all": [{"field": "password", "op": "eq", "value": "x"}]}',
            "period_unit": "days",
        },
    )
    assert response.status_code == 200
    assert "Unknown profile field “password”" in response.content.decode()
    assert not TypologyRule.objects.filter(label="Bad").exists()


def test_the_typology_page_lists_its_rules_and_the_messages_to_simulate(client, administrator, config):
    client.force_login(administrator)
    typology = Typology.objects.get(name=DEFAULT_TYPOLOGY)
    page = client.get(reverse("admin:typologies_typology_change", args=[typology.pk])).content.decode()
    assert "Profile opted out of the channel" in page
    # The rules as they run: address missing (order 10) before the SMS length control (order 120).
    assert page.index(">Address missing</a>") < page.index(">SMS over 3 segments</a>")
    assert reverse("admin:messages_app_transactionalmessage_simulate", args=[config.message.pk]) in page
    rules = client.get(reverse("admin:typologies_typologyrule_changelist")).content.decode()
    assert "Every channel" in rules and "Control" in rules and "SMS over 3 segments" in rules


def test_marketers_see_the_typology_and_simulate_it(client, marketer, config):
    jane()
    jane(external_id="C-2", email="out@example.com", email_opted_out_at=timezone.now())
    client.force_login(marketer)
    page = client.get(reverse("admin:messages_app_transactionalmessage_change", args=[config.message.pk]))
    assert "Transactional message on profile" in page.content.decode()
    url = reverse("admin:messages_app_transactionalmessage_simulate", args=[config.message.pk])
    simulation = client.get(url).content.decode()
    assert "Profile opted out of the channel" in simulation
    csv = client.get(url, {"format": "csv"})
    assert csv["Content-Type"].startswith("text/csv")
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert lines[0] == "Rule,Type,Profiles excluded,Profiles left"
    assert "Profile opted out of the channel,Filtering,1,1" in lines
    # Marketers read typologies but do not change them.
    assert client.get(reverse("admin:typologies_typologyrule_add")).status_code == 403


def test_the_exclusion_log_filters_by_rule_and_message(client, administrator, config, smtp):
    jane(email="jane@mailinator.com")
    rule = TypologyRule.objects.get(kind=RuleKind.DOMAINS)
    rule.active = True
    rule.save()
    event = event_trigger(event_id=config.event_id, payload={"ctx": {"customerId": "C-1"}})
    event_deliver(event_pk=event.pk)
    other = TypologyRule.objects.get(kind=RuleKind.OPTED_OUT)
    client.force_login(administrator)
    changelist = reverse("admin:delivery_exclusion_changelist")
    assert event.pkey in client.get(changelist, {"rule__id__exact": rule.pk}).content.decode()
    assert event.pkey not in client.get(changelist, {"rule__id__exact": other.pk}).content.decode()
    by_message = client.get(changelist, {"configuration__message__id__exact": config.message.pk})
    assert event.pkey in by_message.content.decode()
