from celery import shared_task
from django.conf import settings

from .models import CallbackAttemptResult


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
def callback_send(self, event_pk: int) -> None:
    """On the `callbacks` queue: one attempt per run, retried with backoff while the receiver fails
    (a refused address is not retried: it will not become public)."""
    from .callbacks import callback_deliver

    attempt = callback_deliver(event_pk=event_pk)
    if (
        attempt is not None
        and attempt.result == CallbackAttemptResult.FAILED
        and self.request.retries + 1 < settings.CAMPAIGN_CALLBACK_MAX_ATTEMPTS
    ):
        raise CallbackFailed(attempt.error)


@shared_task
def idempotency_keys_purge_task() -> int:
    from .idempotency import idempotency_keys_purge

    return idempotency_keys_purge()
