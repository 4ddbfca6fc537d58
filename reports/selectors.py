"""Reads of the reports, from the rollups only: a bounded number of queries whatever the range.

Definitions (docs/reports.md): sent = events `processed`; delivered = sent - bounces (hard and
soft, from provider feedback); errors = events ending deliveryFailed, routingFailed,
targetingFailed or tooOld; open rate = unique human opens / delivered; click-through rate = unique
human clicks / delivered; click-to-open = unique human clicks / unique human opens.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import QuerySet, Sum
from django.utils.translation import gettext

from delivery.models import TrackedLink
from delivery.tracking import links_label
from events.models import EventConfiguration, EventStatus
from messages_app.models import TransactionalMessage

from .models import LATENCY_BUCKETS_MS, DailyRollup, DomainRollup, HourlyRollup

ERROR_STATUSES = (
    EventStatus.DELIVERY_FAILED,
    EventStatus.ROUTING_FAILED,
    EventStatus.TARGETING_FAILED,
    EventStatus.TOO_OLD,
)
FINAL_ORDER = (EventStatus.PROCESSED, EventStatus.IGNORED, *ERROR_STATUSES)
# Ranges up to this many days are drawn per hour, longer ones per day.
HOURLY_MAX_DAYS = 3
DOMAINS_SHOWN = 20


def percentile_ms(buckets: dict[int, int], share: float) -> int | None:
    """The upper bound (ms) of the latency bucket holding the `share` percentile; None without
    data; the last bucket (over an hour) reports its lower bound."""
    total = sum(buckets.values())
    if not total:
        return None
    rank = share * total
    seen = 0
    for index, bound in enumerate(LATENCY_BUCKETS_MS):
        seen += buckets.get(index, 0)
        if seen >= rank:
            return bound if bound is not None else LATENCY_BUCKETS_MS[-2]
    return LATENCY_BUCKETS_MS[-2]


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


@dataclass(frozen=True)
class Figures:
    sent: int
    delivered: int
    bounces_hard: int
    bounces_soft: int
    errors: int
    ignored: int
    opens: int
    opens_unique: int
    opens_machine: int
    clicks: int
    clicks_unique: int
    clicks_machine: int
    unsubscribes: int
    open_rate: float | None
    click_rate: float | None
    click_to_open: float | None

    @classmethod
    def of(cls, totals: dict[str, int]) -> "Figures":
        sent = totals.get(f"status:{EventStatus.PROCESSED}", 0)
        hard, soft = totals.get("bounce_hard", 0), totals.get("bounce_soft", 0)
        delivered = max(sent - hard - soft, 0)
        opens_unique, clicks_unique = totals.get("open_unique", 0), totals.get("click_unique", 0)
        return cls(
            sent=sent,
            delivered=delivered,
            bounces_hard=hard,
            bounces_soft=soft,
            errors=sum(totals.get(f"status:{status}", 0) for status in ERROR_STATUSES),
            ignored=totals.get(f"status:{EventStatus.IGNORED}", 0),
            opens=totals.get("open", 0),
            opens_unique=opens_unique,
            opens_machine=totals.get("open_machine", 0),
            clicks=totals.get("click", 0),
            clicks_unique=clicks_unique,
            clicks_machine=totals.get("click_machine", 0),
            unsubscribes=totals.get("unsubscribe", 0),
            open_rate=_rate(opens_unique, delivered),
            click_rate=_rate(clicks_unique, delivered),
            click_to_open=_rate(clicks_unique, opens_unique),
        )


@dataclass(frozen=True)
class LatencyRow:
    label: str
    channel: str
    count: int
    p50: int | None
    p90: int | None
    p99: int | None


@dataclass(frozen=True)
class Report:
    start: date
    end: date
    granularity: str  # "hour" or "day"
    figures: Figures
    # (period, {status: count}) in time order, every period of the range.
    series: list[tuple[datetime | date, dict[str, int]]]
    statuses: list[str]
    # (domain, sent, delivered, bounced, opened), by sent, the first DOMAINS_SHOWN.
    domains: list[tuple[str, int, int, int, int]]
    # (url, clicks, unique clicks), by clicks.
    links: list[tuple[str, int, int]]
    latency: list[LatencyRow] = field(default_factory=list)


def _scope(queryset: QuerySet, configuration_ids: list[int] | None) -> QuerySet:
    return queryset if configuration_ids is None else queryset.filter(configuration_id__in=configuration_ids)


def report_build(*, configuration_ids: list[int] | None, start: date, end: date) -> Report:
    """The report of some configurations' messages (None: all) from `start` to `end` (days, UTC,
    both included), in six queries."""
    daily = _scope(DailyRollup.objects.filter(day__gte=start, day__lte=end), configuration_ids)

    # 1. Totals, per metric (latency buckets and links included).
    totals: dict[str, int] = {}
    for metric, value in daily.values("metric").annotate(total=Sum("value")).values_list("metric", "total"):
        totals[metric] = value

    # 2. Events by status over time.
    hourly = (end - start).days + 1 <= HOURLY_MAX_DAYS
    if hourly:
        since = datetime.combine(start, time.min, tzinfo=UTC)
        until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
        rows = (
            _scope(
                HourlyRollup.objects.filter(hour__gte=since, hour__lt=until, metric__startswith="status:"),
                configuration_ids,
            )
            .values_list("hour", "metric")
            .annotate(total=Sum("value"))
        )
        periods = [since + timedelta(hours=i) for i in range(int((until - since).total_seconds() // 3600))]
    else:
        rows = (
            daily.filter(metric__startswith="status:")
            .values_list("day", "metric")
            .annotate(total=Sum("value"))
        )
        periods = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    by_period: dict = defaultdict(dict)
    for period, metric, value in rows:
        if isinstance(period, datetime):
            period = period.astimezone(UTC)
        by_period[period][metric.split(":", 1)[1]] = value
    statuses = [status.value for status in FINAL_ORDER if totals.get(f"status:{status}")]
    series = [
        (period, {status: by_period[period].get(status, 0) for status in statuses}) for period in periods
    ]

    # 3. Domains.
    per_domain: dict[str, dict[str, int]] = defaultdict(dict)
    domain_rows = (
        _scope(DomainRollup.objects.filter(day__gte=start, day__lte=end), configuration_ids)
        .values_list("domain", "metric")
        .annotate(total=Sum("value"))
    )
    for domain, metric, value in domain_rows:
        per_domain[domain][metric] = value
    domains = []
    for domain, metrics in per_domain.items():
        sent = metrics.get(f"status:{EventStatus.PROCESSED}", 0)
        bounced = metrics.get("bounce_hard", 0) + metrics.get("bounce_soft", 0)
        domains.append((domain or "-", sent, max(sent - bounced, 0), bounced, metrics.get("open_unique", 0)))
    domains.sort(key=lambda row: (-row[1], row[0]))

    # 4. Hot clicks: the links' URLs.
    clicks = {int(m.split(":")[1]): v for m, v in totals.items() if m.startswith("link:")}
    unique = {int(m.split(":")[1]): v for m, v in totals.items() if m.startswith("link_unique:")}
    urls = dict(TrackedLink.objects.filter(pk__in=clicks).values_list("pk", "url"))
    links = sorted(
        ((urls.get(pk, f"#{pk}"), value, unique.get(pk, 0)) for pk, value in clicks.items() if value),
        key=lambda row: (-row[1], row[0]),
    )

    # 5. Latency per message and channel (6: their labels).
    buckets: dict[int, dict[int, int]] = defaultdict(dict)
    for configuration_id, metric, value in (
        daily.filter(metric__startswith="lat:")
        .values_list("configuration_id", "metric")
        .annotate(total=Sum("value"))
    ):
        buckets[configuration_id][int(metric.split(":")[1])] = value
    configurations = {
        row[0]: row[1:]
        for row in EventConfiguration.objects.filter(pk__in=buckets).values_list(
            "pk", "label", "event_id", "channel"
        )
    }
    latency = []
    per_channel: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for configuration_id, histogram in sorted(buckets.items()):
        label, event_id, channel = configurations.get(configuration_id, (str(configuration_id), "", ""))
        latency.append(_latency_row(f"{label} ({event_id})", channel, histogram))
        for index, value in histogram.items():
            per_channel[channel][index] += value
    if configuration_ids is None or len(buckets) > 1:
        latency += [
            _latency_row(f"all {channel}", channel, histogram)
            for channel, histogram in sorted(per_channel.items())
        ]

    return Report(
        start=start,
        end=end,
        granularity="hour" if hourly else "day",
        figures=Figures.of(totals),
        series=series,
        statuses=statuses,
        domains=domains[:DOMAINS_SHOWN],
        links=links,
        latency=latency,
    )


def _latency_row(label: str, channel: str, histogram: dict[int, int]) -> LatencyRow:
    return LatencyRow(
        label=label,
        channel=channel,
        count=sum(histogram.values()),
        p50=percentile_ms(histogram, 0.50),
        p90=percentile_ms(histogram, 0.90),
        p99=percentile_ms(histogram, 0.99),
    )


def hot_clicks_html(*, message: TransactionalMessage, report: Report) -> str:
    """The live version's HTML with, before each link, its human clicks and clickers over the
    report's range ('' when not published or without HTML). Two queries."""
    if message.published_version_id is None:
        return ""
    source = (
        message.versions.filter(pk=message.published_version_id)
        .values_list("content__html", flat=True)
        .first()
    )
    if not source:
        return ""
    clicks = {url: (total, unique) for url, total, unique in report.links}
    positions = TrackedLink.objects.filter(version_id=message.published_version_id).values_list(
        "position", "url"
    )
    labels = {
        position: gettext("%(clicks)s clicks, %(people)s people")
        % {"clicks": clicks.get(url, (0, 0))[0], "people": clicks.get(url, (0, 0))[1]}
        for position, url in positions
    }
    return links_label(source=source, labels=labels)
