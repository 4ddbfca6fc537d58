"""The Celery application: `celery -A campaign worker` consumes every queue (CELERY_TASK_QUEUES);
`-Q transactional` (etc.) only those named, as in the README's production commands."""

import logging
import os

from celery import Celery
from celery.signals import worker_ready, worker_shutting_down

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaign.settings.local")

app = Celery("campaign")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
logger = logging.getLogger(__name__)

_dispatcher = None


@worker_ready.connect
def _dispatcher_start(sender, **kwargs):
    """Workers of the transactional queue publish the events the API stored (delivery/dispatcher.py)."""
    global _dispatcher
    # Imported here: this module is loaded by `celery -A campaign` before Django is set up.
    from django.conf import settings

    if settings.DELIVERY_DISPATCHER and "transactional" in sender.app.amqp.queues.consume_from:
        from delivery.dispatcher import Dispatcher

        _dispatcher = Dispatcher()
        _dispatcher.start()
        logger.info("dispatcher started: this worker publishes the stored events")


@worker_shutting_down.connect
def _dispatcher_stop(**kwargs):
    if _dispatcher is not None:
        _dispatcher.stop()
