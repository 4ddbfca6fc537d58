"""Every figure of the report against the hand-counted fixture (conftest.py), the pages, their CSV,
who sees them, and the number of queries a page makes whatever its range."""

import csv
import io
from dataclasses import asdict
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from delivery.models import Interaction
from events.models import Event
from reports.rollup import rollup_run
from reports.selectors import report_build
from tests.factories import UserFactory

from .conftest import DAY, EXPECTED, EXPECTED_DOMAINS, EXPECTED_HOURS, EXPECTED_LATENCY, EXPECTED_LINKS

pytestmark = pytest.mark.django_db

START = DAY.date()


def roll():
    # A run a few minutes from now: past the rollup's lag behind the rows just written.
    return rollup_run(now=timezone.now() + timedelta(minutes=5))


def rolled(config):
    roll()
    return report_build(configuration_ids=[config.pk], start=START, end=START)


def test_every_figure_matches_the_hand_count(counted):
    report = rolled(counted)
    assert {key: value for key, value in asdict(report.figures).items()} == EXPECTED
    assert report.domains == EXPECTED_DOMAINS
    assert report.links == EXPECTED_LINKS
    [latency] = report.latency
    assert (latency.count, latency.p50, latency.p90, latency.p99) == EXPECTED_LATENCY
    assert latency.channel == "email"
    assert report.granularity == "hour"
    hours = {period.hour: counts for period, counts in report.series if any(counts.values())}
    assert {hour: {k: v for k, v in counts.items() if v} for hour, counts in hours.items()} == {
        **EXPECTED_HOURS,
        15: {"tooOld": 1},
    }
    assert len(report.series) == 24


def test_the_rollup_is_incremental_and_counts_nothing_twice(counted):
    first = rolled(counted)
    assert roll().events == 0
    assert rolled(counted).figures == first.figures
    # One more human open of e2 and a new opener: only the difference is added.
    e2 = Event.objects.get(email="e2@b.example")
    e6 = Event.objects.get(email="e6@a.example")
    from delivery.tracking import Tracked, interaction_record

    interaction_record(
        whom=Tracked(event_pk=e2.pk),
        kind="open",
        user_agent="Mozilla/5.0 (X11) Firefox/133.0",
        at=DAY.replace(hour=12),
    )
    interaction_record(
        whom=Tracked(event_pk=e6.pk),
        kind="open",
        user_agent="Mozilla/5.0 (X11) Firefox/133.0",
        at=DAY.replace(hour=12),
    )
    figures = rolled(counted).figures
    assert (figures.opens, figures.opens_unique) == (EXPECTED["opens"] + 2, EXPECTED["opens_unique"] + 1)


def test_a_click_flagged_a_scanner_after_the_rollup_leaves_the_human_figures(counted):
    rolled(counted)
    # e1's human clicks, now found to be a scanner's: moved from the human figures to the machines'.
    Interaction.objects.filter(event_id=Event.objects.get(email="e1@a.example").pk, kind="click").update(
        machine_reason="scanner", rolled=False
    )
    figures = rolled(counted).figures
    assert (figures.clicks, figures.clicks_unique, figures.clicks_machine) == (2, 1, 4)


def test_a_longer_range_is_drawn_per_day(counted):
    roll()
    report = report_build(configuration_ids=None, start=START - timedelta(days=9), end=START)
    assert report.granularity == "day"
    assert len(report.series) == 10
    assert report.series[-1] == (START, {"processed": 7, "ignored": 1, "deliveryFailed": 1, "tooOld": 1})
    assert asdict(report.figures) == EXPECTED
    # All messages: per message, then per channel.
    assert [row.label.startswith("all ") for row in report.latency] == [False, True]


class TestPages:
    def url(self, config, **query):
        params = "&".join(f"{key}={value}" for key, value in {"start": START, "end": START, **query}.items())
        return f"/admin/reports/messages/{config.message.pk}/?{params}"

    def test_the_message_page_shows_the_figures_and_tables(self, client, marketer, counted):
        roll()
        client.force_login(marketer)
        page = client.get(self.url(counted))
        assert page.status_code == 200
        html = page.content.decode()
        assert 'data-figure="sent">7<' in html
        assert 'data-figure="open_rate">40.0 %<' in html
        assert "a.example" in html and "https://shop.example.com/cart" in html
        assert "reports/chart.umd.js" in html
        # The hot clicks drawn on the message itself, in a sandboxed frame.
        assert '<iframe class="mc-hot-clicks" sandbox' in html
        assert "3 clicks, 2 people&lt;/span&gt;&lt;a href=&quot;https://shop.example.com/cart" in html

    def test_every_table_downloads_as_csv(self, client, marketer, counted):
        roll()
        client.force_login(marketer)
        answer = client.get(self.url(counted, csv="domains"))
        assert answer["Content-Type"].startswith("text/csv")
        assert "attachment" in answer["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(answer.content.decode())))
        assert rows == [["domain", "sent", "delivered", "bounced", "opened"]] + [
            [str(cell) for cell in row] for row in EXPECTED_DOMAINS
        ]
        for table in ("figures", "statuses", "links", "latency"):
            assert client.get(self.url(counted, csv=table)).status_code == 200
        assert client.get(self.url(counted, csv="nope")).status_code == 404

    def test_bad_dates_are_explained_and_nothing_is_lost(self, client, marketer, counted):
        client.force_login(marketer)
        page = client.get(self.url(counted, start="2026-13-45"))
        assert page.status_code == 200
        assert "The start date must be a date" in page.content.decode()
        swapped = client.get(self.url(counted, start="2026-11-21", end="2026-11-19")).content.decode()
        assert "swapped" in swapped

    def test_the_message_change_page_links_its_report(self, client, marketer, counted):
        client.force_login(marketer)
        page = client.get(f"/admin/messages_app/transactionalmessage/{counted.message.pk}/change/")
        assert f'href="/admin/reports/messages/{counted.message.pk}/"' in page.content.decode()

    def test_the_global_report_is_for_administrators(self, client, marketer, administrator, counted):
        roll()
        client.force_login(marketer)
        assert client.get("/admin/reports/").status_code == 403
        assert "Report of all messages" not in client.get("/admin/").content.decode()
        client.force_login(administrator)
        assert client.get("/admin/reports/hourlyrollup/")["Location"] == "/admin/reports/"
        assert "Report of all messages" in client.get("/admin/").content.decode()
        page = client.get(f"/admin/reports/?start={START}&end={START}")
        assert page.status_code == 200 and 'data-figure="sent">7<' in page.content.decode()


class TestWhoSees:
    def test_a_user_who_may_edit_no_message_sees_neither_its_report_nor_its_events(self, client, counted):
        # Staff allowed to view events but outside messages_editable_by (no change permission).
        outsider = UserFactory(is_staff=True)
        from django.contrib.auth.models import Permission

        outsider.user_permissions.add(
            *Permission.objects.filter(codename__in=["view_event", "view_deliveryattempt"])
        )
        client.force_login(outsider)
        assert client.get(f"/admin/reports/messages/{counted.message.pk}/").status_code == 404
        listing = client.get("/admin/events/event/")
        assert listing.status_code == 200
        assert "e1@a.example" not in listing.content.decode()

    def test_a_marketer_sees_the_events_and_attempts_of_the_messages_they_edit(
        self, client, marketer, counted
    ):
        client.force_login(marketer)
        listing = client.get("/admin/events/event/")
        assert listing.status_code == 200
        assert "e1@a.example" in listing.content.decode()
        event = Event.objects.get(email="e1@a.example")
        detail = client.get(f"/admin/events/event/{event.pk}/change/").content.decode()
        assert "Jacket" in detail  # the payload
        assert client.get("/admin/delivery/deliveryattempt/").status_code == 200
        assert client.get("/admin/events/eventconfiguration/").status_code == 403


def test_a_report_page_makes_the_same_few_queries_whatever_its_range(client, administrator, counted):
    roll()
    client.force_login(administrator)
    counts = []
    for start in (START, START - timedelta(days=40), date(2023, 1, 1)):
        for url in (f"/admin/reports/messages/{counted.message.pk}/", "/admin/reports/"):
            with CaptureQueriesContext(connection) as queries:
                assert client.get(f"{url}?start={start}&end={timezone.now().date()}").status_code == 200
            counts.append(len(queries))
    # About 10 are the report's own; the rest any admin page makes since login hardening and units
    # (session, user, its two-factor device, permissions, its unit, the idle-timeout session save).
    assert max(counts) <= 22
    assert len(set(counts[0::2])) == 1 and len(set(counts[1::2])) == 1
