import email
import os
import socket
import subprocess
import sys
import time
from email import policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from rest_framework.test import APIClient

from campaign.roles import ADMINISTRATORS, MARKETERS
from integrations.services import integration_create
from messages_app.services import configuration_publish, message_publish, message_update
from tests.factories import EventConfigurationFactory, EventFieldFactory, UserFactory

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI", "").lower() == "true"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# Playwright's sync API runs an event loop in the test thread; the ORM calls made by the tests
# around it are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_sessionstart(session):
    """Under CI the suite runs on the real parts or not at all: no silent fallback to SQLite
    or the file-system broker, and no skipped end-to-end test."""
    if not IN_CI:
        return
    problems = []
    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        problems.append("DATABASE_URL must point at PostgreSQL")
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        problems.append("CELERY_BROKER_URL must point at Redis")
    else:
        import redis

        try:
            redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            problems.append(f"Redis at {settings.CELERY_BROKER_URL} is unreachable: {exc}")
    if problems:
        pytest.exit("CI=true: " + "; ".join(problems), returncode=3)


@pytest.fixture
def postgresql_only():
    """For tests of what exists on PostgreSQL only: skipped on SQLite, failed under CI."""
    from django.db import connection

    if connection.vendor != "postgresql":
        message = "this works on PostgreSQL only (set DATABASE_URL)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


# --- Users and API clients ---------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def _rowcache_listener_stopped(django_db_setup):
    """The row cache's listener and the grouped INSERTs' writer hold connections to the test
    database: closed before the database is dropped."""
    yield
    from fastpath.rowcache import rowcache_stop
    from fastpath.rows import rows_writer_close

    rowcache_stop()
    rows_writer_close()


@pytest.fixture(autouse=True)
def _version_caches_cleared():
    """Caches keyed by a published version's or a credential's id assume that ids are never
    reused, which holds in production; tests roll their transactions back, and SQLite then hands the
    same ids out again."""
    yield
    from events.services.trigger import version_ctx_check
    from fastpath.rowcache import rowcache_changed
    from integrations.ratelimit import rate_limit_reset

    version_ctx_check.cache_clear()
    rowcache_changed()
    rate_limit_reset()


@pytest.fixture
def administrator(db):
    return UserFactory(role=ADMINISTRATORS)


@pytest.fixture
def marketer(db):
    return UserFactory(role=MARKETERS)


@pytest.fixture
def credentials(db):
    return integration_create(name="Shop website")


@pytest.fixture
def api(credentials):
    """An API client sending the integration's credentials, as a website would."""
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {credentials.token}", HTTP_X_API_KEY=credentials.integration.client_id
    )
    return client


def trigger_path(event_id: str) -> str:
    org = settings.CAMPAIGN_ORGANIZATION
    return f"/{org}/campaign/mc{org}/{event_id}"


# --- Published event and message ---------------------------------------------------

CART_FIELDS = ["firstName", "cartAmount", "lastProduct"]
CART_CONTENT = {
    "sender_name": "Demo Shop",
    "sender_email": "shop@example.com",
    "subject": "{{ ctx.firstName }}, your cart is waiting",
    "html": "<p>Hello {{ ctx.firstName }}, you left {{ ctx.lastProduct }} ({{ ctx.cartAmount }}).</p>",
    "text": "Hello {{ ctx.firstName }}, you left {{ ctx.lastProduct }} ({{ ctx.cartAmount }}).",
}


def make_published_event(
    *,
    event_id="EVTcartAbandonment",
    fields=CART_FIELDS,
    content=CART_CONTENT,
    publish_message=True,
    user=None,
):
    config = EventConfigurationFactory(event_id=event_id)
    for position, field_id in enumerate(fields):
        EventFieldFactory(configuration=config, field_id=field_id, position=position)
    configuration_publish(config=config, user=user)
    config.refresh_from_db()
    if content:
        message_update(message=config.message, user=user, **content)
    if publish_message:
        message_publish(message=config.message, user=user)
    config.refresh_from_db()
    return config


@pytest.fixture
def cart_event(db):
    return make_published_event()


# --- A real SMTP server on loopback --------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RecordingHandler:
    """Keeps every message received; refuses recipients listed in `refuse` with 550, and answers
    451 to a recipient of `defer` as many times as its count says."""

    def __init__(self):
        self.messages = []
        self.refuse = set()
        self.defer = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        if self.defer.get(address, 0) > 0:
            self.defer[address] -= 1
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        message.envelope_recipients = list(envelope.rcpt_tos)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def wait_for(self, count: int = 1, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


@pytest.fixture(scope="session")
def smtp_server():
    handler = RecordingHandler()
    handler.port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port)
    controller.start()
    yield handler
    controller.stop()


@pytest.fixture
def smtp(smtp_server, settings):
    """The loopback SMTP server, emptied, with Django's SMTP backend pointed at it."""
    smtp_server.messages.clear()
    smtp_server.refuse.clear()
    smtp_server.defer.clear()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    return smtp_server


# --- A real Celery worker process ----------------------------------------------------


def _database_url(settings_dict) -> str:
    if settings_dict["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{settings_dict['NAME']}"
    user = settings_dict.get("USER") or ""
    password = f":{settings_dict['PASSWORD']}" if settings_dict.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{auth}{host}{port}/{settings_dict['NAME']}"


def transactional_queue_purge():
    from campaign.celery import app

    with app.connection_for_write() as connection:
        connection.default_channel.queue_declare("transactional", durable=True, auto_delete=False)
        connection.default_channel.queue_purge("transactional")


def transactional_queue_drain() -> list[tuple[str, list]]:
    """The tasks waiting in the transactional queue (taken out of it): (task name, args)."""
    from campaign.celery import app

    tasks = []
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        while (message := channel.basic_get("transactional", no_ack=True)) is not None:
            args, _kwargs, _embed = message.decode()
            tasks.append((message.headers["task"], args))
    return tasks


@pytest.fixture
def transactional_queue():
    """An empty transactional queue; drain it to see what was published."""
    transactional_queue_purge()
    yield transactional_queue_drain
    transactional_queue_purge()


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, smtp_server, tmp_path_factory):
    """`celery -A campaign worker` in its own process, on the test database and broker,
    sending through the loopback SMTP server."""
    from django.db import connection

    with django_db_blocker.unblock():
        database_url = _database_url(connection.settings_dict)
    transactional_queue_purge()
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "campaign.settings.test",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_server.port),
        # Status callbacks of the end-to-end tests go to receivers on loopback.
        "CAMPAIGN_CALLBACK_ALLOW_PRIVATE": "true",
        # Retries of temporary failures come back within a second.
        "DELIVERY_RETRY_BASE_SECONDS": "0.2",
    }
    log = open(log_path, "w")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "campaign",
            "worker",
            "-Q",
            "transactional,callbacks",
            "--concurrency",
            "2",
            "--loglevel",
            "INFO",
            "--without-mingle",
            "--without-gossip",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while "ready." not in log_path.read_text():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the Celery worker did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.2)
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


# --- Real Chromium, driven by Playwright ------------------------------------------------

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def login_page(browser, live_server):
    """login_page(user) -> a Playwright page of the admin, logged in as that user."""
    contexts = []

    def login(user, password="secret-pass"):
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.goto("/admin/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", password)
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/")
        return page

    yield login
    for context in contexts:
        context.close()
