"""Thin tasks over the delivery services; their queues are set in CELERY_TASK_ROUTES."""

from celery import shared_task

from .queue import EVENT_PROCESS, EVENTS_PROCESS
from .services import event_deliver, events_deliver, events_sweep


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def delivery_sweep() -> int:
    return events_sweep()


@shared_task(name=EVENT_PROCESS, acks_late=True, reject_on_worker_lost=True)
def event_process(event_pk: int) -> None:
    event_deliver(event_pk=event_pk)


@shared_task(name=EVENTS_PROCESS, acks_late=True, reject_on_worker_lost=True)
def events_process(event_pks: list[int]) -> None:
    """A chunk of events in one task: what they share is read once (see events_deliver)."""
    events_deliver(event_pks=event_pks)
