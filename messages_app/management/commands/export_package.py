import json
import sys

from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder
from django.utils.translation import ngettext

from events.models import EventConfiguration
from messages_app.services import package_export


class Command(BaseCommand):
    help = "Export event configurations with their messages as a package (JSON; see docs/packages.md)."

    def add_arguments(self, parser):
        parser.add_argument("event_ids", nargs="*", help="IDs to export (default: all configurations).")
        parser.add_argument("-o", "--output", help="File to write (default: standard output).")

    def handle(self, *args, event_ids, output, **options):
        configs = EventConfiguration.objects.select_related("message").order_by("event_id")
        if event_ids:
            configs = configs.filter(event_id__in=event_ids)
            missing = set(event_ids) - {config.event_id for config in configs}
            if missing:
                raise CommandError(f"No event configuration {', '.join(sorted(missing))}.")
        document = json.dumps(
            package_export(configs=configs), indent=2, ensure_ascii=False, cls=DjangoJSONEncoder
        )
        if output:
            with open(output, "w", encoding="utf-8") as handle:
                handle.write(document + "\n")
            self.stderr.write(
                ngettext(
                    "Exported %(count)d configuration to %(output)s.",
                    "Exported %(count)d configurations to %(output)s.",
                    len(configs),
                )
                % {"count": len(configs), "output": output}
            )
        else:
            sys.stdout.write(document + "\n")
