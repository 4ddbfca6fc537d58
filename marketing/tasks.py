from celery import shared_task

from .queue import send_enqueue
from .services import delivery_prepare, delivery_send_batch, follow_ups_recur


@shared_task(name="marketing.tasks.delivery_prepare_task", acks_late=True)
def delivery_prepare_task(delivery_id: int) -> None:
    delivery_prepare(delivery_id=delivery_id)


@shared_task(name="marketing.tasks.delivery_send_task", acks_late=True)
def delivery_send_task(delivery_id: int, token: int) -> None:
    """One throttled batch, then the next one, queued at the time the rate allows."""
    wait = delivery_send_batch(delivery_id=delivery_id, token=token)
    if wait is not None:
        send_enqueue(delivery_id=delivery_id, token=token, countdown=wait)


@shared_task(name="marketing.tasks.follow_ups_recur_task")
def follow_ups_recur_task() -> None:
    """Beat, hourly: the daily follow-ups due again."""
    follow_ups_recur()
