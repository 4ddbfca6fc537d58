"""Report reads go to the read replica (DATABASE_REPLICA_URL) when there is one: here a second
database holding other rollups than the primary, so the page shows which one it read."""

from datetime import UTC, datetime

import pytest

from events.models import EventConfiguration
from reports.models import DailyRollup, HourlyRollup

pytestmark = [pytest.mark.django_db(databases=["default", "replica"])]


@pytest.fixture
def replica(postgresql_only, settings):
    settings.REPORTS_READ_REPLICA = True


def test_the_report_page_reads_the_rollups_on_the_replica(client, administrator, cart_event, replica):
    day = datetime(2026, 11, 20, tzinfo=UTC)
    DailyRollup.objects.create(configuration=cart_event, day=day.date(), metric="status:processed", value=3)
    # The replica's copy of the configuration, and rollups the primary does not hold.
    EventConfiguration.objects.using("replica").create(
        pk=cart_event.pk, event_id=cart_event.event_id, label=cart_event.label
    )
    DailyRollup.objects.using("replica").create(
        configuration_id=cart_event.pk, day=day.date(), metric="status:processed", value=777
    )
    HourlyRollup.objects.using("replica").create(
        configuration_id=cart_event.pk, hour=day, metric="status:processed", value=777
    )
    client.force_login(administrator)
    page = client.get(f"/admin/reports/messages/{cart_event.message.pk}/?start=2026-11-20&end=2026-11-20")
    assert page.status_code == 200
    assert 'data-figure="sent">777<' in page.content.decode()


def test_without_a_replica_the_primary_is_read(client, administrator, cart_event, settings):
    settings.REPORTS_READ_REPLICA = False
    DailyRollup.objects.create(
        configuration=cart_event, day=datetime(2026, 11, 20).date(), metric="status:processed", value=3
    )
    client.force_login(administrator)
    page = client.get(f"/admin/reports/messages/{cart_event.message.pk}/?start=2026-11-20&end=2026-11-20")
    assert 'data-figure="sent">3<' in page.content.decode()
