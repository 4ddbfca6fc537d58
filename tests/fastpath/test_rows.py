"""The hot paths' INSERT and UPDATE helpers (fastpath/rows.py) store exactly what the ORM stores:
their quick conversions of text, keys, JSON and datetimes must give the database the same values
as the fields' own conversions. Runs on SQLite and on PostgreSQL (where the quick JSON and
datetime conversions apply)."""

import datetime as dt
import decimal
import uuid

import pytest
from django.db import connection
from django.utils import timezone

from delivery.models import AttemptOutcome, DeliveryAttempt, TrackingEvent
from events.models import Event, EventStatus
from fastpath.rows import row_insert, row_insert_grouped, rows_update, rows_update_insert
from tests.conftest import make_published_event

pytestmark = pytest.mark.django_db(transaction=True)

PARIS = dt.timezone(dt.timedelta(hours=2))
CTX = {
    "firstName": 'Zoë "the" ☃ <b>',
    "items": [{"sku": "H-1", "price": 12.5, "gift": True, "note": None}],
    "count": 3,
    "empty": {},
    "escapes": "line\nbreak\ttab\\slash",
}
COLUMNS = ("configuration", "configuration_version", "email", "ctx", "scheduled", "expiration", "status")


def make_event(config, **values) -> Event:
    return Event(
        **{
            "pkey": uuid.uuid4().hex,
            "configuration": config,
            "configuration_version_id": config.published_version_id,
            "email": "zoe@example.com",
            "ctx": CTX,
            "scheduled": dt.datetime(2026, 12, 1, 8, 30, 15, 123456, tzinfo=PARIS),
            "expiration": dt.datetime(2026, 12, 2, 6, 30, tzinfo=dt.UTC),
            "status": EventStatus.PAUSED,
            **values,
        }
    )


def stored(pk: int) -> tuple:
    """The row as the ORM reads it, and its ctx as the database prints it."""
    row = Event.objects.values(*COLUMNS).get(pk=pk)
    with connection.cursor() as cursor:
        cursor.execute("SELECT CAST(ctx AS text) FROM events_event WHERE id = %s", [pk])
        return row, cursor.fetchone()[0]


@pytest.fixture
def config():
    return make_published_event(event_id="EVTrows")


def test_row_insert_stores_what_save_stores(config):
    by_orm = make_event(config)
    by_orm.save()
    started = timezone.now()
    quick = make_event(config)
    row_insert(quick)

    assert quick.pk is not None and quick.pk != by_orm.pk
    orm_row, orm_ctx = stored(by_orm.pk)
    quick_row, quick_ctx = stored(quick.pk)
    assert quick_row == orm_row
    assert quick_row["status"] == "paused" and type(quick_row["status"]) is str
    assert quick_row["ctx"] == CTX
    assert quick_row["scheduled"] == dt.datetime(2026, 12, 1, 6, 30, 15, 123456, tzinfo=dt.UTC)
    assert quick_ctx == orm_ctx
    # auto_now_add / auto_now were applied, on the instance and in the row.
    created, updated = Event.objects.values_list("created_at", "updated_at").get(pk=quick.pk)
    assert started <= quick.created_at == created <= timezone.now()
    assert started <= quick.updated_at == updated <= timezone.now()


def test_row_insert_takes_the_fields_own_way_for_other_values(config):
    """A naive datetime (converted with a warning, as save() does) and a JSON string value."""
    naive = dt.datetime(2026, 12, 1, 8, 30)
    by_orm = make_event(config)
    by_orm.scheduled, by_orm.ctx = naive, "just text"
    with pytest.warns(RuntimeWarning, match="naive datetime"):
        by_orm.save()
    quick = make_event(config)
    quick.scheduled, quick.ctx = naive, "just text"
    with pytest.warns(RuntimeWarning, match="naive datetime"):
        row_insert(quick)
    assert stored(quick.pk) == stored(by_orm.pk)


def test_grouped_insert_stores_what_save_stores(config, postgresql_only):
    by_orm = make_event(config)
    by_orm.save()
    quick = make_event(config)
    row_insert_grouped(quick, fields=("pkey", *COLUMNS, "created_at", "updated_at"))
    assert stored(quick.pk) == stored(by_orm.pk)


def test_json_with_the_fields_encoder():
    """A JSONField's own encoder serialises what plain JSON cannot (dates, decimals, UUIDs)."""
    esp_event = {
        "at": dt.datetime(2026, 11, 27, 10, 0, tzinfo=dt.UTC),
        "cost": decimal.Decimal("0.0075"),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    }
    by_orm = TrackingEvent.objects.create(esp_name="test", event_type="delivered", esp_event=esp_event)
    quick = TrackingEvent(esp_name="test", event_type="delivered", esp_event=esp_event)
    row_insert(quick)
    assert TrackingEvent.objects.get(pk=quick.pk).esp_event == {
        "at": "2026-11-27T10:00:00Z",
        "cost": "0.0075",
        "id": "12345678-1234-5678-1234-567812345678",
    }
    by_orm.refresh_from_db()
    assert TrackingEvent.objects.get(pk=quick.pk).esp_event == by_orm.esp_event


def test_rows_update_with_choices_members(config):
    event = make_event(config, status=EventStatus.PENDING)
    event.save()
    pending = {"id": event.pk, "status": EventStatus.PENDING}
    assert rows_update(Event, where=pending, status=EventStatus.PROCESSED) == 1
    assert rows_update(Event, where=pending, status=EventStatus.IGNORED) == 0
    assert Event.objects.values_list("status", flat=True).get(pk=event.pk) == "processed"


def test_rows_update_insert_moves_the_row_and_logs_in_one_statement(config):
    """The event's move and its attempt's row in one statement: the attempt is written whether or
    not the move matched (a send is logged even when another worker moved the event meanwhile),
    and the count says whether it did. The row is the one the ORM would store."""
    event = make_event(config, status=EventStatus.PROCESSING)
    event.save()
    started = dt.datetime(2026, 12, 3, 9, 0, 0, 250000, tzinfo=PARIS)

    def attempt(number: int) -> DeliveryAttempt:
        return DeliveryAttempt(
            event=event,
            number=number,
            channel="email",
            address="zoë@example.com",
            started_at=started,
            duration_ms=12,
            outcome=AttemptOutcome.SENT,
            provider_message_id="<x@y>",
        )

    by_orm = attempt(1)
    by_orm.save()
    processing = {"id": event.pk, "status": EventStatus.PROCESSING}
    first, again = attempt(2), attempt(3)
    assert rows_update_insert(Event, where=processing, instance=first, status=EventStatus.PROCESSED) == 1
    assert rows_update_insert(Event, where=processing, instance=again, status=EventStatus.IGNORED) == 0

    assert Event.objects.values_list("status", flat=True).get(pk=event.pk) == "processed"
    assert first.pk and again.pk and len({by_orm.pk, first.pk, again.pk}) == 3
    columns = [f.attname for f in DeliveryAttempt._meta.concrete_fields if f.attname not in ("id", "number")]
    rows = {row.pop("number"): row for row in DeliveryAttempt.objects.values(*columns, "number")}
    assert rows[2] == rows[3] == rows[1]
    assert rows[1]["started_at"] == started and rows[1]["retry_at"] is None
