from celery import shared_task


@shared_task(acks_late=True, reject_on_worker_lost=True)
def event_process(event_pk: int) -> None:
    from delivery.services import event_deliver

    event_deliver(event_pk=event_pk)


@shared_task(acks_late=True, reject_on_worker_lost=True)
def events_process(event_pks: list[int]) -> None:
    """A chunk of events in one task: what they share is read once (see events_deliver)."""
    from delivery.services import events_deliver

    events_deliver(event_pks=event_pks)
