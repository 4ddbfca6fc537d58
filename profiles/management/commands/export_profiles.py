import csv
import sys
from pathlib import Path

from django.core.management.base import BaseCommand

from profiles.models import Profile
from profiles.resources import ProfileResource


class Command(BaseCommand):
    help = (
        "Export profiles as CSV, in the columns an import reads (docs/formats.md), a thousand rows at a time."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "-o", "--output", type=Path, help="the CSV file to write (default: standard output)"
        )
        parser.add_argument("--language", help="only the profiles of this language")
        parser.add_argument(
            "--service", help="only the active subscribers of this subscription service (its name)"
        )

    def handle(self, *args, output: Path | None, language: str | None, service: str | None, **options):
        queryset = Profile.objects.order_by("pk")
        if language:
            queryset = queryset.filter(language=language)
        if service:
            queryset = queryset.filter(
                subscriptions__service__name=service, subscriptions__unsubscribed_at__isnull=True
            )
        resource = ProfileResource()
        target = output.open("w", newline="", encoding="utf-8") if output else sys.stdout
        writer = csv.writer(target)
        writer.writerow(resource.get_export_headers())
        count = 0
        for profile in resource.iter_queryset(queryset):
            writer.writerow(resource.export_resource(profile))
            count += 1
        if output:
            target.close()
        self.stderr.write(f"{count} profiles exported.")
