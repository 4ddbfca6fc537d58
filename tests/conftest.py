import pytest
from django.conf import settings
from rest_framework.test import APIClient

from campaign.roles import ADMINISTRATORS, MARKETERS
from integrations.services import integration_create
from messages_app.services import configuration_publish, message_publish, message_update
from tests.factories import EventConfigurationFactory, EventFieldFactory, UserFactory
from tests.plugins import IN_CI

# The real parts, each its own plugin (see tests/plugins/__init__.py).
pytest_plugins = ["tests.plugins.smtp", "tests.plugins.worker", "tests.plugins.browser"]


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
def _flush_retried_on_deadlock():
    """The TRUNCATE that empties the database after a transactional test locks every table in
    turn, while the session's Celery worker and the fast path's writer may still hold a lock on
    one of them (a row inserted, checked against the tables it refers to): PostgreSQL then picks
    one of the two as a deadlock's victim, sometimes the TRUNCATE. The flush is a test's own
    cleanup, not the product's, and is run again (up to three times) instead of erroring."""
    import logging
    import time

    from django.db import OperationalError
    from django.db.backends.base.operations import BaseDatabaseOperations

    flush = BaseDatabaseOperations.execute_sql_flush

    def execute_sql_flush(self, sql_list):
        for attempt in range(1, 4):
            try:
                return flush(self, sql_list)
            except OperationalError as exc:
                if "deadlock" not in str(exc) or attempt == 3:
                    raise
                logging.getLogger("tests").warning("flush deadlocked (%s); again", exc)
                time.sleep(0.2 * attempt)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(BaseDatabaseOperations, "execute_sql_flush", execute_sql_flush)
        yield


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
