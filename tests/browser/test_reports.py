"""A marketer opens a message's report in real Chromium: the chart drawn from the local Chart.js,
the figures, the tables, a CSV download, and no horizontal overflow at 1366 px."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaign.roles import MARKETERS
from reports.rollup import rollup_run
from tests.factories import UserFactory
from tests.reports.conftest import DAY, EXPECTED_DOMAINS
from tests.reports.conftest import counted as counted  # the hand-counted fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_marketer_reads_the_report_of_a_message_and_downloads_a_table(login_page, counted):
    rollup_run(now=timezone.now() + timedelta(minutes=5))
    page = login_page(UserFactory(role=MARKETERS))
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"/admin/messages_app/transactionalmessage/{counted.message.pk}/change/")
    page.get_by_role("link", name="Report").click()
    page.fill("input[name=start]", DAY.date().isoformat())
    page.fill("input[name=end]", DAY.date().isoformat())
    page.get_by_role("button", name="Show").click()

    expect(page.locator("[data-figure=sent]")).to_have_text("7")
    expect(page.locator("[data-figure=click_to_open]")).to_have_text("100.0 %")
    chart = page.locator("#mc-status-chart")
    expect(chart).to_have_attribute("data-ready", "true")
    labels = page.evaluate("document.getElementById('mc-status-chart').chart.data.datasets.map(d => d.label)")
    assert labels == ["processed", "ignored", "deliveryFailed", "tooOld"]
    shapes = page.evaluate(
        "document.getElementById('mc-status-chart').chart.data.datasets.map(d => d.pointStyle)"
    )
    assert len(set(shapes)) == 4  # told apart by shape, not by colour alone
    expect(page.locator("#mc-table-domains tbody tr")).to_have_count(2)
    expect(page.locator("#mc-table-links tbody tr").first).to_contain_text("https://shop.example.com/cart")

    with page.expect_download() as download_info:
        page.locator("#mc-table-domains a.mc-csv").click()
    download = download_info.value
    assert download.suggested_filename == f"{counted.message.message_id}-domains.csv"
    rows = list(csv.reader(io.StringIO(download.path().read_text(encoding="utf-8"))))
    assert rows[1:] == [[str(cell) for cell in row] for row in EXPECTED_DOMAINS]

    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
