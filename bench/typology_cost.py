"""What a typology costs per profile-based event at send time, against the same event without one.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres CELERY_BROKER_URL=redis://127.0.0.1:6379/14 \\
        .venv/bin/python bench/typology_cost.py [--rounds 8] [--events 200]

Two published profile-based email messages, identical but for their typology: none (the floor),
and a typology of 6 rules (address missing, quarantine, denylist, opted out, a custom condition on
an attribute, and a fatigue rule whose threshold nobody reaches, so that every rule runs and every
event is sent; with --no-fatigue a domain exclusion rule instead, which needs no row lock).
In --rounds alternating rounds, --events events of each are stored, then delivered one by one in
this process (`event_deliver`, as a worker does) to an SMTP sink on loopback; the figure is
events/s, the median over the rounds, and the ratio typology/floor (goal: at least 0.8). Each event
goes to its own profile, as real traffic does. With --profile, one more round of the typology's
events runs under cProfile: where the time goes. A throw-away database (bench_typology_<pid>) is
created and dropped. Only loopback traffic.
"""

import argparse
import os
import socket
import statistics
import sys
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--profile", action="store_true", help="print where a round's time goes")
    parser.add_argument(
        "--no-fatigue", action="store_true", help="a domain rule in place of the fatigue rule (no row lock)"
    )
    args = parser.parse_args()
    rounds, events = max(2, min(args.rounds, 50)), max(10, min(args.events, 5000))

    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = Controller(Sink(), hostname="127.0.0.1", port=port)
    sink.start()
    os.environ.update(
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(port),
    )
    import django

    django.setup()
    from django.test.utils import setup_databases, teardown_databases

    if connection.vendor != "postgresql":
        raise SystemExit("DATABASE_URL must point at PostgreSQL")
    connection.settings_dict["TEST"]["NAME"] = f"bench_typology_{os.getpid()}"
    old = setup_databases(verbosity=0, interactive=False)
    try:
        from delivery.services import event_deliver
        from events.models import Event, EventStatus
        from events.services import event_trigger
        from profiles.models import AttributeDefinition, Profile
        from tests.profiles.helpers import profile_based_event
        from typologies.models import RuleKind, Typology, TypologyRule

        content = {
            "sender_email": "shop@example.com",
            "subject": "Hi {{ customer.first_name }}",
            "html": "<p>Hi</p>",
        }
        floor = profile_based_event(event_id="EVTnoTypology", channel="email", content=content)
        ruled = profile_based_event(event_id="EVTtypology", channel="email", content=content)
        AttributeDefinition.objects.get_or_create(name="tier", defaults={"label": "Tier", "type": "text"})
        kinds = [RuleKind.ADDRESS_MISSING, RuleKind.QUARANTINED, RuleKind.DENYLISTED, RuleKind.OPTED_OUT]
        rules = list(TypologyRule.objects.filter(kind__in=kinds))
        rules.append(
            TypologyRule.objects.create(
                label="Not banned",
                kind=RuleKind.CONDITION,
                condition={"all": [{"field": "attributes.tier", "op": "eq", "value": "banned"}]},
            )
        )
        if args.no_fatigue:
            sixth = TypologyRule.objects.create(label="Domains", kind=RuleKind.DOMAINS, domains="example.org")
        else:
            sixth = TypologyRule.objects.create(label="Cap", kind=RuleKind.FATIGUE, threshold=10**6, period=7)
        rules.append(sixth)
        six = Typology.objects.create(name="bench-six", label="Six rules")
        six.rules.set(rules)
        floor.message.typology = None
        floor.message.save()
        ruled.message.typology = six
        ruled.message.save()
        assert len(rules) == 6

        customer = 0

        def run(config) -> float:
            nonlocal customer
            pks = []
            for _ in range(events):
                customer += 1
                Profile.objects.create(
                    external_id=f"C-{customer}", email=f"c{customer}@example.com", first_name="Jo"
                )
                pks.append(
                    event_trigger(
                        event_id=config.event_id, payload={"ctx": {"customerId": f"C-{customer}"}}
                    ).pk
                )
            started = time.perf_counter()
            for pk in pks:
                event_deliver(event_pk=pk)
            spent = time.perf_counter() - started
            sent = Event.objects.filter(pk__in=pks, status=EventStatus.PROCESSED).count()
            if sent != events:
                raise SystemExit(f"{config.event_id}: {sent} of {events} events processed")
            return events / spent

        run(floor), run(ruled)  # warm-up, not measured
        without, with_rules = [], []
        for _ in range(rounds):
            without.append(run(floor))
            with_rules.append(run(ruled))
        a, b = statistics.median(without), statistics.median(with_rules)
        print(
            f"{rounds} alternating rounds of {events} profile-based events, delivered in one process (median)"
        )
        print(f"without a typology   {a:7.1f} events/s (median)")
        print(f"typology of 6 rules  {b:7.1f} events/s (median; sixth rule: {sixth.get_kind_display()})")
        print(f"ratio {b / a:.2f} (goal: at least 0.8)")
        if args.profile:
            import cProfile
            import pstats

            profiler = cProfile.Profile()
            profiler.runcall(run, ruled)
            pstats.Stats(profiler).sort_stats("cumulative").print_stats("typolog|delivery/services", 15)
    finally:
        from fastpath.rowcache import rowcache_stop
        from fastpath.rows import rows_writer_close

        rowcache_stop()
        rows_writer_close()
        connection.close()
        teardown_databases(old, verbosity=0)
        sink.stop()


if __name__ == "__main__":
    main()
