"""HTTP benchmark of the trigger API on PostgreSQL with gunicorn, against the framework's floor.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/trigger_http.py

In one run: a throw-away database (bench_http_<pid>) is created and migrated, an event is published,
gunicorn serves the product (plus a bare insert view, /floor) on 127.0.0.1, and wrk (Debian's `wrk`
package) drives 16 concurrent connections for --duration seconds at each of, in --rounds alternating
rounds (default 9 of 5 s; the medians are reported):
  floor   POST /floor: the same JSON inserted into a table, no validation or auth (the floor)
  trigger POST /{ORG}/campaign/mc{ORG}/EVTbench: authenticated, validated, stored (for the dispatcher)
Then the batch endpoint gets --batches calls of 1,000 events from 2 client threads. The rate
limiter is off unless --rate-limit gives the credential a limit (set it above the rate reached to
measure the limiter's cost without refusals; refused calls are counted as non-2xx).
It prints throughput, p50/p99 latency and CPU per request (gunicorn, PostgreSQL, wrk) of both, the
ratio trigger/floor (the median of the rounds' own ratios: the machine's speed drifts, and a round
pair shares one spell of it), and the batch rate.
Queued tasks are purged and the database dropped at the end. Only loopback traffic.
"""

import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EVENT = {
    "email": "jane@example.com",
    "ctx": {"firstName": "Jane", "cartAmount": "$ 125", "lastProduct": "Hat"},
}
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = [[%s]]
wrk.headers["Content-Type"] = "application/json"
%s
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: str) -> tuple[str, int, float]:
    """(command name, parent pid, user+system CPU seconds) of a live process."""
    with open(f"/proc/{pid}/stat") as handle:
        stat = handle.read()
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    return name, int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK


def cpu_snapshot(server_pid: int) -> dict:
    """CPU seconds so far of the gunicorn processes and of PostgreSQL's (the whole cluster)."""
    totals = {"gunicorn": 0.0, "postgres": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            name, parent, seconds = _proc_cpu(pid)
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if int(pid) == server_pid or parent == server_pid:
            totals["gunicorn"] += seconds
        elif name == "postgres":
            totals["postgres"] += seconds
    return totals


def wrk(url: str, headers: dict, duration: int, connections: int, server_pid: int) -> dict:
    script = WRK_SCRIPT % (
        json.dumps(EVENT),
        "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()),
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    before, children = cpu_snapshot(server_pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", handle.name, url],
        capture_output=True,
        text=True,
        timeout=duration + 60,
        check=True,
    ).stdout
    after, children_after = cpu_snapshot(server_pid), resource.getrusage(resource.RUSAGE_CHILDREN)
    os.unlink(handle.name)

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    cpu = {name: (after[name] - before[name]) * 1000 / requests for name in after}
    cpu["wrk"] = (
        (children_after.ru_utime + children_after.ru_stime - children.ru_utime - children.ru_stime)
        * 1000
        / requests
    )
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "cpu": cpu,
        "p50": ms("50%"),
        "p99": ms("99%"),
        "non2xx": int(errors.group(1)) if errors else 0,
        "raw": out,
    }


def median_run(runs: list[dict]) -> dict:
    """The median of each figure over the rounds; non-2xx answers summed."""
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "p50": statistics.median(r["p50"] for r in runs),
        "p99": statistics.median(r["p99"] for r in runs),
        "non2xx": sum(r["non2xx"] for r in runs),
        "cpu": {name: statistics.median(r["cpu"][name] for r in runs) for name in runs[0]["cpu"]},
    }


def batch_rate(url: str, headers: dict, batches: int, threads: int = 2) -> float:
    body = json.dumps({"events": [EVENT] * 1000}).encode()
    counts, lock = [0], threading.Lock()

    def worker(n: int) -> None:
        for _ in range(n):
            request = urllib.request.Request(
                url, data=body, method="POST", headers={**headers, "Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                accepted = json.loads(response.read())["accepted"]
            with lock:
                counts[0] += accepted

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(batches // threads,)) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return counts[0] / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (bounded to 120)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=9, help="alternating floor/trigger rounds (1 to 15)")
    parser.add_argument(
        "--batches", type=int, default=20, help="batch calls of 1,000 events (bounded to 200)"
    )
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=0,
        help="the credential's requests per second (0: the limiter off, the default; above the rate "
        "reached, the limiter's cost without refusals)",
    )
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    args = parser.parse_args()
    duration = max(1, min(args.duration, 120))
    rounds = max(1, min(args.rounds, 15))
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")

    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    # By default the benchmark measures the trigger path without the limiter: one credential sends
    # everything, more than the default limit.
    os.environ["CAMPAIGN_API_RATE_LIMIT"] = str(max(0, args.rate_limit))
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_databases, teardown_databases

    if connection.vendor != "postgresql":
        raise SystemExit("DATABASE_URL must point at PostgreSQL")
    name = f"bench_http_{os.getpid()}"
    connection.settings_dict["TEST"]["NAME"] = name
    old = setup_databases(verbosity=0, interactive=False)
    server = None
    try:
        from bench.urls import FLOOR_TABLE
        from integrations.services import integration_create
        from tests.conftest import make_published_event, trigger_path

        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {FLOOR_TABLE} (id bigserial PRIMARY KEY, body jsonb NOT NULL)")
        make_published_event(event_id="EVTbench")
        issued = integration_create(name="bench")
        connection.close()
        db = settings.DATABASES["default"]
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{name}",
            "DATABASE_CONN_MAX_AGE": "600",
        }
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "bench.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(args.workers),
                "--threads",
                str(args.threads),
                "--worker-class",
                "gthread",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/floor", data=b"{}", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        auth = {"Authorization": f"Bearer {issued.token}", "X-Api-Key": issued.integration.client_id}
        trigger = base + trigger_path("EVTbench")
        wrk(base + "/floor", {}, 2, args.connections, server.pid)  # warm-up of both, not measured
        wrk(trigger, auth, 2, args.connections, server.pid)
        # Rounds alternate floor and trigger, so that a slow spell of the machine weighs on both.
        runs = {"floor": [], "trigger": []}
        for _ in range(rounds):
            runs["floor"].append(wrk(base + "/floor", {}, duration, args.connections, server.pid))
            runs["trigger"].append(wrk(trigger, auth, duration, args.connections, server.pid))
        batch = batch_rate(trigger + "/batch", auth, max(2, min(args.batches, 200)))

        limiter = f"rate limit {args.rate_limit}/s" if args.rate_limit > 0 else "rate limit off"
        print(
            f"gunicorn gthread {args.workers}x{args.threads}, {args.connections} connections, "
            f"{rounds} rounds of {duration}s each, {limiter}; medians of the rounds"
        )
        floor, result = median_run(runs["floor"]), median_run(runs["trigger"])
        for label, run in (("floor", floor), ("trigger", result)):
            rounds_rps = " ".join(f"{r['rps']:.0f}" for r in runs[label])
            print(
                f"{label:8} {run['rps']:8.0f} req/s  p50 {run['p50']:6.2f} ms  p99 {run['p99']:6.2f} ms"
                f"  non-2xx {run['non2xx']}  (rounds: {rounds_rps} req/s)"
            )
            cpu = run["cpu"]
            print(
                f"{'':8} CPU per request: gunicorn {cpu['gunicorn']:.3f} ms, PostgreSQL "
                f"{cpu['postgres']:.3f} ms, wrk {cpu['wrk']:.3f} ms"
            )
        # Each round's trigger against the floor measured just before it: the machine's speed drifts
        # from minute to minute, a round pair shares one spell of it.
        pairs = [t["rps"] / f["rps"] for f, t in zip(runs["floor"], runs["trigger"], strict=True)]
        ratio = statistics.median(pairs)
        print(
            f"ratio trigger/floor: {ratio:.2f} (goal >= 0.80), the median of the rounds' ratios "
            f"({' '.join(f'{p:.2f}' for p in pairs)}); ratio of the medians "
            f"{result['rps'] / floor['rps']:.2f}; trigger p99 {result['p99']:.1f} ms (goal <= 50)"
        )
        print(f"batch: {batch:.0f} events/s accepted (goal >= 10,000)")
    finally:
        if server is not None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=40)
            except subprocess.TimeoutExpired:
                # Seen once in about twenty runs: a gthread worker still waiting out its grace period.
                print("gunicorn did not stop within 40 s of SIGTERM: killed", file=sys.stderr)
                server.kill()
                server.wait(timeout=30)
        from campaign.celery import app

        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("transactional")
        connection.close()
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
