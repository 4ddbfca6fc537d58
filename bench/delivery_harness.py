"""The real parts of the delivery benchmarks and crash runs, all on loopback and all owned by
the run: a PostgreSQL cluster of its own (initdb under /tmp, port 5440), a Redis server of its
own (port 6390), their ports and gunicorn's (8790) changed by BENCH_PG_PORT, BENCH_REDIS_PORT and
BENCH_WEB_PORT, so that two runs can share a machine; an SMTP sink, either aiosmtpd recording each
Message-ID with its arrival time (the default) or Postfix's C `smtp-sink` counting the messages it
accepts (faster than any Python sink: where the product's own cost begins), gunicorn serving the
trigger API, and Celery workers. Nothing touches the machine's shared PostgreSQL/Redis, so both can
be restarted at will.
"""

import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)
ORG = "bench"
EVENT_ID = "EVTbenchOrder"
FINAL = {"processed", "ignored", "deliveryFailed", "routingFailed", "tooOld", "targetingFailed"}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return True
        time.sleep(interval)
    return False


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) used so far by process `pid` and its live descendants, with
    the children each of them reaped (the kernel's cutime and cstime): a process tree's CPU,
    including its workers that already ended (PostgreSQL's backends, a pool's forks)."""
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # from field 3 (state) on: see proc(5)
        parents[int(entry.name)] = int(fields[1])
        ticks[int(entry.name)] = sum(int(value) for value in fields[11:15])  # utime .. cstime
    tree, grew = {pid}, True
    while grew:
        grew = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                grew = True
    return sum(ticks.get(member, 0) for member in tree) / os.sysconf("SC_CLK_TCK")


class OwnPostgres:
    def __init__(self, workdir: Path, port: int = int(os.environ.get("BENCH_PG_PORT", 5440))):
        self.port = port
        self.data = workdir / "pg"
        self.logfile = workdir / "pg.log"
        self.url = f"postgres://postgres@127.0.0.1:{port}/bench"

    def _as_postgres(self, *args, check=True):
        # PostgreSQL refuses to run as root: as root, run its tools as the postgres user.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run([*prefix, *args], check=check, capture_output=True)

    def start(self):
        if not (self.data / "PG_VERSION").exists():
            self.data.mkdir(parents=True)
            if os.geteuid() == 0:
                shutil.chown(self.data, "postgres")
                shutil.chown(self.data.parent, "postgres")
            self._as_postgres(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust")
        self._as_postgres(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.logfile),
            "-w",
            "-o",
            f"-p {self.port} -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200"
            " -c shared_buffers=256MB -c synchronous_commit=on",
            "start",
        )
        self.database_create("bench")

    def database_create(self, name: str) -> None:
        """Create database `name` on this cluster (nothing when it exists)."""
        createdb = [str(PG_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"]
        self._as_postgres(*createdb, name, check=False)

    def stop(self, mode: str = "immediate"):
        self._as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop", check=False)


class OwnRedis:
    def __init__(self, workdir: Path, port: int = int(os.environ.get("BENCH_REDIS_PORT", 6390))):
        self.port = port
        self.dir = workdir
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process = None

    def start(self):
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
        )
        import redis

        wait_until(lambda: redis.Redis(port=self.port).ping(), 10)

    def stop(self):
        """kill -9: whatever was queued is gone (no persistence): the worst case."""
        if self.process:
            self.process.kill()
            self.process.wait()


class SmtpSink:
    """An SMTP server recording (Message-ID, arrival time) of every message. It runs in its own
    process, so that it never waits for the GIL of the load generator's threads (it would slow the
    workers' sends down and count that against the product); arrivals go through a file."""

    name = "aiosmtpd"
    identifies = True  # each arrival carries its Message-ID

    def __init__(self, workdir: Path):
        self.path = workdir / "smtp-received.tsv"
        self.path.touch()
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, __file__, "smtp-sink", str(self.port), str(self.path)], cwd=ROOT
        )
        wait_until(lambda: socket.create_connection(("127.0.0.1", self.port), timeout=1).close() or True, 30)
        self._received: list[tuple[str | None, float]] = []
        self._offset = 0

    @property
    def received(self) -> list[tuple[str | None, float]]:
        """Every arrival so far: (Message-ID or None, time.monotonic() of the arrival)."""
        with open(self.path, "rb") as handle:
            handle.seek(self._offset)
            data = handle.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.decode().splitlines():
            message_id, at = line.split("\t")
            self._received.append((message_id or None, float(at)))
        return self._received

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


class PostfixSink:
    """Postfix's `smtp-sink` (C, one event-driven process) on loopback: it throws each message away
    after its "." and prints a running counter (`-c`) that it flushes at every message. A thread of
    this process reads the counter, so `received` holds one (None, time of reading) per accepted
    message: how many arrived and when, not which ones (it records no Message-ID). The reading
    thread lags the sink by microseconds while this process waits, as it does while measuring."""

    name = "postfix smtp-sink"
    identifies = False
    BINARY = "/usr/sbin/smtp-sink"

    def __init__(self, workdir: Path):
        self.port = free_port()
        args = [self.BINARY, "-c", "-4"]
        if os.geteuid() == 0:
            args += ["-u", "nobody"]  # it refuses to run as root otherwise
        with open(workdir / "smtp-sink.log", "ab") as errors:
            self.process = subprocess.Popen(
                [*args, f"127.0.0.1:{self.port}", "256"], stdout=subprocess.PIPE, stderr=errors
            )
        self._received: list[tuple[str | None, float]] = []
        self.accepted = 0
        self._reader = threading.Thread(target=self._read, name="smtp-sink-counter", daemon=True)
        self._reader.start()
        wait_until(lambda: socket.create_connection(("127.0.0.1", self.port), timeout=1).close() or True, 30)

    def _read(self) -> None:
        pending = b""
        while chunk := os.read(self.process.stdout.fileno(), 65536):
            at = time.monotonic()
            *updates, pending = (pending + chunk).split(b"\r")
            for update in updates:
                # "sess=3 quit=2 mesg=120": messages accepted since the start
                counters = dict(field.split(b"=") for field in update.split() if b"=" in field)
                accepted = int(counters.get(b"mesg", 0))
                if accepted > self.accepted:
                    self._received.extend([(None, at)] * (accepted - self.accepted))
                    self.accepted = accepted

    @property
    def received(self) -> list[tuple[str | None, float]]:
        """One (None, time.monotonic() of the arrival) per message accepted since the last clear."""
        return self._received

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)
        self._reader.join(timeout=5)


SINKS = {"aiosmtpd": SmtpSink, "postfix": PostfixSink}


def smtp_sink_serve(port: int, path: str) -> None:
    """The sink process: aiosmtpd on loopback, one line per message (headers parsed only)."""
    from email.parser import BytesHeaderParser

    from aiosmtpd.controller import Controller

    output = open(path, "a")  # noqa: SIM115 - kept open for the life of the process
    parser = BytesHeaderParser()

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            message_id = parser.parsebytes(envelope.content).get("Message-ID") or ""
            output.write(f"{message_id}\t{time.monotonic()}\n")
            output.flush()
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


class Stack:
    """Database, broker, SMTP sink, web server and workers of one run."""

    def __init__(self, *, web_workers: int = 3, env: dict | None = None, sink: str = "aiosmtpd"):
        self.workdir = Path(tempfile.mkdtemp(prefix="mc-bench-"))
        os.chmod(self.workdir, 0o755)  # noqa: S103 - the postgres user keeps its cluster in here
        self.postgres = OwnPostgres(self.workdir)
        self.redis = OwnRedis(self.workdir)
        self.smtp = SINKS[sink](self.workdir)
        self.web_port = int(os.environ.get("BENCH_WEB_PORT", 8790))
        self.web_workers = web_workers
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "campaign.settings.local",
            "DJANGO_DEBUG": "false",
            "DATABASE_URL": self.postgres.url,
            "CELERY_BROKER_URL": self.redis.url,
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(self.smtp.port),
            "CAMPAIGN_ORGANIZATION": ORG,
            "CAMPAIGN_VAR_DIR": str(self.workdir / "var"),
            "LOG_LEVEL": "WARNING",
            **(env or {}),
        }
        self.base_url = f"http://127.0.0.1:{self.web_port}"
        self._client = threading.local()

    # --- lifecycle -------------------------------------------------------------------
    def start(self):
        self.postgres.start()
        self.redis.start()
        os.environ.update(self.env)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self.credentials = self._seed()
        self.start_web()

    def _seed(self):
        from integrations.services import integration_create
        from tests.conftest import make_published_event

        make_published_event(
            event_id=EVENT_ID,
            fields=["firstName", "orderId"],
            content={
                "sender_name": "Bench Shop",
                "sender_email": "shop@example.com",
                "subject": "Order {{ ctx.orderId }} shipped",
                "html": "<p>Hello {{ ctx.firstName }}, order {{ ctx.orderId }} has shipped.</p>",
                "text": "Hello {{ ctx.firstName }}, order {{ ctx.orderId }} has shipped.",
            },
        )
        return integration_create(name="bench")

    def spawn(self, name: str, args: list[str], nice: int = 0):
        logfile = open(self.workdir / f"{name}.log", "a")  # noqa: SIM115
        self.processes[name] = subprocess.Popen(
            ["nice", "-n", str(nice), *args] if nice else args,
            cwd=ROOT,
            env=self.env,
            stdout=logfile,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill -9 takes the pool children too
        )
        return self.processes[name]

    def start_web(self):
        self.spawn(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "campaign.wsgi",
                "-b",
                f"127.0.0.1:{self.web_port}",
                "-w",
                str(self.web_workers),
                "--threads",
                "4",
                "--worker-class",
                "gthread",
                "--log-level",
                "warning",
            ],
        )
        wait_until(lambda: urllib.request.urlopen(f"{self.base_url}/admin/login/", timeout=2), 30)

    def start_worker(
        self,
        name: str,
        queues: str,
        concurrency: int = 2,
        beat: bool = False,
        nice: int = 0,
        pool: str = "prefork",
    ):
        args = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "campaign",
            "worker",
            "-Q",
            queues,
            "-n",
            f"{name}@%h",
            "--concurrency",
            str(concurrency),
            "-P",
            pool,
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "WARNING",
        ]
        if beat:
            args += ["--beat", "--schedule", str(self.workdir / "beat-schedule")]
        return self.spawn(name, args, nice=nice)

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by PostgreSQL (the postmaster and its backends, those that
        ended included), the SMTP sink, Redis and each spawned process (by name)."""
        postmaster = int((self.postgres.data / "postmaster.pid").read_text().split()[0])
        return {
            "PostgreSQL": cpu_seconds(postmaster),
            "sink": cpu_seconds(self.smtp.process.pid),
            "Redis": cpu_seconds(self.redis.process.pid),
            **{name: cpu_seconds(process.pid) for name, process in self.processes.items()},
        }

    def kill(self, name: str):
        process = self.processes.pop(name, None)
        if process and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def stop(self):
        for name in list(self.processes):
            self.kill(name)
        self.smtp.stop()
        from django.db import connections

        from fastpath.rowcache import rowcache_stop

        # This process's row cache listens on the database that is about to stop.
        rowcache_stop()
        connections.close_all()
        self.redis.stop()
        self.postgres.stop("fast")
        if os.environ.get("BENCH_KEEP_LOGS"):
            log(f"logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # --- traffic ---------------------------------------------------------------------
    def trigger(self, number: int, timeout: float = 10.0) -> tuple[int, dict | None, float]:
        """POST one event on this thread's kept-alive connection (a new one after an error);
        (HTTP status or 0 for no answer, body, start time)."""
        body = json.dumps(
            {
                "email": f"customer{number}@example.com",
                "ctx": {"firstName": f"C{number}", "orderId": str(number)},
            }
        ).encode()
        headers = {
            "Authorization": f"Bearer {self.credentials.token}",
            "X-Api-Key": self.credentials.integration.client_id,
            "Content-Type": "application/json",
        }
        started = time.monotonic()
        connection = getattr(self._client, "connection", None)
        if connection is None:
            connection = self._client.connection = http.client.HTTPConnection(
                "127.0.0.1", self.web_port, timeout=timeout
            )
        try:
            connection.request("POST", f"/{ORG}/campaign/mc{ORG}/{EVENT_ID}", body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            connection.close()
            self._client.connection = None
            return 0, None, started
        return response.status, json.loads(data) if response.status == 202 else None, started

    def statuses(self, pkeys: list[str]) -> Counter:
        from django.db import connection

        from events.models import Event

        connection.close_if_unusable_or_obsolete()
        return Counter(Event.objects.filter(pkey__in=pkeys).values_list("status", flat=True))

    def held(self) -> dict[str, object]:
        """The events `processing` now (PKey -> when they were claimed): right after a kill, those
        the killed worker held."""
        from django.db import connection

        from events.models import Event, EventStatus

        connection.close_if_unusable_or_obsolete()
        return dict(Event.objects.filter(status=EventStatus.PROCESSING).values_list("pkey", "updated_at"))

    def processed_at(self, pkeys: list[str]) -> dict[str, tuple]:
        """PKey -> (dispatched_at, processed_at) of the events that reached a final status; the
        sweeper's takeover sets dispatched_at."""
        from django.db import connection

        from events.models import Event

        connection.close_if_unusable_or_obsolete()
        done = Event.objects.filter(pkey__in=pkeys, processed_at__isnull=False)
        return {
            pkey: (dispatched, processed)
            for pkey, dispatched, processed in done.values_list("pkey", "dispatched_at", "processed_at")
        }

    def committed_sends(self, pkeys: list[str]) -> Counter:
        """Per event, how many sends were committed (a `sent` attempt is written in the same
        transaction as the final status, after the provider accepted the message)."""
        from django.db import connection

        from delivery.models import AttemptOutcome, DeliveryAttempt

        connection.close_if_unusable_or_obsolete()
        return Counter(
            DeliveryAttempt.objects.filter(event__pkey__in=pkeys, outcome=AttemptOutcome.SENT).values_list(
                "event__pkey", flat=True
            )
        )

    def wait_final(self, pkeys: list[str], timeout: float) -> Counter:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(Exception):
                counts = self.statuses(pkeys)
                if (
                    sum(n for s, n in counts.items() if s in FINAL) == len(pkeys)
                    or time.monotonic() > deadline
                ):
                    return counts
            if time.monotonic() > deadline:
                return Counter()
            time.sleep(0.5)


class Traffic(threading.Thread):
    """Posts `count` events at `rate` per second from a few threads; keeps every answer."""

    def __init__(self, stack: Stack, count: int, rate: float, threads: int = 8):
        super().__init__(daemon=True)
        self.stack, self.count, self.rate, self.threads = stack, count, rate, threads
        self.answers: list[tuple[int, int, str | None, float]] = []  # (number, status, pkey, started)
        self.lock = threading.Lock()

    def run(self):
        from concurrent.futures import ThreadPoolExecutor

        start = time.monotonic()

        def post(number):
            delay = start + number / self.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            status, body, started = self.stack.trigger(number)
            with self.lock:
                self.answers.append((number, status, body["PKey"] if body else None, started))

        with ThreadPoolExecutor(self.threads) as pool:
            list(pool.map(post, range(self.count)))

    def accepted(self) -> list[str]:
        return [pkey for _, status, pkey, _ in self.answers if status == 202 and pkey]

    def status_counts(self) -> Counter:
        return Counter(status for _, status, _, _ in self.answers)


def duplicates(received) -> dict[str, int]:
    counts = Counter(message_id for message_id, _ in received)
    return {message_id: n for message_id, n in counts.items() if n > 1}


def jitter(low: float, high: float) -> float:
    return random.uniform(low, high)


if __name__ == "__main__" and sys.argv[1:2] == ["smtp-sink"]:
    smtp_sink_serve(int(sys.argv[2]), sys.argv[3])
