"""Thin periodic tasks (beat): the rollup job and retention; queue `housekeeping`."""

from celery import shared_task

from .retention import retention_run
from .rollup import rollup_run


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def reports_rollup() -> None:
    rollup_run()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def retention_purge() -> None:
    retention_run()
