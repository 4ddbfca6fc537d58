"""Reads of the delivery engine: what recipients did with their messages (opens and clicks)."""

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext

from campaign.channels import Channel
from events.models import Targeting
from messages_app.models import TransactionalMessage

from .models import Interaction, InteractionKind

ENGAGEMENT_KINDS = {
    "opened": InteractionKind.OPEN,
    "notOpened": InteractionKind.OPEN,
    "clicked": InteractionKind.CLICK,
    "notClicked": InteractionKind.CLICK,
}


def human_interactions(*, kind: str) -> QuerySet[Interaction]:
    """The opens (or clicks) of people: a row is a machine's only while every hit it counts was one
    (docs/tracking.md), so one human hit makes it count."""
    return Interaction.objects.filter(kind=kind, machine_reason="")


def engagement_profile_q(*, message_id: str, op: str) -> Q:
    """Profiles that opened (`opened`), did not open (`notOpened`), clicked in (`clicked`) or did
    not click in (`notClicked`) a transactional message, by its ID: the human interactions of its
    events, attributed to the profile each event targeted."""
    configuration = TransactionalMessage.objects.filter(message_id=message_id).values("configuration_id")
    done = Exists(
        human_interactions(kind=ENGAGEMENT_KINDS[op]).filter(
            profile=OuterRef("pk"), configuration_id__in=configuration
        )
    )
    return Q(done) if op in ("opened", "clicked") else ~Q(done)


def engagement_message_problem(*, message_id: str) -> str | None:
    """Why opens and clicks of `message_id` cannot be asked about, in words; None when they can."""
    found = (
        TransactionalMessage.objects.filter(message_id=message_id)
        .values_list("configuration__channel", "configuration__targeting")
        .first()
    )
    if found is None:
        return gettext(
            "No message has the ID “%(message)s”: opens and clicks are those of transactional "
            "messages, by their ID (e.g. RTEVTorderShipped)."
        ) % {"message": message_id}
    channel, targeting = found
    if channel != Channel.EMAIL:
        return gettext("“%(message)s” is not an email: only opens and clicks of emails are tracked.") % {
            "message": message_id
        }
    if targeting != Targeting.PROFILE:
        return gettext(
            "“%(message)s” is sent to the addresses in its events, not to profiles: its opens and "
            "clicks belong to no profile."
        ) % {"message": message_id}
    return None
