import csv
import sys
from contextlib import nullcontext
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from profiles.imports import (
    FILE_BLOCK_BYTES,
    ImportRefused,
    profile_import_apply,
    profile_import_cancel,
    profile_import_check,
    profile_import_confirm,
    profile_import_create,
)
from profiles.models import ImportKey, ImportRowAction, ImportStatus


def _blocks(path: Path):
    with path.open("rb") as source:
        while block := source.read(FILE_BLOCK_BYTES):
            yield block


class Command(BaseCommand):
    help = (
        "Import profiles from a CSV file (columns in docs/formats.md): every row is checked first, and "
        "the file is imported in one transaction only when no row has an error."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the CSV file (UTF-8, with a header row)")
        parser.add_argument(
            "--key",
            choices=ImportKey.values,
            default=ImportKey.EMAIL,
            help="the column rows are matched to stored profiles by (default: email)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file and report, import nothing"
        )
        parser.add_argument(
            "--report",
            type=Path,
            help="write every row with a problem to this CSV file (row, column, problem)",
        )

    def handle(self, *args, file: Path, key: str, dry_run: bool, report: Path | None, **options):
        if not file.is_file():
            raise CommandError(f"{file} is not a file.")
        try:
            job = profile_import_create(chunks=_blocks(file), file_name=file.name, key=key)
        except ImportRefused as exc:
            raise CommandError(exc.message) from exc

        def progress(done: int, total: int) -> None:
            self.stderr.write(f"\rchecked {100 * done // max(total, 1)}%", ending="")

        job = profile_import_check(profile_import_id=job.pk, on_progress=progress)
        self.stderr.write("")
        if job.status == ImportStatus.FAILED:
            raise CommandError(job.error)
        self.stdout.write(
            f"rows={job.rows_total} new={job.rows_new} update={job.rows_update} "
            f"unchanged={job.rows_unchanged} skipped={job.rows_skipped} errors={job.rows_invalid}"
        )
        problems = job.rows.filter(action__in=[ImportRowAction.INVALID, ImportRowAction.SKIPPED]).order_by(
            "line"
        )
        # The report file is closed (flushed) before any refusal below.
        with report.open("w", newline="", encoding="utf-8") if report else nullcontext(sys.stdout) as output:
            writer = csv.writer(output)
            shown = 0
            if report or job.rows_invalid or job.rows_skipped:
                writer.writerow(["row", "column", "problem", "outcome"])
            for row in problems.iterator(chunk_size=1000):
                for problem in row.problems:
                    if report or shown < 50:
                        writer.writerow([row.line, problem["column"], problem["problem"], row.action])
                        shown += 1
        if dry_run or job.rows_invalid:
            profile_import_cancel(profile_import_id=job.pk)
            if job.rows_invalid:
                raise CommandError(f"{job.rows_invalid} rows have errors: nothing was imported.")
            self.stdout.write("Dry run: nothing was imported.")
            return
        profile_import_confirm(profile_import_id=job.pk)
        job = profile_import_apply(profile_import_id=job.pk)
        if job.status != ImportStatus.DONE:
            raise CommandError(job.error)
        self.stdout.write(f"imported={job.rows_applied} skipped={job.rows_skipped}")
