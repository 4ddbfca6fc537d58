"""The report pages (admin screens): one message's, and all messages' for administrators."""

import csv
from datetime import date, timedelta

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from messages_app.selectors import messages_editable_by

from .selectors import Report, hot_clicks_html, report_build

PERM_GLOBAL = "reports.view_global_report"
DEFAULT_DAYS = 30
MAX_DAYS = 3660


def _range(request) -> tuple[date, date, list[str]]:
    """The range asked for (default: the last 30 days), and what was wrong with it."""
    today = timezone.now().date()
    errors = []
    try:
        end = date.fromisoformat(request.GET["end"]) if request.GET.get("end") else today
    except ValueError:
        errors.append(_("The end date must be a date (YYYY-MM-DD)."))
        end = today
    try:
        start = (
            date.fromisoformat(request.GET["start"])
            if request.GET.get("start")
            else end - timedelta(days=DEFAULT_DAYS - 1)
        )
    except ValueError:
        errors.append(_("The start date must be a date (YYYY-MM-DD)."))
        start = end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        errors.append(_("The start date is after the end date: the dates were swapped."))
        start, end = end, start
    if (end - start).days >= MAX_DAYS:
        errors.append(_("A report covers at most ten years: the start date was moved."))
        start = end - timedelta(days=MAX_DAYS - 1)
    return start, end, errors


def _tables(report: Report) -> dict[str, tuple[list[str], list[list]]]:
    f = report.figures
    return {
        "figures": (
            [_("figure"), _("value")],
            [
                [_("sent"), f.sent],
                [_("delivered"), f.delivered],
                [_("hard bounces"), f.bounces_hard],
                [_("soft bounces"), f.bounces_soft],
                [_("errors"), f.errors],
                [_("ignored"), f.ignored],
                [_("opens"), f.opens],
                [_("unique opens"), f.opens_unique],
                [_("machine opens"), f.opens_machine],
                [_("clicks"), f.clicks],
                [_("unique clicks"), f.clicks_unique],
                [_("machine clicks"), f.clicks_machine],
                [_("unsubscribes"), f.unsubscribes],
                [_("open rate (%)"), f.open_rate if f.open_rate is not None else ""],
                [_("click-through rate (%)"), f.click_rate if f.click_rate is not None else ""],
                [_("click-to-open rate (%)"), f.click_to_open if f.click_to_open is not None else ""],
            ],
        ),
        "statuses": (
            [_("period"), *report.statuses],
            [
                [period.isoformat(), *(counts[status] for status in report.statuses)]
                for period, counts in report.series
            ],
        ),
        "domains": (
            [_("domain"), _("sent"), _("delivered"), _("bounced"), _("opened")],
            [list(row) for row in report.domains],
        ),
        "links": ([_("link"), _("clicks"), _("unique clicks")], [list(row) for row in report.links]),
        "latency": (
            [_("message"), _("channel"), _("sent"), "p50 (ms)", "p90 (ms)", "p99 (ms)"],
            [
                [row.label, row.channel, row.count, row.p50 or "", row.p90 or "", row.p99 or ""]
                for row in report.latency
            ],
        ),
    }


def _csv(name: str, table: tuple[list[str], list[list]], filename: str) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}-{name}.csv"'
    writer = csv.writer(response)
    header, rows = table
    writer.writerow(header)
    for row in rows:
        # A cell starting with = + - @ is neutralised: spreadsheets would run it as a formula.
        writer.writerow(
            ["'" + cell if isinstance(cell, str) and cell[:1] in "=+-@" else cell for cell in row]
        )
    return response


def _render(
    request, *, title: str, configuration_ids: list[int] | None, filename: str, extra: dict, message=None
):
    start, end, errors = _range(request)
    report = report_build(configuration_ids=configuration_ids, start=start, end=end)
    tables = _tables(report)
    if request.GET.get("csv"):
        if request.GET["csv"] not in tables:
            return HttpResponse(_("Unknown table."), status=404, content_type="text/plain")
        return _csv(request.GET["csv"], tables[request.GET["csv"]], filename)
    query = f"start={start.isoformat()}&end={end.isoformat()}"
    chart = {
        "labels": [
            period.strftime("%Y-%m-%d %H:00") if report.granularity == "hour" else period.isoformat()
            for period, _counts in report.series
        ],
        "datasets": [
            {"label": status, "data": [counts[status] for _period, counts in report.series]}
            for status in report.statuses
        ],
    }
    context = {
        **admin.site.each_context(request),
        "title": title,
        "report": report,
        "tables": tables,
        "errors": errors,
        "query": query,
        "chart": chart,
        "hot_html": hot_clicks_html(message=message, report=report) if message is not None else "",
        **extra,
    }
    return TemplateResponse(request, "admin/reports/report.html", context)


def message_report(request, message_pk: int):
    """The report of a message the user may edit (404 otherwise: scoped by messages_editable_by)."""
    message = get_object_or_404(
        messages_editable_by(user=request.user).select_related("configuration"), pk=message_pk
    )
    return _render(
        request,
        title=_("Report: %(message)s") % {"message": message},
        configuration_ids=[message.configuration_id],
        filename=message.message_id,
        message=message,
        extra={
            "message": message,
            "change_url": reverse("admin:messages_app_transactionalmessage_change", args=[message.pk]),
        },
    )


def global_report(request):
    """The report of all messages, for administrators."""
    if not request.user.has_perm(PERM_GLOBAL):
        raise PermissionDenied
    return _render(request, title=_("Report: all messages"), configuration_ids=None, filename="all", extra={})
