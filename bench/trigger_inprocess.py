"""In-process throughput of the trigger path (authenticate, validate, store, enqueue) through
Django's request handling, without a network server. A first figure to watch while the HTTP
benchmark against gunicorn is built.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \
        .venv/bin/python bench/trigger_inprocess.py --events 2000

It creates a throw-away database (bench_trigger_<pid>) on PostgreSQL, or a temporary SQLite
file, and drops it at the end. Enqueued tasks go to the broker and are purged afterwards.
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000, help="number of events to post (bounded)")
    args = parser.parse_args()
    count = max(1, min(args.events, 100_000))

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "campaign.settings.test")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    if connection.vendor == "sqlite":
        connection.settings_dict["TEST"]["NAME"] = str(Path(tempfile.mkdtemp()) / "bench.sqlite3")
    else:
        connection.settings_dict["TEST"]["NAME"] = f"bench_trigger_{os.getpid()}"
    old = setup_databases(verbosity=0, interactive=False)
    try:
        run(count, connection)
    finally:
        teardown_databases(old, verbosity=0)


def run(count: int, connection) -> None:
    from django.test import Client

    from campaign.services import integration_create
    from tests.conftest import make_published_event, trigger_path

    make_published_event()
    issued = integration_create(name="bench")
    client = Client()
    headers = {"Authorization": f"Bearer {issued.token}", "X-Api-Key": issued.integration.client_id}
    body = json.dumps(
        {"email": "jane@example.com", "ctx": {"firstName": "Jane", "cartAmount": "$ 1", "lastProduct": "Hat"}}
    )
    path = trigger_path("EVTcartAbandonment")
    latencies = []
    started = time.perf_counter()
    for _ in range(count):
        t0 = time.perf_counter()
        response = client.post(path, body, content_type="application/json", headers=headers)
        latencies.append(time.perf_counter() - t0)
        if response.status_code != 202:
            raise SystemExit(f"unexpected {response.status_code}: {response.content[:300]!r}")
    elapsed = time.perf_counter() - started
    latencies.sort()
    print(f"database: {connection.vendor}, events: {count}")
    print(f"throughput: {count / elapsed:.0f} events/s (one client, in-process)")
    print(
        f"latency ms: p50 {statistics.median(latencies) * 1000:.2f}  "
        f"p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.2f}"
    )
    _purge()


def _purge() -> None:
    from campaign.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("transactional")


if __name__ == "__main__":
    main()
