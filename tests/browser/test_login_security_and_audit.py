"""Two-factor enrolment, the audit log and the lockout page in real Chromium, at 1366 px."""

import time
from base64 import b32decode
from pathlib import Path

import pytest
from django_otp.oath import TOTP
from playwright.sync_api import expect

from campaign.roles import ADMINISTRATORS
from messages_app.services import message_pause
from tests.conftest import make_published_event
from tests.factories import UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def fits_1366(page) -> None:
    page.set_viewport_size({"width": 1366, "height": 900})
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{page.url} overflows by {overflow}px at 1366 px"


def code_of(secret: str, *, steps_ahead: int = 0) -> str:
    key = b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key, step=30, t0=0, digits=6)
    totp.time = time.time() + steps_ahead * 30
    return f"{totp.token():06d}"


def test_an_administrator_enrols_two_factor_and_reads_the_audit_log(login_page, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    administrator = UserFactory(role=ADMINISTRATORS)
    config = make_published_event()
    message_pause(message=config.message, user=administrator)
    page = login_page(administrator)

    page.get_by_role("link", name="Two-factor authentication").click()
    expect(page.locator(".two-factor-qr svg")).to_be_visible()
    fits_1366(page)
    secret = page.locator(".two-factor-secret").inner_text().replace(" ", "")
    page.fill("#id_token", code_of(secret))
    page.get_by_role("button", name="Turn on").click()
    expect(page.locator(".messagelist")).to_contain_text("Two-factor authentication is on")

    page.goto(f"/admin/audit/auditentry/?actor__id__exact={administrator.pk}")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Two-factor authentication enabled")
    expect(rows.last).to_contain_text("Message paused")
    fits_1366(page)
    rows.last.locator("a").first.click()
    expect(page.locator("body")).to_contain_text("paused")
    fits_1366(page)
    page.go_back()
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    assert download.value.suggested_filename.startswith("audit-log-")
    exported = Path(download.value.path()).read_text(encoding="utf-8")
    assert exported.count("\n") == 3 and "user.two_factor_enabled" in exported

    # A new login asks for the code after the password.
    page.get_by_role("button", name="Log out").click()
    page.goto("/admin/login/")
    page.fill("#id_username", administrator.username)
    page.fill("#id_password", "secret-pass")
    page.click("input[type=submit]")
    expect(page.locator(".two-factor-verify")).to_contain_text("type the code of your authenticator app")
    fits_1366(page)
    page.fill("#id_token", code_of(secret, steps_ahead=1))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url("**/admin/")


def test_the_lockout_page_says_why_and_for_how_long(browser, live_server, settings):
    settings.AXES_FAILURE_LIMIT = 2
    user = UserFactory(role=ADMINISTRATORS)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1366, "height": 900})
    try:
        page = context.new_page()
        for password in ("wrong-1", "wrong-2", "secret-pass"):
            page.goto("/admin/login/")
            page.fill("#id_username", user.username)
            page.fill("#id_password", password)
            page.click("input[type=submit]")
        expect(page.locator("h1")).to_contain_text("Too many failed logins")
        expect(page.locator(".lockout")).to_contain_text("Try again after 0:15:00")
        fits_1366(page)
    finally:
        context.close()
