"""Rules as filters on profiles: structured conditions (checked, then run as SQL), the built-in
filtering and control rules, and the simulation of a typology on an audience, which must match
what a real send then excludes."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from delivery.models import AddressQuarantine, DenylistEntry
from delivery.services import event_deliver
from events.models import EventStatus
from events.services import event_trigger
from profiles.models import AttributeDefinition, Profile, Service, Subscription
from tests.conftest import make_published_event
from tests.delivery.engagement import engagement_message, send_and_engage
from tests.profiles.helpers import jane, profile_based_event
from typologies.conditions import condition_problems, condition_q
from typologies.models import Contact, RuleKind, Typology, TypologyRule
from typologies.selectors import DEFAULT_TYPOLOGY, audience_rule_counts, content_rule_hit, typology_rules
from typologies.services import typology_rule_save, typology_save

pytestmark = pytest.mark.django_db

Q_ALL = Q()


@pytest.fixture
def people(db):
    AttributeDefinition.objects.create(name="tier", label="Tier", type="text")
    AttributeDefinition.objects.create(name="points", label="Points", type="decimal")
    AttributeDefinition.objects.create(name="birthday", label="Birthday", type="date")
    AttributeDefinition.objects.create(name="vip", label="VIP", type="boolean")
    rows = [
        (
            "ann",
            "ann@example.com",
            "en",
            {"tier": "Gold", "points": "150.5", "birthday": "1990-05-01", "vip": True},
        ),
        ("bob", "bob@example.org", "fr", {"tier": "silver", "points": "20", "birthday": "2001-12-24"}),
        ("cid", "", "de", {"points": "1000"}),
        ("dee", "dee@Example.com", "en", {}),
    ]
    return {
        name: Profile.objects.create(external_id=name, email=email, language=lang, attributes=attrs)
        for name, email, lang, attrs in rows
    }


def matching(condition):
    assert condition_problems(condition) == []
    return sorted(Profile.objects.filter(condition_q(condition)).values_list("external_id", flat=True))


def one(field, op, value=None):
    node = {"field": field, "op": op}
    if value is not None:
        node["value"] = value
    return {"all": [node]}


@pytest.mark.parametrize(
    "condition, expected",
    [
        (one("language", "eq", "EN"), ["ann", "dee"]),
        (one("language", "ne", "en"), ["bob", "cid"]),
        (one("email", "endswith", "@example.com"), ["ann", "dee"]),
        (one("email", "empty"), ["cid"]),
        (one("language", "in", ["fr", "de"]), ["bob", "cid"]),
        (one("attributes.tier", "eq", "gold"), ["ann"]),
        (one("attributes.tier", "empty"), ["cid", "dee"]),
        (one("attributes.points", "gt", "100"), ["ann", "cid"]),
        (one("attributes.points", "lte", 20), ["bob"]),
        (one("attributes.birthday", "lt", "2000-01-01"), ["ann"]),
        (one("attributes.vip", "eq", True), ["ann"]),
        (
            {
                "any": [
                    one("language", "eq", "fr"),
                    {"all": [one("attributes.points", "gte", 150), one("language", "eq", "en")]},
                ]
            },
            ["ann", "bob"],
        ),
    ],
)
def test_conditions_select_the_right_profiles(people, condition, expected):
    assert matching(condition) == expected


def test_subscription_conditions(people):
    news = Service.objects.create(name="news", label="Newsletter")
    Subscription.objects.create(profile=people["ann"], service=news, subscribed_at=timezone.now())
    Subscription.objects.create(
        profile=people["bob"], service=news, subscribed_at=timezone.now(), unsubscribed_at=timezone.now()
    )
    assert matching(one("service", "subscribed", "news")) == ["ann"]
    assert matching(one("service", "notSubscribed", "news")) == ["bob", "cid", "dee"]


@pytest.mark.parametrize(
    "condition, problem",
    [
        ("language = 'en'", "expected an object"),
        ({"all": []}, "at least one condition"),
        (one("password", "eq", "x"), "Unknown profile field “password”"),
        (one("attributes.nope", "eq", "x"), "Unknown profile field"),
        (one("language", "gt", "en"), "“gt” does not apply to language"),
        (one("attributes.points", "gt", "lots"), "Condition > 1"),
        (one("language", "eq"), "give a value"),
        (one("language", "in", "en"), "“in” takes a list"),
        (
            {"all": [{"field": "language", "op": "eq", "value": "en", "sql": "1=1"}]},
            "a field, an op and a value",
        ),
        ({"all": [{"all": [{"all": [{"all": [{"all": [one("language", "eq", "en")]}]}]}]}]}, "nest 4 deep"),
    ],
)
def test_bad_conditions_are_explained(people, condition, problem):
    problems = condition_problems(condition)
    assert any(problem in text for text in problems), problems


def test_a_rule_is_checked_before_it_is_saved(people):
    with pytest.raises(ValidationError) as error:
        typology_rule_save(
            rule=TypologyRule(label="Bad", kind=RuleKind.CONDITION, condition=one("x", "eq", 1))
        )
    assert "Unknown profile field" in str(error.value)
    with pytest.raises(ValidationError) as error:
        typology_rule_save(rule=TypologyRule(label="Cap", kind=RuleKind.FATIGUE))
    assert {"threshold", "period"} <= set(error.value.message_dict)
    with pytest.raises(ValidationError):
        typology_rule_save(rule=TypologyRule(label="Domains", kind=RuleKind.DOMAINS, domains="  \n"))


def test_control_rules():
    typology = Typology.objects.get(name=DEFAULT_TYPOLOGY)
    email = typology_rules(typology=typology, channel="email")
    sms = typology_rules(typology=typology, channel="sms")
    assert content_rule_hit(
        typology=typology, rules=email, channel="email", content={"subject": " "}
    ).rule.kind == (RuleKind.SUBJECT_MISSING)
    assert (
        content_rule_hit(typology=typology, rules=email, channel="email", content={"subject": "Hi"}) is None
    )
    hit = content_rule_hit(typology=typology, rules=sms, channel="sms", content={}, sms_segments=4)
    assert hit.detail == "the SMS takes 4 segments, more than 3"
    assert content_rule_hit(typology=typology, rules=sms, channel="sms", content={}, sms_segments=3) is None
    marketing = Typology.objects.get(name="marketing")
    rules = typology_rules(typology=marketing, channel="email")
    hit = content_rule_hit(
        typology=marketing,
        rules=rules,
        channel="email",
        content={"subject": "Hi", "html": "<p>Sale</p>"},
        marketing=True,
    )
    assert hit.rule.kind == RuleKind.UNSUBSCRIBE_LINK_MISSING


def test_event_based_messages_take_only_the_address_rules():
    typology = Typology.objects.get(name="marketing")
    kinds = {rule.kind for rule in typology_rules(typology=typology, channel="email", profile_based=False)}
    assert kinds == {RuleKind.ADDRESS_MISSING, RuleKind.QUARANTINED, RuleKind.DENYLISTED}


def test_the_simulation_matches_what_a_real_send_excludes(people, smtp):
    config = profile_based_event(
        event_id="EVTsimulated",
        channel="email",
        content={"sender_email": "shop@example.com", "subject": "Hi", "html": "<p>Hi</p>", "text": "Hi"},
    )
    people["ann"].email_opted_out_at = timezone.now() - timedelta(days=1)
    people["ann"].save()
    AddressQuarantine.objects.create(
        channel="email", address="bob@example.org", quarantined_at=timezone.now()
    )
    DenylistEntry.objects.create(channel="email", address="dee@example.com")
    jane(external_id="jan")
    typology = config.message.typology
    total, counts = audience_rule_counts(
        typology=typology, channel="email", audience=Q_ALL, now=timezone.now()
    )
    simulated = {count.rule.kind: count.excluded for count in counts}
    assert total == 5
    assert simulated[RuleKind.ADDRESS_MISSING] == 1  # cid
    assert simulated[RuleKind.QUARANTINED] == 1  # bob
    assert simulated[RuleKind.DENYLISTED] == 1  # dee, whatever the case of its address
    assert simulated[RuleKind.OPTED_OUT] == 1  # ann
    assert counts[-1].remaining == 1  # jan

    sent = []
    for external_id in ["ann", "bob", "dee", "jan"]:
        event = event_trigger(event_id=config.event_id, payload={"ctx": {"customerId": external_id}})
        event_deliver(event_pk=event.pk)
        event.refresh_from_db()
        sent.append(event.status)
    assert sent == [EventStatus.IGNORED, EventStatus.IGNORED, EventStatus.IGNORED, EventStatus.PROCESSED]


def test_duplicates_keep_the_first_profile(people):
    Profile.objects.create(external_id="ann2", email="ANN@example.com")
    typology = Typology.objects.get(name="marketing")
    _total, counts = audience_rule_counts(
        typology=typology, channel="email", audience=Q_ALL, now=timezone.now()
    )
    assert {c.rule.kind: c.excluded for c in counts}[RuleKind.DUPLICATE] == 1


def test_a_condition_on_what_a_profile_received(people):
    Contact.objects.create(
        profile=people["ann"], channel="email", source="RTEVTorderShipped", sent_at=timezone.now()
    )
    Contact.objects.create(
        profile=people["ann"], channel="email", source="RTEVTorderShipped", sent_at=timezone.now()
    )
    assert matching(one("message", "received", "RTEVTorderShipped")) == ["ann"]
    assert matching(one("message", "notReceived", "RTEVTorderShipped")) == ["bob", "cid", "dee"]
    assert any("does not apply" in p for p in condition_problems(one("message", "eq", "RTEVTorderShipped")))


def test_conditions_on_what_a_profile_did_with_a_message(people, smtp, settings):
    config = engagement_message(event_id="EVTsale", settings=settings)
    eve = Profile.objects.create(external_id="eve", email="eve@example.com")
    send_and_engage(config=config, smtp=smtp, profile=people["ann"], does=("machineOpen", "open"))
    send_and_engage(config=config, smtp=smtp, profile=people["bob"], does=("machineOpen",))
    send_and_engage(config=config, smtp=smtp, profile=people["dee"], does=("click",))
    send_and_engage(config=config, smtp=smtp, profile=eve)
    message = config.message.message_id

    assert matching(one("message", "opened", message)) == ["ann"]  # Bob's opens were a proxy's
    assert matching(one("message", "notOpened", message)) == ["bob", "cid", "dee", "eve"]
    assert matching(one("message", "clicked", message)) == ["dee"]
    assert matching(one("message", "notClicked", message)) == ["ann", "bob", "cid", "eve"]
    received_not_opened = {"all": [one("message", "received", message), one("message", "notOpened", message)]}
    assert matching(received_not_opened) == ["bob", "dee", "eve"]

    # The same condition as a typology rule: the simulation excludes who opened it.
    rule = typology_rule_save(
        rule=TypologyRule(
            label="Opened the sale", kind=RuleKind.CONDITION, condition=one("message", "opened", message)
        )
    )
    typology = typology_save(typology=Typology(name="not-again", label="Not again"), rules=[rule])
    total, counts = audience_rule_counts(
        typology=typology, channel="email", audience=Q_ALL, now=timezone.now()
    )
    assert (total, counts[0].excluded, counts[0].remaining) == (5, 1, 4)


def test_conditions_on_opens_name_the_message_they_cannot_read(people, settings):
    sms = profile_based_event(event_id="EVTsms", channel="sms", content={"sms_text": "Hi"})
    event_based = make_published_event(event_id="EVTcart")
    asked = [
        ("opened", "RTEVTnope"),
        ("clicked", sms.message.message_id),
        ("notOpened", event_based.message.message_id),
        ("clicked", ""),
    ]
    problems = condition_problems({"all": [{"field": "message", "op": op, "value": v} for op, v in asked]})
    assert problems == [
        "Condition > 1: No message has the ID “RTEVTnope”: opens and clicks are those of transactional "
        "messages, by their ID (e.g. RTEVTorderShipped).",
        "Condition > 2: “RTEVTsms” is not an email: only opens and clicks of emails are tracked.",
        "Condition > 3: “RTEVTcart” is sent to the addresses in its events, not to profiles: its opens "
        "and clicks belong to no profile.",
        "Condition > 4: give a value.",
    ]
