"""Retention (REP-3): old rows deleted in bounded batches, never the rollups (docs/reports.md).

Kinds and their setting (days; 0 keeps forever):

- `events` (RETENTION_EVENTS_DAYS, 31): finished events, with what belongs to each (its delivery
  attempts, exclusions, status callbacks and provider feedback), once the rollup job has counted
  them;
- `logs` (RETENTION_LOGS_DAYS, 183): the logs apart from events: provider feedback matching no
  event, proofs, the local outboxes, the retention runs themselves;
- `tracking` (RETENTION_TRACKING_DAYS, 183): opens and clicks, once rolled up.

Each batch is one short transaction deleting at most RETENTION_BATCH_SIZE rows by primary key (the
oldest first, found through an index), so no table is ever locked and the trigger path goes on;
a run stops after RETENTION_MAX_BATCHES batches per kind, and the next one goes on.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from delivery.models import CapturedEmail, CapturedMessage, Interaction, TrackingEvent
from events.models import FINAL_STATUSES, Event
from messages_app.models import ProofSend

from .models import RetentionRun, RollupWatermark

logger = logging.getLogger(__name__)


def _events(cutoff: datetime) -> list[QuerySet]:
    marks = dict(RollupWatermark.objects.values_list("source", "position_time"))
    feedback = RollupWatermark.objects.filter(source="feedback").values_list("position_id", flat=True).first()
    if marks.get("events") is None:
        return []
    # Only events the rollup job has counted, and whose provider feedback it has counted too.
    unrolled_feedback = TrackingEvent.objects.filter(event=OuterRef("pk"), id__gt=feedback or 0)
    return [
        Event.objects.filter(
            created_at__lt=cutoff, status__in=FINAL_STATUSES, processed_at__lt=min(cutoff, marks["events"])
        ).exclude(Exists(unrolled_feedback))
    ]


def _logs(cutoff: datetime) -> list[QuerySet]:
    return [
        TrackingEvent.objects.filter(event__isnull=True, received_at__lt=cutoff),
        ProofSend.objects.filter(sent_at__lt=cutoff),
        CapturedEmail.objects.filter(created_at__lt=cutoff),
        CapturedMessage.objects.filter(created_at__lt=cutoff),
        RetentionRun.objects.filter(started_at__lt=cutoff),
    ]


def _tracking(cutoff: datetime) -> list[QuerySet]:
    return [Interaction.objects.filter(last_at__lt=cutoff, rolled=True)]


KINDS: dict[str, tuple[str, Callable[[datetime], list[QuerySet]]]] = {
    "events": ("RETENTION_EVENTS_DAYS", _events),
    "logs": ("RETENTION_LOGS_DAYS", _logs),
    "tracking": ("RETENTION_TRACKING_DAYS", _tracking),
}


def _purge(queryset: QuerySet) -> tuple[int, bool]:
    """Delete the rows of `queryset` in bounded batches; (rows deleted, whether some are left)."""
    deleted = 0
    for _ in range(settings.RETENTION_MAX_BATCHES):
        with transaction.atomic():
            pks = list(queryset.order_by("pk").values_list("pk", flat=True)[: settings.RETENTION_BATCH_SIZE])
            if not pks:
                return deleted, False
            _, per_model = queryset.model.objects.filter(pk__in=pks).delete()
        deleted += per_model.get(queryset.model._meta.label, 0)
        if len(pks) < settings.RETENTION_BATCH_SIZE:
            return deleted, False
    return deleted, True


def retention_run(*, now: datetime | None = None) -> RetentionRun:
    """One retention run over every kind; its figures are logged and kept (RetentionRun)."""
    started = timezone.now()
    now = now or started
    figures: dict[str, int] = {}
    more = False
    for setting, querysets in KINDS.values():
        days = getattr(settings, setting)
        if days <= 0:
            continue
        for queryset in querysets(now - timedelta(days=days)):
            deleted, left = _purge(queryset)
            figures[queryset.model._meta.label] = figures.get(queryset.model._meta.label, 0) + deleted
            more = more or left
    run = RetentionRun.objects.create(
        started_at=started, finished_at=timezone.now(), deleted=figures, more=more
    )
    logger.info(
        "retention: deleted %s%s",
        ", ".join(f"{count} {label}" for label, count in figures.items()) or "nothing",
        " (more left for the next run)" if more else "",
    )
    return run
