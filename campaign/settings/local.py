"""Development on embedded defaults: SQLite, a file-system broker, emails kept in the outbox."""

from .base import *  # noqa: F403
from .base import env, env_bool

DEBUG = env_bool("DJANGO_DEBUG", True)
ALLOWED_HOSTS = ["*"]
# Nothing leaves the machine: sent emails are stored and readable in the admin's outbox.
EMAIL_BACKEND = env("EMAIL_BACKEND", "delivery.backends.OutboxEmailBackend")
# SQLite takes its write lock for each dispatcher round: look less often than on PostgreSQL.
DELIVERY_DISPATCH_POLL_SECONDS = float(env("DELIVERY_DISPATCH_POLL_SECONDS", "0.2"))
