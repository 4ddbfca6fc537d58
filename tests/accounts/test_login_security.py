"""Login and session security as a user meets it: the lockout after failed logins, the password
policy, the idle session expiry and the two-factor step of the login (real login POSTs)."""

import time
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.services import user_create, user_groups_set
from audit.models import AuditEntry
from campaign.exceptions import ValidationFailed
from campaign.roles import ADMINISTRATORS, MARKETERS
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "secret-pass"  # the factories' password


def login(client, username, password):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def logged_in(response) -> bool:
    return response.status_code == 302 and response["Location"] == "/admin/"


# --- Lockout -------------------------------------------------------------------------------------


def test_the_configured_number_of_failures_locks_the_login_out(client, settings, marketer):
    settings.AXES_FAILURE_LIMIT = 3
    # Fewer failures than the limit: the right password still opens, and forgets the failures.
    for _ in range(2):
        page = login(client, marketer.username, "wrong-password")
        assert (
            page.status_code == 200
            and "Please enter the correct username and password" in page.content.decode()
        )
    assert logged_in(login(client, marketer.username, PASSWORD))
    client.logout()

    for _ in range(3):
        login(client, marketer.username, "wrong-password")
    locked = login(client, marketer.username, PASSWORD)
    assert locked.status_code == 429
    text = locked.content.decode()
    assert "Too many failed logins" in text
    assert "locked on this connection after 3 failed logins" in text
    assert "Try again after 0:15:00" in text
    assert "_auth_user_id" not in client.session

    # Another user is not locked out by them.
    other = UserFactory(role=MARKETERS)
    assert logged_in(login(client, other.username, PASSWORD))


def test_the_lockout_ends_after_the_cool_off(client, settings, marketer):
    settings.AXES_FAILURE_LIMIT = 2
    for _ in range(2):
        login(client, marketer.username, "wrong-password")
    assert login(client, marketer.username, PASSWORD).status_code == 429
    # The failures are older than the cool-off (15 minutes by default).
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    assert logged_in(login(client, marketer.username, PASSWORD))


# --- Password policy -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Tr0ub4dor&3", "at least 12 characters"),
        ("password1234", "too common"),
        ("734982130456", "entirely numeric"),
        ("newcomer2026", "too similar to the username"),
    ],
)
def test_a_weak_password_is_refused_with_the_reason(password, reason):
    with pytest.raises(ValidationFailed, match=reason):
        user_create(username="newcomer", password=password)
    assert not AuditEntry.objects.exists()


def test_the_user_admin_shows_the_password_policy(client, administrator):
    client.force_login(administrator)
    page = client.post(
        "/admin/auth/user/add/",
        {
            "username": "newcomer",
            "usable_password": "true",
            "password1": "short-pass",
            "password2": "short-pass",
        },
    ).content.decode()
    assert "This password is too short. It must contain at least 12 characters." in page


# --- Sessions ------------------------------------------------------------------------------------


def test_the_session_ends_with_the_browser_and_after_idling(client, marketer, settings):
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE is True and settings.SESSION_COOKIE_AGE == 1800
    response = login(client, marketer.username, PASSWORD)
    assert logged_in(response)
    cookie = response.cookies["sessionid"]
    assert not cookie["expires"] and not cookie["max-age"]  # a browser-session cookie
    session = Session.objects.get(session_key=cookie.value)
    # Each request pushes the end of the session back by the idle timeout.
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() + timedelta(minutes=1))
    assert client.get("/admin/").status_code == 200
    assert Session.objects.get(pk=session.pk).expire_date > timezone.now() + timedelta(minutes=29)
    # Idle longer than the timeout: back to the login page.
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() - timedelta(seconds=1))
    page = client.get("/admin/")
    assert page.status_code == 302 and page["Location"].startswith("/admin/login/")


# --- Two-factor (TOTP) ---------------------------------------------------------------------------


def code(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """What the user's authenticator app shows (django-otp's own TOTP on the device's key)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def test_an_administrator_enrols_then_gives_a_code_at_each_login(client, settings, administrator):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    client.force_login(administrator)
    page = client.get("/accounts/two-factor/").content.decode()
    assert "<svg" in page and "Scan this QR code" in page
    device = TOTPDevice.objects.get(user=administrator, confirmed=False)
    secret = page.split('class="two-factor-secret">')[1].split("</code>")[0].replace(" ", "")
    assert device.config_url.count(f"secret={secret}") == 1

    wrong = client.post("/accounts/two-factor/", {"token": "12345"}).content.decode()
    assert "The code is not valid" in wrong
    done = client.post("/accounts/two-factor/", {"token": code(device)})
    assert done.status_code == 302 and done["Location"] == "/admin/"
    assert TOTPDevice.objects.get(user=administrator).confirmed
    entry = AuditEntry.objects.get(action="user.two_factor_enabled")
    assert entry.actor == administrator and entry.object_id == str(administrator.pk)
    client.logout()

    # The password alone no longer opens the admin: the code is asked first.
    assert logged_in(login(client, administrator.username, PASSWORD))
    asked = client.get("/admin/events/eventconfiguration/")
    assert asked.status_code == 302 and asked["Location"].startswith("/accounts/two-factor/verify/?next=")
    page = client.get(asked["Location"]).content.decode()
    assert "type the code of your authenticator app" in page
    refused = client.post(
        "/accounts/two-factor/verify/", {"token": "000000", "next": "/admin/events/eventconfiguration/"}
    )
    assert "The code is not valid" in refused.content.decode()
    assert client.get("/admin/").status_code == 302
    verified = client.post(
        "/accounts/two-factor/verify/",
        {"token": code(device, steps_ahead=1), "next": "/admin/events/eventconfiguration/"},
    )
    assert verified.status_code == 302 and verified["Location"] == "/admin/events/eventconfiguration/"
    assert client.get("/admin/events/eventconfiguration/").status_code == 200


def test_the_verify_step_never_redirects_elsewhere(client, settings, administrator):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    device = TOTPDevice.objects.create(user=administrator, name="app", confirmed=True)
    client.force_login(administrator)
    response = client.post(
        "/accounts/two-factor/verify/", {"token": code(device), "next": "https://evil.example/"}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_administrators_must_enrol_when_the_setting_requires_it(client, settings, administrator, marketer):
    settings.TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS = True
    client.force_login(administrator)
    response = client.get("/admin/")
    assert response.status_code == 302 and response["Location"] == "/accounts/two-factor/"
    assert (
        "Administrators must use two-factor authentication"
        in client.get(response["Location"]).content.decode()
    )
    client.force_login(marketer)
    assert client.get("/admin/").status_code == 200


def test_turning_two_factor_off_is_audited_and_refused_when_required(client, settings, administrator):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    device = TOTPDevice.objects.create(user=administrator, name="app", confirmed=True)
    login(client, administrator.username, PASSWORD)
    client.post("/accounts/two-factor/verify/", {"token": code(device)})
    assert "Two-factor authentication is on" in client.get("/accounts/two-factor/").content.decode()
    settings.TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS = True
    page = client.post("/accounts/two-factor/", {"action": "remove"}, follow=True).content.decode()
    assert "required for administrators" in page and TOTPDevice.objects.filter(user=administrator).exists()
    settings.TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS = False
    client.post("/accounts/two-factor/", {"action": "remove"})
    assert not TOTPDevice.objects.filter(user=administrator).exists()
    assert AuditEntry.objects.filter(action="user.two_factor_disabled", actor=administrator).count() == 1


def test_a_role_group_change_by_service_is_audited_with_the_names(administrator):
    user_groups_set(user=administrator, groups=Group.objects.filter(name__in=[ADMINISTRATORS, MARKETERS]))
    entry = AuditEntry.objects.get(action="user.groups_changed")
    assert entry.changes["after"] == {"groups": sorted([ADMINISTRATORS, MARKETERS])}


def test_the_password_alone_never_turns_two_factor_off(client, administrator):
    TOTPDevice.objects.create(user=administrator, name="app", confirmed=True)
    assert logged_in(login(client, administrator.username, PASSWORD))
    response = client.post("/accounts/two-factor/", {"action": "remove"})
    assert response.status_code == 302 and response["Location"].startswith("/accounts/two-factor/verify/")
    assert TOTPDevice.objects.filter(user=administrator, confirmed=True).exists()
    assert not AuditEntry.objects.filter(action="user.two_factor_disabled").exists()
