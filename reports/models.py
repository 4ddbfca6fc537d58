"""Rollups of what happened to messages, from which every report is read (docs/reports.md).

Each row adds up one metric of one event configuration (its message) over one period: the
rollup job (reports/rollup.py) only ever adds to `value`, so it can run incrementally, and the
rows outlive the raw events, logs and tracking rows that retention deletes.

Metrics: `status:<event status>` (events that reached it), `bounce_hard`, `bounce_soft`,
`unsubscribe`, `open`, `open_unique`, `click`, `click_unique` (humans), the same with `_machine`
(flagged machines), `link:<id>` / `link_unique:<id>` (human clicks per tracked link) and `lat:<i>`
(processed events whose trigger-to-send latency falls in bucket i of LATENCY_BUCKETS_MS).
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

# Upper bounds (milliseconds) of the latency buckets; the last one is open-ended.
LATENCY_BUCKETS_MS = (
    50,
    100,
    200,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    30_000,
    60_000,
    300_000,
    900_000,
    3_600_000,
    None,
)


class HourlyRollup(models.Model):
    """Per configuration, hour and metric (statuses, opens and clicks): the time series of short
    ranges."""

    configuration = models.ForeignKey(
        "events.EventConfiguration",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("event configuration"),
    )
    hour = models.DateTimeField(verbose_name=_("hour"))
    metric = models.CharField(verbose_name=_("metric"), max_length=40)
    value = models.BigIntegerField(verbose_name=_("value"), default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["configuration", "hour", "metric"], name="unique_hourly_rollup")
        ]
        indexes = [models.Index(fields=["hour", "metric"], name="hourly_rollup_time")]
        permissions = [("view_global_report", _("Can view the report of all messages"))]
        # Its admin entry opens the report of all messages (reports/admin.py).
        verbose_name = _("report of all messages")
        verbose_name_plural = _("report of all messages")

    def __str__(self) -> str:
        return f"{self.configuration_id} {self.hour:%Y-%m-%d %H}h {self.metric}"


class DailyRollup(models.Model):
    """Per configuration, day (UTC) and metric: totals, long time series, latency, links."""

    configuration = models.ForeignKey(
        "events.EventConfiguration",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("event configuration"),
    )
    day = models.DateField(verbose_name=_("day"))
    metric = models.CharField(verbose_name=_("metric"), max_length=40)
    value = models.BigIntegerField(verbose_name=_("value"), default=0)

    class Meta:
        verbose_name = _("daily rollup")
        verbose_name_plural = _("daily rollups")
        constraints = [
            models.UniqueConstraint(fields=["configuration", "day", "metric"], name="unique_daily_rollup")
        ]
        indexes = [models.Index(fields=["day", "metric"], name="daily_rollup_time")]

    def __str__(self) -> str:
        return f"{self.configuration_id} {self.day} {self.metric}"


class DomainRollup(models.Model):
    """Per configuration, day, recipient domain and metric (sent, bounces, unique opens): the
    domain breakdown."""

    configuration = models.ForeignKey(
        "events.EventConfiguration",
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("event configuration"),
    )
    day = models.DateField(verbose_name=_("day"))
    domain = models.CharField(verbose_name=_("domain"), max_length=255)
    metric = models.CharField(verbose_name=_("metric"), max_length=40)
    value = models.BigIntegerField(verbose_name=_("value"), default=0)

    class Meta:
        verbose_name = _("domain rollup")
        verbose_name_plural = _("domain rollups")
        constraints = [
            models.UniqueConstraint(
                fields=["configuration", "day", "domain", "metric"], name="unique_domain_rollup"
            )
        ]
        indexes = [models.Index(fields=["day", "metric"], name="domain_rollup_time")]

    def __str__(self) -> str:
        return f"{self.configuration_id} {self.day} {self.domain} {self.metric}"


class RollupWatermark(models.Model):
    """How far the rollup job has read a source (events: a time; tracking events: an id)."""

    source = models.CharField(verbose_name=_("source"), max_length=30, unique=True)
    position_time = models.DateTimeField(verbose_name=_("position (time)"), null=True, blank=True)
    position_id = models.BigIntegerField(verbose_name=_("position (id)"), default=0)
    updated_at = models.DateTimeField(verbose_name=_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("rollup watermark")
        verbose_name_plural = _("rollup watermarks")

    def __str__(self) -> str:
        return self.source


class RetentionRun(models.Model):
    """The figures of one retention run (how many rows of each kind it deleted), append-only."""

    started_at = models.DateTimeField(verbose_name=_("started at"))
    finished_at = models.DateTimeField(verbose_name=_("finished at"))
    deleted = models.JSONField(verbose_name=_("deleted rows"), default=dict)
    # True when a kind had more rows to delete than the run's bound: the next run goes on.
    more = models.BooleanField(verbose_name=_("more to delete"), default=False)

    class Meta:
        verbose_name = _("retention run")
        verbose_name_plural = _("retention runs")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"retention {self.started_at:%Y-%m-%d %H:%M}"
