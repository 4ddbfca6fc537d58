"""What the audience conditions on opens cost (`opened` / `notOpened` a message), against a plain
count of the same profiles, on a large interactions table.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python bench/audience_engagement.py [--profiles 200000] [--interactions 1000000] \\
        [--messages 199]

Fills a throw-away database (bench_engagement_<pid>, created and dropped) with --profiles profiles
and --interactions interaction rows spread over --messages messages (a quarter clicks, a third
machine opens and clicks, each row on a profile), then times the live audience count
(`marketing.selectors.audience_count`, as the delivery form calls it) of `opened` and `notOpened`
the first message, best of 5, against the floor: the count of every profile in the same run; then
the same without the partial index `interaction_human_profile` (dropped in a transaction rolled
back). Prints the figures and the ratios to the floor. Only loopback traffic.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profiles", type=int, default=200_000)
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=199)
    args = parser.parse_args()
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.db import connection, transaction
    from django.test.utils import setup_databases, teardown_databases

    if connection.vendor != "postgresql":
        raise SystemExit("DATABASE_URL must point at PostgreSQL")
    connection.settings_dict["TEST"]["NAME"] = f"bench_engagement_{os.getpid()}"
    old = setup_databases(verbosity=0, interactive=False)
    try:
        from marketing.selectors import audience_count
        from tests.profiles.helpers import profile_based_event

        config = profile_based_event(
            event_id="EVTbench",
            channel="email",
            content={"sender_email": "s@example.com", "subject": "S", "html": "<p>S</p>", "text": "S"},
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO profiles_profile (external_id, email, mobile_phone, first_name, last_name,"
                " language, time_zone, attributes, created_at, modified_at)"
                " SELECT 'p' || g, 'p' || g || '@example.com', '', '', '', 'en', '', '{}'::jsonb,"
                " now(), now()"
                " FROM generate_series(1, %s) g",
                [args.profiles],
            )
            cursor.execute("SELECT min(id), max(id) FROM profiles_profile")
            low, high = cursor.fetchone()
            # Row g: message g mod N (the benched one when 0), a click when g mod 4 = 0, a machine's
            # when g mod 3 = 0, on a profile spread by a multiplicative step.
            cursor.execute(
                "INSERT INTO delivery_interaction (event_id, configuration_id, kind, link_key, url, domain,"
                " source, first_at, last_at, count, user_agent, ip_network, machine_reason, rolled,"
                " rolled_count, rolled_machine, profile_id)"
                " SELECT g, CASE WHEN g %% %s = 0 THEN %s ELSE -1 - g %% %s END,"
                " CASE WHEN g %% 4 = 0 THEN 'click' ELSE 'open' END, 0, '', 'example.com', 'tracking',"
                " now(), now(), 1, '', '', CASE WHEN g %% 3 = 0 THEN 'privacy_proxy' ELSE '' END, true, 1,"
                " false, %s + (g::bigint * 7919) %% (%s - %s + 1) FROM generate_series(1, %s) g",
                [args.messages, config.pk, args.messages, low, high, low, args.interactions],
            )
            cursor.execute("VACUUM ANALYZE delivery_interaction")
            cursor.execute("VACUUM ANALYZE profiles_profile")
        message = config.message.message_id

        def best(audience) -> tuple[int, float]:
            times = []
            for _ in range(5):
                started = time.perf_counter()
                count = audience_count(audience=audience)
                times.append(time.perf_counter() - started)
            return count, min(times)

        def condition(op: str) -> dict:
            return {"all": [{"field": "message", "op": op, "value": message}]}

        print(f"{args.profiles:,} profiles, {args.interactions:,} interactions over {args.messages} messages")
        _count, floor = best(None)
        print(f"floor (count of every profile): {floor * 1000:.1f} ms")
        for label in ("with the index", "without the index"):
            with transaction.atomic():
                if label != "with the index":
                    with connection.cursor() as cursor:
                        cursor.execute("DROP INDEX interaction_human_profile")
                for op in ("opened", "notOpened"):
                    count, took = best(condition(op))
                    print(
                        f"{op} ({label}): {count:,} profiles, {took * 1000:.1f} ms,"
                        f" {took / floor:.2f}x the floor"
                    )
                transaction.set_rollback(True)
    finally:
        teardown_databases(old, verbosity=0)


if __name__ == "__main__":
    main()
