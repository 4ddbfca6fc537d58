"""The status callback of an event, on the `callbacks` queue (queued by events/lifecycle.py)."""

from celery import shared_task
from django.conf import settings

from integrations.callbacks import callback_deliver
from integrations.models import CallbackAttemptResult

from .models import FINAL_STATUSES
from .selectors import event_for_callback_get, event_status_payload


class CallbackFailed(Exception):
    pass


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(CallbackFailed,),
    retry_backoff=5,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=None,
)
def event_callback_send(self, event_pk: int) -> None:
    """One attempt per run, retried with backoff while the receiver fails (a refused address is not
    retried: it will not become public)."""
    event = event_for_callback_get(event_pk=event_pk)
    if event is None or event.status not in FINAL_STATUSES or event.integration is None:
        return
    attempt = callback_deliver(
        integration=event.integration,
        event_pk=event.pk,
        event_pkey=event.pkey,
        configuration_id=event.configuration_id,
        event_status=event.status,
        payload=event_status_payload(event),
    )
    if (
        attempt is not None
        and attempt.result == CallbackAttemptResult.FAILED
        and self.request.retries + 1 < settings.CAMPAIGN_CALLBACK_MAX_ATTEMPTS
    ):
        raise CallbackFailed(attempt.error)
