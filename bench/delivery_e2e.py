"""End-to-end delivery benchmark: trigger over HTTP (gunicorn) -> PostgreSQL -> Redis -> Celery
worker -> message accepted by a loopback SMTP server. Prints its figures and the goals.

    .venv/bin/python bench/delivery_e2e.py                # all three parts, default sizes
    .venv/bin/python bench/delivery_e2e.py --part throughput --events 3000

- throughput: `--events` posted as fast as `--clients` threads can; messages/s from the first
  POST to the last message received (goal >= 500/s), against its floor measured in the same run:
  as many messages sent with bare smtplib to the same SMTP sink, over as many connections as the
  transactional pool has processes, each connection reused (as the worker reuses its own).
- latency:    a steady `--rate` events/s (default 200) for `--seconds`; latency of each event from
  its POST to its arrival at the SMTP server, p50/p99 (goal p99 <= 1 s).
- priority:   transactional latency at `--priority-rate` events/s, idle, then with `--bulk`
  (default 100,000) bulk emails queued and a bulk worker sending them (goal p99 <= 2 x idle p99).

Runs on its own PostgreSQL cluster and Redis (see delivery_harness.py), removed at the end.
Workers: the transactional pool (`--tx-concurrency`), and for the priority part a bulk pool of
one process at nice 10, as the README's topology recommends on a machine shared with it.
"""

import argparse
import smtplib
import statistics
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.delivery_harness import Stack, Traffic, log, wait_until


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latencies(stack: Stack, traffic: Traffic, timeout: float) -> tuple[list[float], int]:
    """Seconds from each accepted POST to its message's arrival; and how many never arrived."""
    wanted = {pkey: started for _, status, pkey, started in traffic.answers if status == 202 and pkey}

    def arrived():
        return {
            mid.strip("<>").split("@")[0]: at for mid, at in stack.smtp.received if mid and "bulk-" not in mid
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


def smtp_floor(stack: Stack, count: int, connections: int) -> float:
    """Messages/s of bare smtplib sends to the sink: `count` messages over `connections` reused
    connections in parallel, from the first send to the last arrival."""
    stack.smtp.received.clear()
    body = "Hello Jane,\n\nYour cart is waiting: Jacket, $ 125.\n" * 20

    def send(share: int, worker: int) -> None:
        with smtplib.SMTP("127.0.0.1", stack.smtp.port) as smtp:
            for number in range(share):
                message = EmailMessage()
                message["From"], message["To"] = "shop@example.com", "jane@example.com"
                message["Subject"], message["Message-ID"] = "Your cart", f"<floor-{worker}-{number}@bench>"
                message.set_content(body)
                smtp.send_message(message)

    shares = [
        count // connections + (1 if worker < count % connections else 0) for worker in range(connections)
    ]
    threads = [threading.Thread(target=send, args=(share, worker)) for worker, share in enumerate(shares)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wait_until(lambda: len(stack.smtp.received) >= count, 120, interval=0.1)
    last = max((at for _, at in stack.smtp.received), default=started)
    return count / max(last - started, 1e-6)


def part_throughput(stack: Stack, events: int, clients: int, connections: int) -> None:
    floor = smtp_floor(stack, events, connections)
    stack.smtp.received.clear()
    traffic = Traffic(stack, events, rate=1e9, threads=clients)
    started = time.monotonic()
    traffic.start()
    traffic.join()
    posted = time.monotonic() - started
    accepted = len(traffic.accepted())
    wait_until(lambda: len(stack.smtp.received) >= accepted, 600, interval=0.2)
    last = max((at for _, at in stack.smtp.received), default=started)
    elapsed = last - started
    print("\n== throughput")
    print(
        f"events posted            {events}   HTTP {dict(traffic.status_counts())}   in {posted:.1f} s "
        f"({accepted / posted:.0f} accepted/s)"
    )
    print(f"messages received        {len(stack.smtp.received)} in {elapsed:.1f} s from the first POST")
    throughput = len(stack.smtp.received) / elapsed
    print(f"sustained throughput     {throughput:.0f} messages/s   (goal >= 500/s)")
    print(f"floor (bare smtplib)     {floor:.0f} messages/s over {connections} connections")
    print(f"ratio product/floor      {throughput / floor:.2f}", flush=True)


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


def publish_bulk(count: int) -> float:
    from campaign.celery import app
    from delivery.tasks import bulk_email

    started = time.monotonic()
    with app.producer_or_acquire() as producer:
        for number in range(count):
            bulk_email.apply_async(
                args=[f"subscriber{number}@example.com", "Our winter sale", "Everything -30% this week."],
                producer=producer,
            )
    return time.monotonic() - started


def part_priority(stack: Stack, rate: float, seconds: float, bulk: int) -> None:
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
    log(f"publishing {bulk} bulk emails to the bulk queue")
    took = publish_bulk(bulk)
    log(f"published in {took:.0f} s; starting the bulk worker")
    stack.start_worker("bulk", "bulk", concurrency=1, nice=10)
    wait_until(lambda: sum(1 for mid, _ in stack.smtp.received if mid and "bulk-" in mid) > 100, 60)
    loaded = Traffic(stack, int(rate * seconds), rate=rate, threads=8)
    loaded.start()
    loaded.join()
    loaded_values, missing = latencies(stack, loaded, 120)
    bulk_sent = sum(1 for mid, _ in stack.smtp.received if mid and "bulk-" in mid)
    import redis

    backlog = redis.Redis.from_url(stack.redis.url).llen("bulk")
    stack.kill("bulk")
    ratio = (
        percentile(loaded_values, 0.99) / percentile(idle_values, 0.99)
        if idle_values and loaded_values
        else 0
    )
    print(f"\n== priority: transactional at {rate:.0f} events/s, idle and behind {bulk} queued bulk emails")
    print(f"idle                     {describe(idle_values)}")
    print(f"with bulk queued         {describe(loaded_values)}   not arrived {missing}")
    print(f"bulk sent meanwhile      {bulk_sent}   still queued {backlog}")
    print(f"p99 ratio                {ratio:.2f} x idle   (goal <= 2.00)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--part", choices=["throughput", "latency", "priority", "all"], default="all")
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--priority-rate", type=float, default=50)
    parser.add_argument("--bulk", type=int, default=100_000)
    parser.add_argument("--tx-concurrency", type=int, default=3)
    parser.add_argument("--web-workers", type=int, default=3)
    args = parser.parse_args()
    events = max(10, min(args.events, 50_000))
    seconds = max(1.0, min(args.seconds, 120.0))
    bulk = max(0, min(args.bulk, 200_000))

    stack = Stack(web_workers=args.web_workers, env={"DELIVERY_LEASE_SECONDS": "300"})
    try:
        stack.start()
        stack.start_worker("transactional", "transactional", concurrency=args.tx_concurrency)
        stack.start_worker("housekeeping", "housekeeping", concurrency=1, beat=True)
        time.sleep(4)
        stack.trigger(0)  # warm up the web workers' connections
        wait_until(lambda: stack.smtp.received, 30)
        if args.part in ("throughput", "all"):
            part_throughput(stack, events, args.clients, args.tx_concurrency)
        if args.part in ("latency", "all"):
            part_latency(stack, args.rate, seconds, args.clients)
        if args.part in ("priority", "all"):
            part_priority(stack, args.priority_rate, seconds, bulk)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
