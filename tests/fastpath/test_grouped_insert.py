"""Grouped INSERTs of the trigger path (fastpath/rows.py, `row_insert_grouped`) on real PostgreSQL:
the rows of concurrent requests are committed together, one bad row fails alone, and the writer
connection survives the server closing it."""

import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import connection
from django.utils import timezone

from events.models import Event
from events.services import event_trigger
from events.services.trigger import _event_build, _inserted, configuration_for_trigger
from fastpath import rows

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("postgresql_only")]

# A day ahead: the dispatcher of a worker left running by other tests leaves these events alone.
PAYLOAD = {
    "email": "jane@example.com",
    "ctx": {"firstName": "Jane", "cartAmount": "$ 5", "lastProduct": "Hat"},
    "scheduled": (timezone.now() + timedelta(days=1)).isoformat(),
}


def own_connection(autocommit: bool = False) -> psycopg.Connection:
    """A connection of the test's own, as another process would hold."""
    return psycopg.connect(**connection.get_connection_params(), autocommit=autocommit)


def run_in_threads(targets: list) -> tuple[list, list]:
    """Start each callable in a thread of its own (with its own Django connection): the threads,
    and the list that receives their results or exceptions, in order."""
    results: list = [None] * len(targets)

    def run(index, target):
        try:
            results[index] = target()
        except Exception as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for thread in threads:
        thread.start()
    return threads, results


def queued() -> int:
    return sum(len(group.queue) for group in rows._groups.values())


def insert_waits(conn: psycopg.Connection) -> bool:
    """Whether the writer connection's INSERT is waiting on a lock (seen from an autocommit
    connection: a transaction sees the server's activity as of its first look)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'message-center writer'"
        " AND wait_event_type = 'Lock' AND datname = current_database()"
    ).fetchone()
    return row[0] > 0


def with_table_locked(targets: list) -> list:
    """Start `targets` while another connection holds a lock that makes INSERTs wait: the first
    INSERT waits on it and the others queue behind it; then let them go. Their results, in order."""
    with own_connection() as locker, own_connection(autocommit=True) as observer:
        locker.execute("LOCK TABLE events_event IN SHARE ROW EXCLUSIVE MODE")
        threads, results = run_in_threads(targets[:1])
        deadline = time.monotonic() + 10
        while not insert_waits(observer) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert insert_waits(observer), "the first INSERT did not reach the lock"
        more, later = run_in_threads(targets[1:])
        while queued() < len(targets) - 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert queued() == len(targets) - 1, "the other rows did not queue behind the first INSERT"
        locker.rollback()
    for thread in threads + more:
        thread.join(30)
    return results + later


def transactions_of(pkeys) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(DISTINCT xmin::text) FROM events_event WHERE pkey = ANY(%s)", [list(pkeys)]
        )
        return cursor.fetchone()[0]


def test_rows_of_concurrent_requests_are_committed_in_one_statement(cart_event):
    results = with_table_locked(
        [lambda: event_trigger(event_id=cart_event.event_id, payload=PAYLOAD) for _ in range(8)]
    )
    assert all(isinstance(event, Event) and event.pk for event in results), results
    stored = dict(Event.objects.values_list("pkey", "pk"))
    assert {event.pkey: event.pk for event in results} == stored
    # The first alone, the seven that waited for it together.
    assert transactions_of(stored) == 2


def test_a_row_refused_in_a_group_fails_alone(cart_event):
    config = configuration_for_trigger(event_id=cart_event.event_id)
    now = timezone.now()
    fields = {"email": "jane@example.com", "ctx": PAYLOAD["ctx"], "scheduled": None, "expiration": None}
    events = [_event_build(config, dict(fields), None, now) for _ in range(4)]
    events[2].pkey = events[1].pkey  # a unique key twice: the group's INSERT fails on it
    columns = _inserted(config, events[0].status)
    results = with_table_locked(
        [lambda event=event: rows.row_insert_grouped(event, fields=columns) or event for event in events]
    )
    # The three that waited together are inserted again one by one: of the two with the same key,
    # whichever comes first is stored, the other refused; the fourth is stored.
    assert isinstance(results[0], Event) and isinstance(results[3], Event)
    assert sorted(type(result).__name__ for result in results[1:3]) == ["Event", "IntegrityError"]
    stored = [result.pk for result in results if isinstance(result, Event)]
    assert sorted(Event.objects.values_list("pk", flat=True)) == sorted(stored)
    # The writer's connection and cursor, still open after the refused INSERT, take the next rows.
    writer_pid = rows._writer.conn.info.backend_pid
    after = event_trigger(event_id=cart_event.event_id, payload=PAYLOAD)
    assert rows._writer.conn.info.backend_pid == writer_pid
    assert Event.objects.filter(pk=after.pk, pkey=after.pkey).exists()


def test_the_writer_reconnects_when_the_server_closed_its_connection(cart_event):
    first = event_trigger(event_id=cart_event.event_id, payload=PAYLOAD)
    writer_pid = rows._writer.conn.info.backend_pid
    with own_connection() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [writer_pid])
        for _ in range(100):
            if not admin.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [writer_pid]).fetchone():
                break
            time.sleep(0.02)
    second = event_trigger(event_id=cart_event.event_id, payload=PAYLOAD)
    assert rows._writer.conn.info.backend_pid != writer_pid
    assert set(Event.objects.values_list("pkey", flat=True)) == {first.pkey, second.pkey}


def test_many_threads_inserting_at_once_all_finish_with_their_own_rows(cart_event):
    """24 threads x 40 triggers through the groups (bounded: 960 rows, 60 s at most)."""

    def many():
        return [event_trigger(event_id=cart_event.event_id, payload=PAYLOAD).pk for _ in range(40)]

    threads, results = run_in_threads([many] * 24)
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads), "a thread never got its row back"
    failures = [result for result in results if not isinstance(result, list)]
    assert failures == []
    pks = [pk for result in results for pk in result]
    assert len(pks) == len(set(pks)) == 960
    assert sorted(Event.objects.values_list("pk", flat=True)) == sorted(pks)
    assert transactions_of(Event.objects.values_list("pkey", flat=True)) < 960
