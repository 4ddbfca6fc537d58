"""The fatigue count is exact under concurrency: several senders checking the same profile at the
same moment cannot all pass a threshold of 1 (the profile's row lock orders them), whether they
are threads with their own connections or the two processes of a real Celery worker."""

import threading
import time

import pytest
from django.db import connection

from events.models import Event, EventStatus
from events.services import event_trigger
from tests.profiles.helpers import jane, profile_based_event
from typologies.models import Contact, RuleKind, Typology, TypologyRule
from typologies.selectors import typology_rules
from typologies.services import contact_reserve

pytestmark = pytest.mark.django_db(transaction=True)

SENDERS = 8


def cap_of_one(channel="", message=None):
    # Made here, not read from the migration's data: transactional tests run after others flushed it.
    rule = TypologyRule.objects.create(
        label="One a day", kind=RuleKind.FATIGUE, channel=channel, threshold=1, period=1
    )
    typology = Typology.objects.create(name="capped", label="Capped")
    typology.rules.add(rule)
    if message is not None:
        message.typology = typology
        message.save()
    return typology


def test_threads_racing_for_one_profile_send_once():
    typology = cap_of_one()
    rules = typology_rules(typology=typology, channel="email")
    profile = jane()
    start = threading.Barrier(SENDERS)
    outcomes = []

    def sender(number):
        try:
            start.wait(timeout=30)
            outcomes.append(
                contact_reserve(
                    typology=typology,
                    rules=rules,
                    channel="email",
                    profile_id=profile.pk,
                    key=f"event-{number}",
                )
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=sender, args=(number,)) for number in range(SENDERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(outcomes) == SENDERS
    passed = [contact for hit, contact in outcomes if hit is None]
    refused = [hit for hit, contact in outcomes if hit is not None]
    assert len(passed) == 1 and Contact.objects.count() == 1
    assert {hit.detail for hit in refused} == {"fatigue: 1 message in 1 day, threshold 1"}


@pytest.mark.e2e
def test_two_worker_processes_send_one_message_under_a_threshold_of_one(celery_worker, smtp_server):
    smtp_server.messages.clear()
    config = profile_based_event(
        event_id="EVTfatigueRace",
        channel="email",
        content={"sender_email": "shop@example.com", "subject": "Hi", "html": "<p>Hi</p>", "text": "Hi"},
    )
    cap_of_one(channel="email", message=config.message)
    jane()
    pks = [
        event_trigger(event_id=config.event_id, payload={"ctx": {"customerId": "C-1"}}).pk for _ in range(12)
    ]
    events = Event.objects.filter(pk__in=pks)
    deadline = time.monotonic() + 60
    while events.exclude(status__in=[EventStatus.PROCESSED, EventStatus.IGNORED]).exists():
        assert time.monotonic() < deadline, list(events.values_list("status", flat=True))
        time.sleep(0.2)
    statuses = sorted(events.values_list("status", flat=True))
    assert statuses == [EventStatus.IGNORED] * 11 + [EventStatus.PROCESSED]
    assert len(smtp_server.messages) == 1
    assert Contact.objects.count() == 1
