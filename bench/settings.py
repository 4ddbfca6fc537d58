"""Settings of the HTTP benchmark: the product's settings (production-like: DEBUG off, persistent
database connections) plus the floor view's URL. Never used outside bench/."""

from campaign.settings.base import *  # noqa: F403

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "bench.urls"
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "ERROR"}}
