import csv
from collections.abc import Iterable, Iterator

from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet

from .models import AuditEntry

CSV_COLUMNS = [
    "when",
    "source",
    "who",
    "user_id",
    "integration_id",
    "network",
    "action",
    "object_type",
    "object_id",
    "object",
    "changes",
]


def audit_entries_for_export(*, entries: QuerySet[AuditEntry]) -> Iterator[AuditEntry]:
    return entries.order_by("-created_at", "-pk").iterator(chunk_size=2000)


class _Echo:
    def write(self, value: str) -> str:
        return value


def audit_csv_rows(*, entries: Iterable[AuditEntry]) -> Iterator[str]:
    """The CSV lines of `entries` (header first), one at a time so a long log streams."""
    writer = csv.writer(_Echo())
    encoder = DjangoJSONEncoder(ensure_ascii=False, sort_keys=True)
    yield writer.writerow(CSV_COLUMNS)
    for entry in entries:
        yield writer.writerow(
            [
                entry.created_at.isoformat(),
                entry.source,
                _safe_cell(entry.actor_label),
                entry.actor_id or "",
                entry.actor_integration_id or "",
                entry.ip_network,
                entry.action,
                entry.object_type,
                entry.object_id,
                _safe_cell(entry.object_label),
                encoder.encode(entry.changes),
            ]
        )


def _safe_cell(value: str) -> str:
    """A label a spreadsheet would run as a formula (=, +, -, @) is quoted with an apostrophe."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
