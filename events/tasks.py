from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True)
def event_process(event_pk: int) -> None:
    from delivery.services import event_deliver

    event_deliver(event_pk=event_pk)
