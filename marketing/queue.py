"""Handing marketing deliveries to the bulk queue, by task name (marketing/tasks.py defines the
tasks with these names and imports the services, which therefore do not import it)."""

from datetime import datetime

from celery import current_app

PREPARE = "marketing.tasks.delivery_prepare_task"
SEND = "marketing.tasks.delivery_send_task"


def prepare_enqueue(*, delivery_id: int) -> None:
    current_app.send_task(PREPARE, args=[delivery_id])


def send_enqueue(
    *, delivery_id: int, token: int, eta: datetime | None = None, countdown: float | None = None
):
    current_app.send_task(SEND, args=[delivery_id, token], eta=eta, countdown=countdown)
