"""Row reads and writes for the hot paths (the trigger endpoint, the delivery of each event),
with SQL built once per model instead of per call.

On the 2-core benchmark machine, compiling an ORM query costs 0.6 to 1 ms while running it on
PostgreSQL costs 0.08 ms: the trigger endpoint and the worker would spend most of their time
compiling the same few statements. These helpers keep the ORM's models, column names and value
conversions (so a migration changes them too; for the common values of an INSERT, quicker functions
that give the same, tested against the ORM) and only cache the SQL text. Everything else uses the
ORM.
"""

import json
import os
import select
import threading
from datetime import datetime
from functools import lru_cache
from typing import TypeVar

import psycopg
from django.db import DEFAULT_DB_ALIAS, OperationalError, connection, connections, models, transaction
from django.db.models import Model
from psycopg.types.json import Jsonb

M = TypeVar("M", bound=Model)


@lru_cache(maxsize=64)
def _select_sql(
    model: type[Model], fields: tuple[str, ...], where: tuple[str, ...]
) -> tuple[str, list, list]:
    meta, quote = model._meta, connection.ops.quote_name
    attnames = [meta.get_field(name).attname for name in fields]
    # The conversions the ORM applies to each column read (the backend's, then the field's).
    converters = []
    for name in fields:
        field = meta.get_field(name)
        column = field.get_col(meta.db_table)
        converters.append(
            (column, connection.ops.get_db_converters(column) + column.get_db_converters(connection))
        )
    columns = ", ".join(quote(meta.get_field(name).column) for name in fields)
    conditions = " AND ".join(
        f"{quote(meta.get_field(name.removesuffix('__isnull')).column)} IS NULL"
        if name.endswith("__isnull")
        else f"{quote(meta.get_field(name).column)} = %s"
        for name in where
    )
    sql = f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {conditions} LIMIT 1"  # noqa: S608
    return sql, attnames, converters


def row_get(model: type[M], *, fields: tuple[str, ...], **where) -> M | None:
    """The row of `model` matching `where` (`name=value`, or `name__isnull=True`), as an instance
    with only `fields` loaded (the others load on first access, as with `.only()`); None if none.
    Meant for lookups by a unique key."""
    names = tuple(where)
    if any(name.endswith("__isnull") and value is not True for name, value in where.items()):
        raise ValueError("row_get supports `name__isnull=True` only")
    sql, attnames, converters = _select_sql(model, fields, names)
    params = [value for name, value in where.items() if not name.endswith("__isnull")]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    conn = connections[DEFAULT_DB_ALIAS]
    values = []
    for value, (column, functions) in zip(row, converters, strict=True):
        for convert in functions:
            value = convert(value, column, conn)
        values.append(value)
    return model.from_db(conn.alias, attnames, values)


def _inserted_fields(model: type[Model], names: tuple[str, ...] | None) -> tuple:
    """The fields an INSERT of `model` sends: `names`, or all but the primary key when None."""
    meta = model._meta
    if names is None:
        return tuple(field for field in meta.concrete_fields if not field.primary_key)
    return tuple(meta.get_field(name) for name in names)


@lru_cache(maxsize=256)
def _insert_sql(model: type[Model], names: tuple[str, ...] | None, rows: int = 1) -> tuple[str, tuple]:
    """The INSERT of `rows` rows of `names` (all but the primary key when None), and the plan of
    its values (`_insert_values`)."""
    meta, quote = model._meta, connection.ops.quote_name
    fields = _inserted_fields(model, names)
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join([f"({', '.join(['%s'] * len(fields))})"] * rows)
    sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {placeholders}"  # noqa: S608
    if connection.features.can_return_columns_from_insert:
        sql += f" RETURNING {quote(meta.pk.column)}"
    plan = tuple((field, field.attname, _quick_conversion(field, connection.vendor)) for field in fields)
    return sql, plan


# What a quick conversion returns for a value it does not handle: the field's own then runs.
_SLOW = object()


def _plain_text(value):
    """A str subclass (a TextChoices member) as the plain text it holds, other values as they are:
    the database gets the same text, and psycopg looks the adapter of a class it does not know up
    through the class's MRO on every call (10 µs for an event's status on the benchmark machine)."""
    return str.__str__(value) if isinstance(value, str) and type(value) is not str else value


def _text(field, instance, value):
    return _plain_text(value) if isinstance(value, str) else _SLOW


def _key(field, instance, value):
    return value if type(value) is int else _SLOW


def _json_text(field, instance, value):
    # The JSON text, which PostgreSQL parses into jsonb as it parses what Django sends (psycopg's
    # Jsonb wrapper, whose Python dumper cost 15 µs per event).
    return json.dumps(value, cls=field.encoder) if type(value) in (dict, list) else _SLOW


def _aware_datetime(field, instance, value):
    # Django sends aware datetimes to PostgreSQL as they are, after `pre_save` (auto_now).
    if field.auto_now or field.auto_now_add:
        value = field.pre_save(instance, True)
    if value is None or (type(value) is datetime and value.utcoffset() is not None):
        return value
    return _SLOW


def _quick_conversion(field, vendor: str):
    """A function `(field, instance, value)` giving what `field.get_db_prep_save(field.pre_save(
    instance, True), connection)` gives for the common values of `field`, and `_SLOW` for the
    others; None for fields without one."""
    if type(field) in (models.CharField, models.TextField, models.EmailField):
        return _text
    if isinstance(field, models.ForeignKey) and isinstance(
        field.target_field, models.AutoField | models.BigAutoField
    ):
        return _key
    if vendor == "postgresql" and type(field) is models.JSONField:
        return _json_text
    if vendor == "postgresql" and type(field) is models.DateTimeField:
        return _aware_datetime
    return None


def _insert_values(instance: Model, plan: tuple, conn) -> list:
    """The instance's values of the plan's fields for an INSERT, as `save()` converts them: the field's own
    conversion costs more than the rest of a trigger call's INSERT, so the common values (text,
    keys, JSON objects, aware datetimes) take a quicker way to the same result."""
    values = []
    for field, attname, quick in plan:
        value = getattr(instance, attname)
        if quick is not None:
            value = quick(field, instance, value)
        if value is _SLOW or quick is None:
            value = field.get_db_prep_save(field.pre_save(instance, True), conn)
        values.append(value)
    return values


def _mark_saved(instance: Model, pk, conn) -> None:
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = conn.alias


def row_insert(instance: Model, *, fields: tuple[str, ...] | None = None) -> None:
    """INSERT one new instance (field defaults, `auto_now` and value conversions applied as by
    `save(force_insert=True)`; no signals: the models inserted here have none) and set its pk.
    With `fields`, only those columns are sent: the database fills the others with their
    `db_default`, which must equal what the instance holds."""
    sql, plan = _insert_sql(type(instance), fields)
    # The thread's connection itself, not the `connection` proxy that each field would look up again.
    conn = connections[DEFAULT_DB_ALIAS]
    values = _insert_values(instance, plan, conn)
    with conn.cursor() as cursor:
        cursor.execute(sql, values)
        pk = cursor.fetchone()[0] if conn.features.can_return_columns_from_insert else cursor.lastrowid
    _mark_saved(instance, pk, conn)


# At most this many rows of concurrent requests in one grouped INSERT.
GROUP_MAX_ROWS = 64
# The bound, in seconds, of each wait of a write of the trigger path: the writer connection's
# connect and its INSERT on the server (its statement_timeout, lock waits included), a thread's wait
# for that connection or for its turn in its group, the batch's COPY. Past it the call fails with a
# 503 (the client retries) instead of hanging, whatever holds the write up: a lock of another
# transaction, an overloaded server, a connection that stopped answering.
WRITE_TIMEOUT_SECONDS = 10.0


class _Waiter:
    """One thread's row in a group: its values, then its pk, or `_ALONE`, or why it failed."""

    __slots__ = ("error", "lead", "pk", "taken", "values", "wake")

    def __init__(self, values: list):
        self.values, self.lead, self.pk, self.error = values, False, None, None
        self.taken = False  # in the rows of an INSERT (no longer in its group's queue)
        # Held from the start; released once per wake-up (its row is done, or it leads now), always
        # under its group's lock, and each release taken by one acquire of its own thread: a plain
        # lock is several times cheaper than a threading.Event, but a second release before that
        # acquire raises (and lost the wake-ups of the rest of the group).
        self.wake = threading.Lock()
        self.wake.acquire()


class _Group:
    """The rows of one model and column set waiting for the INSERT in flight to end."""

    def __init__(self):
        self.lock = threading.Lock()
        self.queue: list[_Waiter] = []
        self.busy = False  # an INSERT of this group is in flight (then `queue` waits for it)


class _Writer:
    """This process's connection for grouped INSERTs (one INSERT at a time, under `lock`), and its
    one cursor (a psycopg cursor costs 20 µs to make, a fifth of the INSERT's time in Python)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.conn = None
        self.cursor = None
        self.pid = None
        self.target = None  # where Django's connection pointed when this one opened
        self.poller = None  # polls its socket (select.poll: no limit on the descriptor's number)


_groups: dict[tuple, _Group] = {}
_groups_lock = threading.Lock()
_writer = _Writer()
# The error of a grouped INSERT that is not a broken connection: each row is then inserted again on
# its own, through Django's connection, so that one row's error is only its own request's.
_ALONE = object()


def row_insert_grouped(instance: Model, *, fields: tuple[str, ...]) -> None:
    """`row_insert`, with the rows of this process's concurrent threads joined into one INSERT
    (group commit) on PostgreSQL.

    A thread that finds no INSERT of this kind in flight runs its own at once; the rows of threads
    that come while it runs wait for it, then the first of them inserts them all in one statement.
    Each caller returns once its row is committed (one statement in autocommit is its own
    transaction), with its pk set, or raises its error. No thread waits when there is no
    concurrency; under load a process makes one round trip and one commit for many rows instead of
    two round trips (Django's health check, the INSERT) and one commit per row.

    The INSERTs go through one connection of the process's own (`_writer_cursor`). If one
    fails on a live connection (a constraint, a value), each of its rows is inserted again on its
    own through Django's connection; if the connection broke during the INSERT, or the INSERT or a
    wait outlasted `WRITE_TIMEOUT_SECONDS`, each caller gets an OperationalError (503: the client
    retries, with its Idempotency-Key if it sent one; when the INSERT had started, whether it was
    committed is unknown). Inside a transaction (whose rows other threads must not commit) and on
    other databases it is `row_insert`."""
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql" or conn.in_atomic_block:
        row_insert(instance, fields=fields)
        return
    model = type(instance)
    waiter = _Waiter(_insert_values(instance, _insert_sql(model, fields)[1], conn))
    key = (model, fields)
    group = _groups.get(key)
    if group is None:
        with _groups_lock:
            group = _groups.setdefault(key, _Group())
    with group.lock:
        group.queue.append(waiter)
        lead = not group.busy
        group.busy = True
    # Whether this thread leads is decided here, under the lock, once: a thread whose row queued
    # learns that it leads only from its wake-up (`_group_wait`), never by looking at `lead` before
    # it: the thread handing the lead over may not have released its wake-up lock yet.
    if lead:
        _group_flush(group, model, fields, conn)
    _group_wait(group, waiter, model, fields, conn)
    if waiter.error is _ALONE:
        row_insert(instance, fields=fields)
    elif waiter.error is not None:
        raise OperationalError(waiter.error)
    else:
        _mark_saved(instance, waiter.pk, conn)


def _group_wait(group: _Group, waiter: _Waiter, model: type[Model], fields: tuple, django_conn) -> None:
    """Wait until the waiter's row is done (its pk or error set), running the group's next INSERT
    whenever the lead is handed to it. Each wait is bounded: a row still queued after
    `WRITE_TIMEOUT_SECONDS` leaves its group (nothing of it was sent); a row taken in an INSERT that
    does not end in time (the INSERT is itself bounded: this is the last resort) gives up with an
    unknown outcome. Either way the call fails instead of hanging."""
    while True:
        if not waiter.wake.acquire(timeout=WRITE_TIMEOUT_SECONDS):
            with group.lock:
                if not waiter.taken and not waiter.lead:
                    group.queue.remove(waiter)
                    waiter.error = "The database did not take the row in time; nothing was stored."
                    return
            # Its INSERT is in flight (its end wakes it up), or the lead was handed to it just now
            # (its wake-up lock is released already: the hand-over releases it under the lock).
            if not waiter.wake.acquire(timeout=3 * WRITE_TIMEOUT_SECONDS + 1):
                waiter.error = "The INSERT did not end in time: whether it was committed is unknown."
                return
        if not waiter.lead:
            return
        waiter.lead = False
        _group_flush(group, model, fields, django_conn)


def _group_flush(group: _Group, model: type[Model], fields: tuple[str, ...], django_conn) -> None:
    """Insert the rows waiting (the calling thread's first), then hand the rows that came meanwhile
    to the first of their threads."""
    with group.lock:
        batch, group.queue = group.queue[:GROUP_MAX_ROWS], group.queue[GROUP_MAX_ROWS:]
        for waiter in batch:
            waiter.taken = True
    try:
        sql, _ = _insert_sql(model, fields, len(batch))
        params = [value for waiter in batch for value in waiter.values]
        if not _writer.lock.acquire(timeout=WRITE_TIMEOUT_SECONDS):
            raise psycopg.OperationalError("the writer connection stayed busy")
        try:
            cursor = _writer_cursor(django_conn)
            try:
                cursor.execute(sql, params)
                pks = [row[0] for row in cursor.fetchall()]  # in VALUES order, as bulk_create relies on
            except psycopg.Error:
                if cursor.connection.broken or cursor.connection.closed:
                    _writer_close()
                raise
        finally:
            _writer.lock.release()
        for waiter, pk in zip(batch, pks, strict=True):
            waiter.pk = pk
    except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
        # The connection failed, or the INSERT outlasted its statement_timeout (QueryCanceled).
        for waiter in batch:
            waiter.error = f"The database connection failed or did not answer in time: {exc}"
    except Exception:
        for waiter in batch:
            waiter.error = _ALONE
    finally:
        # Every wake-up under the group's lock: a thread that waited too long sees, under it, whether
        # its row is still queued (it leaves) or its wake-up is given already (it takes it).
        with group.lock:
            # The next INSERT first: its leader starts it while this batch's threads wake up.
            if group.queue:
                following = group.queue[0]
                following.lead = True
                following.wake.release()
            else:
                group.busy = False
            for waiter in batch:
                if waiter.pk is None and waiter.error is None:  # interrupted (BaseException): unknown
                    waiter.error = "The INSERT was interrupted."
                waiter.wake.release()


def _writer_cursor(django_conn):
    """The writer connection's cursor, the connection (re)opened with Django's parameters when this
    process has none, when Django's connection points elsewhere now, or when the server closed it
    meanwhile (a restart): an idle connection's socket turns readable then, which costs one `poll`
    to see instead of the round trip of Django's health check. Its connect and its statements are
    bounded by `WRITE_TIMEOUT_SECONDS`."""
    conn, config = _writer.conn, django_conn.settings_dict
    target = (config["HOST"], config["PORT"], config["NAME"], config["USER"])
    if conn is not None and _writer.pid == os.getpid():
        if not conn.closed and target == _writer.target and not _writer.poller.poll(0):
            return _writer.cursor
        _writer_close()
    params = django_conn.get_connection_params()
    params.setdefault("connect_timeout", max(2, round(WRITE_TIMEOUT_SECONDS)))
    conn = psycopg.connect(**params, autocommit=True, application_name="message-center writer")
    try:
        django_conn._configure_role(conn)
        conn.execute(f"SET statement_timeout = {_timeout_ms()}")
    except BaseException:
        conn.close()
        raise
    _writer.poller = select.poll()
    _writer.poller.register(conn.fileno(), select.POLLIN)
    _writer.conn, _writer.cursor, _writer.pid, _writer.target = conn, conn.cursor(), os.getpid(), target
    return _writer.cursor


def _timeout_ms() -> int:
    return max(1, round(WRITE_TIMEOUT_SECONDS * 1000))


def _writer_close() -> None:
    conn, _writer.conn, _writer.cursor = _writer.conn, None, None
    if conn is not None and _writer.pid == os.getpid():
        conn.close()


def rows_writer_close() -> None:
    """Close this process's writer connection (it reopens on the next grouped INSERT)."""
    with _writer.lock:
        _writer_close()


@lru_cache(maxsize=64)
def _update_sql(model: type[Model], fields: tuple[str, ...], where: tuple[str, ...]) -> tuple[str, list]:
    meta, quote = model._meta, connection.ops.quote_name
    assignments = ", ".join(f"{quote(meta.get_field(name).column)} = %s" for name in fields)
    conditions = " AND ".join(f"{quote(meta.get_field(name).column)} = %s" for name in where)
    sql = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {conditions}"  # noqa: S608
    return sql, [meta.get_field(name) for name in (*fields, *where)]


def rows_update(model: type[Model], *, where: dict, **values) -> int:
    """UPDATE the rows of `model` matching `where` (`name=value`, equality only) to `values` (plain
    values, converted as `QuerySet.update` converts them; no expressions, no `auto_now`); returns
    how many rows matched, as `QuerySet.update` does. Meant for a row by its key, with a condition
    on its state (`where={"id": pk, "status": FROM}`)."""
    sql, fields = _update_sql(model, tuple(values), tuple(where))
    conn = connections[DEFAULT_DB_ALIAS]
    params = [
        _plain_text(field.get_db_prep_save(value, conn))
        for field, value in zip(fields, [*values.values(), *where.values()], strict=True)
    ]
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@lru_cache(maxsize=64)
def _update_insert_sql(
    model: type[Model], fields: tuple[str, ...], where: tuple[str, ...], inserted: type[Model]
) -> tuple[str, list, tuple]:
    update, update_fields = _update_sql(model, fields, where)
    insert, plan = _insert_sql(inserted, None)
    sql = (
        f"WITH moved AS ({update} RETURNING 1), added AS ({insert}) "  # noqa: S608 - model names only
        f"SELECT (SELECT count(*) FROM moved), (SELECT * FROM added)"
    )
    return sql, update_fields, plan


def rows_update_insert(model: type[Model], *, where: dict, instance: Model, **values) -> int:
    """`rows_update` of one row and `row_insert` of `instance` (every column) in one statement: one
    round trip, and no transaction of its own around the two. Both are done whether or not the
    row matched; returns how many rows matched, and sets the instance's pk. PostgreSQL only;
    elsewhere both run in a transaction."""
    conn = connections[DEFAULT_DB_ALIAS]
    if conn.vendor != "postgresql":
        with transaction.atomic():
            row_insert(instance)
            return rows_update(model, where=where, **values)
    sql, fields, plan = _update_insert_sql(model, tuple(values), tuple(where), type(instance))
    params = _insert_values(instance, plan, conn)
    params = [
        _plain_text(field.get_db_prep_save(value, conn))
        for field, value in zip(fields, [*values.values(), *where.values()], strict=True)
    ] + params
    with conn.cursor() as cursor:
        cursor.execute(sql, params)
        moved, pk = cursor.fetchone()
    _mark_saved(instance, pk, conn)
    return moved


def rows_copy(instances: list[Model], *, fields: tuple[str, ...] | None = None) -> None:
    """INSERT many new instances of one model in one statement, without setting their pks: COPY
    on PostgreSQL (the batch endpoint's thousand rows spent 0.3 ms each in `bulk_create`'s value
    preparation and psycopg's array escaping), `bulk_create` elsewhere. Values are the instances'
    attributes after `pre_save` (defaults and `auto_now`); JSON fields are sent as jsonb. With
    `fields`, only those columns are sent on PostgreSQL (as with `row_insert`: the others get their
    `db_default`, which must equal what the instances hold). On PostgreSQL the statements of the
    transaction from there on are bounded by `WRITE_TIMEOUT_SECONDS` (a COPY waiting on a lock
    fails with an OperationalError, a 503, instead of hanging)."""
    if not instances:
        return
    model = type(instances[0])
    if connection.vendor != "postgresql":
        model.objects.bulk_create(instances)
        return
    meta, quote = model._meta, connection.ops.quote_name
    fields = _inserted_fields(model, fields)
    is_json = [field.get_internal_type() == "JSONField" for field in fields]
    columns = ", ".join(quote(field.column) for field in fields)
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        # For this transaction only (the caller's, if it is in one).
        cursor.execute(f"SET LOCAL statement_timeout = {_timeout_ms()}")
        # psycopg's own cursor: its errors made Django's (an OperationalError is then a 503).
        with (
            connection.wrap_database_errors,
            cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy,
        ):
            for instance in instances:
                values = [field.pre_save(instance, True) for field in fields]
                copy.write_row([Jsonb(v) if json else v for v, json in zip(values, is_json, strict=True)])
