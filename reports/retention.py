"""Retention (REP-3): old rows deleted in bounded batches, never the rollups (docs/reports.md).

Kinds and their setting (days; 0 keeps forever):

- `events` (RETENTION_EVENTS_DAYS, 31): finished events, once the rollup job has counted them and
  their provider feedback. Their logs stay, with the event's PKey and configuration: the event of
  each is set to NULL in the same transaction, before the events are deleted;
- `logs` (RETENTION_LOGS_DAYS, 183): the logs, by their own time, whether their event is still
  there or not: delivery attempts, exclusions, status callbacks, provider feedback (once rolled
  up), proofs, the local outboxes, the retention runs themselves;
- `tracking` (RETENTION_TRACKING_DAYS, 183): opens and clicks, once rolled up.

Each batch is one short transaction deleting at most RETENTION_BATCH_SIZE rows by primary key (the
oldest first, found through an index: the primary key's, or the log's time for the logs), so no
table is ever locked and the trigger path goes on;
a run stops after RETENTION_MAX_BATCHES batches per kind, and the next one goes on.
"""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import models, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.db.models.deletion import get_candidate_relations_to_delete
from django.utils import timezone

from delivery.models import (
    CapturedEmail,
    CapturedMessage,
    DeliveryAttempt,
    Exclusion,
    Interaction,
    TrackingEvent,
)
from events.models import FINAL_STATUSES, Event
from integrations.models import CallbackAttempt
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
        )
        .exclude(Exists(unrolled_feedback))
        .order_by("pk")
    ]


def _logs(cutoff: datetime) -> list[QuerySet]:
    feedback = RollupWatermark.objects.filter(source="feedback").values_list("position_id", flat=True).first()
    return [
        # By their own time, through its index (oldest first).
        DeliveryAttempt.objects.filter(started_at__lt=cutoff).order_by("started_at"),
        Exclusion.objects.filter(created_at__lt=cutoff).order_by("created_at"),
        CallbackAttempt.objects.filter(created_at__lt=cutoff).order_by("created_at"),
        # Only what the rollup job has counted (a stopped rollup keeps it).
        TrackingEvent.objects.filter(received_at__lt=cutoff, id__lte=feedback or 0).order_by("received_at"),
        ProofSend.objects.filter(sent_at__lt=cutoff).order_by("pk"),
        CapturedEmail.objects.filter(created_at__lt=cutoff).order_by("pk"),
        CapturedMessage.objects.filter(created_at__lt=cutoff).order_by("pk"),
        RetentionRun.objects.filter(started_at__lt=cutoff).order_by("pk"),
    ]


def _tracking(cutoff: datetime) -> list[QuerySet]:
    return [Interaction.objects.filter(last_at__lt=cutoff, rolled=True).order_by("pk")]


KINDS: dict[str, tuple[str, Callable[[datetime], list[QuerySet]]]] = {
    "events": ("RETENTION_EVENTS_DAYS", _events),
    "logs": ("RETENTION_LOGS_DAYS", _logs),
    "tracking": ("RETENTION_TRACKING_DAYS", _tracking),
}


def _events_delete(pks: list[int]) -> int:
    """Delete the events of `pks` and detach their logs, in the caller's transaction: each relation
    set to NULL on delete (the logs) in one UPDATE, each cascading one (a follow-up's recipients) in
    one DELETE, then the events in one DELETE. Django's collector does the same after loading every
    event whole, and sets the logs' event to NULL in one statement per relation and chunk."""
    # Every relation the collector would follow, hidden ones included (a status callback's).
    for relation in get_candidate_relations_to_delete(Event._meta):
        rows = relation.related_model._base_manager.filter(**{f"{relation.field.name}__in": pks})
        if relation.on_delete is models.SET_NULL:
            rows.update(**{relation.field.name: None})
        elif relation.on_delete is models.CASCADE:
            rows.delete()
        else:
            return Event.objects.filter(pk__in=pks).delete()[1].get(Event._meta.label, 0)
    # Nothing refers to these events any more: one DELETE, without the collector (a private
    # method, the one the collector itself uses for the rows it can delete without loading them).
    return Event.objects.filter(pk__in=pks)._raw_delete(Event.objects.db)


def _purge(queryset: QuerySet) -> tuple[int, bool]:
    """Delete the rows of `queryset` in bounded batches, in its order; (rows deleted, whether some
    are left)."""
    deleted = 0
    for _ in range(settings.RETENTION_MAX_BATCHES):
        with transaction.atomic():
            pks = list(queryset.values_list("pk", flat=True)[: settings.RETENTION_BATCH_SIZE])
            if not pks:
                return deleted, False
            if queryset.model is Event:
                deleted += _events_delete(pks)
            else:
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
