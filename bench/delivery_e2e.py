"""End-to-end delivery benchmark: trigger over HTTP (gunicorn) -> PostgreSQL -> Redis -> Celery
worker -> message accepted by a loopback SMTP server. Prints its figures and the goals.

    .venv/bin/python bench/delivery_e2e.py                # every part, default sizes
    .venv/bin/python bench/delivery_e2e.py --part throughput --events 3000
    .venv/bin/python bench/delivery_e2e.py --part priority --bulk 100000
    .venv/bin/python bench/delivery_e2e.py --part marketing --recipients 20000
    .venv/bin/python bench/delivery_e2e.py --part stored --events 3000 --profile-chunks 20
    .venv/bin/python bench/delivery_e2e.py --part throughput --events 3000 --sink postfix

- throughput: `--events` posted as fast as `--clients` threads can; messages/s from the first
  POST to the last message received (goal >= 500/s), against its floor measured in the same run:
  as many messages sent with bare smtplib to the same SMTP sink from as many processes as the
  transactional pool has, one reused connection each (as the worker reuses its own).
- latency:    a steady `--rate` events/s (default 200) for `--seconds`; latency of each event from
  its POST to its arrival at the SMTP server, p50/p99 (goal p99 <= 1 s).
- priority:   transactional latency at `--priority-rate` events/s, idle, then while a real
  marketing delivery to `--bulk` profiles (default 100,000: stored with COPY, prepared through a
  typology, confirmed) is sent by the bulk worker as fast as it can (goal p99 <= 2 x idle p99).
- marketing:  a marketing delivery to `--recipients` profiles (default 20,000) sent by the bulk
  worker: messages/s from the confirmation to the last arrival (goal >= 0.7 x the floor), against
  the floor measured in the same run (bare smtplib from as many processes as the bulk pool has);
  then cProfile of `delivery_send_batch` in this process: where a message's time goes.
- stored:     stored events to SMTP against a peer, django-post-office 3.12.0 (goal >= 1.5 x the
  peer). The peer runs in a virtualenv of its own, made once under var/bench-peer (gitignored;
  Django and psycopg at the project's pins) and never in the project's .venv, as a one-file Django
  project (bench/peer_post_office.py) on a database of its own in the same cluster: `--events`
  emails (HTML and text, one recipient, the size of ours) queued with `mail.send_many`, then
  `send_queued_mail --processes P` (its own parallel sending: P forked processes of 5 threads
  each, 100 emails a round by default, `--peer-batch-size`), timed from the command's start to the
  last message accepted. Then ours: as many events stored `pending` through the trigger API while
  no transactional worker runs, then the transactional pool of the same P (`--tx-concurrency`)
  started, timed from its start to the last message accepted. Both rates count their processes'
  start; the rates from first to last message (without it) are printed too, with the floor.
  `--profile-chunks N`: then cProfile of `events_deliver` in this process on N chunks of the
  dispatcher's size: where a stored event's time goes.

`--sink aiosmtpd` (the default) is a Python sink in its own process recording each Message-ID and
its arrival; `--sink postfix` is Postfix's C `smtp-sink` (Debian's postfix package), much faster,
which shows where the product's own cost begins. It counts the messages it accepts (its `-c`
counter, read as it changes), without Message-IDs: the throughput, marketing and stored parts and
their floors count arrivals and take the time of the last one; latency and priority, which match
each message to its event, say so and do not run with it.

Runs on its own PostgreSQL cluster and Redis (see delivery_harness.py), removed at the end.
Workers: the transactional pool (`--tx-concurrency`), and for the marketing deliveries a bulk pool
of `--bulk-concurrency` processes (default 1: a delivery's batches follow each other), at nice 19
in the priority part, as the README's topology recommends on a machine shared with transactional
workers, and at nice 0 (the floor's) in the marketing part. The load average is printed at the
start and the end.
"""

import argparse
import cProfile
import io
import multiprocessing
import os
import pstats
import re
import resource
import signal
import smtplib
import statistics
import subprocess
import sys
import threading
import time
from email.message import EmailMessage
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.delivery_harness import EVENT_ID, ORG, ROOT, SINKS, Stack, Traffic, log, wait_until


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def is_marketing(message_id: str | None) -> bool:
    """A marketing delivery's message (its Message-ID is made of `mkt<delivery>-<recipient>`)."""
    return bool(message_id) and message_id.startswith("<mkt")


def latencies(stack: Stack, traffic: Traffic, timeout: float) -> tuple[list[float], int]:
    """Seconds from each accepted POST to its message's arrival; and how many never arrived."""
    wanted = {pkey: started for _, status, pkey, started in traffic.answers if status == 202 and pkey}

    def arrived():
        return {
            mid.strip("<>").split("@")[0]: at
            for mid, at in stack.smtp.received
            if mid and not is_marketing(mid)
        }

    wait_until(lambda: wanted.keys() <= arrived().keys(), timeout, interval=0.2)
    seen = arrived()
    values = [seen[pkey] - started for pkey, started in wanted.items() if pkey in seen]
    return values, len(wanted) - len(values)


def describe(values: list[float]) -> str:
    if not values:
        return "no message arrived"
    return (
        f"p50 {statistics.median(values) * 1000:.0f} ms   p99 {percentile(values, 0.99) * 1000:.0f} ms"
        f"   max {max(values) * 1000:.0f} ms   ({len(values)} messages)"
    )


def floor_shares(count: int, connections: int) -> list[int]:
    """How many of `count` floor messages each of `connections` senders sends."""
    base, extra = divmod(count, connections)
    return [base + (1 if worker < extra else 0) for worker in range(connections)]


def smtp_floor_threads(stack: Stack, count: int, connections: int) -> float:
    """The floor as this benchmark measured it before 2026-12-03 (kept to compare with the figures
    of then): `connections` threads of this process, each building its messages as it sends them."""
    stack.smtp.received.clear()

    def send(share: int, worker: int) -> None:
        with smtplib.SMTP("127.0.0.1", stack.smtp.port) as smtp:
            for number in range(share):
                message = EmailMessage()
                message["From"], message["To"] = "shop@example.com", "jane@example.com"
                message["Subject"], message["Message-ID"] = "Your cart", f"<floort-{worker}-{number}@bench>"
                message.set_content(FLOOR_BODY)
                smtp.send_message(message)

    shares = floor_shares(count, connections)
    threads = [threading.Thread(target=send, args=(share, worker)) for worker, share in enumerate(shares)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_until(lambda: len(stack.smtp.received) >= count, 120, interval=0.1)
    last = max((at for _, at in stack.smtp.received), default=started)
    return count / max(last - started, 1e-6)


FLOOR_BODY = "Hello Jane,\n\nYour cart is waiting: Jacket, $ 125.\n" * 20


def floor_send(port: int, share: int, worker: int, start) -> None:
    """One floor process: build its messages, connect, wait for the start, send them."""
    messages = []
    for number in range(share):
        message = EmailMessage()
        message["From"], message["To"] = "shop@example.com", "jane@example.com"
        message["Subject"], message["Message-ID"] = "Your cart", f"<floor-{worker}-{number}@bench>"
        message.set_content(FLOOR_BODY)
        messages.append(message)
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        start.wait()
        for message in messages:
            smtp.send_message(message)


def smtp_floor(stack: Stack, count: int, connections: int) -> float:
    """Messages/s of bare smtplib sends to the sink: `count` messages from `connections`
    processes (as many as the pool measured against it), one reused connection each, from the
    start signal (messages built and connections open) to the last arrival."""
    stack.smtp.received.clear()
    shares = floor_shares(count, connections)
    context = multiprocessing.get_context("fork")  # only smtplib runs in the children
    start = context.Barrier(connections + 1)
    senders = [
        context.Process(target=floor_send, args=(stack.smtp.port, share, worker, start))
        for worker, share in enumerate(shares)
    ]
    for sender in senders:
        sender.start()
    start.wait(timeout=120)  # every process has built its messages and opened its connection
    started = time.monotonic()
    for sender in senders:
        sender.join(timeout=max(120, count / 20))
    wait_until(lambda: len(stack.smtp.received) >= count, 120, interval=0.1)
    last = max((at for _, at in stack.smtp.received), default=started)
    return count / max(last - started, 1e-6)


# wrk (C) posts the events of the throughput part: a Python client's threads would take a core's
# worth of the 2 the product shares with them (its cost is the load generator's, not the product's).
# Each wrk thread stops once it has its share of answers; the events stored are counted in the database.
WRK_TRIGGER = """
local threads, share, number, answers = {}, 0, 0, 0
function setup(thread)
  thread:set("first", #threads * 1000000)
  table.insert(threads, thread)
end
function init(args)
  share = tonumber(args[1])
  number = first
end
function request()
  number = number + 1
  local body = string.format('{"email":"customer%d@example.com","ctx":{"firstName":"C%d","orderId":"%d"}}',
    number, number, number)
  return wrk.format("POST", nil, nil, body)
end
function response(status, headers, body)
  answers = answers + 1
  if answers >= share then wrk.thread:stop() end
end
"""


def wrk_post(stack: Stack, events: int, connections: int, threads: int = 2) -> tuple[float, str]:
    """POST about `events` trigger calls with wrk: each thread stops after its share of answers (the
    calls in flight still reach the server, so a few more may be stored); wrk itself runs until it is
    stopped, once the events are stored. (Seconds until then, wrk's report.)"""
    headers = {
        "Authorization": f"Bearer {stack.credentials.token}",
        "X-Api-Key": stack.credentials.integration.client_id,
        "Content-Type": "application/json",
    }
    script = stack.workdir / "trigger.lua"
    script.write_text(
        "".join(f'wrk.headers["{key}"] = "{value}"\n' for key, value in headers.items()) + WRK_TRIGGER
    )
    url = f"{stack.base_url}/{ORG}/campaign/mc{ORG}/{EVENT_ID}"
    share = max(1, events // threads)
    target = events_stored() + share * threads
    started = time.monotonic()
    process = subprocess.Popen(
        ["wrk", f"-t{threads}", f"-c{connections}", "-d120s", "-s", str(script), url, "--", str(share)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    wait_until(lambda: events_stored() >= target, 120, interval=0.05)
    posted = time.monotonic() - started
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    return posted, output


def events_stored() -> int:
    from django.db import connection

    from events.models import Event

    connection.close_if_unusable_or_obsolete()
    return Event.objects.count()


def part_throughput(stack: Stack, events: int, clients: int, connections: int) -> None:
    floor = smtp_floor(stack, events, connections)
    floor_threads = smtp_floor_threads(stack, events, connections)
    stack.smtp.received.clear()
    before = events_stored()
    cpu_before, children = stack.cpu(), resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    posted, report = wrk_post(stack, events, clients)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    time.sleep(1)  # the calls in flight when wrk stopped are answered
    accepted = events_stored() - before
    wait_until(lambda: len(stack.smtp.received) >= accepted, 600, interval=0.2)
    last = max((at for _, at in stack.smtp.received), default=started)
    cpu = cpu_spent(cpu_before, stack.cpu())
    cpu["wrk"] = children_after.ru_utime + children_after.ru_stime - children.ru_utime - children.ru_stime
    elapsed = last - started
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    received = len(stack.smtp.received)
    throughput = received / elapsed
    print("\n== throughput")
    print(
        f"events posted (wrk)      {accepted} stored, {errors.group(1) if errors else 0} non-2xx answers,"
        f" in {posted:.1f} s ({accepted / posted:.0f} accepted/s)"
    )
    print(f"messages received        {received} in {elapsed:.1f} s from the first POST")
    print(f"sustained throughput     {throughput:.0f} messages/s")
    per_message = "  ".join(
        f"{name} {seconds * 1000 / max(received, 1):.2f}"
        for name, seconds in sorted(cpu.items(), key=lambda item: -item[1])
    )
    total = sum(cpu.values()) * 1000 / max(received, 1)
    print(f"CPU ms/message           {per_message}  (total {total:.2f})")
    print(
        f"floor (bare smtplib)     {floor:.0f} messages/s: {connections} processes sending messages built"
        " beforehand, one connection each"
    )
    print(f"ratio product/floor      {throughput / floor:.2f}   (goal >= 0.50)")
    print(
        f"earlier floor            {floor_threads:.0f} messages/s: {connections} threads of one process"
        f" building each message as they send it; ratio {throughput / floor_threads:.2f}",
        flush=True,
    )


def part_latency(stack: Stack, rate: float, seconds: float, clients: int) -> None:
    stack.smtp.received.clear()
    traffic = Traffic(stack, int(rate * seconds), rate=rate, threads=clients)
    started = time.monotonic()
    traffic.start()
    traffic.join()
    achieved = len(traffic.answers) / (time.monotonic() - started)
    values, missing = latencies(stack, traffic, 300)
    print(f"\n== latency at a steady {rate:.0f} events/s for {seconds:.0f} s (achieved {achieved:.0f}/s)")
    print(f"HTTP                     {dict(traffic.status_counts())}   not arrived {missing}")
    print(f"trigger -> SMTP accepted {describe(values)}   (goal p99 <= 1000 ms)", flush=True)


def profiles_copy(prefix: str, count: int) -> float:
    """Store `count` profiles (external ID `<prefix><n>`, an address each) with COPY; seconds."""
    from django.db import connection
    from django.utils import timezone

    started = time.monotonic()
    now = timezone.now()
    connection.ensure_connection()
    columns = (
        "email, mobile_phone, external_id, first_name, last_name, language, time_zone, attributes,"
        " created_at, modified_at"
    )
    with (
        connection.connection.cursor() as cursor,
        cursor.copy(f"COPY profiles_profile ({columns}) FROM STDIN") as copy,
    ):
        for number in range(count):
            copy.write_row(
                (
                    f"{prefix}{number}@example.com",
                    "",
                    f"{prefix}{number}",
                    f"F{number}",
                    "Bench",
                    "en",
                    "",
                    "{}",
                    now,
                    now,
                )
            )
    return time.monotonic() - started


def marketing_prepared(prefix: str, label: str):
    """A marketing email to the profiles whose external ID starts with `prefix`, through a minimal
    typology (address missing, opted out, unsubscribe link), prepared in this process as the bulk
    worker's task would; (the delivery, seconds the preparation took)."""
    from marketing.models import MarketingDelivery
    from marketing.services import delivery_prepare, delivery_prepare_start, delivery_save
    from typologies.models import RuleKind, Typology, TypologyRule

    typology, created = Typology.objects.get_or_create(name="bench", defaults={"label": "Bench"})
    if created:
        typology.rules.set(
            TypologyRule.objects.filter(
                kind__in=[RuleKind.ADDRESS_MISSING, RuleKind.OPTED_OUT, RuleKind.UNSUBSCRIBE_LINK_MISSING]
            )
        )
    delivery = delivery_save(
        delivery=MarketingDelivery(
            label=label,
            channel="email",
            sender_name="Bench Shop",
            sender_email="news@example.com",
            subject="{{ profile.first_name }}, our winter sale",
            html=(
                "<p>Hello {{ profile.first_name }} {{ profile.last_name }},</p>"
                "<p>Everything is 30% off this week.</p>"
                '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
            ),
            audience={"all": [{"field": "external_id", "op": "startswith", "value": prefix}]},
            typology=typology,
            rate_per_second=1_000_000,  # no throttle: as fast as the worker sends
        )
    )
    started = time.monotonic()
    delivery_prepare_start(delivery=delivery)  # also queues the task, which then finds it prepared
    delivery_prepare(delivery_id=delivery.pk)
    took = time.monotonic() - started
    delivery.refresh_from_db()
    return delivery, took


def marketing_arrivals(stack: Stack, since: float = 0.0, until: float = float("inf")) -> list[float]:
    """Arrival times of the marketing messages; a sink that records no Message-ID (smtp-sink) gives
    every arrival, which the marketing part can use since nothing else sends meanwhile."""
    return [
        at
        for mid, at in stack.smtp.received
        if (is_marketing(mid) or not stack.smtp.identifies) and since <= at <= until
    ]


def part_priority(stack: Stack, rate: float, seconds: float, bulk: int, bulk_concurrency: int) -> None:
    from marketing.models import MarketingDelivery
    from marketing.services import delivery_cancel, delivery_confirm

    log(f"storing {bulk} profiles with COPY")
    took = profiles_copy("pri-", bulk)
    log(f"stored in {took:.1f} s; preparing the marketing delivery")
    delivery, prepared_in = marketing_prepared("pri-", "Priority bench")
    log(
        f"prepared in {prepared_in:.1f} s: {delivery.target_count} to send, "
        f"{delivery.excluded_count} excluded"
    )
    # Warm up first (every web and worker process connected), unmeasured.
    warmup = Traffic(stack, int(rate * 5), rate=rate, threads=8)
    warmup.start()
    warmup.join()
    latencies(stack, warmup, 120)
    stack.smtp.received.clear()
    idle = Traffic(stack, int(rate * seconds), rate=rate, threads=8)
    idle.start()
    idle.join()
    idle_values, _ = latencies(stack, idle, 120)
    delivery_confirm(delivery=delivery)
    stack.start_worker("bulk", "bulk", concurrency=bulk_concurrency, nice=19)
    log("confirmed; bulk worker started (nice 19)")
    wait_until(lambda: len(marketing_arrivals(stack)) > 100, 120)
    window_start = time.monotonic()
    loaded = Traffic(stack, int(rate * seconds), rate=rate, threads=8)
    loaded.start()
    loaded.join()
    window_end = time.monotonic()
    loaded_values, missing = latencies(stack, loaded, 120)
    during = len(marketing_arrivals(stack, window_start, window_end))
    stack.kill("bulk")
    delivery = MarketingDelivery.objects.get(pk=delivery.pk)
    delivery_cancel(delivery=delivery)
    ratio = (
        percentile(loaded_values, 0.99) / percentile(idle_values, 0.99)
        if idle_values and loaded_values
        else 0
    )
    window = window_end - window_start
    print(
        f"\n== priority: transactional at {rate:.0f} events/s, idle and while a marketing delivery "
        f"to {delivery.target_count} profiles sends (bulk worker: {bulk_concurrency} process(es), nice 19)"
    )
    print(f"profiles stored (COPY)   {bulk} in {took:.1f} s; delivery prepared in {prepared_in:.1f} s")
    print(f"idle                     {describe(idle_values)}")
    print(f"while marketing sends    {describe(loaded_values)}   not arrived {missing}")
    print(
        f"marketing sent           {during} in the {window:.1f} s window ({during / window:.0f}/s), "
        f"{delivery.sent_count} in all when stopped"
    )
    print(f"p99 ratio                {ratio:.2f} x idle   (goal <= 2.00)", flush=True)


# Where a message's time goes: functions of the batches, cumulative time per message.
STAGES = [
    ("the batch's recipients read (with profiles)", "django/db/models/query.py", "__iter__"),
    ("one message, in all (_send_one)", "marketing/services.py", "_send_one"),
    ("  unsubscribe link (signed)", "profiles/unsubscribe.py", "unsubscribe_url"),
    ("  profile as template variables", "profiles/selectors.py", "profile_variables"),
    ("  render (templates, HTML to text)", "rendering/render.py", "message_render"),
    ("  send (MIME, SMTP)", "channels/__init__.py", "message_send"),
    ("    SMTP exchange (smtplib sendmail)", "smtplib.py", "sendmail"),
    ("outcomes written (one UPDATE)", "marketing/services.py", "_outcomes_write"),
    ("contacts recorded (fatigue)", "typologies/services.py", "contacts_record"),
]


def profile_batches(batches: int) -> None:
    """cProfile of `delivery_send_batch` in this process (same sink), after one warm-up batch."""
    from django.conf import settings

    from marketing.models import MarketingDelivery
    from marketing.services import delivery_confirm, delivery_send_batch

    size = settings.MARKETING_BATCH_SIZE
    profiles_copy("prof-", size * (batches + 1))
    delivery, _ = marketing_prepared("prof-", "Profile bench")
    delivery_confirm(delivery=delivery)  # queues a batch that no worker takes: this process sends
    token = MarketingDelivery.objects.get(pk=delivery.pk).send_token
    delivery_send_batch(delivery_id=delivery.pk, token=token)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for _ in range(batches):
        delivery_send_batch(delivery_id=delivery.pk, token=token)
    profiler.disable()
    elapsed = time.perf_counter() - started
    messages = size * batches
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(15)
    print(f"\n== profile: {batches} batches of {size} (delivery_send_batch in this process, cProfile)")
    print(
        f"{messages} messages in {elapsed:.2f} s under the profiler: {elapsed / messages * 1000:.2f} ms each"
    )
    print(text.getvalue().strip())
    print("\nper message (cumulative, under the profiler):")
    for label, filename, function in STAGES:
        total = sum(
            row[3]
            for (file, _, name), row in stats.stats.items()
            if name == function and file.endswith(filename)
        )
        print(f"  {label:<46} {total / messages * 1000:6.2f} ms  {total / elapsed * 100:4.0f} %")


def part_marketing(stack: Stack, recipients: int, bulk_concurrency: int, batches: int) -> None:
    from marketing.models import MarketingDelivery
    from marketing.services import delivery_confirm

    log(f"storing {recipients} profiles with COPY")
    took = profiles_copy("mkt-", recipients)
    delivery, prepared_in = marketing_prepared("mkt-", "Throughput bench")
    log(f"stored in {took:.1f} s, prepared in {prepared_in:.1f} s; measuring the floor")
    floor_count = min(recipients, 10_000)
    floor = smtp_floor(stack, floor_count, bulk_concurrency)
    stack.smtp.received.clear()
    # At the floor's CPU priority (nice 0): on a shared machine a niced worker measures the
    # neighbours' load, not the delivery; the priority part runs it at nice 19.
    stack.start_worker("bulk", "bulk", concurrency=bulk_concurrency)
    time.sleep(5)  # the worker connected and idle: its start is not the delivery's cost
    log("sending")
    started = time.monotonic()
    delivery_confirm(delivery=delivery)
    target = delivery.target_count
    wait_until(lambda: len(marketing_arrivals(stack)) >= target, max(300, target / 20), interval=0.5)
    arrivals = marketing_arrivals(stack)
    stack.kill("bulk")
    delivery = MarketingDelivery.objects.get(pk=delivery.pk)
    elapsed = max(arrivals, default=started) - started
    throughput = len(arrivals) / max(elapsed, 1e-6)
    print(
        f"\n== marketing delivery to {recipients} profiles, "
        f"{bulk_concurrency} bulk worker process(es) at nice 0"
    )
    print(f"profiles stored (COPY)   {recipients} in {took:.1f} s ({recipients / took:.0f}/s)")
    print(
        f"prepared                 in {prepared_in:.1f} s: audience {delivery.audience_count}, "
        f"excluded {delivery.excluded_count}, to send {target}"
    )
    print(
        f"sent                     {len(arrivals)} received in {elapsed:.1f} s from the confirmation "
        f"(status {delivery.status}, sent {delivery.sent_count}, failed {delivery.failed_count})"
    )
    print(f"throughput               {throughput:.0f} messages/s")
    print(
        f"floor (bare smtplib)     {floor:.0f} messages/s over {bulk_concurrency} process(es), "
        f"{floor_count} messages"
    )
    print(f"ratio delivery/floor     {throughput / floor:.2f}   (goal >= 0.70)", flush=True)
    if batches:
        profile_batches(batches)


# The peer's own environment: made once under var/ (gitignored), made again when a pin changes;
# Django and psycopg at the project's pinned versions, so that only the sending app differs.
PEER_VENV = ROOT / "var" / "bench-peer"
PEER_SCRIPT = ROOT / "bench" / "peer_post_office.py"


def peer_python() -> Path:
    wanted = [
        "django-post-office==3.12.0",
        f"Django=={version('Django')}",
        f"psycopg[binary]=={version('psycopg')}",
    ]
    python, stamp = PEER_VENV / "bin" / "python", PEER_VENV / ".requirements"
    if not python.exists() or not stamp.exists() or stamp.read_text().split() != wanted:
        log(f"making the peer's virtualenv in {PEER_VENV}: {' '.join(wanted)}")
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", *wanted], check=True, timeout=600)
        stamp.write_text("\n".join(wanted))
    return python


def peer_send(stack: Stack, count: int, processes: int, batch_size: int) -> dict:
    """django-post-office sends `count` emails queued beforehand with `send_queued_mail
    --processes`; seconds from the command's start to the last message accepted by the sink."""
    python = peer_python()
    stack.postgres.database_create("peer")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(stack.workdir),
        "PEER_PG_PORT": str(stack.postgres.port),
        "PEER_SMTP_PORT": str(stack.smtp.port),
        "PEER_BATCH_SIZE": str(batch_size),
    }

    def peer(*args: str, timeout: float = 300) -> str:
        done = subprocess.run(
            [str(python), str(PEER_SCRIPT), *args],
            env=env,
            cwd=stack.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if done.returncode:
            raise RuntimeError(f"peer {args[0]} failed: {done.stderr[-2000:]}")
        return done.stdout

    peer("migrate", "--verbosity", "0")
    queued = int(peer("queue", str(count)).split()[-1])
    stack.smtp.received.clear()
    cpu_before, children_before = stack.cpu(), resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    peer(
        "send_queued_mail",
        "--processes",
        str(processes),
        "--lockfile",
        str(stack.workdir / "post_office"),
        timeout=max(120, count / 10),
    )
    returned = time.monotonic()
    wait_until(lambda: len(stack.smtp.received) >= queued, 60, interval=0.1)
    # The command and its forks, reaped by now: this process's children's CPU.
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = cpu_spent(cpu_before, stack.cpu())
    cpu["sending"] = (children.ru_utime + children.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    arrivals = [at for _, at in stack.smtp.received]
    return {
        "queued": queued,
        "received": len(arrivals),
        "sent": int(peer("sent").split()[-1]),
        "elapsed": max(arrivals, default=returned) - started,
        "first": min(arrivals, default=returned) - started,
        "returned": returned - started,
        "cpu": cpu,
    }


def cpu_spent(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """CPU seconds each part of the stack used between two `Stack.cpu()` readings (a process
    started in between counts from zero)."""
    return {name: seconds - before.get(name, 0.0) for name, seconds in after.items()}


def cpu_describe(cpu: dict[str, float], messages: int, elapsed: float) -> str:
    parts = ["sending", "PostgreSQL", "sink", "Redis"]
    total = sum(cpu.get(name, 0.0) for name in parts)
    return (
        "   ".join(f"{name} {cpu.get(name, 0.0) / messages * 1000:.2f}" for name in parts)
        + f"   total {total / messages * 1000:.2f} ms ({total / elapsed:.1f} cores busy)"
    )


def events_store(stack: Stack, count: int, clients: int) -> list[str]:
    """`count` events stored through the trigger API (the product's write path) while no
    transactional worker runs, so that they stay `pending`; their PKeys. Those refused (429: the
    credential's 1,000 requests/s) are posted again one by one, three rounds at most."""
    traffic = Traffic(stack, count, rate=1e9, threads=clients)
    started = time.monotonic()
    traffic.start()
    traffic.join()
    pkeys = traffic.accepted()
    refused = [number for number, status, _, _ in traffic.answers if status != 202]
    log(f"HTTP {dict(traffic.status_counts())}; posting the {len(refused)} refused again")
    for _ in range(3):
        if not refused:
            break
        time.sleep(1)
        again = []
        for number in refused:
            status, body, _ = stack.trigger(number)
            if status == 202 and body:
                pkeys.append(body["PKey"])
            else:
                again.append(number)
        refused = again
    log(f"{len(pkeys)} events stored in {time.monotonic() - started:.1f} s: {dict(stack.statuses(pkeys))}")
    return pkeys


def product_send(stack: Stack, count: int, clients: int, processes: int) -> dict:
    """`count` events stored `pending`, then the transactional pool of `processes` started: seconds
    from its start to the last message accepted by the sink; the pool is stopped again after."""
    pkeys = events_store(stack, count, clients)
    stack.smtp.received.clear()
    log(f"starting the transactional pool ({processes} processes)")
    cpu_before = stack.cpu()
    started = time.monotonic()
    stack.start_worker("transactional", "transactional", concurrency=processes)
    wait_until(lambda: len(stack.smtp.received) >= len(pkeys), max(300, count / 10), interval=0.1)
    cpu = cpu_spent(cpu_before, stack.cpu())
    cpu["sending"] = cpu.pop("transactional")
    arrivals = [at for _, at in stack.smtp.received]
    statuses = stack.wait_final(pkeys, 60)
    stack.kill("transactional")
    return {
        "received": len(arrivals),
        "elapsed": max(arrivals, default=started) - started,
        "first": min(arrivals, default=started) - started,
        "statuses": dict(statuses),
        "cpu": cpu,
    }


def rates(run: dict) -> tuple[float, float]:
    """Messages/s from the processes' start, and from the first message to the last (steady)."""
    return (
        run["received"] / max(run["elapsed"], 1e-6),
        (run["received"] - 1) / max(run["elapsed"] - run["first"], 1e-6),
    )


def part_stored(
    stack: Stack, events: int, clients: int, processes: int, peer_batch: int, chunks: int, rounds: int
) -> None:
    floor = smtp_floor(stack, events, processes)
    # Nothing of ours runs meanwhile: the peer has the machine to itself, and the events stay
    # pending until the pool starts (no dispatcher, no sweeper).
    stack.kill("transactional")
    stack.kill("housekeeping")
    peers, ours = [], []
    # Alternating, so that a neighbour's load on this shared machine weighs on both alike.
    for number in range(rounds):
        log(f"round {number + 1}: the peer, django-post-office, sends {events} queued emails")
        peers.append(peer_send(stack, events, processes, peer_batch))
        log(f"round {number + 1}: the product")
        ours.append(product_send(stack, events, clients, processes))
    print(
        f"\n== stored to SMTP: {events} messages already stored, {processes} processes, "
        f"sink {stack.smtp.name}, {rounds} round(s), the peer first in each"
    )
    print(
        f"peer: django-post-office, {events} emails queued (send_many), send_queued_mail --processes "
        f"{processes} (BATCH_SIZE {peer_batch}), timed from the command's start"
    )
    print("product: events stored pending through the trigger API, timed from the pool's start")
    print("CPU per message in ms, from the processes' start (sending: the peer's command with its")
    print("forks, or our transactional pool with its dispatcher); this machine has 2 cores")
    for number, (peer, our) in enumerate(zip(peers, ours, strict=True), start=1):
        for name, run, detail in (
            ("peer", peer, f"status sent {peer['sent']}, returned after {peer['returned']:.1f} s"),
            ("product", our, f"statuses {our['statuses']}"),
        ):
            rate, steady = rates(run)
            print(
                f"round {number} {name:<8} {run['received']} in {run['elapsed']:.1f} s: {rate:.0f}/s "
                f"({steady:.0f}/s first to last; first after {run['first']:.1f} s; {detail})"
            )
            print(f"  CPU ms/message   {cpu_describe(run['cpu'], max(run['received'], 1), run['elapsed'])}")
    ratios = [rates(our)[0] / rates(peer)[0] for peer, our in zip(peers, ours, strict=True)]
    steady = [rates(our)[1] / rates(peer)[1] for peer, our in zip(peers, ours, strict=True)]
    ours_rate = statistics.median(rates(run)[0] for run in ours)
    print(f"floor (bare smtplib)     {floor:.0f} messages/s over {processes} processes")
    print(f"ratio product/floor      {ours_rate / floor:.2f}   (median round)")
    print(
        f"ratio product/peer       {statistics.median(ratios):.2f}   (goal >= 1.50; median of the rounds "
        f"{' '.join(f'{ratio:.2f}' for ratio in ratios)}; first to last message "
        f"{statistics.median(steady):.2f})",
        flush=True,
    )
    if chunks:
        profile_chunks(stack, chunks, clients)
    stack.start_worker("transactional", "transactional", concurrency=processes)
    stack.start_worker("housekeeping", "housekeeping", concurrency=1, beat=True)


# Where a stored event's time goes: functions of events_deliver, cumulative time per event.
EVENT_STAGES = [
    ("claim (pending -> processing)", "delivery/services.py", "_claim"),
    ("the chunk's events read", "delivery/services.py", "_claimed_events"),
    ("route (message, published content)", "delivery/services.py", "_route"),
    ("targets (recipient, address)", "delivery/services.py", "_targets"),
    ("exclusion lists read", "delivery/feedback.py", "address_exclusions"),
    ("one event, in all (_send)", "delivery/services.py", "_send"),
    ("  render (templates, HTML to text)", "messages_app/rendering/render.py", "message_render"),
    ("  tracking (links, pixel) or markers", "delivery/tracking.py", "email_tracking_add"),
    ("  markers stripped (no tracking)", "delivery/tracking.py", "email_markers_strip"),
    ("  typology checks (content, profile)", "delivery/typology.py", "event_content_hit"),
    ("  typology checks (profile)", "delivery/typology.py", "event_profile_hit"),
    ("  send (MIME, SMTP)", "delivery/channels/__init__.py", "message_send"),
    ("    SMTP exchange (smtplib sendmail)", "smtplib.py", "sendmail"),
    ("  attempt row written", "delivery/services.py", "record"),
    ("  status moved (processed)", "delivery/services.py", "_finish"),
    ("  commit", "django/db/transaction.py", "__exit__"),
]


def profile_chunks(stack: Stack, chunks: int, clients: int) -> None:
    """`events_deliver` in this process (same sink) on chunks of stored events of the
    dispatcher's size, after one warm-up chunk: `chunks` chunks timed (wall and this process's
    CPU), then as many under cProfile; the transactional pool is stopped."""
    from django.conf import settings
    from django.db import connection

    from delivery.services import events_deliver
    from events.models import Event

    size = settings.DELIVERY_DISPATCH_CHUNK_SIZE
    pkeys = events_store(stack, size * (2 * chunks + 1), clients)
    connection.close_if_unusable_or_obsolete()
    pks = list(Event.objects.filter(pkey__in=pkeys).order_by("pk").values_list("pk", flat=True))
    chunked = [pks[start : start + size] for start in range(0, len(pks), size)]
    events_deliver(event_pks=chunked[0])
    timed, profiled = chunked[1 : chunks + 1], chunked[chunks + 1 :]
    wall, cpu = time.perf_counter(), time.process_time()
    for chunk in timed:
        events_deliver(event_pks=chunk)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for chunk in profiled:
        events_deliver(event_pks=chunk)
    profiler.disable()
    elapsed = time.perf_counter() - started
    delivered = sum(len(chunk) for chunk in profiled)
    timed_count = sum(len(chunk) for chunk in timed)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("cumulative").print_stats(25)
    print(f"\n== profile: chunks of {size} stored events, events_deliver in this process (one process)")
    print(
        f"without the profiler     {timed_count} events in {wall:.2f} s: "
        f"{wall / timed_count * 1000:.2f} ms each "
        f"({timed_count / wall:.0f}/s), of which this process's CPU {cpu / timed_count * 1000:.2f} ms "
        f"(the rest: waiting for PostgreSQL and the sink)"
    )
    print(
        f"under cProfile           {delivered} events in {elapsed:.2f} s: "
        f"{elapsed / delivered * 1000:.2f} ms each "
        f"(statuses {dict(stack.statuses(pkeys))})"
    )
    print(text.getvalue().strip())
    print("\nper event (cumulative, under the profiler):")
    for label, filename, function in EVENT_STAGES:
        total = sum(
            row[3]
            for (file, _, name), row in stats.stats.items()
            if name == function and file.endswith(filename)
        )
        print(f"  {label:<46} {total / delivered * 1000:6.2f} ms  {total / elapsed * 100:4.0f} %")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--part", choices=["throughput", "latency", "priority", "marketing", "stored", "all"], default="all"
    )
    parser.add_argument(
        "--sink",
        choices=sorted(SINKS),
        default="aiosmtpd",
        help="aiosmtpd (Python, records each Message-ID) or postfix (C smtp-sink, counts messages)",
    )
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--priority-rate", type=float, default=50)
    parser.add_argument("--bulk", type=int, default=100_000, help="profiles of the priority part's delivery")
    parser.add_argument(
        "--recipients", type=int, default=20_000, help="profiles of the marketing part's delivery"
    )
    parser.add_argument("--bulk-concurrency", type=int, default=1)
    parser.add_argument("--profile-batches", type=int, default=3, help="batches profiled (0: none)")
    parser.add_argument(
        "--profile-chunks", type=int, default=0, help="chunks of stored events profiled (0: none)"
    )
    parser.add_argument("--peer-batch-size", type=int, default=100, help="post_office's BATCH_SIZE")
    parser.add_argument("--rounds", type=int, default=2, help="stored part: peer then product, this often")
    parser.add_argument("--tx-concurrency", type=int, default=3)
    parser.add_argument("--web-workers", type=int, default=3)
    args = parser.parse_args()
    events = max(10, min(args.events, 50_000))
    seconds = max(1.0, min(args.seconds, 120.0))
    bulk = max(1000, min(args.bulk, 200_000))
    recipients = max(100, min(args.recipients, 200_000))

    stack = Stack(web_workers=args.web_workers, env={"DELIVERY_LEASE_SECONDS": "300"}, sink=args.sink)
    try:
        stack.start()
        stack.start_worker("transactional", "transactional", concurrency=args.tx_concurrency)
        stack.start_worker("housekeeping", "housekeeping", concurrency=1, beat=True)
        time.sleep(4)
        stack.trigger(0)  # warm up the web workers' connections
        wait_until(lambda: stack.smtp.received, 30)
        log(f"sink: {stack.smtp.name}; load average {Path('/proc/loadavg').read_text().strip()}")
        if args.part in ("throughput", "all"):
            part_throughput(stack, events, args.clients, args.tx_concurrency)
        for part in ("latency", "priority"):
            if args.part in (part, "all") and not stack.smtp.identifies:
                print(f"\n== {part}: not run with --sink {args.sink}: it needs each message's Message-ID")
        if args.part in ("latency", "all") and stack.smtp.identifies:
            part_latency(stack, args.rate, seconds, args.clients)
        if args.part in ("priority", "all") and stack.smtp.identifies:
            part_priority(stack, args.priority_rate, seconds, bulk, args.bulk_concurrency)
        if args.part in ("marketing", "all"):
            part_marketing(stack, recipients, args.bulk_concurrency, max(0, min(args.profile_batches, 20)))
        if args.part in ("stored", "all"):
            part_stored(
                stack,
                events,
                args.clients,
                args.tx_concurrency,
                max(1, min(args.peer_batch_size, 10_000)),
                max(0, min(args.profile_chunks, 100)),
                max(1, min(args.rounds, 5)),
            )
        log(f"load average {Path('/proc/loadavg').read_text().strip()}")
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
