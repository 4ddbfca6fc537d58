"""Settings shared by every environment.

Every deployment knob is read from the environment here, in one place; the
local/production/test modules only change defaults that differ by purpose.
"""

import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent.parent
# Runtime data of the embedded defaults (SQLite file, file-system broker, ...).
VAR_DIR = Path(os.environ.get("CAMPAIGN_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value in (None, "") else value


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int) -> int:
    value = env(name)
    try:
        return default if value is None else int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    value = env(name)
    return default if value is None else [item.strip() for item in value.split(",") if item.strip()]


SECRET_KEY = env("DJANGO_SECRET_KEY", "insecure-local-development-key-change-me")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "anymail",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "campaign",
    "organisations",
    "audit",
    "accounts",
    "integrations",
    "events",
    "messages_app",
    "delivery",
    "profiles",
    "typologies",
    "marketing",
    "reports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The admin in its user's language (menu choice, else the browser's); the APIs in English.
    "campaign.middleware.AdminLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "accounts.middleware.TwoFactorMiddleware",
    "audit.middleware.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "campaign.urls"
WSGI_APPLICATION = "campaign.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the worker share the file: wait for the other's lock
    # instead of failing at once.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    VAR_DIR.mkdir(parents=True, exist_ok=True)
elif env_bool("DATABASE_SERVER_SIDE_BINDING", True):
    # Parameters sent apart from the SQL (not quoted into it), and statements run five times on a
    # connection prepared there (Django leaves psycopg's preparing off unless asked): PostgreSQL
    # parses and plans the hot paths' statements once. Turn off behind a connection pooler that
    # cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
# Reports read their rollups on a read replica when one is given (reports/router.py).
if env("DATABASE_REPLICA_URL", ""):
    DATABASES["replica"] = dj_database_url.parse(
        env("DATABASE_REPLICA_URL"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
REPORTS_READ_REPLICA = "replica" in DATABASES
DATABASE_ROUTERS = ["reports.router.ReportsReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out login before any password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": env_int("AUTH_PASSWORD_MIN_LENGTH", 12)},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Login and session security (README "Login security") ----------------------------------------
# django-axes: after AXES_FAILURE_LIMIT failed logins of one username from one address, that pair
# is locked out for AXES_COOLOFF_TIME and sees the lockout page.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/lockout.html"
AXES_VERBOSE = False
# Sessions end after SESSION_IDLE_TIMEOUT seconds without a request (every request pushes the end
# back) and, unless SESSION_EXPIRE_AT_BROWSER_CLOSE=false, when the browser closes.
SESSION_COOKIE_AGE = env_int("SESSION_IDLE_TIMEOUT", 1800)
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = env_bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", True)
SESSION_COOKIE_HTTPONLY = True
# Two-factor authentication (TOTP, django-otp): a user who enrolled an authenticator app gives its
# code after the password; with TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS=true administrators (and
# superusers) must enrol before anything else.
TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS = env_bool("TWO_FACTOR_REQUIRED_FOR_ADMINISTRATORS", False)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", "Message Center")
LOGIN_URL = "admin:login"
# The audit log keeps the network a web change came from, not the exact address.
AUDIT_IPV4_PREFIX = env_int("AUDIT_IPV4_PREFIX", 24)
AUDIT_IPV6_PREFIX = env_int("AUDIT_IPV6_PREFIX", 48)

LANGUAGE_CODE = "en-us"
# The admin's languages (docs/translations.md); the trigger and status APIs always answer in English.
LANGUAGES = [("en", _("English")), ("fr", _("French"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The language chosen in the admin's menu is kept a year in this browser.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", str(BASE_DIR / "staticfiles")))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "campaign.exceptions.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

# --- Transactional messaging ---------------------------------------------------
# The organisation id of the ACS-compatible paths /{ORG}/campaign/mc{ORG}/{eventID}.
CAMPAIGN_ORGANIZATION = env("CAMPAIGN_ORGANIZATION", "demo")
if not CAMPAIGN_ORGANIZATION.replace("_", "").replace("-", "").isalnum():
    raise ImproperlyConfigured("CAMPAIGN_ORGANIZATION may hold letters, digits, '-' and '_' only")
# The public base URL reported as serverUrl in API answers; the request's host when unset.
CAMPAIGN_SERVER_URL = env("CAMPAIGN_SERVER_URL")
# The public base URL of this installation as recipients reach it (https in production): the
# unsubscribe links of profile-based messages and their List-Unsubscribe header point there.
CAMPAIGN_PUBLIC_URL = (env("CAMPAIGN_PUBLIC_URL") or CAMPAIGN_SERVER_URL or "http://127.0.0.1:8000").rstrip(
    "/"
)
# An address of yours that receives unsubscribe requests by email, offered as the mailto of the
# List-Unsubscribe header (the subject carries the signed link); empty: the https link only.
CAMPAIGN_UNSUBSCRIBE_MAILTO = env("CAMPAIGN_UNSUBSCRIBE_MAILTO", "")
# Base URL of the open pixel and click redirects in tracked emails (delivery/tracking.py).
CAMPAIGN_TRACKING_URL = env("CAMPAIGN_TRACKING_URL", CAMPAIGN_SERVER_URL or "http://127.0.0.1:8000")
# Machine opens and clicks (docs/tracking.md): a hit sooner than this after the send, and clicks
# on two links of one recipient within TRACKING_SCANNER_SECONDS.
TRACKING_MIN_HUMAN_SECONDS = float(env("TRACKING_MIN_HUMAN_SECONDS", "2"))
TRACKING_SCANNER_SECONDS = float(env("TRACKING_SCANNER_SECONDS", "10"))
# Domain of the Message-ID header of every message we send.
CAMPAIGN_MESSAGE_ID_DOMAIN = env("CAMPAIGN_MESSAGE_ID_DOMAIN", "message-center.invalid")

# --- Email ---------------------------------------------------------------------
# SMTP by default; any django-anymail ESP backend (e.g. anymail.backends.mailgun.EmailBackend)
# when EMAIL_BACKEND names one, with its settings in ANYMAIL (JSON in ANYMAIL_SETTINGS).
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Message Center <no-reply@example.com>")
ANYMAIL = {}
if env("ANYMAIL_SETTINGS"):
    try:
        ANYMAIL = json.loads(env("ANYMAIL_SETTINGS"))
    except ValueError as exc:
        raise ImproperlyConfigured(f"ANYMAIL_SETTINGS is not valid JSON: {exc}") from None

# --- Celery ----------------------------------------------------------------------
# A broker that needs no server by default (files under var/broker); Redis in production.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "filesystem://")


def filesystem_broker_options(folder: Path) -> dict:
    """Options of kombu's file-system transport, all under one folder (created here)."""
    options = {
        "data_folder_in": folder,
        "data_folder_out": folder,
        "processed_folder": folder / "processed",
        "control_folder": folder / "control",
        "store_processed": False,
    }
    for key in ("processed_folder", "control_folder"):
        options[key].mkdir(parents=True, exist_ok=True)
    return {key: str(value) if isinstance(value, Path) else value for key, value in options.items()}


CELERY_BROKER_TRANSPORT_OPTIONS = (
    filesystem_broker_options(VAR_DIR / "broker") if CELERY_BROKER_URL.startswith("filesystem://") else {}
)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # After a broker restart a consumer blocked on a dead socket would wait forever: bounded
    # socket waits make it notice, and reconnect.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
        "socket_keepalive": True,
        "health_check_interval": 15,
    }
if CELERY_BROKER_URL.startswith("redis://"):
    # kombu's Redis transport, repaired so that a worker survives a Redis restart (campaign/broker.py).
    CELERY_BROKER_TRANSPORT = "campaign.broker:Transport"
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must not hang a web request when the broker is down: the event is
# already committed and the sweeper re-enqueues it.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2}
CELERY_TASK_DEFAULT_QUEUE = "default"
# Queue topology (README "Workers"): transactional events on their own queue and worker pool;
# marketing sends and housekeeping (the sweeper) on others, so they can never delay an event.
CELERY_TASK_ROUTES = {
    "delivery.tasks.event_process": {"queue": "transactional"},
    "delivery.tasks.events_process": {"queue": "transactional"},
    "marketing.tasks.*": {"queue": "bulk"},
    "delivery.tasks.delivery_sweep": {"queue": "housekeeping"},
}
# Every queue, transactional first: a bare `celery -A campaign worker` consumes them all (and runs
# the dispatcher); `-Q` picks some of them, as the README's production commands do. Each is the
# queue Celery would create on its own for the name (direct exchange and routing key of that name).
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name), routing_key=name)
    for name in ("transactional", "callbacks", "bulk", "housekeeping", "default")
]
# Marketing deliveries: messages per second per channel (a delivery may set its own), sent in
# batches of at most MARKETING_BATCH_SIZE on the bulk queue.
MARKETING_RATE_PER_SECOND = {
    "email": env_int("MARKETING_EMAIL_RATE", 200),
    "sms": env_int("MARKETING_SMS_RATE", 20),
    "push": env_int("MARKETING_PUSH_RATE", 200),
}
MARKETING_BATCH_SIZE = env_int("MARKETING_BATCH_SIZE", 200)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]

# --- State shared by every process -------------------------------------------------
# The Redis of the rate limiter's counts and of Django's cache, whatever the broker (RabbitMQ
# included): the broker's URL when that is Redis. Without one (local runs on the file-system
# broker) the cache is each process's memory; production refuses to start without it.
REDIS_URL = env(
    "REDIS_URL", CELERY_BROKER_URL if CELERY_BROKER_URL.startswith(("redis://", "rediss://")) else None
)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "mc-cache",
            # A Redis that does not answer fails the cache call instead of hanging the request.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Trigger API (issue 4) ---------------------------------------------------------
# Largest accepted body of one event, and of a batch call (413 above).
CAMPAIGN_API_MAX_BODY_BYTES = env_int("CAMPAIGN_API_MAX_BODY_BYTES", 64 * 1024)
CAMPAIGN_API_MAX_BATCH_BODY_BYTES = env_int("CAMPAIGN_API_MAX_BATCH_BODY_BYTES", 16 * 1024 * 1024)
CAMPAIGN_API_MAX_BATCH_EVENTS = env_int("CAMPAIGN_API_MAX_BATCH_EVENTS", 1000)
# How long an event without `expiration` stays valid (seconds, from `scheduled` or receipt): then
# it is cancelled (tooOld), and retries of temporary sending failures stop. Default 3.5 days.
CAMPAIGN_EVENT_DEFAULT_VALIDITY = env_int("CAMPAIGN_EVENT_DEFAULT_VALIDITY", 302400)
if CAMPAIGN_EVENT_DEFAULT_VALIDITY <= 0:
    raise ImproperlyConfigured("CAMPAIGN_EVENT_DEFAULT_VALIDITY must be a positive number of seconds")
# Each web process caches the credentials and published configurations the trigger reads,
# forgetting them when PostgreSQL notifies a change (fastpath/rowcache.py); never on SQLite.
# Entries also expire after CAMPAIGN_ROWCACHE_MAX_AGE seconds. Turn off when DATABASE_URL goes
# through a pooler in transaction mode (PgBouncer), which does not carry LISTEN.
CAMPAIGN_ROWCACHE = env_bool("CAMPAIGN_ROWCACHE", True)
CAMPAIGN_ROWCACHE_MAX_AGE = env_int("CAMPAIGN_ROWCACHE_MAX_AGE", 60)
# Requests per second per credential (0: unlimited); an integration may set its own.
CAMPAIGN_API_RATE_LIMIT = env_int("CAMPAIGN_API_RATE_LIMIT", 1000)
# Redis holding the rate-limit counters: REDIS_URL (above) unless CAMPAIGN_RATE_LIMIT_REDIS_URL names
# another. Without Redis (local runs on the file-system broker) the counters live in each process's
# memory (Django's local cache).
CAMPAIGN_RATE_LIMIT_REDIS_URL = env("CAMPAIGN_RATE_LIMIT_REDIS_URL", REDIS_URL)
# Idempotency keys are kept at least this long (hours), then purged.
CAMPAIGN_IDEMPOTENCY_KEY_HOURS = env_int("CAMPAIGN_IDEMPOTENCY_KEY_HOURS", 24)
# Status callbacks: timeout (seconds), attempts, and whether loopback/private/link-local targets
# are allowed (development only: it opens the door to SSRF).
CAMPAIGN_CALLBACK_TIMEOUT = env_int("CAMPAIGN_CALLBACK_TIMEOUT", 5)
CAMPAIGN_CALLBACK_MAX_ATTEMPTS = env_int("CAMPAIGN_CALLBACK_MAX_ATTEMPTS", 8)
CAMPAIGN_CALLBACK_ALLOW_PRIVATE = env_bool("CAMPAIGN_CALLBACK_ALLOW_PRIVATE", False)
CELERY_TASK_ROUTES["events.tasks.event_callback_send"] = {"queue": "callbacks"}
CELERY_TASK_ROUTES["integrations.tasks.*"] = {"queue": "callbacks"}

INSTALLED_APPS += ["drf_spectacular", "drf_spectacular_sidecar"]
REST_FRAMEWORK["DEFAULT_SCHEMA_CLASS"] = "drf_spectacular.openapi.AutoSchema"
SPECTACULAR_SETTINGS = {
    "TITLE": "Message Center trigger API",
    "DESCRIPTION": "ACS-compatible transactional messaging trigger API (see the README for statuses).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}
SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"] = [
    "drf_spectacular.hooks.postprocess_schema_enums",
    "events.openapi.per_event_schemas",
]
# Hourly purge of idempotency keys past their retention (run `celery -A campaign beat`).
CELERY_BEAT_SCHEDULE = {
    "idempotency-keys-purge": {"task": "integrations.tasks.idempotency_keys_purge_task", "schedule": 3600.0}
}
# --- Delivery (SPEC section 4) -----------------------------------------------------------
# Exponential backoff with equal jitter: attempt n waits c/2 + uniform(0, c/2), c = min(max, base * 2**(n-1)).
DELIVERY_RETRY_BASE_SECONDS = float(env("DELIVERY_RETRY_BASE_SECONDS", "30"))
DELIVERY_RETRY_MAX_SECONDS = float(env("DELIVERY_RETRY_MAX_SECONDS", "3600"))
# Processing errors (render, configuration) are retried this many times, then deliveryFailed.
DELIVERY_PROCESSING_MAX_ATTEMPTS = env_int("DELIVERY_PROCESSING_MAX_ATTEMPTS", 5)
# Leases (delivery/services.py, events_sweep): an event `processing` whose worker stopped renewing
# its lease for DELIVERY_LEASE_SECONDS (a killed worker) is taken as lost, and the sweeper enqueues
# it again. A live worker renews the lease of the events it holds every third of the lease (a
# heartbeat), for at most DELIVERY_LEASE_MAX_SECONDS (a worker stuck longer loses them). A due
# `pending` event waits in a queue: it is taken as lost after DELIVERY_QUEUE_LEASE_SECONDS, longer
# than a queue backlog.
DELIVERY_LEASE_SECONDS = env_int("DELIVERY_LEASE_SECONDS", 20)
DELIVERY_LEASE_MAX_SECONDS = env_int("DELIVERY_LEASE_MAX_SECONDS", 300)
DELIVERY_QUEUE_LEASE_SECONDS = env_int("DELIVERY_QUEUE_LEASE_SECONDS", 120)
DELIVERY_SWEEP_INTERVAL_SECONDS = env_int("DELIVERY_SWEEP_INTERVAL_SECONDS", 5)
DELIVERY_SWEEP_BATCH_SIZE = env_int("DELIVERY_SWEEP_BATCH_SIZE", 500)
DELIVERY_SWEEP_MAX_BATCHES = env_int("DELIVERY_SWEEP_MAX_BATCHES", 20)
# The dispatcher (delivery/dispatcher.py) runs in every worker consuming the transactional queue:
# it looks for stored events to publish every POLL seconds (and at once again after a full batch),
# takes up to BATCH_SIZE events a round and publishes them in tasks of at most CHUNK_SIZE events,
# over at least SPREAD tasks (a few events shared by the pool's processes; a backlog in full chunks,
# whose shared reads cost least). Set DELIVERY_DISPATCHER=false on workers that must not run it.
DELIVERY_DISPATCHER = env_bool("DELIVERY_DISPATCHER", True)
DELIVERY_DISPATCH_POLL_SECONDS = float(env("DELIVERY_DISPATCH_POLL_SECONDS", "0.05"))
DELIVERY_DISPATCH_BATCH_SIZE = env_int("DELIVERY_DISPATCH_BATCH_SIZE", 500)
DELIVERY_DISPATCH_CHUNK_SIZE = env_int("DELIVERY_DISPATCH_CHUNK_SIZE", 50)
DELIVERY_DISPATCH_SPREAD = env_int("DELIVERY_DISPATCH_SPREAD", 4)
# Soft bounces (deferred feedback) an address may collect before it goes to quarantine.
DELIVERY_SOFT_BOUNCE_THRESHOLD = env_int("DELIVERY_SOFT_BOUNCE_THRESHOLD", 3)
DELIVERY_HTTP_TIMEOUT = float(env("DELIVERY_HTTP_TIMEOUT", "10"))

# SMS: Twilio's Messages REST API when an account is configured, else the local capture.
TWILIO_ACCOUNT_SID = env("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM = env("TWILIO_FROM", "")
TWILIO_MESSAGING_SERVICE_SID = env("TWILIO_MESSAGING_SERVICE_SID", "")
TWILIO_STATUS_CALLBACK = env("TWILIO_STATUS_CALLBACK", "")
TWILIO_API_URL = env("TWILIO_API_URL", "https://api.twilio.com")
DELIVERY_SMS_BACKEND = env(
    "DELIVERY_SMS_BACKEND",
    "delivery.channels.sms.TwilioBackend" if TWILIO_ACCOUNT_SID else "delivery.channels.sms.CaptureBackend",
)
# Push: FCM HTTP v1 with a service account (JSON key file or its content), else the local capture.
FCM_SERVICE_ACCOUNT_FILE = env("FCM_SERVICE_ACCOUNT_FILE", "")
FCM_SERVICE_ACCOUNT_JSON = env("FCM_SERVICE_ACCOUNT_JSON", "")
FCM_PROJECT_ID = env("FCM_PROJECT_ID", "")
FCM_API_URL = env("FCM_API_URL", "https://fcm.googleapis.com")
DELIVERY_PUSH_BACKEND = env(
    "DELIVERY_PUSH_BACKEND",
    "delivery.channels.push.FcmBackend"
    if FCM_SERVICE_ACCOUNT_FILE or FCM_SERVICE_ACCOUNT_JSON
    else "delivery.channels.push.CaptureBackend",
)

CELERY_BEAT_SCHEDULE |= {
    "delivery-sweep": {
        "task": "delivery.tasks.delivery_sweep",
        "schedule": DELIVERY_SWEEP_INTERVAL_SECONDS,
        "options": {"expires": DELIVERY_SWEEP_INTERVAL_SECONDS},
    },
}

# --- Profile CSV import and export, privacy requests (issue 15) ------------------------
INSTALLED_APPS += ["import_export", "privacy"]
# Imports are checked and applied by a worker of the housekeeping queue, never of the
# transactional one: a 100,000-row file must not delay an event.
CELERY_TASK_ROUTES["profiles.tasks.*"] = {"queue": "housekeeping"}
# Rows parsed, checked and staged per step of an import (its progress moves once per step).
PROFILE_IMPORT_CHUNK_ROWS = env_int("PROFILE_IMPORT_CHUNK_ROWS", 1000)
# Largest profile CSV file accepted (bytes).
PROFILE_IMPORT_MAX_BYTES = env_int("PROFILE_IMPORT_MAX_BYTES", 200 * 1024 * 1024)
# --- Reports and retention (docs/reports.md) ---------------------------------------------
# The rollup job: every INTERVAL seconds, events finished up to LAG seconds ago, in windows of
# WINDOW_HOURS (at most MAX_WINDOWS per run), feedback and opens/clicks in batches of BATCH_SIZE.
REPORTS_ROLLUP_INTERVAL_SECONDS = env_int("REPORTS_ROLLUP_INTERVAL_SECONDS", 60)
REPORTS_ROLLUP_LAG_SECONDS = env_int("REPORTS_ROLLUP_LAG_SECONDS", 60)
REPORTS_ROLLUP_WINDOW_HOURS = env_int("REPORTS_ROLLUP_WINDOW_HOURS", 6)
REPORTS_ROLLUP_MAX_WINDOWS = env_int("REPORTS_ROLLUP_MAX_WINDOWS", 20)
REPORTS_ROLLUP_BATCH_SIZE = env_int("REPORTS_ROLLUP_BATCH_SIZE", 5000)
# Retention in days per kind (0 keeps them forever); rollups are always kept. Deleted in batches of
# RETENTION_BATCH_SIZE rows, at most RETENTION_MAX_BATCHES per kind and run, every hour.
RETENTION_EVENTS_DAYS = env_int("RETENTION_EVENTS_DAYS", 31)
RETENTION_LOGS_DAYS = env_int("RETENTION_LOGS_DAYS", 183)
RETENTION_TRACKING_DAYS = env_int("RETENTION_TRACKING_DAYS", 183)
RETENTION_BATCH_SIZE = env_int("RETENTION_BATCH_SIZE", 2000)
RETENTION_MAX_BATCHES = env_int("RETENTION_MAX_BATCHES", 50)
CELERY_BEAT_SCHEDULE |= {
    "reports-rollup": {
        "task": "reports.tasks.reports_rollup",
        "schedule": REPORTS_ROLLUP_INTERVAL_SECONDS,
        "options": {"expires": REPORTS_ROLLUP_INTERVAL_SECONDS},
    },
    "retention-purge": {
        "task": "reports.tasks.retention_purge",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
}
CELERY_TASK_ROUTES["reports.tasks.*"] = {"queue": "housekeeping"}

# Daily follow-ups are started again by beat, hourly (marketing.services.follow_ups_recur).
CELERY_BEAT_SCHEDULE |= {
    "follow-ups-recur": {
        "task": "marketing.tasks.follow_ups_recur_task",
        "schedule": 3600.0,
        "options": {"expires": 3600},
    },
}
