"""CPU per trigger call in one process, against the floor, without HTTP.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/trigger_cpu.py [--rounds 16] [--calls 500] [--threads 1]

The same WSGI application as gunicorn's (bench.wsgi) is called directly, in --rounds alternating
rounds of --calls requests: POST /floor (the same JSON stored, nothing else) and POST to the trigger
of a published event with valid credentials, made by --threads threads together (default 1, as
the threads of one gunicorn worker). The figure is CPU time (`time.process_time`, every thread of
the process) per call, the median over the rounds of each, and their ratio: steadier than
throughput when comparing two versions of the code on a machine whose speed drifts (PostgreSQL's
work is not counted: it is the same INSERT for both). A throw-away database (bench_cpu_<pid>) is
created and dropped. Only loopback traffic.
"""

import argparse
import io
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EVENT = json.dumps(
    {"email": "jane@example.com", "ctx": {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Hat"}}
).encode()


def environ(path: str, headers: dict) -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(EVENT)),
        "wsgi.input": io.BytesIO(EVENT),
        "wsgi.url_scheme": "http",
        **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()},
    }


def round_cpu(application, path: str, headers: dict, calls: int, threads: int = 1) -> float:
    """CPU milliseconds per call over `calls` calls, made by `threads` threads together (as the
    threads of a gunicorn worker would)."""
    statuses = set()

    def start_response(status, _headers):
        statuses.add(status.split()[0])

    def call(count: int) -> None:
        for _ in range(count):
            for _chunk in application(environ(path, headers), start_response):
                pass
        connection.close()

    started = time.process_time()
    workers = [threading.Thread(target=call, args=(calls // threads,)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    calls = calls // threads * threads
    spent = time.process_time() - started
    if statuses != {"202"}:
        raise SystemExit(f"{path} answered {statuses}")
    return spent * 1000 / calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument(
        "--threads", type=int, default=1, help="threads calling together (gunicorn's --threads)"
    )
    args = parser.parse_args()
    rounds, calls = max(2, min(args.rounds, 100)), max(10, min(args.calls, 5000))
    threads = max(1, min(args.threads, 16))

    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["CAMPAIGN_API_RATE_LIMIT"] = "0"
    import django

    django.setup()
    from django.test.utils import setup_databases, teardown_databases

    if connection.vendor != "postgresql":
        raise SystemExit("DATABASE_URL must point at PostgreSQL")
    connection.settings_dict["TEST"]["NAME"] = f"bench_cpu_{os.getpid()}"
    old = setup_databases(verbosity=0, interactive=False)
    try:
        from bench.urls import FLOOR_TABLE
        from bench.wsgi import application
        from integrations.services import integration_create
        from tests.conftest import make_published_event, trigger_path

        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {FLOOR_TABLE} (id bigserial PRIMARY KEY, body jsonb NOT NULL)")
        make_published_event(event_id="EVTbench")
        issued = integration_create(name="bench")
        auth = {"Authorization": f"Bearer {issued.token}", "X-Api-Key": issued.integration.client_id}
        trigger = trigger_path("EVTbench")
        round_cpu(application, "/floor", {}, calls)  # warm-up of both, not measured
        round_cpu(application, trigger, auth, calls)
        floor, spent = [], []
        for _ in range(rounds):
            floor.append(round_cpu(application, "/floor", {}, calls, threads))
            spent.append(round_cpu(application, trigger, auth, calls, threads))
        f, t = statistics.median(floor), statistics.median(spent)
        print(f"{rounds} alternating rounds of {calls} calls by {threads} thread(s), CPU per call (median)")
        print(f"floor    {f:.3f} ms")
        print(f"trigger  {t:.3f} ms")
        print(f"ratio floor/trigger: {f / t:.2f} (1.00: the trigger costs no more than the floor)")
    finally:
        from fastpath.rowcache import rowcache_stop
        from fastpath.rows import rows_writer_close

        rowcache_stop()
        rows_writer_close()
        connection.close()
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
