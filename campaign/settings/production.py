"""Production: PostgreSQL (DATABASE_URL), a broker (CELERY_BROKER_URL), Redis (REDIS_URL), a real
email backend.

Nothing here has a default that is unsafe: a missing secret stops the start, and so does a missing
DATABASE_URL, CELERY_BROKER_URL or REDIS_URL, unless CAMPAIGN_ALLOW_EMBEDDED=true asks for the
embedded defaults (SQLite, the file-system broker, per-process cache and rate-limit counts).
"""

from django.core.exceptions import ImproperlyConfigured

from .base import *  # noqa: F403
from .base import CELERY_BROKER_URL, DATABASES, MIDDLEWARE, REDIS_URL, env, env_bool, env_int

DEBUG = False
SECRET_KEY = env("DJANGO_SECRET_KEY")
if not SECRET_KEY or len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set to a random value of at least 50 characters")

# The embedded defaults serve one process on one machine: production asks for the real services,
# or for the embedded defaults by name.
CAMPAIGN_ALLOW_EMBEDDED = env_bool("CAMPAIGN_ALLOW_EMBEDDED", False)
if not CAMPAIGN_ALLOW_EMBEDDED:
    missing = []
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        missing.append("DATABASE_URL (postgres://user:password@host:5432/dbname, not SQLite)")
    if CELERY_BROKER_URL.startswith("filesystem://"):
        missing.append("CELERY_BROKER_URL (redis://host:6379/0 or amqp://..., not the file-system broker)")
    if not REDIS_URL:
        missing.append(
            "REDIS_URL (redis://host:6379/1, shared by every process for the rate limiter and the cache; "
            "defaults to CELERY_BROKER_URL when that is redis://)"
        )
    if missing:
        raise ImproperlyConfigured(
            f"Production settings need {'; '.join(missing)}. Or set CAMPAIGN_ALLOW_EMBEDDED=true to run on "
            "the embedded SQLite database, file-system broker and per-process cache (one machine only)."
        )

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
LANGUAGE_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Static files (the admin's) served by the app itself, compressed and cache-busted.
MIDDLEWARE = [MIDDLEWARE[0], "whitenoise.middleware.WhiteNoiseMiddleware", *MIDDLEWARE[1:]]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
