"""The dispatcher: hands stored `pending` events to the transactional queue (DLV-1, DLV-3).

The trigger API only stores the event (one INSERT: the least work per request, SPEC section 7). A
thread in every worker that consumes the transactional queue claims the due events not yet
dispatched, a batch at a time (`SELECT ... FOR UPDATE SKIP LOCKED`, so dispatchers on several
machines share the work without taking the same event), and publishes them as chunks of at most
`DELIVERY_DISPATCH_CHUNK_SIZE` events per task: one broker message for several events, and one
task that reuses the SMTP connection and the message's compiled templates for all of them. A round
is split over at least `DELIVERY_DISPATCH_SPREAD` tasks while it has that many events
(`chunk_sizes`): a few events are shared by the processes of the pool instead of being sent one
after the other by one of them, and a backlog goes out in full chunks, whose shared reads cost
least.

Crash safety: the batch is marked dispatched and published inside one transaction. If publishing
fails (broker down), the transaction rolls back and the events wait for the next round; they are
safe in PostgreSQL meanwhile, so the API keeps accepting events while the broker is down. If the
process dies after publishing but before the commit, the events are published again: harmless,
because processing claims each event by a conditional status change.
"""

import logging
import threading
from datetime import datetime

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from events.lifecycle import events_move
from events.models import Event, EventStatus

from .queue import events_publish

logger = logging.getLogger(__name__)


def chunk_sizes(count: int) -> list[int]:
    """How a round of `count` events is split into tasks: as evenly as can be, over at least
    DELIVERY_DISPATCH_SPREAD tasks (fewer only when there are fewer events), of at most
    DELIVERY_DISPATCH_CHUNK_SIZE events each."""
    largest = max(1, settings.DELIVERY_DISPATCH_CHUNK_SIZE)
    tasks = min(count, max(settings.DELIVERY_DISPATCH_SPREAD, -(-count // largest)))
    return [count // tasks + (1 if task < count % tasks else 0) for task in range(tasks)]


def events_dispatch(*, now: datetime | None = None) -> int:
    """Publish one batch of due, undispatched `pending` events; returns how many (0: none due).
    Raises when the broker refuses (nothing is marked dispatched then)."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Event.objects.filter(status=EventStatus.PENDING, dispatched_at__isnull=True)
            .filter(Q(scheduled__isnull=True) | Q(scheduled__lte=now))
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[: settings.DELIVERY_DISPATCH_BATCH_SIZE]
        )
        if not due:
            return 0
        # The lease of the sweeper starts now: a dispatched event is lost only if still pending
        # a lease later.
        events_move(
            source=[EventStatus.PENDING],
            target=EventStatus.PENDING,
            pks=due,
            dispatched_at=now,
            updated_at=now,
        )
        start = 0
        for size in chunk_sizes(len(due)):
            events_publish(event_pks=due[start : start + size])
            start += size
    return len(due)


class Dispatcher(threading.Thread):
    """Runs `events_dispatch` while events are due, then every DELIVERY_DISPATCH_POLL_SECONDS;
    survives database and broker outages (logs, waits, tries again)."""

    def __init__(self):
        super().__init__(name="event-dispatcher", daemon=True)
        self.stopping = threading.Event()

    def run(self) -> None:
        pause = settings.DELIVERY_DISPATCH_POLL_SECONDS
        while not self.stopping.is_set():
            try:
                dispatched = events_dispatch()
            except Exception as exc:
                logger.warning("dispatcher: %s; trying again in a second", exc)
                connection.close()
                self.stopping.wait(1.0)
                continue
            if dispatched < settings.DELIVERY_DISPATCH_BATCH_SIZE:
                close_old_connections()
                self.stopping.wait(pause)
        connection.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=10)
