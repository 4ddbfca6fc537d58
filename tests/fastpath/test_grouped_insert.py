"""Grouped INSERTs of the trigger path (fastpath/rows.py, `row_insert_grouped`) on real PostgreSQL:
the rows of concurrent requests are committed together, one bad row fails alone, the writer
connection survives the server closing it, and no call hangs: the lead of a group is handed over
without losing a wake-up, and every wait is bounded (a 503 past the bound)."""

import contextlib
import json
import threading
import time
from datetime import timedelta

import psycopg
import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from events.models import Event, EventStatus
from events.services import event_trigger
from events.services.trigger import _event_build, _inserted, configuration_for_trigger
from fastpath import rows
from tests.conftest import trigger_path

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


# --- No call hangs: the hand-over of a group, and the bounds of every wait ---------------------

LOCK = "LOCK TABLE events_event IN SHARE ROW EXCLUSIVE MODE"
# Only a guard against a hang: a thread still running after it fails the test.
HANG_GUARD = 60


@pytest.fixture(autouse=True)
def _groups_left_clean():
    """A test that failed may leave threads waiting in a group: they are woken (with an error), and
    the groups forgotten, so that neither the next tests nor the end of the session wait on them."""
    yield
    for group in list(rows._groups.values()):
        with group.lock:
            stuck, group.queue, group.busy = group.queue, [], False
        for waiter in stuck:
            waiter.lead, waiter.error = False, "woken by the test's cleanup"
            with contextlib.suppress(RuntimeError):
                waiter.wake.release()
    rows._groups.clear()


def start(name: str, target):
    """Run `target` in a daemon thread named `name` (its own Django connection, closed at its end);
    the thread and a list that receives its result or exception."""
    result: list = []

    def run():
        try:
            result.append(target())
        except Exception as exc:
            result.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread, result


def wait_until(condition, message: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.01)


def outcome(thread: threading.Thread, result: list):
    """The thread's result or exception, once it ended (failing the test if it did not)."""
    thread.join(HANG_GUARD)
    assert not thread.is_alive(), f"{thread.name} hangs"
    return result[0]


class PausingLock:
    """A group's lock that stops the thread named `name` right after its first release of it (its
    row then is queued, and it has not looked yet whether it leads) until `go` is set."""

    def __init__(self, name: str):
        self._lock = threading.Lock()
        self.name, self.paused, self.go, self.stopped = name, threading.Event(), threading.Event(), False

    def acquire(self, *args, **kwargs):
        return self._lock.acquire(*args, **kwargs)

    def release(self):
        self._lock.release()
        if not self.stopped and threading.current_thread().name == self.name:
            self.stopped = True
            self.paused.set()
            self.go.wait(HANG_GUARD)

    def __enter__(self):
        self._lock.acquire()
        return self

    def __exit__(self, *exc_info):
        self.release()


def pending_columns(cart_event) -> tuple:
    return _inserted(configuration_for_trigger(event_id=cart_event.event_id), EventStatus.PENDING)


def test_a_thread_handed_the_lead_before_it_waited_leaves_no_thread_waiting(cart_event):
    """The hang of the benchmark: a thread whose row queued behind the INSERT in flight is handed
    the lead before it reaches its wait. It used to see the lead at once and run its INSERT, then
    release its own wake-up lock a second time (the hand-over had released it already): the
    RuntimeError skipped the wake-ups of its group, whose threads, and every later one of the
    process, waited forever (a gunicorn worker with all its threads there answers nothing)."""
    group = rows._Group()
    group.lock = PausingLock("follower")
    rows._groups[(Event, pending_columns(cart_event))] = group

    def trigger():
        return event_trigger(event_id=cart_event.event_id, payload=PAYLOAD)

    with own_connection() as locker, own_connection(autocommit=True) as observer:
        locker.execute(LOCK)
        leader = start("leader", trigger)
        wait_until(lambda: insert_waits(observer), "the leader's INSERT did not reach the lock")
        follower = start("follower", trigger)
        assert group.lock.paused.wait(10), "the follower's row did not queue"
        # The leader's INSERT goes through; the table is locked again once it committed.
        locker.rollback()
        locker.execute(LOCK)
        leader_event = outcome(*leader)
        # The leader has handed the group to the follower, which goes on only now.
        group.lock.go.set()
        wait_until(lambda: insert_waits(observer), "the follower's INSERT did not reach the lock")
        third = start("third", trigger)
        wait_until(lambda: len(group.queue) == 1, "the third row did not queue")
        locker.rollback()
        results = [leader_event, outcome(*follower), outcome(*third)]
    assert all(isinstance(event, Event) and event.pk for event in results), results
    # The group still serves the next calls.
    after = outcome(*start("after", trigger))
    assert isinstance(after, Event), after
    stored = set(Event.objects.values_list("pk", flat=True))
    assert stored == {event.pk for event in [*results, after]}


@pytest.fixture
def short_bound(monkeypatch):
    """Writes bounded by 1 s instead of 10 (the writer connection opens again with it, and after)."""
    monkeypatch.setattr(rows, "WRITE_TIMEOUT_SECONDS", 1.0)
    rows.rows_writer_close()
    yield
    rows.rows_writer_close()


def post_json(client, path: str, body):
    return client.post(path, json.dumps(body), content_type="application/json")


def test_inserts_held_up_past_the_bound_fail_with_503_and_the_next_ones_succeed(cart_event, api, short_bound):
    """A lock that another transaction keeps on the table (any write held up on the server) makes
    the calls fail with a 503, the one whose INSERT waits and those queued behind it alike, instead
    of hanging; nothing of them is stored, and the calls after it succeed."""

    def trigger():
        return event_trigger(event_id=cart_event.event_id, payload=PAYLOAD)

    with own_connection() as locker, own_connection(autocommit=True) as observer:
        locker.execute(LOCK)
        first = start("first", lambda: post_json(api, trigger_path(cart_event.event_id), PAYLOAD))
        wait_until(lambda: insert_waits(observer), "the first INSERT did not reach the lock")
        queued = [start(f"queued {i}", trigger) for i in range(3)]
        response = outcome(*first)
        others = [outcome(*call) for call in queued]
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "service_unavailable" and response["Retry-After"]
    assert all(isinstance(other, OperationalError) for other in others), others
    assert not Event.objects.exists()
    after = outcome(*start("after", trigger))
    assert isinstance(after, Event), after
    assert list(Event.objects.values_list("pk", flat=True)) == [after.pk]


def test_a_batch_held_up_past_the_bound_fails_with_503(cart_event, api, short_bound):
    path = f"{trigger_path(cart_event.event_id)}/batch"
    with own_connection() as locker:
        locker.execute(LOCK)
        response = outcome(*start("batch", lambda: post_json(api, path, {"events": [PAYLOAD] * 3})))
    assert response.status_code == 503, response.content
    assert not Event.objects.exists()
    response = outcome(*start("batch after", lambda: post_json(api, path, {"events": [PAYLOAD] * 3})))
    assert response.status_code == 200 and response.json()["accepted"] == 3
    assert Event.objects.count() == 3


def test_rows_queued_behind_an_insert_that_never_ends_leave_with_an_error(
    cart_event, short_bound, monkeypatch
):
    """The leader of a group stuck outside the database (a socket that never answers, say): the
    rows queued behind it leave their group after the bound, with an error (503), instead of
    waiting for it forever; once it is back, the group serves again."""
    entered, go = threading.Event(), threading.Event()
    writer_cursor = rows._writer_cursor

    def stuck_once(django_conn):
        if threading.current_thread().name == "stuck":
            entered.set()
            go.wait(HANG_GUARD)
        return writer_cursor(django_conn)

    monkeypatch.setattr(rows, "_writer_cursor", stuck_once)

    def trigger():
        return event_trigger(event_id=cart_event.event_id, payload=PAYLOAD)

    try:
        stuck = start("stuck", trigger)
        assert entered.wait(10), "the INSERT did not start"
        queued = [start(f"queued {i}", trigger) for i in range(3)]
        others = [outcome(*call) for call in queued]
    finally:
        go.set()
    assert all(isinstance(other, OperationalError) for other in others), others
    first = outcome(*stuck)
    after = outcome(*start("after", trigger))
    assert isinstance(first, Event) and isinstance(after, Event), (first, after)
    assert sorted(Event.objects.values_list("pk", flat=True)) == sorted([first.pk, after.pk])
