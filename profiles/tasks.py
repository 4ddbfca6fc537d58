"""Thin tasks over the profile import services, on the housekeeping queue (CELERY_TASK_ROUTES)."""

from celery import shared_task
from django.db import transaction

from .imports import profile_import_apply, profile_import_check


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def profile_import_check_task(profile_import_id: int) -> None:
    profile_import_check(profile_import_id=profile_import_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def profile_import_apply_task(profile_import_id: int) -> None:
    profile_import_apply(profile_import_id=profile_import_id)


def profile_import_check_enqueue(*, profile_import_id: int) -> None:
    """Check the import once the transaction that stored it commits."""
    transaction.on_commit(lambda: profile_import_check_task.delay(profile_import_id), robust=True)


def profile_import_apply_enqueue(*, profile_import_id: int) -> None:
    """Apply the import once the transaction that confirmed it commits."""
    transaction.on_commit(lambda: profile_import_apply_task.delay(profile_import_id), robust=True)
