"""CSV import of profiles, the services: store the file, check it (the preview and the per-row
error report, nothing written to profiles), then apply it in one transaction once confirmed.

A file is never held whole: it is stored in blocks (ProfileImportChunk), read back block by
block, checked `PROFILE_IMPORT_CHUNK_ROWS` rows at a time by the resource (profiles/resources.py)
and staged row by row (ProfileImportRow); applying reads the staged rows back the same way. The
file and its staged rows are deleted once the import ends: they hold personal data.
"""

import codecs
import csv
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import tablib
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.db.models import Count, Min
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext

from campaign.exceptions import ApplicationError

from .models import (
    ImportKey,
    ImportRowAction,
    ImportStatus,
    Profile,
    ProfileImport,
    ProfileImportChunk,
    ProfileImportRow,
    Service,
    Subscription,
    SubscriptionSource,
)
from .resources import (
    ATTRIBUTE_PREFIX,
    PROFILE_COLUMNS,
    SUBSCRIPTIONS_COLUMN,
    ProfileResource,
    import_key_normalize,
)
from .selectors import address_hash, suppressed_hashes

logger = logging.getLogger(__name__)

# Blocks the uploaded file is stored in.
FILE_BLOCK_BYTES = 1024 * 1024
# Staged rows read back per query when applying.
APPLY_BATCH_ROWS = 1000


class ImportRefused(ApplicationError):
    code = "import_refused"


# -- store -----------------------------------------------------------------------------------


def profile_import_create(
    *, chunks: Iterator[bytes], file_name: str, key: str, user: AbstractBaseUser | None = None
) -> ProfileImport:
    """Store an uploaded CSV file (given as blocks of bytes) for checking. The caller enqueues the
    check after commit (profiles.tasks.profile_import_check_enqueue)."""
    if key not in ImportKey.values:
        raise ImportRefused(gettext("Unknown key {key}.").format(key=key))
    with transaction.atomic():
        job = ProfileImport.objects.create(file_name=file_name[:255], key=key, created_by=user)
        size, number, block = 0, 0, b""
        for data in chunks:
            block += data
            size += len(data)
            if size > settings.PROFILE_IMPORT_MAX_BYTES:
                raise ImportRefused(
                    gettext("The file is larger than {limit} MB.").format(
                        limit=settings.PROFILE_IMPORT_MAX_BYTES // (1024 * 1024)
                    )
                )
            while len(block) >= FILE_BLOCK_BYTES:
                ProfileImportChunk.objects.create(
                    profile_import=job, number=number, data=block[:FILE_BLOCK_BYTES]
                )
                block, number = block[FILE_BLOCK_BYTES:], number + 1
        if block:
            ProfileImportChunk.objects.create(profile_import=job, number=number, data=block)
        if size == 0:
            raise ImportRefused(gettext("The file is empty."))
        job.file_size = size
        job.save(update_fields=["file_size"])
    return job


def _file_lines(job: ProfileImport, progress: Callable[[int], None]) -> Iterator[str]:
    """The stored file's text, line by line, one block in memory at a time; `progress` gets the
    bytes read so far after each block."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    numbers = list(job.chunks.order_by("number").values_list("pk", flat=True))
    read, rest = 0, ""
    for pk in numbers:
        data = bytes(ProfileImportChunk.objects.values_list("data", flat=True).get(pk=pk))
        read += len(data)
        try:
            text = rest + decoder.decode(data)
        except UnicodeDecodeError as exc:
            raise ImportRefused(
                gettext("The file is not UTF-8 text (byte {position}).").format(
                    position=read - len(data) + exc.start
                )
            ) from None
        lines = text.splitlines(keepends=True)
        rest = lines.pop() if lines and not lines[-1].endswith(("\n", "\r")) else ""
        yield from lines
        progress(read)
    rest += decoder.decode(b"", final=True)
    if rest:
        yield rest


def _dialect(header_line: str) -> str:
    # Spreadsheets set to a language that writes decimal commas save CSV with semicolons.
    return ";" if header_line.count(";") > header_line.count(",") else ","


def _header_check(header: list[str], key: str, known: list[str]) -> None:
    missing_key = key not in header
    unknown = [column for column in header if column not in known]
    duplicates = sorted({column for column in header if header.count(column) > 1})
    problems = []
    if missing_key:
        problems.append(
            gettext("The file has no {key} column, which rows are matched to profiles by.").format(key=key)
        )
    if unknown:
        problems.append(
            gettext("Unknown columns: {unknown} (known: {known}).").format(
                unknown=", ".join(unknown), known=", ".join(known)
            )
        )
    if duplicates:
        problems.append(gettext("Columns given twice: {columns}.").format(columns=", ".join(duplicates)))
    if problems:
        raise ImportRefused(" ".join(problems))


# -- check -----------------------------------------------------------------------------------


def profile_import_check(
    *, profile_import_id: int, on_progress: Callable[[int, int], None] | None = None
) -> ProfileImport:
    """Check every row of a stored import without writing to profiles: stage what each row would
    do (new, update, unchanged, skipped, error) and count them. Rows are read and checked a chunk
    at a time; the import's progress (bytes checked) is committed after each chunk. A redelivered
    task finds the import checked already and does nothing. `on_progress(bytes checked, file
    size)` follows it in-process (the import command prints it)."""
    job = ProfileImport.objects.get(pk=profile_import_id)
    if job.status != ImportStatus.CHECKING:
        return job
    job.rows.all().delete()
    try:
        _check(job, on_progress or (lambda done, total: None))
    except ImportRefused as exc:
        _end(job, ImportStatus.FAILED, error=exc.message)
    except Exception as exc:
        logger.exception("checking profile import %s failed", job.pk)
        _end(job, ImportStatus.FAILED, error=gettext("Checking failed: {error}").format(error=exc))
    job.refresh_from_db()
    return job


def _check(job: ProfileImport, on_progress: Callable[[int, int], None]) -> None:
    resource = ProfileResource(key=job.key)
    known = list(resource.fields)
    checked_bytes = 0

    def progress(read: int) -> None:
        nonlocal checked_bytes
        checked_bytes = read

    lines = _file_lines(job, progress)
    first = next(lines, None)
    if first is None:
        raise ImportRefused(gettext("The file is empty."))
    delimiter = _dialect(first)

    def all_lines() -> Iterator[str]:
        yield first
        yield from lines

    reader = csv.reader(all_lines(), delimiter=delimiter)
    header = [column.strip() for column in next(reader)]
    _header_check(header, job.key, known)
    ProfileImport.objects.filter(pk=job.pk).update(columns=header)
    size = settings.PROFILE_IMPORT_CHUNK_ROWS
    line = 1
    batch: list[list[str]] = []
    for values in reader:
        if not any(value.strip() for value in values):
            line += 1
            batch.append(None)
        else:
            line += 1
            batch.append(values)
        if len(batch) >= size:
            _check_batch(job, resource, header, batch, first_line=line - len(batch) + 1)
            batch = []
            ProfileImport.objects.filter(pk=job.pk).update(bytes_checked=checked_bytes)
            on_progress(checked_bytes, job.file_size)
    if batch:
        _check_batch(job, resource, header, batch, first_line=line - len(batch) + 1)
    _mark_duplicates(job)
    # The staged rows hold what the file said: the file itself is no longer needed.
    ProfileImportChunk.objects.filter(profile_import=job).delete()
    counts = dict(job.rows.values_list("action").annotate(n=Count("pk")).values_list("action", "n"))
    ProfileImport.objects.filter(pk=job.pk, status=ImportStatus.CHECKING).update(
        status=ImportStatus.CHECKED,
        bytes_checked=job.file_size,
        rows_total=sum(counts.values()),
        rows_new=counts.get(ImportRowAction.NEW, 0),
        rows_update=counts.get(ImportRowAction.UPDATE, 0),
        rows_unchanged=counts.get(ImportRowAction.UNCHANGED, 0),
        rows_skipped=counts.get(ImportRowAction.SKIPPED, 0),
        rows_invalid=counts.get(ImportRowAction.INVALID, 0),
    )


def _check_batch(job: ProfileImport, resource: ProfileResource, header, batch, *, first_line: int) -> None:
    """Check one chunk of rows (blank lines are left out) and stage the outcome of each."""
    dataset = tablib.Dataset(headers=header)
    lines = []
    staged = []
    for offset, values in enumerate(batch):
        if values is None:
            continue
        line = first_line + offset
        if len(values) != len(header):
            staged.append(
                ProfileImportRow(
                    profile_import=job,
                    line=line,
                    action=ImportRowAction.INVALID,
                    problems=[
                        {
                            "column": "",
                            "problem": gettext(
                                "{found} values where the header has {expected} columns."
                            ).format(found=len(values), expected=len(header)),
                        }
                    ],
                )
            )
            continue
        dataset.append([value.strip() for value in values])
        lines.append(line)
    resource.checked = []
    if len(dataset):
        resource.import_data(dataset, dry_run=True, raise_errors=False)
    for check in resource.checked:
        staged.append(
            ProfileImportRow(
                profile_import=job,
                line=lines[check["number"] - 1],
                action=check["action"],
                key=check["key"][:254],
                data=check["data"],
                changes=check["changes"],
                problems=check["problems"],
            )
        )
    ProfileImportRow.objects.bulk_create(staged)


def _mark_duplicates(job: ProfileImport) -> None:
    """A key given on several rows: the later rows are errors (the file says two things about one
    profile)."""
    duplicates = (
        job.rows.exclude(key="")
        .exclude(action=ImportRowAction.INVALID)
        .values("key")
        .annotate(n=Count("pk"), first=Min("line"))
        .filter(n__gt=1)
    )
    for duplicate in duplicates.iterator():
        job.rows.filter(key=duplicate["key"], line__gt=duplicate["first"]).exclude(
            action=ImportRowAction.INVALID
        ).update(
            action=ImportRowAction.INVALID,
            problems=[
                {
                    "column": job.key,
                    "problem": gettext("The same {key} as row {line}.").format(
                        key=job.key, line=duplicate["first"]
                    ),
                }
            ],
        )


# -- apply -----------------------------------------------------------------------------------


def profile_import_confirm(*, profile_import_id: int) -> ProfileImport:
    """Confirm a checked import (the caller enqueues the apply after commit). Refused while rows
    have errors: nothing is ever half-imported."""
    job = ProfileImport.objects.get(pk=profile_import_id)
    if job.status != ImportStatus.CHECKED:
        raise ImportRefused(
            gettext("This import is {status}: it cannot be confirmed.").format(
                status=job.get_status_display()
            )
        )
    if job.rows_invalid:
        raise ImportRefused(
            gettext("{count} rows have errors: correct the file and import it again.").format(
                count=job.rows_invalid
            )
        )
    if not ProfileImport.objects.filter(pk=job.pk, status=ImportStatus.CHECKED).update(
        status=ImportStatus.APPLYING
    ):
        raise ImportRefused(gettext("This import was confirmed or cancelled meanwhile."))
    job.refresh_from_db()
    return job


def profile_import_cancel(*, profile_import_id: int) -> ProfileImport:
    """Cancel an import not applied yet: its file and staged rows are deleted."""
    job = ProfileImport.objects.get(pk=profile_import_id)
    if job.status not in (ImportStatus.CHECKING, ImportStatus.CHECKED):
        raise ImportRefused(
            gettext("This import is {status}: it cannot be cancelled.").format(
                status=job.get_status_display()
            )
        )
    _end(job, ImportStatus.CANCELLED)
    job.refresh_from_db()
    return job


def profile_import_apply(*, profile_import_id: int) -> ProfileImport:
    """Write a confirmed import's staged rows to profiles in one transaction: profiles created or
    updated by the key, subscriptions added. Any failure rolls it all back and the import ends
    `failed`. Rows whose address was suppressed since the check are skipped. A redelivered task
    finds the import done and does nothing."""
    job = ProfileImport.objects.get(pk=profile_import_id)
    if job.status != ImportStatus.APPLYING:
        return job
    try:
        with transaction.atomic():
            with _progress_writer(job) as progress:
                applied, skipped = _apply(job, progress)
            ProfileImport.objects.filter(pk=job.pk).update(
                rows_applied=applied, rows_skipped=job.rows_skipped + skipped
            )
            _end(job, ImportStatus.DONE)
    except Exception as exc:
        logger.exception("applying profile import %s failed", job.pk)
        _end(job, ImportStatus.FAILED, error=gettext("Nothing was imported: {error}").format(error=exc))
    job.refresh_from_db()
    return job


@contextmanager
def _progress_writer(job: ProfileImport) -> Iterator[Callable[[int], None]]:
    """Where applying reports the rows written so far. The rows are written in one transaction,
    invisible to others until it commits: on PostgreSQL the count goes through a connection of
    its own, so the progress bar moves meanwhile; SQLite, one writer at a time, shows it at the
    end."""
    if connection.vendor != "postgresql":
        yield lambda done: None
        return
    side = connections.create_connection(DEFAULT_DB_ALIAS)
    try:

        def report(done: int) -> None:
            with side.cursor() as cursor:
                cursor.execute(
                    # The table name is the model's own, never input.
                    f"UPDATE {ProfileImport._meta.db_table} SET rows_applied = %s WHERE id = %s",  # noqa: S608
                    [done, job.pk],
                )

        yield report
    finally:
        side.close()


def _apply(job: ProfileImport, progress: Callable[[int], None]) -> tuple[int, int]:
    services = dict(Service.objects.values_list("name", "pk"))
    now = timezone.now()
    applied = skipped = 0
    last_pk = 0
    while True:
        # By primary key, the order rows were staged in (the file's): the index walks forward from
        # the last batch instead of sorting what remains for every batch.
        batch = list(
            job.rows.filter(action__in=[ImportRowAction.NEW, ImportRowAction.UPDATE], pk__gt=last_pk)
            .order_by("pk")
            .values("pk", "line", "key", "data")[:APPLY_BATCH_ROWS]
        )
        if not batch:
            return applied, skipped
        last_pk = batch[-1]["pk"]
        batch, suppressed = _without_suppressed(batch)
        skipped += suppressed
        applied += _apply_batch(job.key, batch, services, now)
        progress(applied)


def _without_suppressed(batch: list[dict]) -> tuple[list[dict], int]:
    hashes = {}
    for row in batch:
        for column, channel in (("email", "email"), ("mobile_phone", "sms")):
            if row["data"].get(column):
                hashes[address_hash(channel=channel, address=row["data"][column])] = row["line"]
    suppressed_lines = {hashes[value] for value in suppressed_hashes(hashes=list(hashes))}
    return [row for row in batch if row["line"] not in suppressed_lines], len(suppressed_lines)


def _profile_fields(data: dict) -> dict:
    values = {}
    for column in PROFILE_COLUMNS:
        if column not in data:
            continue
        value = data[column]
        if column.endswith("_opted_out_at"):
            value = parse_datetime(value) if value else None
        values[column] = value
    return values


def _apply_batch(key: str, batch: list[dict], services: dict[str, int], now: datetime) -> int:
    keys = [row["key"] for row in batch]
    queryset = Profile.objects.order_by("pk")
    if key == ImportKey.EMAIL:
        queryset = queryset.annotate(match=Lower("email")).filter(match__in=keys)
    else:
        queryset = queryset.filter(**{f"{key}__in": keys})
    existing: dict[str, Profile] = {}
    for profile in queryset:
        existing.setdefault(import_key_normalize(key=key, value=getattr(profile, key)), profile)
    created, updated, update_fields = [], [], {"modified_at"}
    subscribed: list[tuple[Profile, list[str]]] = []
    for row in batch:
        data = row["data"]
        fields = _profile_fields(data)
        attributes = {
            column[len(ATTRIBUTE_PREFIX) :]: value
            for column, value in data.items()
            if column.startswith(ATTRIBUTE_PREFIX)
        }
        profile = existing.get(row["key"])
        if profile is None:
            profile = Profile(**fields, attributes={k: v for k, v in attributes.items() if v is not None})
            created.append(profile)
        else:
            # The key matched (regardless of case for an email): the stored value stays as it is.
            fields.pop(key, None)
            for name, value in fields.items():
                setattr(profile, name, value)
            update_fields.update(fields)
            if attributes:
                merged = dict(profile.attributes) if isinstance(profile.attributes, dict) else {}
                for name, value in attributes.items():
                    if value is None:
                        merged.pop(name, None)
                    else:
                        merged[name] = value
                profile.attributes = merged
                update_fields.add("attributes")
            profile.modified_at = now
            updated.append(profile)
        if data.get(SUBSCRIPTIONS_COLUMN):
            subscribed.append((profile, data[SUBSCRIPTIONS_COLUMN]))
    Profile.objects.bulk_create(created)
    if updated:
        Profile.objects.bulk_update(updated, fields=sorted(update_fields))
    Subscription.objects.bulk_create(
        [
            Subscription(
                profile=profile,
                service_id=services[name],
                subscribed_at=now,
                source=SubscriptionSource.IMPORT,
            )
            for profile, names in subscribed
            for name in names
            if name in services
        ],
        ignore_conflicts=True,
    )
    return len(batch)


def _end(job: ProfileImport, status: str, *, error: str = "") -> None:
    """Finish the import and delete what it held of the file: its blocks and its staged rows."""
    with transaction.atomic():
        ProfileImportChunk.objects.filter(profile_import=job).delete()
        ProfileImportRow.objects.filter(profile_import=job).delete()
        ProfileImport.objects.filter(pk=job.pk).update(
            status=status, error=error[:4000], finished_at=timezone.now()
        )
