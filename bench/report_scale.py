"""Reports on a year of data: fills a database of its own with many finished events (and their
delivery attempts, provider feedback and opens), runs the rollup job over them, then times the
report pages.

    createdb -h 127.0.0.1 -U postgres h_reports_bench
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/h_reports_bench \\
        .venv/bin/python bench/report_scale.py --events 10000000

Prints, each with the floor measured in the same run:
- the rollup job's events per second, against a bare scan of the same rows (SELECT count(*) with
  the same window filter): how much grouping and writing the rollups costs over reading;
- the median time of the report pages (one message, all messages) over the whole year, against
  the admin's index page in the same process (goal: under 300 ms).

The database is emptied of events first (TRUNCATE): never point it at a database you use.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaign.settings.test")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

MESSAGES = 10
DOMAINS = 40
CHUNK = 1_000_000


def _sql(statement: str, params=None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _configurations() -> list[tuple[int, int]]:
    from events.models import EventConfiguration, EventField
    from messages_app.services import configuration_publish, message_publish, message_update

    found = []
    for index in range(MESSAGES):
        event_id = f"EVTbench{index}"
        config = EventConfiguration.objects.filter(event_id=event_id).first()
        if config is None:
            config = EventConfiguration.objects.create(event_id=event_id, label=f"Bench {index}")
            EventField.objects.create(
                configuration=config, field_id="firstName", label="First name", position=0
            )
            configuration_publish(config=config)
            config.refresh_from_db()
            message_update(message=config.message, subject="Hello", html="<p>Hi {{ ctx.firstName }}</p>")
            message_publish(message=config.message)
            config.refresh_from_db()
        found.append((config.pk, config.published_version_id))
    return found


def fill(total: int, start) -> None:
    """`total` finished events spread evenly over the year from `start`: 90 % processed, then
    ignored, deliveryFailed, tooOld; a latency of 20 ms to a minute; an attempt each; a hard
    bounce for 1 % of them and an open for 10 %."""
    configurations = _configurations()
    _sql(
        "TRUNCATE events_event, delivery_deliveryattempt, delivery_trackingevent, delivery_interaction, "
        "reports_hourlyrollup, reports_dailyrollup, reports_domainrollup, reports_rollupwatermark, "
        "campaign_callbackattempt, delivery_exclusion CASCADE"
    )
    ids = "ARRAY[" + ",".join(str(pk) for pk, _ in configurations) + "]"
    versions = "ARRAY[" + ",".join(str(version) for _, version in configurations) + "]"
    step_ms = 365 * 24 * 3600 * 1000 / total
    for first in range(0, total, CHUNK):
        last = min(first + CHUNK, total)
        began = time.monotonic()
        _sql(
            f"""
            INSERT INTO events_event (pkey, configuration_id, configuration_version_id, email, ctx, status,
                                      created_at, updated_at, processed_at, attempts)
            SELECT 'bench' || g, ({ids})[1 + g %% {MESSAGES}], ({versions})[1 + g %% {MESSAGES}],
                   'user' || g || '@d' || (g %% {DOMAINS}) || '.example', '{{"firstName": "Jane"}}'::jsonb,
                   CASE WHEN g %% 100 < 90 THEN 'processed' WHEN g %% 100 < 95 THEN 'ignored'
                        WHEN g %% 100 < 98 THEN 'deliveryFailed' ELSE 'tooOld' END,
                   t, t, t + make_interval(secs => (20 + (g * 7919) %% 60000) / 1000.0), 1
            FROM (SELECT g, %s::timestamptz + make_interval(secs => g * {step_ms / 1000.0}) AS t
                  FROM generate_series(%s::bigint, %s::bigint) AS g) AS s
            """,  # noqa: S608 - numbers of this script only
            [start, first, last - 1],
        )
        print(f"  events {last:,} ({time.monotonic() - began:.1f} s)", flush=True)
    began = time.monotonic()
    _sql(
        """
        INSERT INTO delivery_deliveryattempt (event_id, number, channel, address, started_at, duration_ms,
                                              outcome, provider_message_id, provider_response, error)
        SELECT id, 1, 'email', email, processed_at, 25, 'sent', pkey, '250 OK', '' FROM events_event
        """
    )
    _sql(
        """
        INSERT INTO delivery_trackingevent (event_id, esp_name, event_type, provider_message_id, recipient,
            occurred_at, received_at, description, mta_response, click_url, esp_event)
        SELECT id, 'bench', 'bounced', pkey, email, processed_at + interval '1 minute',
               processed_at + interval '1 minute', '', '550 5.1.1 unknown user', '', '{}'::jsonb
        FROM events_event WHERE status = 'processed' AND id % 100 = 7
        """
    )
    _sql(
        """
        INSERT INTO delivery_interaction (event_id, configuration_id, kind, link_key, url, domain, source,
            first_at, last_at, count, user_agent, ip_network, machine_reason, rolled, rolled_count,
            rolled_machine)
        SELECT id, configuration_id, 'open', 0, '', split_part(email, '@', 2), 'tracking',
               processed_at + interval '1 hour', processed_at + interval '1 hour', 1 + id % 3, 'bench', '',
               CASE WHEN id % 7 = 0 THEN 'privacy_proxy' ELSE '' END, false, 0, false
        FROM events_event WHERE status = 'processed' AND id % 10 = 3
        """
    )
    _sql("ANALYZE")
    print(f"  attempts, feedback and opens ({time.monotonic() - began:.1f} s)", flush=True)


def rollup() -> tuple[int, float, float]:
    """(events rolled up, seconds, seconds of the floor scan)."""
    from reports.rollup import rollup_run

    settings.REPORTS_ROLLUP_WINDOW_HOURS = 24 * 7
    settings.REPORTS_ROLLUP_MAX_WINDOWS = 1000
    settings.REPORTS_ROLLUP_BATCH_SIZE = 20_000
    now = timezone.now() + timedelta(days=1)
    began = time.monotonic()
    figures = rollup_run(now=now)
    seconds = time.monotonic() - began
    began = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM events_event WHERE processed_at IS NOT NULL AND processed_at < %s", [now]
        )
    floor = time.monotonic() - began
    return figures.events, seconds, floor


def timed(client: Client, url: str, rounds: int = 7) -> float:
    client.get(url)
    samples = []
    for _ in range(rounds):
        began = time.perf_counter()
        answer = client.get(url)
        samples.append(time.perf_counter() - began)
        assert answer.status_code == 200, answer.status_code
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--skip-fill", action="store_true", help="reuse the events of a previous run")
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        sys.exit("Set DATABASE_URL to a PostgreSQL database of its own (it is emptied).")
    call_command("migrate", verbosity=0)
    start = timezone.now() - timedelta(days=366)
    if not args.skip_fill:
        print(f"filling {args.events:,} events over a year ...", flush=True)
        fill(args.events, start)
    total = connection.cursor()
    total.execute("SELECT count(*) FROM events_event")
    events = total.fetchone()[0]
    print(f"events in the database: {events:,}")

    rolled, seconds, floor = rollup()
    rate = rolled / seconds if seconds else 0
    floor_rate = rolled / floor if floor else 0
    print(f"rollup: {rolled:,} events in {seconds:.1f} s = {rate:,.0f} events/s")
    print(
        f"floor (bare scan of the same rows): {floor_rate:,.0f} rows/s; "
        f"ratio rollup/floor {rate / floor_rate:.3f}"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM reports_hourlyrollup), (SELECT count(*) FROM reports_dailyrollup), "
            "(SELECT count(*) FROM reports_domainrollup)"
        )
        print("rollup rows (hourly, daily, domain): {:,}, {:,}, {:,}".format(*cursor.fetchone()))

    user = get_user_model().objects.filter(
        username="bench-admin"
    ).first() or get_user_model().objects.create_superuser("bench-admin", "bench@example.com", "bench-pass")
    client = Client()
    client.force_login(user)
    from messages_app.models import TransactionalMessage

    message = TransactionalMessage.objects.filter(message_id="RTEVTbench0").first()
    year = f"start={start.date()}&end={timezone.now().date()}"
    floor_ms = timed(client, "/admin/")
    message_ms = timed(client, f"/admin/reports/messages/{message.pk}/?{year}")
    global_ms = timed(client, f"/admin/reports/?{year}")
    week = f"start={(timezone.now() - timedelta(days=6)).date()}&end={timezone.now().date()}"
    global_week_ms = timed(client, f"/admin/reports/?{week}")
    print(f"admin index (floor): {floor_ms:.0f} ms")
    print(
        f"report of one message over the year: {message_ms:.0f} ms ({message_ms / floor_ms:.1f} x the floor)"
    )
    print(
        f"report of all messages over the year: {global_ms:.0f} ms ({global_ms / floor_ms:.1f} x the floor)"
    )
    print(
        f"report of all messages over a week: {global_week_ms:.0f} ms "
        f"({global_week_ms / floor_ms:.1f} x the floor)"
    )
    print("goal: under 300 ms")


if __name__ == "__main__":
    main()
