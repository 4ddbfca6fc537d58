"""Handing stored events to the transactional queue.

The tasks are named here and sent by name (delivery/tasks.py defines them with these names): the
services and the dispatcher that enqueue events need not import the tasks module, which imports
them.
"""

import logging
from datetime import datetime

from celery import current_app
from django.utils import timezone

logger = logging.getLogger(__name__)

EVENT_PROCESS = "delivery.tasks.event_process"
EVENTS_PROCESS = "delivery.tasks.events_process"


def events_publish(*, event_pks: list[int]) -> None:
    """Publish one chunk of events as one task; raises when the broker refuses."""
    current_app.send_task(EVENTS_PROCESS, args=[event_pks])


def event_enqueue(*, event_pk: int, eta: datetime | None = None) -> None:
    """Hand the event to the transactional queue; if the broker refuses, the event stays stored
    `pending` (for the sweeper that re-enqueues lost events)."""
    try:
        current_app.send_task(
            EVENT_PROCESS, args=[event_pk], eta=eta if eta and eta > timezone.now() else None
        )
    except Exception:
        logger.exception("could not enqueue event %s; it stays pending", event_pk)
