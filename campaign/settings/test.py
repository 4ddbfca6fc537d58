"""Tests: the database and broker come from the environment (CI points them at the
machine's PostgreSQL and Redis); without them, SQLite and the file-system broker."""

from .base import *  # noqa: F403
from .base import CELERY_BROKER_URL, DATABASES, VAR_DIR, filesystem_broker_options

DEBUG = False
ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CAMPAIGN_ORGANIZATION = "acme"
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that the worker process of the end-to-end tests shares it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and "replica" not in DATABASES:
    # A second database standing for a read replica (tests/reports/test_replica.py); created only
    # for the tests that ask for it, and read only when REPORTS_READ_REPLICA is on.
    _name = DATABASES["default"]["NAME"]
    DATABASES["replica"] = {
        **DATABASES["default"],
        "NAME": f"{_name}_replica",
        "TEST": {"NAME": f"test_{_name}_replica"},
    }
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Apart from the development broker, so a running ./run never takes the tests' tasks.
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(VAR_DIR / "test-broker")
