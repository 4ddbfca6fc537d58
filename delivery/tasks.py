"""Thin tasks over the delivery services; their queues are set in CELERY_TASK_ROUTES."""

from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def delivery_sweep() -> int:
    from .services import events_sweep

    return events_sweep()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def bulk_email(to: str, subject: str, text: str) -> None:
    from .services import bulk_email_send

    bulk_email_send(to=to, subject=subject, text=text)
