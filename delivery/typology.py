"""The message's typology at send time (profile-based messages): the control rules check what was
rendered, then the profile is checked against the filtering and fatigue rules and counted as
contacted, under its row lock, in one step. Event-based messages pass only the address rules
(quarantine, denylist), which the delivery applies to every message."""

from collections.abc import Callable

from django.db.models import Exists, OuterRef, Q, QuerySet

from campaign.channels import Channel
from events.models import Event, Targeting
from messages_app.models import TransactionalMessage
from messages_app.rendering import Rendered, RenderedEmail, RenderedSms
from messages_app.sms import sms_length
from typologies.models import RuleKind
from typologies.selectors import RuleHit, address_filter_register, content_rule_hit, typology_for_sending
from typologies.services import contact_reserve

from .models import AddressQuarantine, DenylistEntry
from .targeting import event_target_profile

_ADDRESS_FIELDS = {Channel.EMAIL: "email", Channel.SMS: "mobile_phone"}


def _listed_q(listed: QuerySet) -> Callable[[str], Q | None]:
    def build(channel: str) -> Q | None:
        field = _ADDRESS_FIELDS.get(channel)
        if field is None:
            return None
        return Q(Exists(listed.filter(channel=channel, address__iexact=OuterRef(field))))

    return build


def address_filters_register() -> None:
    """Let typology rules on the address lists filter profiles (audiences and simulations)."""
    address_filter_register(
        kind=RuleKind.QUARANTINED,
        build=_listed_q(AddressQuarantine.objects.filter(quarantined_at__isnull=False)),
    )
    address_filter_register(kind=RuleKind.DENYLISTED, build=_listed_q(DenylistEntry.objects.all()))


def _rules(message: TransactionalMessage | None, channel: str):
    if message is None or message.typology_id is None or message.configuration.targeting != Targeting.PROFILE:
        return None, []
    typology, rules = typology_for_sending(typology_id=message.typology_id, channel=channel) or (None, [])
    # A fatigue rule restricted to a category limits only the messages of that category.
    return typology, [
        rule for rule in rules if rule.kind != RuleKind.FATIGUE or rule.category in ("", message.category)
    ]


def event_content_hit(
    *, event: Event, message: TransactionalMessage | None, channel: str, rendered: Rendered
) -> RuleHit | None:
    """The control rule of the message's typology that refuses what was rendered for `event`."""
    typology, rules = _rules(message, channel)
    if not rules:
        return None
    content = (
        {"subject": rendered.subject, "html": rendered.html} if isinstance(rendered, RenderedEmail) else {}
    )
    segments = sms_length(rendered.text).segments if isinstance(rendered, RenderedSms) else 0
    return content_rule_hit(
        typology=typology, rules=rules, channel=channel, content=content, sms_segments=segments
    )


def event_profile_hit(*, event: Event, message: TransactionalMessage | None, channel: str) -> RuleHit | None:
    """The filtering or fatigue rule that excludes the event's profile; None when it may be sent,
    and then it counts as contacted (once per event, however often the event is retried)."""
    typology, rules = _rules(message, channel)
    if not rules:
        return None
    hit, _contact = contact_reserve(
        typology=typology,
        rules=rules,
        channel=channel,
        profile_id=event_target_profile(event=event).pk,
        key=event.pkey,
        category=message.category,
        source=message.message_id,
    )
    return hit
