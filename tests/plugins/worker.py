"""The Celery broker's transactional queue, and a real Celery worker process on the test database
and broker, sending email through the loopback SMTP server (plugin `smtp`), SMS and push through
the loopback Twilio and FCM fakes (`worker_providers`)."""

import json
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from django.conf import settings

from tests.delivery.fakes import FakeFcm, FakeTwilio
from tests.plugins import ROOT


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
def worker_providers():
    """The SMS and push providers of the worker process: `.twilio` and `.fcm`, loopback fakes whose
    `requests` hold what they accepted."""
    providers = SimpleNamespace(twilio=FakeTwilio(), fcm=FakeFcm())
    yield providers
    providers.twilio.stop()
    providers.fcm.stop()


def _providers_env(providers) -> dict[str, str]:
    return {
        "DELIVERY_SMS_BACKEND": "delivery.channels.sms.TwilioBackend",
        "TWILIO_API_URL": providers.twilio.url,
        "TWILIO_ACCOUNT_SID": providers.twilio.account_sid,
        "TWILIO_AUTH_TOKEN": providers.twilio.auth_token,
        "TWILIO_FROM": "+15005550006",
        "DELIVERY_PUSH_BACKEND": "delivery.channels.push.FcmBackend",
        "FCM_SERVICE_ACCOUNT_JSON": json.dumps(providers.fcm.service_account),
        "FCM_API_URL": providers.fcm.url,
    }


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, smtp_server, worker_providers, tmp_path_factory):
    """`celery -A campaign worker` in its own process, on the test database and broker,
    sending through the loopback SMTP server and the provider fakes of `worker_providers`."""
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
        **_providers_env(worker_providers),
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
