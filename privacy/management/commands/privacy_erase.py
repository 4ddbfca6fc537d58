from django.core.management.base import BaseCommand, CommandError

from privacy.models import PrivacyRequestOutcome
from privacy.selectors import operator_name, profile_events
from privacy.services import profile_erase

from ._profile import add_profile_arguments, profile_chosen


class Command(BaseCommand):
    help = (
        "Erase a profile's personal data everywhere and suppress its addresses (recorded as a privacy "
        "request). Cannot be undone: without --yes it only says what would be erased."
    )

    def add_arguments(self, parser):
        add_profile_arguments(parser)
        parser.add_argument("--yes", action="store_true", help="erase for real")

    def handle(self, *args, yes: bool, **options):
        profile = profile_chosen(options)
        if not yes:
            events = profile_events(profile=profile).count()
            raise CommandError(
                f"Profile {profile.pk} and the personal data of {events} events would be erased; "
                "add --yes to do it."
            )
        record = profile_erase(profile=profile, operator=operator_name())
        if record.outcome != PrivacyRequestOutcome.DONE:
            raise CommandError(record.error)
        self.stdout.write("erased " + " ".join(f"{table}={count}" for table, count in record.detail.items()))
