"""The peer of delivery_e2e.py's stored part: django-post-office in a standalone Django project of
its own, this file being both its settings and its manage.py. It runs with the peer's virtualenv
(made by delivery_e2e.py under var/, never the project's .venv: the project does not depend on
django-post-office) against a database of its own on the benchmark's PostgreSQL cluster, and sends
with Django's SMTP backend to the benchmark's sink.

    PEER_PG_PORT=5440 PEER_SMTP_PORT=2525 python bench/peer_post_office.py migrate
    ... python bench/peer_post_office.py queue 3000       # queued in bulk (mail.send_many)
    ... python bench/peer_post_office.py send_queued_mail --processes 3

post_office's own settings stay at their defaults (a round takes BATCH_SIZE 100 queued emails,
split over the processes, each sending with THREADS_PER_PROCESS 5 threads over reused SMTP
connections; LOG_LEVEL 2 writes a log row per email sent), but for PEER_BATCH_SIZE when given.
"""

import os
import sys

import django
from django.conf import settings

BATCH_SIZE = int(os.environ.get("PEER_BATCH_SIZE") or 100)

settings.configure(
    DEBUG=False,
    SECRET_KEY="peer-bench-only",  # noqa: S106 - a throwaway project on loopback
    USE_TZ=True,
    INSTALLED_APPS=["django.contrib.contenttypes", "post_office"],
    DATABASES={
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": "127.0.0.1",
            "PORT": os.environ.get("PEER_PG_PORT", "5440"),
            "NAME": os.environ.get("PEER_DB", "peer"),
            "USER": "postgres",
        }
    },
    TEMPLATES=[{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True}],
    EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
    EMAIL_HOST="127.0.0.1",
    EMAIL_PORT=int(os.environ.get("PEER_SMTP_PORT", "25")),
    POST_OFFICE={"BATCH_SIZE": BATCH_SIZE},
    LOGGING={"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}},
)
django.setup()


def queue(count: int) -> None:
    """`count` emails queued as our benchmark's events are stored: HTML and text, one recipient,
    the same subject and sizes as the product's benchmark message (already rendered: post_office
    sends stored strings, where the product renders its templates at send time)."""
    from post_office import mail
    from post_office.models import Email

    Email.objects.all().delete()
    chunk = 1000
    for start in range(0, count, chunk):
        mail.send_many(
            [
                {
                    "sender": "Bench Shop <shop@example.com>",
                    "recipients": [f"customer{number}@example.com"],
                    "subject": f"Order {number} shipped",
                    "message": f"Hello C{number}, order {number} has shipped.",
                    "html_message": f"<p>Hello C{number}, order {number} has shipped.</p>",
                }
                for number in range(start, min(count, start + chunk))
            ]
        )
    print(Email.objects.count())


if __name__ == "__main__":
    if sys.argv[1:2] == ["queue"]:
        queue(int(sys.argv[2]))
    elif sys.argv[1:2] == ["sent"]:
        from post_office.models import STATUS, Email

        print(Email.objects.filter(status=STATUS.sent).count())
    else:
        from django.core.management import execute_from_command_line

        execute_from_command_line(sys.argv)
