"""The lifecycle of an Event: every status move in the code base goes through this module.

    stored as pending, paused (its message is paused) or tooOld (already expired)
    pending    -> pending (dispatch, sweep: a new lease), processing (claim)
    processing -> pending (postpone, sweep), paused (its message was paused meanwhile),
                  processed, ignored, deliveryFailed, routingFailed, tooOld, targetingFailed (finish)
    paused     -> pending (resume), tooOld (expired while paused), routingFailed (unpublished)

Each move is a conditional UPDATE from the statuses it may leave, so a move that lost a race (a
redelivered task, two workers, a resume meeting an unpublish) changes nothing and says so. The
move sets `updated_at`, and `processed_at` on a final status, and queues the integration's status
callback (after commit) for every event that reached a final status: the one place that promise is
kept. `ALLOWED` is the state machine: a move it does not list is a programming error.
`updated_at` starts the sweeper's lease; a live worker renews it (`events_lease_renew`) without
moving the event.

The single-event moves of the delivery path run one prepared UPDATE (fastpath/rows.py); the bulk
moves lock their rows in primary-key order before updating them.
"""

import logging
from collections.abc import Iterable
from datetime import datetime
from functools import partial

from django.db import transaction
from django.db.models import Model, Q
from django.utils import timezone

from fastpath.rows import rows_update, rows_update_insert

from .models import FINAL_STATUSES, Event, EventStatus
from .tasks import event_callback_send

logger = logging.getLogger(__name__)

S = EventStatus
# Rows per UPDATE of a bulk move: bounded statements, few round trips for large backlogs.
UPDATE_BATCH = 1000
# Source status -> the statuses an event may move to from it.
ALLOWED: dict[str, frozenset[str]] = {
    # Dispatch and sweep keep it `pending` (a new lease); claim.
    S.PENDING: frozenset({S.PENDING, S.PROCESSING}),
    # Postpone and sweep put it back; its message paused meanwhile; or any final status.
    S.PROCESSING: frozenset({S.PENDING, S.PAUSED} | FINAL_STATUSES),
    # Resume; expired while paused; its message unpublished.
    S.PAUSED: frozenset({S.PENDING, S.TOO_OLD, S.ROUTING_FAILED}),
}


def event_initial(*, expiration: datetime | None, message_paused: bool, now: datetime) -> dict:
    """The status an event is stored with, and its other columns that follow: `tooOld` (processed
    now) when already expired, `paused` while its message holds new events, else `pending` (for the
    dispatcher)."""
    if expiration is not None and expiration <= now:
        return {"status": S.TOO_OLD, "processed_at": now, "error": "Expired before it could be processed."}
    return {"status": S.PAUSED if message_paused else S.PENDING}


def events_stored(*, events: list[Event]) -> None:
    """The trigger stored these events: those stored with a final status get their callback. (A
    batch's COPY does not give the events their primary keys: those are read by PKey.)"""
    final = [event for event in events if event.status in FINAL_STATUSES]
    if not final:
        return
    pks = [event.pk for event in final if event.pk is not None]
    unknown = [event.pkey for event in final if event.pk is None]
    if unknown:
        pks += Event.objects.filter(pkey__in=unknown).values_list("pk", flat=True)
    _callbacks_queue(pks)


def event_move(
    *,
    event_pk: int,
    source: str,
    target: str,
    callback_url: str | None = None,
    record: Model | None = None,
    **fields,
) -> bool:
    """Move one event from `source` to `target` with `fields` (`updated_at` defaults to now); False
    when it was not in `source` (someone else moved it). `callback_url`: the integration's, when
    the caller read it with the event ('' for none), which saves a query on a final status.
    `record`: a new row that tells why (a delivery attempt), inserted by the same statement, whether
    or not the event moved (one round trip instead of a transaction of two statements)."""
    _check(source, target)
    _timestamps(target, fields)
    where = {"id": event_pk, "status": source}
    if record is not None:
        moved = rows_update_insert(Event, where=where, instance=record, status=target, **fields)
    else:
        moved = rows_update(Event, where=where, status=target, **fields)
    if moved and target in FINAL_STATUSES and callback_url != "":
        _callbacks_queue([event_pk], known_to_have_callback=callback_url is not None)
    return bool(moved)


def events_move(
    *, source: Iterable[str], target: str, pks: Iterable[int] | None = None, where: Q | None = None, **fields
) -> list[int]:
    """Move the events of `pks` and/or matching `where` that are in one of the `source` statuses to
    `target` with `fields`; returns the primary keys moved, in order. Their rows are locked in
    primary-key order first, so exactly these events move."""
    sources = tuple(source)
    for status in sources:
        _check(status, target)
    queryset = Event.objects.filter(status__in=sources)
    if pks is not None:
        queryset = queryset.filter(pk__in=list(pks))
    if where is not None:
        queryset = queryset.filter(where)
    _timestamps(target, fields)
    with transaction.atomic():
        moved = list(queryset.order_by("pk").select_for_update().values_list("pk", flat=True))
        for start in range(0, len(moved), UPDATE_BATCH):
            Event.objects.filter(pk__in=moved[start : start + UPDATE_BATCH]).update(status=target, **fields)
        if moved and target in FINAL_STATUSES:
            _callbacks_queue(moved)
    return moved


def events_lease_renew(*, pks: Iterable[int]) -> int:
    """Renew the lease of the events of `pks` still `processing` (a live worker's heartbeat): the
    sweeper leaves them alone for another lease. Not a move: the status stays; returns how many."""
    return Event.objects.filter(pk__in=list(pks), status=S.PROCESSING).update(updated_at=timezone.now())


def _timestamps(target: str, fields: dict) -> None:
    """`updated_at` (the sweeper's lease starts there) unless given, and `processed_at` on a final
    status."""
    now = fields.setdefault("updated_at", timezone.now())
    if target in FINAL_STATUSES:
        fields.setdefault("processed_at", now)


def _check(source: str, target: str) -> None:
    if target not in ALLOWED.get(source, ()):
        raise ValueError(f"An event cannot move from {source} to {target}.")


def _callbacks_queue(event_pks: list[int], *, known_to_have_callback: bool = False) -> None:
    """Queue, after commit, the status callback of each of these events whose integration has a
    callback URL (most have none: no task for those)."""
    if not known_to_have_callback:
        event_pks = list(
            Event.objects.filter(pk__in=event_pks, integration__callback_url__gt="").values_list(
                "pk", flat=True
            )
        )
    for pk in event_pks:
        transaction.on_commit(partial(callback_enqueue, pk))


def callback_enqueue(event_pk: int) -> None:
    """Queue the status callback of one event (run after commit)."""
    try:
        event_callback_send.delay(event_pk)
    except Exception:
        # The event's status is stored; only its notification is lost with the broker.
        logger.exception("could not queue the callback of event %s", event_pk)
