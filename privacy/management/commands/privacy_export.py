import json
from pathlib import Path

from django.core.management.base import BaseCommand
from django.core.serializers.json import DjangoJSONEncoder

from privacy.selectors import operator_name
from privacy.services import profile_export

from ._profile import add_profile_arguments, profile_chosen


class Command(BaseCommand):
    help = "Export everything held about a profile as one JSON document (recorded as a privacy request)."

    def add_arguments(self, parser):
        add_profile_arguments(parser)
        parser.add_argument(
            "-o", "--output", type=Path, help="the JSON file to write (default: standard output)"
        )

    def handle(self, *args, output: Path | None, **options):
        document = profile_export(profile=profile_chosen(options), operator=operator_name())
        text = json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2)
        if output:
            output.write_text(text + "\n", encoding="utf-8")
            self.stderr.write(f"Written to {output}.")
        else:
            self.stdout.write(text)
