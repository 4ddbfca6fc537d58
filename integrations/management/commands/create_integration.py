from django.core.management.base import BaseCommand, CommandError

from audit.context import audited_command
from campaign.exceptions import ApplicationError
from integrations.services import integration_create


class Command(BaseCommand):
    help = "Create API credentials for a website or system; prints the client id and the token (shown once)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="who will use these credentials, e.g. 'Shop website'")

    @audited_command
    def handle(self, *args, name, **options):
        try:
            issued = integration_create(name=name)
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"client_id={issued.integration.client_id}")
        self.stdout.write(f"token={issued.token}")
        self.stderr.write(
            "Send them as 'X-Api-Key: <client_id>' and 'Authorization: Bearer <token>'. "
            "The token is stored hashed: it cannot be shown again."
        )
