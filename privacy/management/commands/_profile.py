from django.core.management.base import CommandError

from profiles.models import Profile


def add_profile_arguments(parser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", type=int, help="the profile's ID")
    which.add_argument("--email", help="the profile's email address")
    which.add_argument("--phone", help="the profile's mobile phone (E.164)")
    which.add_argument("--external-id", help="the profile's external ID")


def profile_chosen(options: dict) -> Profile:
    if options["id"] is not None:
        found = Profile.objects.filter(pk=options["id"])
    elif options["email"]:
        found = Profile.objects.filter(email__iexact=options["email"].strip())
    elif options["phone"]:
        found = Profile.objects.filter(mobile_phone=options["phone"].strip())
    else:
        found = Profile.objects.filter(external_id=options["external_id"].strip())
    profiles = list(found.order_by("pk")[:2])
    if not profiles:
        raise CommandError("No profile matches.")
    if len(profiles) > 1:
        raise CommandError("Several profiles match: name it by --id.")
    return profiles[0]
