"""Retention: old rows deleted in bounded batches, figures logged, and the reports unchanged
once the raw rows are gone."""

import logging
from dataclasses import asdict
from datetime import timedelta

import pytest
from django.utils import timezone

from delivery.models import DeliveryAttempt, Interaction, TrackingEvent
from events.models import Event
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


def test_reports_stay_right_after_the_raw_rows_are_gone(counted, a_week, caplog):
    roll()
    before = rollup_rows()
    with caplog.at_level(logging.INFO, logger="reports.retention"):
        run = retention_run()
    assert not Event.objects.exists()
    assert not Interaction.objects.exists()
    assert not TrackingEvent.objects.exists()
    assert run.deleted["events.Event"] == 10 and run.deleted["delivery.Interaction"] == 11
    assert not run.more
    assert "retention: deleted 10 events.Event" in caplog.text
    assert rollup_rows() == before
    report = report_build(configuration_ids=[counted.pk], start=DAY.date(), end=DAY.date())
    assert asdict(report.figures) == EXPECTED
    assert report.domains == EXPECTED_DOMAINS and report.links == EXPECTED_LINKS


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
    assert not Event.objects.exists() and not DeliveryAttempt.objects.exists()
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
