"""Profile CSV import: 100,000 generated rows through the import's services (store the file, check
every row, apply in one transaction), as `import_profiles` runs them, against a floor measured in
the same run: PostgreSQL COPY of the same file into a bare table. Prints rows/s of each step, the
ratio to the floor, and the process's peak memory (resource.getrusage) before and after.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/DB .venv/bin/python bench/import_profiles.py --rows 100000

Needs PostgreSQL: the import runs in a scratch database (bench_import_<name>, created and dropped
here).
"""

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

COLUMNS = [
    "email",
    "mobile_phone",
    "external_id",
    "first_name",
    "last_name",
    "language",
    "time_zone",
    "subscriptions",
    "attributes.points",
    "attributes.member_since",
]


def generate(path: Path, rows: int) -> None:
    """Written row by row: the file is never held whole."""
    with path.open("w", newline="", encoding="utf-8") as target:
        writer = csv.writer(target)
        writer.writerow(COLUMNS)
        for n in range(rows):
            writer.writerow(
                [
                    f"person{n}@example.com",
                    f"+336{n:08d}",
                    f"C-{n}",
                    f"First{n}",
                    f"Last{n}",
                    "fr" if n % 3 else "en",
                    "Europe/Paris",
                    "newsletter" if n % 2 else "newsletter|orders",
                    f"{n % 1000}.50",
                    f"20{n % 25:02d}-0{1 + n % 9}-1{n % 9}",
                ]
            )


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def copy_floor(path: Path) -> float:
    """Rows/s of COPY FROM STDIN of the file into a bare table of text columns (no checks, no
    indexes), streamed from the file in 1 MiB blocks."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_profile_copy")
        columns = ", ".join(f'"{name}" text' for name in COLUMNS)
        cursor.execute(f"CREATE TABLE bench_profile_copy ({columns})")
        started = time.perf_counter()
        statement = "COPY bench_profile_copy FROM STDIN WITH (FORMAT csv, HEADER true)"
        with cursor.cursor.copy(statement) as copy, path.open("rb") as source:
            while block := source.read(1024 * 1024):
                copy.write(block)
        elapsed = time.perf_counter() - started
        cursor.execute("SELECT count(*) FROM bench_profile_copy")
        copied = cursor.fetchone()[0]
        cursor.execute("DROP TABLE bench_profile_copy")
    return copied / elapsed


def blocks(path: Path):
    with path.open("rb") as source:
        while block := source.read(1024 * 1024):
            yield block


def run_import(path: Path, rows: int, label: str) -> float:
    from profiles.imports import (
        profile_import_apply,
        profile_import_check,
        profile_import_confirm,
        profile_import_create,
    )
    from profiles.models import ImportStatus

    started = time.perf_counter()
    job = profile_import_create(chunks=blocks(path), file_name=path.name, key="email")
    stored = time.perf_counter()
    job = profile_import_check(profile_import_id=job.pk)
    checked = time.perf_counter()
    if job.status != ImportStatus.CHECKED or job.rows_invalid:
        raise SystemExit(f"the check failed: {job.status} {job.error} ({job.rows_invalid} rows with errors)")
    profile_import_confirm(profile_import_id=job.pk)
    job = profile_import_apply(profile_import_id=job.pk)
    done = time.perf_counter()
    if job.status != ImportStatus.DONE:
        raise SystemExit(f"the import failed: {job.error}")
    total = done - started
    applied = f"{job.rows_applied / (done - checked):8.0f} rows/s" if job.rows_applied else "nothing to write"
    print(
        f"{label:<28} new={job.rows_new} update={job.rows_update} unchanged={job.rows_unchanged}\n"
        f"  store the file            {stored - started:8.1f} s\n"
        f"  check (preview, report)   {checked - stored:8.1f} s  {rows / (checked - stored):8.0f} rows/s\n"
        f"  apply (one transaction)   {done - checked:8.1f} s  {applied}\n"
        f"  whole import              {total:8.1f} s  {rows / total:8.0f} rows/s"
    )
    return rows / total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000, help="rows to generate (at most 1,000,000)")
    rows = max(100, min(parser.parse_args().rows, 1_000_000))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("Set DATABASE_URL to a PostgreSQL database: the floor is PostgreSQL's COPY.")
    old_name = connection.settings_dict["NAME"]
    # A scratch database of its own, apart from the test suite's test_<name>.
    connection.settings_dict.setdefault("TEST", {})["NAME"] = f"bench_import_{old_name}"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, keepdb=False)
    try:
        from profiles.models import Profile, Service

        Service.objects.create(name="newsletter", label="Newsletter")
        Service.objects.create(name="orders", label="Order updates")
        from profiles.models import AttributeDefinition

        AttributeDefinition.objects.create(name="points", label="Points", type="decimal")
        AttributeDefinition.objects.create(name="member_since", label="Member since", type="date")
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "profiles.csv"
            generate(path, rows)
            size = path.stat().st_size / (1024 * 1024)
            print(f"{rows} rows, {len(COLUMNS)} columns, {size:.1f} MB")
            print(f"peak memory before the import: {peak_mb():.0f} MB")
            floor = copy_floor(path)
            print(f"floor: COPY into a bare table     {floor:8.0f} rows/s")
            first = run_import(path, rows, "import (all new)")
            print(f"peak memory after the import: {peak_mb():.0f} MB")
            again = run_import(path, rows, "same file again (unchanged)")
            print(f"peak memory after both: {peak_mb():.0f} MB")
            assert Profile.objects.count() == rows
        print(f"ratio import / COPY floor : {first / floor:.3f} (all new), {again / floor:.3f} (unchanged)")
        print(f"command: DATABASE_URL=... .venv/bin/python bench/import_profiles.py --rows {rows}")
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)


if __name__ == "__main__":
    main()
