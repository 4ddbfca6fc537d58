"""The rollup job: adds what happened since its last run to the rollup tables (reports/models.py).

Run by beat every REPORTS_ROLLUP_INTERVAL_SECONDS; each source is read incrementally:

- **events** by the time they reached a final status (`processed_at`, indexed), in windows of
  REPORTS_ROLLUP_WINDOW_HOURS up to REPORTS_ROLLUP_LAG_SECONDS ago (so that a transaction still
  committing an event stamped just before is not passed by), grouped in the database by
  configuration, hour, recipient domain, status and latency bucket;
- **provider feedback** (bounces, unsubscribes) by id, up to the same lag: each row matched to one of
  our sendings, by the configuration it keeps (its event may be gone: the logs outlive the events),
  counted once when the watermark passes it;
- **opens and clicks**: the `Interaction` rows changed since they were last rolled up (`rolled`
  false, a partial index), adding the difference (more hits, or a row flagged machine after the
  fact moves from the human metrics to the machine ones).

Each window or batch is one transaction holding its source's watermark row, so two runs never add
the same rows twice.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    Q,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Lower, StrIndex, Substr, TruncHour
from django.utils import timezone

from delivery.feedback import SOFT_BOUNCE_RE
from delivery.models import Interaction, TrackingEvent
from events.models import FINAL_STATUSES, Event, EventStatus

from .models import LATENCY_BUCKETS_MS, DailyRollup, DomainRollup, HourlyRollup, RollupWatermark

logger = logging.getLogger(__name__)

# The metrics also kept per recipient domain.
DOMAIN_METRICS = frozenset({f"status:{EventStatus.PROCESSED}", "bounce_hard", "bounce_soft", "open_unique"})
# The metrics also kept per hour (the time series of short ranges): statuses, opens, clicks.
HOURLY_PREFIXES = ("status:", "open", "click")
FEEDBACK_TYPES = ("bounced", "unsubscribed")


@dataclass
class Deltas:
    """Additions to the rollups, keyed by (configuration id, hour, domain, metric)."""

    values: dict[tuple[int, datetime, str, str], int] = field(default_factory=lambda: defaultdict(int))

    def add(self, configuration_id: int, hour: datetime, domain: str, metric: str, value: int) -> None:
        if value:
            self.values[(configuration_id, hour, domain[:255], metric)] += value

    def write(self) -> int:
        hourly: dict[tuple, int] = defaultdict(int)
        daily: dict[tuple, int] = defaultdict(int)
        domains: dict[tuple, int] = defaultdict(int)
        for (configuration_id, hour, domain, metric), value in self.values.items():
            hour = hour.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
            if metric.startswith(HOURLY_PREFIXES):
                hourly[(configuration_id, hour, metric)] += value
            daily[(configuration_id, hour.date(), metric)] += value
            if metric in DOMAIN_METRICS:
                domains[(configuration_id, hour.date(), domain, metric)] += value
        ops = connection.ops
        _upsert(
            HourlyRollup,
            ["configuration", "hour", "metric"],
            [(c, ops.adapt_datetimefield_value(h), m, v) for (c, h, m), v in hourly.items() if v],
        )
        _upsert(
            DailyRollup,
            ["configuration", "day", "metric"],
            [(c, ops.adapt_datefield_value(d), m, v) for (c, d, m), v in daily.items() if v],
        )
        _upsert(
            DomainRollup,
            ["configuration", "day", "domain", "metric"],
            [(c, ops.adapt_datefield_value(d), dom, m, v) for (c, d, dom, m), v in domains.items() if v],
        )
        return len(hourly)


def _upsert(model, keys: list[str], rows: list[tuple], chunk: int = 500) -> None:
    """INSERT the rows, adding `value` to the row already there (PostgreSQL and SQLite)."""
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [quote(model._meta.get_field(name).column) for name in keys] + [quote("value")]
    one = "(" + ", ".join(["%s"] * len(columns)) + ")"
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            sql = (
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES {', '.join([one] * len(part))} "  # noqa: S608
                f"ON CONFLICT ({', '.join(columns[:-1])}) DO UPDATE SET "
                f"{quote('value')} = {table}.{quote('value')} + EXCLUDED.{quote('value')}"
            )
            # Quoted model names; the values go as parameters.
            cursor.execute(sql, [value for row in part for value in row])


def _watermark(source: str) -> RollupWatermark:
    RollupWatermark.objects.get_or_create(source=source)
    return RollupWatermark.objects.select_for_update().get(source=source)


def _latency_bucket():
    start = Case(
        When(scheduled__gt=F("created_at"), then=F("scheduled")),
        default=F("created_at"),
        output_field=DateTimeField(),
    )
    latency = ExpressionWrapper(F("processed_at") - start, output_field=DurationField())
    whens = [
        When(status=EventStatus.PROCESSED, latency__lt=timedelta(milliseconds=bound), then=Value(index))
        for index, bound in enumerate(LATENCY_BUCKETS_MS)
        if bound is not None
    ]
    last = len(LATENCY_BUCKETS_MS) - 1
    whens.append(When(status=EventStatus.PROCESSED, then=Value(last)))
    return latency, Case(*whens, default=Value(-1), output_field=IntegerField())


def _events_window(since: datetime, until: datetime) -> tuple[Deltas, int]:
    latency, bucket = _latency_bucket()
    groups = (
        Event.objects.filter(processed_at__gte=since, processed_at__lt=until, status__in=FINAL_STATUSES)
        .annotate(
            hour=TruncHour("processed_at"),
            domain=Lower(Substr("email", StrIndex("email", Value("@")) + 1)),
            latency=latency,
        )
        .annotate(bucket=bucket)
        .values("configuration_id", "status", "hour", "domain", "bucket")
        .annotate(n=Count("id"))
        .order_by()
    )
    deltas = Deltas()
    events = 0
    for group in groups:
        configuration_id, hour, domain, n = (
            group["configuration_id"],
            group["hour"],
            group["domain"],
            group["n"],
        )
        events += n
        deltas.add(configuration_id, hour, domain, f"status:{group['status']}", n)
        if group["bucket"] >= 0:
            deltas.add(configuration_id, hour, domain, f"lat:{group['bucket']}", n)
    return deltas, events


def _events_rollup(until: datetime) -> int:
    window = timedelta(hours=settings.REPORTS_ROLLUP_WINDOW_HOURS)
    total = 0
    for _ in range(settings.REPORTS_ROLLUP_MAX_WINDOWS):
        with transaction.atomic():
            mark = _watermark("events")
            since = mark.position_time
            if since is None:
                since = Event.objects.filter(processed_at__isnull=False).aggregate(first=Min("processed_at"))[
                    "first"
                ]
                if since is None:
                    return total
            if since >= until:
                return total
            end = min(since + window, until)
            deltas, events = _events_window(since, end)
            deltas.write()
            mark.position_time = end
            mark.save(update_fields=["position_time", "updated_at"])
        total += events
        if end >= until:
            break
    return total


def _feedback_rollup(until: datetime) -> int:
    total = 0
    for _ in range(settings.REPORTS_ROLLUP_MAX_WINDOWS):
        with transaction.atomic():
            mark = _watermark("feedback")
            rows = list(
                TrackingEvent.objects.filter(
                    # Matched to one of our sendings (the configuration is the one kept by the row).
                    Q(configuration__isnull=False) | Q(event__isnull=False),
                    id__gt=mark.position_id,
                    received_at__lt=until,
                    event_type__in=FEEDBACK_TYPES,
                )
                .annotate(matched=Coalesce("configuration_id", "event__configuration_id"))
                .order_by("id")
                .values_list(
                    "id",
                    "matched",
                    "event_id",
                    "event__email",
                    "recipient",
                    "event_type",
                    "occurred_at",
                    "received_at",
                    "mta_response",
                    "description",
                )[: settings.REPORTS_ROLLUP_BATCH_SIZE]
            )
            if not rows:
                return total
            deltas = Deltas()
            for row in rows:
                (
                    _id,
                    configuration_id,
                    event_id,
                    email,
                    recipient,
                    event_type,
                    occurred_at,
                    received_at,
                    mta_response,
                    description,
                ) = row
                # The event's address while it is there; the feedback's own once it is gone.
                domain = (email if event_id is not None else recipient).rpartition("@")[2].lower()
                if event_type == "unsubscribed":
                    metric = "unsubscribe"
                elif SOFT_BOUNCE_RE.match(mta_response or description or ""):
                    metric = "bounce_soft"
                else:
                    metric = "bounce_hard"
                # When the provider says it happened; when we heard of it if it does not say.
                deltas.add(configuration_id, occurred_at or received_at, domain, metric, 1)
            deltas.write()
            mark.position_id = rows[-1][0]
            mark.save(update_fields=["position_id", "updated_at"])
        total += len(rows)
        if len(rows) < settings.REPORTS_ROLLUP_BATCH_SIZE:
            break
    return total


def _interaction_metrics(deltas: Deltas, row: Interaction, count: int, machine: bool, sign: int) -> None:
    """Opens and the recipient's row of all its clicks (link_key 0) give the totals and the unique
    figures; the rows of each link the hot clicks (humans only). A marketing recipient's rows count
    on its delivery's page, read from the rows themselves, not in these per-message figures."""
    if row.configuration_id is None:
        return
    at, cfg, domain = row.first_at, row.configuration_id, row.domain
    if row.link_key == 0:
        suffix = "_machine" if machine else ""
        deltas.add(cfg, at, domain, f"{row.kind}{suffix}", sign * count)
        deltas.add(cfg, at, domain, f"{row.kind}{suffix}_unique", sign)
    elif row.link_id is not None and not machine:
        deltas.add(cfg, at, domain, f"link:{row.link_id}", sign * count)
        deltas.add(cfg, at, domain, f"link_unique:{row.link_id}", sign)


def _interactions_rollup() -> int:
    total = 0
    for _ in range(settings.REPORTS_ROLLUP_MAX_WINDOWS):
        with transaction.atomic():
            rows = list(
                Interaction.objects.filter(rolled=False)
                .order_by("id")
                .select_for_update(skip_locked=True)[: settings.REPORTS_ROLLUP_BATCH_SIZE]
            )
            if not rows:
                return total
            deltas = Deltas()
            for row in rows:
                if row.rolled_count:
                    _interaction_metrics(deltas, row, row.rolled_count, row.rolled_machine, -1)
                _interaction_metrics(deltas, row, row.count, bool(row.machine_reason), 1)
            deltas.write()
            # The rows are locked: what they hold now is what was just added.
            Interaction.objects.filter(pk__in=[row.pk for row in rows]).update(
                rolled=True,
                rolled_count=F("count"),
                rolled_machine=ExpressionWrapper(~Q(machine_reason=""), output_field=BooleanField()),
            )
        total += len(rows)
        if len(rows) < settings.REPORTS_ROLLUP_BATCH_SIZE:
            break
    return total


@dataclass(frozen=True)
class RollupFigures:
    events: int
    feedback: int
    interactions: int


def rollup_run(*, now: datetime | None = None) -> RollupFigures:
    """Add to the rollups what happened since the last run, up to REPORTS_ROLLUP_LAG_SECONDS ago
    (interactions: every change committed so far); bounded per run, the next run goes on."""
    now = now or timezone.now()
    until = now - timedelta(seconds=settings.REPORTS_ROLLUP_LAG_SECONDS)
    figures = RollupFigures(
        events=_events_rollup(until), feedback=_feedback_rollup(until), interactions=_interactions_rollup()
    )
    if figures.events or figures.feedback or figures.interactions:
        logger.info(
            "rollup: %s events, %s feedback rows, %s opens and clicks",
            figures.events,
            figures.feedback,
            figures.interactions,
        )
    return figures
