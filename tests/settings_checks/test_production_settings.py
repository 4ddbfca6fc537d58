"""The production settings refuse the embedded defaults unless asked for them by name, with a message
naming the missing variables; each settings module is imported in a process of its own, on exactly
the environment given (nothing inherited from the test run)."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SECRET = "s" * 60
POSTGRES = "postgres://mc:pw@db.example.com:5432/mc"
REDIS_BROKER = "redis://broker.example.com:6379/0"
RABBITMQ = "amqp://mc:pw@rabbit.example.com:5672//"

NEED_DATABASE = "DATABASE_URL (postgres://user:password@host:5432/dbname, not SQLite)"
NEED_BROKER = "CELERY_BROKER_URL (redis://host:6379/0 or amqp://..., not the file-system broker)"
NEED_REDIS = (
    "REDIS_URL (redis://host:6379/1, shared by every process for the rate limiter and the cache; "
    "defaults to CELERY_BROKER_URL when that is redis://)"
)
OR_EMBEDDED = (
    ". Or set CAMPAIGN_ALLOW_EMBEDDED=true to run on the embedded SQLite database, file-system broker "
    "and per-process cache (one machine only)."
)

# Prints the settings these tests look at, as JSON, or lets the exception end the process.
PRINT_SETTINGS = """
import json
from django.conf import settings
print(json.dumps({
    "database_engine": settings.DATABASES["default"]["ENGINE"],
    "broker": settings.CELERY_BROKER_URL,
    "redis_url": settings.REDIS_URL,
    "rate_limit_redis_url": settings.CAMPAIGN_RATE_LIMIT_REDIS_URL,
    "cache_backend": settings.CACHES["default"]["BACKEND"],
    "cache_location": settings.CACHES["default"].get("LOCATION"),
}))
"""


def environment(tmp_path: Path, module: str, **variables: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        # The embedded defaults create their folders: in the test's own, not the checkout's var/.
        "CAMPAIGN_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": f"campaign.settings.{module}",
        **variables,
    }


def load(tmp_path: Path, module: str = "production", **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PRINT_SETTINGS],
        cwd=ROOT,
        env=environment(tmp_path, module, **variables),
        capture_output=True,
        text=True,
        timeout=60,
    )


def refusal(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0, result.stdout
    return result.stderr.strip().splitlines()[-1]


def loaded(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("variables", "needed"),
    [
        ({}, [NEED_DATABASE, NEED_BROKER, NEED_REDIS]),
        ({"CAMPAIGN_ALLOW_EMBEDDED": "false"}, [NEED_DATABASE, NEED_BROKER, NEED_REDIS]),
        ({"DATABASE_URL": POSTGRES}, [NEED_BROKER, NEED_REDIS]),
        ({"CELERY_BROKER_URL": REDIS_BROKER}, [NEED_DATABASE]),
        ({"DATABASE_URL": "sqlite:////tmp/mc.sqlite3", "CELERY_BROKER_URL": REDIS_BROKER}, [NEED_DATABASE]),
        (
            {"DATABASE_URL": POSTGRES, "CELERY_BROKER_URL": "filesystem://", "REDIS_URL": "redis://r/1"},
            [NEED_BROKER],
        ),
        # A RabbitMQ broker is fine, but the rate limiter and the cache still need a Redis.
        ({"DATABASE_URL": POSTGRES, "CELERY_BROKER_URL": RABBITMQ}, [NEED_REDIS]),
    ],
)
def test_production_refuses_what_is_missing_and_names_it(tmp_path, variables, needed):
    result = load(tmp_path, DJANGO_SECRET_KEY=SECRET, **variables)
    assert refusal(result) == (
        "django.core.exceptions.ImproperlyConfigured: Production settings need "
        + "; ".join(needed)
        + OR_EMBEDDED
    )


def test_production_on_postgres_and_a_redis_broker_shares_that_redis(tmp_path):
    settings = loaded(
        load(tmp_path, DJANGO_SECRET_KEY=SECRET, DATABASE_URL=POSTGRES, CELERY_BROKER_URL=REDIS_BROKER)
    )
    assert settings == {
        "database_engine": "django.db.backends.postgresql",
        "broker": REDIS_BROKER,
        "redis_url": REDIS_BROKER,
        "rate_limit_redis_url": REDIS_BROKER,
        "cache_backend": "django.core.cache.backends.redis.RedisCache",
        "cache_location": REDIS_BROKER,
    }


def test_production_on_rabbitmq_keeps_the_shared_state_in_redis_url(tmp_path):
    settings = loaded(
        load(
            tmp_path,
            DJANGO_SECRET_KEY=SECRET,
            DATABASE_URL=POSTGRES,
            CELERY_BROKER_URL=RABBITMQ,
            REDIS_URL="rediss://cache.example.com:6380/2",
        )
    )
    assert settings["broker"] == RABBITMQ
    assert settings["rate_limit_redis_url"] == settings["redis_url"] == "rediss://cache.example.com:6380/2"
    assert settings["cache_backend"] == "django.core.cache.backends.redis.RedisCache"
    assert settings["cache_location"] == "rediss://cache.example.com:6380/2"


def test_the_rate_limiters_own_variable_still_overrides_redis_url(tmp_path):
    settings = loaded(
        load(
            tmp_path,
            DJANGO_SECRET_KEY=SECRET,
            DATABASE_URL=POSTGRES,
            CELERY_BROKER_URL=REDIS_BROKER,
            CAMPAIGN_RATE_LIMIT_REDIS_URL="redis://limits.example.com:6379/3",
        )
    )
    assert settings["rate_limit_redis_url"] == "redis://limits.example.com:6379/3"
    assert settings["redis_url"] == settings["cache_location"] == REDIS_BROKER


def test_production_on_the_embedded_defaults_when_asked_by_name(tmp_path):
    settings = loaded(load(tmp_path, DJANGO_SECRET_KEY=SECRET, CAMPAIGN_ALLOW_EMBEDDED="true"))
    assert settings == {
        "database_engine": "django.db.backends.sqlite3",
        "broker": "filesystem://",
        "redis_url": None,
        "rate_limit_redis_url": None,
        "cache_backend": "django.core.cache.backends.locmem.LocMemCache",
        "cache_location": None,
    }


def test_a_misspelt_allowance_is_refused(tmp_path):
    result = load(tmp_path, DJANGO_SECRET_KEY=SECRET, CAMPAIGN_ALLOW_EMBEDDED="yes please")
    assert refusal(result) == (
        "django.core.exceptions.ImproperlyConfigured: CAMPAIGN_ALLOW_EMBEDDED must be true or false, "
        "not 'yes please'"
    )


def test_the_secret_key_is_still_checked_first(tmp_path):
    assert refusal(load(tmp_path, DATABASE_URL=POSTGRES, CELERY_BROKER_URL=REDIS_BROKER)) == (
        "django.core.exceptions.ImproperlyConfigured: DJANGO_SECRET_KEY must be set to a random value of at "
        "least 50 characters"
    )


@pytest.mark.parametrize("module", ["local", "test"])
def test_local_and_test_settings_keep_the_embedded_defaults_and_a_local_memory_cache(tmp_path, module):
    settings = loaded(load(tmp_path, module))
    assert settings == {
        "database_engine": "django.db.backends.sqlite3",
        "broker": "filesystem://",
        "redis_url": None,
        "rate_limit_redis_url": None,
        "cache_backend": "django.core.cache.backends.locmem.LocMemCache",
        "cache_location": None,
    }


@pytest.mark.parametrize("module", ["local", "test"])
def test_local_and_test_settings_on_a_redis_broker_share_it(tmp_path, module):
    settings = loaded(load(tmp_path, module, CELERY_BROKER_URL=REDIS_BROKER))
    assert (
        settings["redis_url"]
        == settings["rate_limit_redis_url"]
        == settings["cache_location"]
        == REDIS_BROKER
    )
    assert settings["cache_backend"] == "django.core.cache.backends.redis.RedisCache"


def deploy_check(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment(tmp_path, "production", **variables),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_deploy_check_of_ci_passes_with_its_variables(tmp_path):
    # .ci/run's deploy check: its DATABASE_URL and CELERY_BROKER_URL (exported for the whole run; the
    # check connects to neither), a fresh secret key and one allowed host. REDIS_URL comes from the
    # broker's URL.
    result = deploy_check(
        tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/15",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="mc.example.com",
        CAMPAIGN_PUBLIC_URL="https://mc.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_deploy_check_warns_of_unsubscribe_links_that_are_not_https(tmp_path):
    result = deploy_check(
        tmp_path,
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/15",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(64),
        DJANGO_ALLOWED_HOSTS="mc.example.com",
        CAMPAIGN_PUBLIC_URL="http://mc.example.com",
    )
    assert result.returncode != 0
    assert "(profiles.W001) CAMPAIGN_PUBLIC_URL is 'http://mc.example.com'" in result.stdout + result.stderr


def test_the_deploy_check_fails_on_the_embedded_defaults(tmp_path):
    result = deploy_check(
        tmp_path, DJANGO_SECRET_KEY=secrets.token_urlsafe(64), DJANGO_ALLOWED_HOSTS="mc.example.com"
    )
    assert result.returncode != 0
    assert refusal(result).startswith(
        "django.core.exceptions.ImproperlyConfigured: Production settings need " + NEED_DATABASE
    )
