import json

from django.core.management.base import BaseCommand, CommandError

from audit.context import audited_command
from campaign.exceptions import ApplicationError
from messages_app.services import package_import


class Command(BaseCommand):
    help = (
        "Import a package of event configurations and messages (see docs/packages.md). Existing IDs get "
        "their drafts updated; nothing is published."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The package file (JSON).")

    @audited_command
    def handle(self, *args, path, **options):
        try:
            with open(path, encoding="utf-8") as handle:
                document = json.load(handle)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
        try:
            results = package_import(document=document)
        except ApplicationError as exc:
            details = "\n".join(f"  {e.path}: {e.message}" for e in exc.errors)
            raise CommandError(f"{exc.message.split(':')[0]}:\n{details}") from None
        for config, created in results:
            verb = "created" if created else "updated (draft; publish it to apply)"
            self.stdout.write(f"{config.event_id} {verb}")
