"""Process-local cache of the few rows every trigger call reads, kept exact by PostgreSQL.

Every call of the trigger API reads its credentials and its event's published configuration: rows
that change a few times a day but are read thousands of times a second. Each web process keeps what
it read, tagged with a generation number, and the database says when to forget it:

- a statement trigger on each cached table (campaign/migrations/0004_rowcache_notify.py; a test
  checks that every table of a `RowCachedQuerySet` model has it) runs
  `NOTIFY mc_rowcache` in the changing transaction, which PostgreSQL delivers when, and only if,
  that transaction commits;
- one listener thread per process holds a LISTEN connection and bumps the generation on each
  notification, which drops every entry;
- a value read from the database is stored under the generation current *before* the read, so a
  change committed while it was being read leaves it stale-tagged, never served;
- changes made by this process bump the generation at once, before their transaction even commits:
  a cached model declares `objects = RowCachedQuerySet.as_manager()`, whose bulk writes (update,
  bulk_update, bulk_create) forget the cache, and `rowcache_connect` forgets it on every save,
  delete and many-to-many change of those models. No service calls the cache itself.

The cache is bypassed (every read goes to the database) when it cannot be kept exact: on SQLite, in
a transaction (it may hold changes no other process sees yet), before the listener is connected and
whenever it lost its connection. Entries also expire after CAMPAIGN_ROWCACHE_MAX_AGE seconds, a
bound on the damage of anything this design missed. A change is seen by every process within the time a
notification takes to arrive: milliseconds.
"""

import logging
import os
import threading
import time
from collections.abc import Callable, Hashable

import psycopg
from django.apps import apps as django_apps
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models.signals import m2m_changed, post_delete, post_save

logger = logging.getLogger(__name__)

CHANNEL = "mc_rowcache"
MAX_ENTRIES = 10_000
# How often the listener proves its connection alive when no notification arrives.
LIVENESS_SECONDS = 5.0
# How long the listener waits for notifications before looking whether it should stop.
WAIT_SECONDS = 0.5


class _State:
    def __init__(self):
        self.lock = threading.Lock()
        self.generation = 0
        self.entries: dict[Hashable, tuple[int, float, object]] = {}
        self.connected = False
        self.listener: threading.Thread | None = None
        self.stop = threading.Event()
        self.pid = None


_state = _State()


def rowcache_changed() -> None:
    """Forget every entry of this process (the other processes learn it from PostgreSQL)."""
    with _state.lock:
        _state.generation += 1
        _state.entries = {}


class RowCachedQuerySet(models.QuerySet):
    """The queryset of a model whose rows the trigger path caches: every bulk write forgets this
    process's cache (other processes learn it from PostgreSQL); `bulk_update` runs `update`. Saves
    and deletes go through the signals that `rowcache_connect` connects."""

    def update(self, **kwargs) -> int:
        rows = super().update(**kwargs)
        rowcache_changed()
        return rows

    def bulk_create(self, *args, **kwargs):
        created = super().bulk_create(*args, **kwargs)
        rowcache_changed()
        return created


def cached_models() -> list[type[models.Model]]:
    """The models whose rows the cache holds: those managed by a `RowCachedQuerySet`."""
    return [
        model
        for model in django_apps.get_models()
        if issubclass(model._default_manager._queryset_class, RowCachedQuerySet)
    ]


def cached_tables() -> set[str]:
    """The tables whose changes must notify (the models' and their many-to-many tables)."""
    tables = set()
    for model in cached_models():
        tables.add(model._meta.db_table)
        tables.update(field.remote_field.through._meta.db_table for field in model._meta.local_many_to_many)
    return tables


def rowcache_connect() -> None:
    """Forget the cache on every save, delete or many-to-many change of a cached model in this
    process (bulk writes do it through `RowCachedQuerySet`)."""
    for model in cached_models():
        label = model._meta.label
        post_save.connect(_on_change, sender=model, dispatch_uid=f"rowcache.save.{label}")
        post_delete.connect(_on_change, sender=model, dispatch_uid=f"rowcache.delete.{label}")
        for field in model._meta.local_many_to_many:
            m2m_changed.connect(
                _on_change,
                sender=field.remote_field.through,
                dispatch_uid=f"rowcache.m2m.{label}.{field.name}",
            )


def _on_change(**kwargs) -> None:
    rowcache_changed()


def rowcache_listening() -> bool:
    """Whether this process's listener is connected (the cache is in use)."""
    return _state.connected


def rowcache_get(key: Hashable, load: Callable[[], object]) -> object:
    """`load()`'s value, read from the database at most once per change of the cached tables.
    `load` must return plain values (rows, not model instances): the value is shared by threads."""
    if not _usable():
        return load()
    generation = _state.generation
    entry = _state.entries.get(key)
    if entry is not None and entry[0] == generation and entry[1] > time.monotonic():
        return entry[2]
    value = load()
    if value is not None:
        entries = _state.entries
        if len(entries) >= MAX_ENTRIES:
            entries = _state.entries = {}
        entries[key] = (generation, time.monotonic() + settings.CAMPAIGN_ROWCACHE_MAX_AGE, value)
    return value


def _usable() -> bool:
    if not settings.CAMPAIGN_ROWCACHE:
        return False
    connection = connections[DEFAULT_DB_ALIAS]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return False
    if _state.listener is None or _state.pid != os.getpid():
        _listener_start()
    return _state.connected


def _listener_start() -> None:
    with _state.lock:
        if _state.listener is not None and _state.pid == os.getpid():
            return
        # A forked child inherits the parent's state but not its thread: start its own.
        _state.pid, _state.connected, _state.entries = os.getpid(), False, {}
        _state.stop = threading.Event()
        _state.listener = threading.Thread(
            target=_listen, args=(_state.stop,), name="rowcache-listener", daemon=True
        )
        _state.listener.start()


def rowcache_stop(timeout: float = 10.0) -> None:
    """Stop this process's listener (and with it the cache) and close its connection."""
    with _state.lock:
        listener, _state.listener = _state.listener, None
        _state.stop.set()
        _state.connected = False
        _state.generation += 1
        _state.entries = {}
    if listener is not None:
        listener.join(timeout)


def _listen(stop: threading.Event) -> None:
    delay = 0.5
    while not stop.is_set():
        try:
            # Django's own connection parameters, read again at each (re)connection: those of this
            # thread's connection, which nothing else changes.
            params = connections[DEFAULT_DB_ALIAS].get_connection_params()
            with psycopg.connect(
                **params, autocommit=True, application_name="message-center rowcache"
            ) as conn:
                conn.execute(f"LISTEN {CHANNEL}")
                # What was cached before this connection listened may have changed since.
                rowcache_changed()
                _state.connected = True
                delay = 0.5
                alive_at = time.monotonic()
                while not stop.is_set():
                    for _ in conn.notifies(timeout=WAIT_SECONDS):
                        rowcache_changed()
                    if time.monotonic() - alive_at > LIVENESS_SECONDS:
                        conn.execute("SELECT 1")
                        alive_at = time.monotonic()
        except Exception as exc:  # any failure: bypass the cache and reconnect
            if not stop.is_set():
                logger.warning("row cache listener lost its connection, reconnecting: %s", exc)
        finally:
            _state.connected = False
            rowcache_changed()
        stop.wait(delay)
        delay = min(delay * 2, 10.0)
