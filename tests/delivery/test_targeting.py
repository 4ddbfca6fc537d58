"""Enrichment to profiles (SPEC EVT-3) and profile-based targeting, through the real delivery path
(trigger endpoint, then the delivery service sending to the loopback SMTP server)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from delivery.services import event_deliver
from delivery.targeting import event_context, event_language
from events.models import Event, EventStatus
from events.services import event_config_structure_set
from messages_app.services import configuration_publish, message_publish, message_update
from profiles.models import Profile
from tests.conftest import trigger_path
from tests.factories import EventConfigurationFactory

pytestmark = pytest.mark.django_db

STRUCTURE = {
    "fields": [
        {"field_id": "customerId", "label": "Customer", "type": "text", "required": True},
        {"field_id": "AC_language", "label": "Language", "type": "text", "max_length": 5, "required": False},
    ],
    "collections": [
        {
            "collection_id": "referrals",
            "label": "Referred friends",
            "min_items": None,
            "max_items": 10,
            "fields": [{"field_id": "email", "label": "Email", "type": "email", "required": True}],
        }
    ],
    "enrichments": [
        {
            "name": "customer",
            "target": "event",
            "resource": "profile",
            "join": [{"event_field": "customerId", "profile_field": "external_id"}],
            "targeting": True,
        },
        {
            "name": "friend",
            "target": "referrals",
            "resource": "profile",
            "join": [{"event_field": "email", "profile_field": "email"}],
            "targeting": False,
        },
    ],
}
CONTENT = {
    "sender_email": "shop@example.com",
    "subject": "Thanks {{ customer.first_name }}",
    "html": "<p>{% for item in ctx.referrals %}{{ item.friend.first_name or item.email }};{% endfor %}</p>",
    "text": "{% for item in ctx.referrals %}{{ item.friend.first_name or item.email }};{% endfor %}",
}


@pytest.fixture
def referral(db):
    config = EventConfigurationFactory(event_id="EVTreferral", targeting="profile")
    event_config_structure_set(config=config, structure=STRUCTURE)
    configuration_publish(config=config)
    config.refresh_from_db()
    message_update(message=config.message, **CONTENT)
    message_publish(message=config.message)
    return config


def send(api, ctx, queries=None):
    response = api.post(trigger_path("EVTreferral"), {"ctx": ctx}, format="json")
    assert response.status_code == 202, response.content
    event = Event.objects.get(pkey=response.json()["PKey"])
    with CaptureQueriesContext(connection) as captured:
        event_deliver(event_pk=event.pk)
    if queries is not None:
        queries.extend(query["sql"] for query in captured.captured_queries)
    event.refresh_from_db()
    return event


def profile_reads(queries: list[str]) -> int:
    return sum(1 for sql in queries if 'FROM "profiles_profile"' in sql)


def test_profile_based_event_goes_to_the_targeted_profile_with_enriched_items(api, referral, smtp):
    Profile.objects.create(external_id="C42", email="jane@example.com", first_name="Jane", language="fr")
    Profile.objects.create(email="Bob@Example.com", first_name="Bob")
    ctx = {"customerId": "C42", "referrals": [{"email": "bob@example.com"}, {"email": "eve@example.com"}]}
    queries = []
    event = send(api, ctx, queries)
    assert event.status == EventStatus.PROCESSED, event.error
    [message] = smtp.wait_for(1)
    assert message["To"] == "jane@example.com"
    assert message["Subject"] == "Thanks Jane"
    assert "Bob;eve@example.com;" in message.get_body(("plain",)).get_content()
    # The targeted profile is read once (for the recipient, the language and {{ customer }}), the
    # referred friends in one more query, and the profile is checked against the rules of its
    # typology (none of them a fatigue rule: no lock) in a third.
    assert profile_reads(queries) == 3


def test_a_join_matching_several_profiles_takes_the_oldest(referral):
    first = Profile.objects.create(external_id="C7", email="first@example.com", first_name="First")
    Profile.objects.create(external_id="C7", email="second@example.com", first_name="Second")
    event = Event(
        configuration=referral, configuration_version=referral.published_version, ctx={"customerId": "C7"}
    )
    assert event_context(event=event)["customer"]["email"] == first.email


def test_no_matching_profile_fails_the_targeting(api, referral, smtp):
    event = send(api, {"customerId": "nobody"})
    assert event.status == EventStatus.TARGETING_FAILED
    assert event.error == "No profile has external_id = 'nobody' (ctx.customerId)."
    assert smtp.messages == []


def test_a_profile_without_email_fails_the_targeting(api, referral, smtp):
    Profile.objects.create(external_id="C9", mobile_phone="+33612345678")
    event = send(api, {"customerId": "C9"})
    assert event.status == EventStatus.TARGETING_FAILED
    assert "has no email address" in event.error


def test_language_comes_from_ac_language_then_the_profile(referral):
    Profile.objects.create(external_id="C42", email="jane@example.com", language="fr")
    version = referral.published_version
    explicit = Event(
        configuration=referral, configuration_version=version, ctx={"customerId": "C42", "AC_language": "de"}
    )
    from_profile = Event(configuration=referral, configuration_version=version, ctx={"customerId": "C42"})
    assert event_language(event=explicit) == "de"
    assert event_language(event=from_profile) == "fr"


def test_enrichments_must_name_fields_of_their_target(referral):
    from campaign.exceptions import ValidationFailed

    broken = {
        **STRUCTURE,
        "enrichments": [
            {**STRUCTURE["enrichments"][1], "join": [{"event_field": "customerId", "profile_field": "email"}]}
        ],
    }
    with pytest.raises(ValidationFailed, match="'customerId' is not a field of the items of 'referrals'"):
        event_config_structure_set(config=referral, structure=broken)
