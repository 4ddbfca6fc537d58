"""Retention: old rows deleted in bounded batches, figures logged, and the reports unchanged
once the raw rows are gone; the logs of a sending outlive its event (REP-3: events 1 month, logs 6
months)."""

import logging
from dataclasses import asdict
from datetime import timedelta

import pytest
from anymail.signals import AnymailTrackingEvent
from django.utils import timezone

from delivery.feedback import tracking_record
from delivery.models import DeliveryAttempt, Exclusion, Interaction, TrackingEvent
from events.models import Event
from integrations.models import CallbackAttempt
from integrations.services import integration_create
from reports.models import DailyRollup, DomainRollup, HourlyRollup, RetentionRun
from reports.retention import retention_run
from reports.rollup import rollup_run
from reports.selectors import report_build

from .conftest import DAY, EXPECTED, EXPECTED_DOMAINS, EXPECTED_LINKS

pytestmark = pytest.mark.django_db


@pytest.fixture
def a_week(settings):
    # The fixture's events are about two weeks old: a week of retention deletes them all.
    settings.RETENTION_EVENTS_DAYS = settings.RETENTION_TRACKING_DAYS = settings.RETENTION_LOGS_DAYS = 7


def roll():
    rollup_run(now=timezone.now() + timedelta(minutes=5))


def rollup_rows():
    return (HourlyRollup.objects.count(), DailyRollup.objects.count(), DomainRollup.objects.count())


def report(config):
    return report_build(configuration_ids=[config.pk], start=DAY.date(), end=DAY.date())


def test_reports_stay_right_after_the_raw_rows_are_gone(counted, a_week, caplog):
    roll()
    before = rollup_rows()
    with caplog.at_level(logging.INFO, logger="reports.retention"):
        run = retention_run()
    assert not Event.objects.exists()
    assert not Interaction.objects.exists()
    assert not TrackingEvent.objects.exists()
    assert run.deleted["events.Event"] == 10 and run.deleted["delivery.Interaction"] == 11
    assert run.deleted["delivery.TrackingEvent"] == 3
    assert not run.more
    assert "retention: deleted 10 events.Event" in caplog.text
    assert rollup_rows() == before
    assert asdict(report(counted).figures) == EXPECTED
    assert report(counted).domains == EXPECTED_DOMAINS and report(counted).links == EXPECTED_LINKS
    # Rolling up again adds nothing.
    roll()
    assert rollup_rows() == before
    assert asdict(report(counted).figures) == EXPECTED


def test_rows_the_rollup_has_not_counted_yet_are_kept(counted, a_week):
    run = retention_run()
    assert Event.objects.count() == 10
    assert run.deleted.get("events.Event", 0) == 0
    assert Interaction.objects.count() == 11


def test_batches_are_bounded_and_the_next_run_goes_on(counted, a_week, settings):
    settings.RETENTION_BATCH_SIZE = 3
    settings.RETENTION_MAX_BATCHES = 2
    roll()
    first = retention_run()
    assert first.deleted["events.Event"] == 6 and first.more
    second = retention_run()
    assert second.deleted["events.Event"] == 4
    assert not Event.objects.exists()
    assert RetentionRun.objects.count() == 2


def test_zero_days_keeps_a_kind_forever(counted, settings):
    settings.RETENTION_EVENTS_DAYS = 0
    settings.RETENTION_TRACKING_DAYS = 7
    roll()
    retention_run()
    assert Event.objects.count() == 10
    assert not Interaction.objects.exists()


def test_recent_rows_are_kept(counted):
    roll()
    retention_run()
    assert Event.objects.count() == 10 and Interaction.objects.count() == 11


@pytest.fixture
def logged(counted):
    """The logs of the fixture's events, written as the delivery path writes them (with the event's
    PKey and configuration), when each event finished: an attempt, or an exclusion for the ignored
    one, and a status callback each."""
    integration = integration_create(name="Shop website").integration
    for event in Event.objects.filter(configuration=counted):
        keys = {"event": event, "event_pkey": event.pkey, "configuration_id": event.configuration_id}
        if event.status == "ignored":
            row = Exclusion.objects.create(
                **keys, channel="email", address=event.email, reason="denylist", detail="denylisted"
            )
            Exclusion.objects.filter(pk=row.pk).update(created_at=event.processed_at)
        else:
            DeliveryAttempt.objects.create(
                **keys,
                number=1,
                channel="email",
                address=event.email,
                started_at=event.processed_at,
                duration_ms=5,
                outcome="sent",
            )
        row = CallbackAttempt.objects.create(
            **keys,
            integration=integration,
            event_status=event.status,
            url="https://shop.example.com/hooks",
            result="delivered",
            response_status=200,
        )
        CallbackAttempt.objects.filter(pk=row.pk).update(created_at=event.processed_at)
    return counted


def logs():
    return {
        model.__name__: sorted(model.objects.values_list("event_id", "event_pkey", "configuration_id"))
        for model in (DeliveryAttempt, Exclusion, TrackingEvent, CallbackAttempt)
    }


def test_the_logs_outlive_their_events_and_go_with_the_logs_retention(logged, settings):
    # The fixture's events are about two weeks old: a week for the events, half a year for the logs.
    settings.RETENTION_EVENTS_DAYS = 7
    pkeys = dict(Event.objects.values_list("pk", "pkey"))
    roll()
    before = rollup_rows()
    first = report(logged)
    kept = logs()
    assert [len(rows) for rows in kept.values()] == [9, 1, 3, 10]

    run = retention_run()
    assert run.deleted["events.Event"] == 10
    assert not Event.objects.exists()
    assert run.deleted["delivery.DeliveryAttempt"] == run.deleted["delivery.TrackingEvent"] == 0
    # Every log is still there, with the PKey and the configuration of its event (gone).
    assert logs() == {
        name: sorted((None, pkeys[event_id], configuration_id) for event_id, _, configuration_id in rows)
        for name, rows in kept.items()
    }
    assert {pkey for _, pkey, _ in logs()["DeliveryAttempt"]} == {
        pkeys[pk] for pk, _, _ in kept["DeliveryAttempt"]
    }
    # The reports count the same, once more after another rollup (nothing counted twice).
    roll()
    assert rollup_rows() == before
    again = report(logged)
    assert asdict(again.figures) == asdict(first.figures) == EXPECTED
    assert again.domains == first.domains == EXPECTED_DOMAINS

    # Half a year later the logs' retention deletes them, by their own time.
    later = retention_run(now=timezone.now() + timedelta(days=settings.RETENTION_LOGS_DAYS))
    assert later.deleted["delivery.DeliveryAttempt"] == 9
    assert later.deleted["delivery.Exclusion"] == 1
    assert later.deleted["delivery.TrackingEvent"] == 3
    assert later.deleted["integrations.CallbackAttempt"] == 10
    assert not any(logs().values())
    final = report(logged)
    assert asdict(final.figures) == EXPECTED and final.domains == EXPECTED_DOMAINS


def test_the_logs_retention_goes_in_bounded_batches(logged, settings):
    settings.RETENTION_EVENTS_DAYS = 0
    settings.RETENTION_LOGS_DAYS = 7
    settings.RETENTION_BATCH_SIZE = 4
    settings.RETENTION_MAX_BATCHES = 2
    roll()
    first = retention_run()
    assert first.deleted["delivery.DeliveryAttempt"] == 8 and first.more
    assert Event.objects.count() == 10
    second = retention_run()
    assert second.deleted["delivery.DeliveryAttempt"] == 1
    assert not DeliveryAttempt.objects.exists() and not CallbackAttempt.objects.exists()
    # The events themselves stay, under their own setting.
    assert Event.objects.count() == 10


def test_feedback_the_rollup_has_not_counted_yet_is_kept(logged, settings):
    settings.RETENTION_LOGS_DAYS = 7
    run = retention_run()
    assert run.deleted["delivery.TrackingEvent"] == 0 and TrackingEvent.objects.count() == 3
    assert run.deleted["delivery.DeliveryAttempt"] == 9


def test_late_feedback_of_a_deleted_event_is_counted_once(logged, settings):
    """A bounce arriving after the event's retention finds its sending through the attempt, which
    outlives the event: kept with the PKey and counted once, for the message it was about."""
    settings.RETENTION_EVENTS_DAYS = 7
    e1 = DeliveryAttempt.objects.get(address="e1@a.example")
    DeliveryAttempt.objects.filter(pk=e1.pk).update(provider_message_id="<e1@mc.example>")
    e1.refresh_from_db()
    roll()
    retention_run()
    assert not Event.objects.exists()
    late = tracking_record(
        esp_name="postmark",
        esp_event=AnymailTrackingEvent(
            event_type="bounced",
            message_id=e1.provider_message_id,
            recipient=e1.address,
            timestamp=DAY + timedelta(hours=20),
            mta_response="550 5.1.1 The email account does not exist",
        ),
    )
    assert (late.event_id, late.event_pkey, late.configuration_id) == (None, e1.event_pkey, logged.pk)
    roll()
    roll()
    figures = asdict(report(logged).figures)
    assert figures["bounces_hard"] == EXPECTED["bounces_hard"] + 1
